// host_probe.cpp — probes what this machine allows DiME (see host_probe.h). Each probe undoes
// what it did: descriptors closed, scratch mappings unmapped, the helper thread joined.
#include "host_probe.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "cpu_latency.h"
#include "uffd.h"

namespace dime {
namespace {

std::optional<std::string> read_small_file(const char* path) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            return std::nullopt;
        }
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > 65536) break;  // /proc/self/status is a few KiB; nothing read here is larger
    }
    ::close(fd);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

// The value of "Name:" in /proc/self/status, leading blanks trimmed; empty if absent.
std::string status_field(const std::string& status, std::string_view name) {
    for (size_t begin = 0; begin < status.size();) {
        size_t end = status.find('\n', begin);
        if (end == std::string::npos) end = status.size();
        const std::string_view line(status.data() + begin, end - begin);
        if (line.size() > name.size() && line.substr(0, name.size()) == name && line[name.size()] == ':') {
            const std::string_view value = line.substr(name.size() + 1);
            const size_t first = value.find_first_not_of(" \t");
            return first == std::string_view::npos ? std::string() : std::string(value.substr(first));
        }
        begin = end + 1;
    }
    return {};
}

// "always [madvise] never" -> "madvise".
std::string chosen_word(const std::string& line) {
    const size_t open = line.find('['), close = line.find(']', open);
    if (open == std::string::npos || close == std::string::npos) return line;
    return line.substr(open + 1, close - open - 1);
}

std::string errno_text(int negative_errno) { return std::strerror(-negative_errno); }

ProbeResult opened(int fd) {
    if (fd < 0) return {false, errno_text(fd)};
    ::close(fd);
    return {true, "opens"};
}

ProbeResult probe_dev_node() {
    struct stat st {};
    if (::stat("/dev/userfaultfd", &st) != 0)
        return {false, errno == ENOENT ? "absent (Linux < 6.1, or no device node here)" : std::strerror(errno)};
    const std::string mode = fmt::format("mode {:o}, owner uid {} gid {}", st.st_mode & 07777, st.st_uid, st.st_gid);
    const int fd = uffd::open_route(uffd::Route::kDevNode);
    if (fd < 0) return {false, fmt::format("present ({}) but not usable: {}", mode, errno_text(fd))};
    ::close(fd);
    return {true, fmt::format("opens read-write ({})", mode)};
}

// A scratch mapping that unmaps itself.
struct Mapping {
    void* addr = MAP_FAILED;
    size_t len = 0;
    Mapping(size_t length, int prot, int flags, int fd = -1) : len(length) {
        addr = ::mmap(nullptr, len, prot, flags, fd, 0);
    }
    ~Mapping() {
        if (addr != MAP_FAILED) ::munmap(addr, len);
    }
    bool ok() const { return addr != MAP_FAILED; }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
};

bool has_ioctl(uint64_t ioctls, int number) { return (ioctls >> number) & 1; }

ProbeResult register_missing(int fd, Mapping& m, uint64_t* ioctls = nullptr) {
    if (!m.ok()) return {false, fmt::format("not tried: the mapping failed: {}", std::strerror(errno))};
    uint64_t granted = 0;
    const int rc = uffd::register_range(fd, m.addr, m.len, false, &granted);
    if (rc != 0) return {false, errno_text(rc)};
    uffd::unregister_range(fd, m.addr, m.len);
    if (ioctls) *ioctls = granted;
    return {true, "registers"};
}

