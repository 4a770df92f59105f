// doctor.cpp — `dime doctor`: prints what this machine allows DiME (libdime's probe_host) and the
// backend a program started by dime run would get; exit status 0 when userfaultfd works here, 1
// when it does not, 2 for a bad command line or configuration.
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "cli.h"
#include "config.h"
#include "host_probe.h"

namespace dime::cli {
namespace {

constexpr std::string_view kHelp = "dime doctor --help";

void line(std::string_view label, std::string_view value) { fmt::print("{:<28} {}\n", fmt::format("{}:", label), value); }

void line(std::string_view label, const ProbeResult& p) {
    line(label, fmt::format("{}: {}", p.ok ? "yes" : "no", p.detail));
}

std::string sysctl_meaning(const std::string& value) {
    if (value == "0") return "0 (without CAP_SYS_PTRACE, only user-mode-only descriptors)";
    if (value == "1") return "1 (every process may open full descriptors)";
    return value;
}

// The backend a program started by dime run gets with these settings on this machine. A setting
// that chooses among backends is decided here, so that doctor and the engine agree.
std::string backend(const Config& cfg, const HostReport& host) {
    if (cfg.disable)
        return "none: disable is set, so the program runs on DiME's allocator over plain memory";
    if (cfg.backend == "mprotect")
        return "mprotect (backend: mprotect): faults are served by a SIGSEGV handler, no userfaultfd needed";
    if (host.userfaultfd_usable())
        return cfg.backend == "auto" ? "userfaultfd (backend: auto, and userfaultfd is usable here)"
                                     : "userfaultfd (the default): a program started by dime run is emulated";
    if (cfg.backend == "auto")
        return "mprotect (backend: auto, and userfaultfd is not usable here): faults are served by a SIGSEGV "
               "handler";
    return "none: userfaultfd is not usable here (see the lines above), so a program started by dime "
           "run stops before main() with exit status 1; backend: auto or mprotect would run it on the "
           "mprotect backend";
}

}  // namespace

int doctor_main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            fmt::print("{}", doctor_help());
            return 0;
        }
        usage_error(fmt::format("doctor: unexpected argument '{}'", arg), kHelp);
    }
    // The settings as a program started here would read them: they may choose the backend.
    Config cfg;
    ConfigResult settings = load_from_environment(cfg);
    if (!settings.ok) fail(2, settings.error);

    const HostReport host = probe_host();
    line("kernel", host.kernel);
    line("userfaultfd system call", host.syscall_full);
    line("userfaultfd user-mode-only", host.syscall_user_mode_only);
    line("/dev/userfaultfd", host.dev_node);
    line("vm.unprivileged_userfaultfd", sysctl_meaning(host.unprivileged_sysctl));
    line("CAP_SYS_PTRACE", host.cap_sys_ptrace ? "yes (full descriptors through the system call)" : "no");
    line("UFFDIO_API", host.api);
    line("UFFDIO_MOVE", host.move);
    line("write-protect", host.write_protect);
    line("MISSING on anonymous memory", host.missing_anon);
    line("MISSING on shmem", host.missing_shmem);
    line("MISSING on hugetlb", host.missing_hugetlb);
    line("UFFDIO_ZEROPAGE", host.zeropage);
    line("kernel-mode fault", host.kernel_fault);
    line("vm.max_map_count", host.max_map_count);
    line("transparent hugepages", host.thp);
    line("seccomp", host.seccomp);
    line("cpuidle", host.cpuidle);
    line("CPU wake-up latency hold", host.cpu_latency);
    line("page size", fmt::format("{}", host.page_size));
    line("CPUs", fmt::format("{} online, {} usable by this process", host.cpus_online, host.cpus_usable));
    line("backend", backend(cfg, host));
    return host.userfaultfd_usable() ? 0 : 1;
}

}  // namespace dime::cli
