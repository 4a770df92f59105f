// host_probe.h — what this machine and process allow DiME: the ways to open userfaultfd, the
// features and ioctls the kernel grants, and the limits that shape an emulation (map count,
// transparent huge pages, seccomp, page size, CPUs). Read by `dime doctor`, and by anything that
// must choose a backend before it starts. Opens and closes descriptors and maps scratch memory;
// starts one short-lived thread. Not for the fault path.
#pragma once

#include <cstdint>
#include <string>

namespace dime {

// One probe: whether it worked, and a short phrase saying what was seen (an errno's text, a
// value, "not tried: ...").
struct ProbeResult {
    bool ok = false;
    std::string detail;
};

struct HostReport {
    std::string kernel;  // uname: release and machine

    // Opening a descriptor, by each route (uffd::Route).
    ProbeResult syscall_full;            // the system call, kernel-mode faults included (what DiME needs)
    ProbeResult syscall_user_mode_only;  // the system call with UFFD_USER_MODE_ONLY
    ProbeResult dev_node;                // /dev/userfaultfd opened read-write, USERFAULTFD_IOC_NEW
    std::string unprivileged_sysctl;     // vm.unprivileged_userfaultfd as read, or why not
    bool cap_sys_ptrace = false;         // in the effective set: full descriptors by the system call

    // What the kernel offers on a descriptor of the best route that opened (full, else
    // user-mode-only); every one false with a detail saying so when none opened.
    ProbeResult api;              // UFFDIO_API handshake; detail lists the offered feature bits
    ProbeResult move;             // UFFD_FEATURE_MOVE and UFFDIO_MOVE on a registered range
    ProbeResult write_protect;    // UFFDIO_REGISTER_MODE_WP on anonymous memory
    ProbeResult missing_anon;     // UFFDIO_REGISTER_MODE_MISSING on anonymous private memory
    ProbeResult missing_shmem;    // ... on a memfd (shmem) shared mapping
    ProbeResult missing_hugetlb;  // ... on a MAP_HUGETLB mapping (address space only)
    ProbeResult zeropage;         // UFFDIO_ZEROPAGE allowed on the anonymous range
    // A fault taken inside the kernel (write(2) from a missing page into a pipe) served by a
    // handler thread: what DiME needs userfaultfd for. Only on a full descriptor.
    ProbeResult kernel_fault;

    std::string max_map_count;    // vm.max_map_count
    std::string thp;              // transparent_hugepage/enabled and defrag, the chosen words
    std::string seccomp;          // /proc/self/status Seccomp: 0, 1 or 2 and its meaning
    std::string cpuidle;          // the cpuidle driver and governor, or why unknown
    ProbeResult cpu_latency;      // whether a PM QoS request can be held (cpu_latency_us)
    long page_size = 0;
    long cpus_online = 0;
    long cpus_usable = 0;         // in this process's affinity mask

    // Whether the userfaultfd backend can run here: a full descriptor opened by some route and
    // a fault inside the kernel was served.
    bool userfaultfd_usable() const { return (syscall_full.ok || dev_node.ok) && kernel_fault.ok; }
};

HostReport probe_host();

}  // namespace dime