// A write(2) from a missing page of a registered range into a pipe: the kernel copies from the
// page, faults, and waits for the helper thread to map a zero page. A user-mode-only descriptor
// does not see that fault: the write fails with EFAULT instead.
ProbeResult probe_kernel_fault(int fd, long page) {
    Mapping m(static_cast<size_t>(page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    if (!m.ok()) return {false, fmt::format("not tried: the mapping failed: {}", std::strerror(errno))};
    if (int rc = uffd::register_range(fd, m.addr, m.len, false, nullptr); rc != 0)
        return {false, fmt::format("not tried: the range does not register: {}", errno_text(rc))};
    int data[2], done[2];  // the pipe written to; the one that tells the helper to stop waiting
    if (::pipe2(data, O_CLOEXEC) != 0) return {false, fmt::format("not tried: pipe: {}", std::strerror(errno))};
    if (::pipe2(done, O_CLOEXEC) != 0) {
        ::close(data[0]);
        ::close(data[1]);
        return {false, fmt::format("not tried: pipe: {}", std::strerror(errno))};
    }
    bool served = false;
    std::thread helper([&] {
        pollfd p[2] = {{fd, POLLIN, 0}, {done[0], POLLIN, 0}};
        if (::poll(p, 2, 10000) < 1 || !(p[0].revents & POLLIN)) return;  // the write needed no fault
        uffd_msg msg{};
        if (::read(fd, &msg, sizeof msg) != static_cast<ssize_t>(sizeof msg) || msg.event != UFFD_EVENT_PAGEFAULT)
            return;
        const uintptr_t at = msg.arg.pagefault.address & ~(static_cast<uintptr_t>(page) - 1);
        served = uffd::zeropage(fd, at, static_cast<size_t>(page)) == 0;
    });
    timespec t0{}, t1{};
    ::clock_gettime(CLOCK_MONOTONIC, &t0);
    const ssize_t n = ::write(data[1], m.addr, 64);
    const int err = errno;
    ::clock_gettime(CLOCK_MONOTONIC, &t1);
    const char stop = 1;
    if (::write(done[1], &stop, 1) != 1) {
        // the helper then waits out its poll timeout
    }
    helper.join();
    for (int d : {data[0], data[1], done[0], done[1]}) ::close(d);
    uffd::unregister_range(fd, m.addr, m.len);
    const double us = static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e6 + static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e3;
    if (n != 64) return {false, fmt::format("write(2) from a missing page failed: {}", std::strerror(err))};
    if (!served) return {false, "write(2) from a missing page returned without a fault to serve"};
    return {true, fmt::format("write(2) from a missing page served in {:.0f} us", us)};
}

// Everything a descriptor of this route offers; `full` when it traps kernel-mode accesses.
void probe_features(HostReport& r, uffd::Route route, bool full) {
    const char* route_name = route == uffd::Route::kDevNode ? "/dev/userfaultfd"
                             : full                          ? "the system call"
                                                             : "a user-mode-only descriptor";
    // The handshake may be done once per descriptor: ask what exists on one, enable it on another.
    int fd = uffd::open_route(route);
    if (fd < 0) return;
    uffdio_api api{};
    api.api = UFFD_API;
    const bool handshake = ::ioctl(fd, UFFDIO_API, &api) == 0;
    ::close(fd);
    if (!handshake) {
        r.api = {false, fmt::format("UFFDIO_API failed on {}: {}", route_name, std::strerror(errno))};
        return;
    }
    const uint64_t offered = api.features;
    r.api = {true, fmt::format("features 0x{:x} (on {})", offered, route_name)};
    fd = uffd::open_route(route);
    if (fd < 0) return;
    uffdio_api want{};
    want.api = UFFD_API;
    want.features =
        offered & (UFFD_FEATURE_MOVE | UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MISSING_HUGETLBFS);
    if (::ioctl(fd, UFFDIO_API, &want) != 0) {
        r.api = {false, fmt::format("UFFDIO_API with features 0x{:x} failed: {}", want.features, std::strerror(errno))};
        ::close(fd);
        return;
    }
    const long page = ::sysconf(_SC_PAGESIZE);
    const size_t len = 4 * static_cast<size_t>(page);

    Mapping anon(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    uint64_t ioctls = 0;
    r.missing_anon = register_missing(fd, anon, &ioctls);
    if (r.missing_anon.ok) {
        r.zeropage = has_ioctl(ioctls, _UFFDIO_ZEROPAGE) ? ProbeResult{true, "allowed on anonymous memory"}
                                                         : ProbeResult{false, "not in the range's ioctls"};
        const bool feature = (want.features & UFFD_FEATURE_MOVE) != 0;
        const bool ioctl_ok = has_ioctl(ioctls, _UFFDIO_MOVE);
        r.move = feature && ioctl_ok ? ProbeResult{true, "zero-copy eviction and re-fetch"}
                 : ProbeResult{false, feature ? "offered but not allowed on the range"
                                              : "not offered (needs Linux >= 6.8): pages are copied instead"};
    } else {
        r.zeropage = r.move = {false, "not tried: anonymous memory does not register"};
    }
    if (!(want.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
        r.write_protect = {false, "not offered: writeback cannot tell clean pages from dirty ones"};
    } else if (anon.ok()) {
        const int rc = uffd::register_range(fd, anon.addr, anon.len, true, nullptr);
        r.write_protect = rc == 0 ? ProbeResult{true, "on anonymous memory"} : ProbeResult{false, errno_text(rc)};
        if (rc == 0) uffd::unregister_range(fd, anon.addr, anon.len);
    }

    const int memfd = ::memfd_create("dime-doctor", MFD_CLOEXEC);
    if (memfd < 0) {
        r.missing_shmem = {false, fmt::format("not tried: memfd_create: {}", std::strerror(errno))};
    } else if (::ftruncate(memfd, static_cast<off_t>(len)) != 0) {
        r.missing_shmem = {false, fmt::format("not tried: ftruncate: {}", std::strerror(errno))};
        ::close(memfd);
    } else {
        Mapping shmem(len, PROT_READ | PROT_WRITE, MAP_SHARED, memfd);
        ::close(memfd);
        r.missing_shmem = register_missing(fd, shmem);
    }

    // MAP_NORESERVE: the range only needs to exist, so no huge page has to be reserved.
    Mapping huge(2u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_NORESERVE);
    r.missing_hugetlb = huge.ok() ? register_missing(fd, huge)
                                  : ProbeResult{false, fmt::format("not tried: no 2 MiB hugetlb mapping: {}",
                                                                   std::strerror(errno))};

    r.kernel_fault = probe_kernel_fault(fd, page);
    if (!full && !r.kernel_fault.ok) r.kernel_fault.detail += " (a user-mode-only descriptor does not serve it)";
    ::close(fd);
}

}  // namespace

HostReport probe_host() {
    HostReport r;
    utsname u{};
    if (::uname(&u) == 0) r.kernel = fmt::format("{} {} {}", u.sysname, u.release, u.machine);

    r.syscall_full = opened(uffd::open_route(uffd::Route::kSyscall));
    r.syscall_user_mode_only = opened(uffd::open_route(uffd::Route::kSyscallUserModeOnly));
    r.dev_node = probe_dev_node();
    r.unprivileged_sysctl = read_small_file("/proc/sys/vm/unprivileged_userfaultfd").value_or("unreadable");

    const std::string status = read_small_file("/proc/self/status").value_or("");
    const unsigned long long cap_eff = std::strtoull(status_field(status, "CapEff").c_str(), nullptr, 16);
    r.cap_sys_ptrace = (cap_eff >> 19) & 1;  // CAP_SYS_PTRACE

    const char* none = "not tried: no userfaultfd descriptor opens";
    r.api = r.move = r.write_protect = r.missing_anon = r.missing_shmem = r.missing_hugetlb = r.zeropage =
        r.kernel_fault = {false, none};
    if (r.syscall_full.ok)
        probe_features(r, uffd::Route::kSyscall, true);
    else if (r.dev_node.ok)
        probe_features(r, uffd::Route::kDevNode, true);
    else if (r.syscall_user_mode_only.ok)
        probe_features(r, uffd::Route::kSyscallUserModeOnly, false);

    r.max_map_count = read_small_file("/proc/sys/vm/max_map_count").value_or("unreadable");
    if (auto enabled = read_small_file("/sys/kernel/mm/transparent_hugepage/enabled")) {
        r.thp = chosen_word(*enabled);
        if (auto defrag = read_small_file("/sys/kernel/mm/transparent_hugepage/defrag"))
            r.thp += " (defrag " + chosen_word(*defrag) + ")";
    } else {
        r.thp = "not available";
    }
    const std::string seccomp = status_field(status, "Seccomp");
    r.seccomp = seccomp == "0"   ? "0 (off)"
                : seccomp == "1" ? "1 (strict: only read, write, exit and sigreturn)"
                : seccomp == "2" ? "2 (a filter is installed: it may refuse userfaultfd)"
                : seccomp.empty() ? "unknown (no Seccomp: line in /proc/self/status)"
                                  : seccomp;
    if (auto driver = read_small_file("/sys/devices/system/cpu/cpuidle/current_driver")) {
        r.cpuidle = *driver;
        if (auto governor = read_small_file("/sys/devices/system/cpu/cpuidle/current_governor_ro"))
            r.cpuidle += " (governor " + *governor + ")";
    } else {
        r.cpuidle = "no cpuidle driver (idle CPUs halt or poll as the kernel's default idle does)";
    }
    {
        CpuLatencyHold probe;
        std::string why;
        r.cpu_latency = probe.hold(0, &why)
                            ? ProbeResult{true, "a request can be held: cpu_latency_us (default 0) keeps idle CPUs "
                                                "quick to wake while DiME emulates"}
                            : ProbeResult{false, why + "; cpu_latency_us cannot be applied: idle CPUs may add "
                                                       "their wake-up latency to each fault"};
    }
    r.page_size = ::sysconf(_SC_PAGESIZE);
    r.cpus_online = ::sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    r.cpus_usable = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : r.cpus_online;
    return r;
}

}  // namespace dime
