// help.cpp — the texts of `dime --help`, `dime run --help` and `dime check-config --help`; the settings list comes from options.def through libdime.
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "cli.h"
#include "config.h"

namespace dime::cli {
namespace {

// `text` as lines of at most `width` columns, each starting with `indent` spaces.
std::string wrap(std::string_view text, size_t indent, size_t width = 79) {
    std::string out, line;
    auto flush = [&] {
        out += std::string(indent, ' ') + line + '\n';
        line.clear();
    };
    while (!text.empty()) {
        size_t space = text.find(' ');
        std::string_view word = text.substr(0, space);
        if (!line.empty() && indent + line.size() + 1 + word.size() > width) flush();
        if (!line.empty()) line += ' ';
        line += word;
        text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
    }
    if (!line.empty()) flush();
    return out;
}

constexpr std::string_view kExitStatus =
    "Exit status:\n"
    "  dime run ends as its program does: it replaces itself with the program, so the status\n"
    "  is the program's own, and a program killed by signal N is killed by it (a shell then\n"
    "  reports 128+N). Before the program starts, dime run exits with:\n"
    "    2    a bad command line or configuration (one line on stderr names the culprit)\n"
    "    1    libdime.so not found, or DiME itself cannot work here\n"
    "    126  the program was found but cannot be executed (e.g. no permission)\n"
    "    127  the program was not found\n"
    "  dime check-config exits 0 for a valid configuration and 2 otherwise.\n"
    "  dime doctor exits 0 when userfaultfd works here, 1 when it does not, 2 for bad settings.\n";

}  // namespace

std::string environment_help() {
    return "Environment (dime run sets the first five):\n"
           "  LD_PRELOAD    dime run puts the absolute path of libdime.so first, keeping the rest\n"
           "  DIME_CONFIG   YAML settings file (dime run -c sets it to the file's absolute path)\n"
           "  DIME_OPTIONS  settings as key=value, overriding the file (dime run --set appends)\n"
           "  DIME_REPORT   JSON report written at exit (dime run --report sets it, absolute)\n"
           "  DIME_TRACE    fault/eviction trace written at exit (dime run --trace sets it)\n"
           "  DIME_DISABLE  1: the program keeps DiME's allocator but nothing is emulated\n"
           "  DIME_LOG      DiME's messages on stderr: error, warn (default), info or debug\n"
           "  DIME_ROOT_PID set by libdime.so for the programs it execs, whose reports then go\n"
           "                to REPORT.<pid> (%p in DIME_REPORT stands for the pid)\n"
           "  XDG_RUNTIME_DIR  control sockets in $XDG_RUNTIME_DIR/dime/ (else /tmp/dime-<uid>/),\n"
           "                for dime ctl\n"
           "Read by dime itself:\n"
           "  DIME_LIBRARY  the libdime.so to preload, instead of looking beside dime and in its\n"
           "                install prefix\n";
}

std::string settings_help() {
    std::string out = "Settings (YAML keys in -c FILE, key=value in --set; default in brackets):\n";
    Config defaults;
    for (const SettingText& s : describe(defaults)) {
        out += fmt::format("  {} [{}] ({})\n", s.key, s.value.empty() ? "\"\"" : s.value, s.kind);
        out += wrap(s.help, 6);
    }
    out += "  Sizes take B, KiB, MiB, GiB (1024-based), durations ns, us, ms, s, bandwidths\n"
           "  bit/s with k, M, G, T (1000-based): e.g. --set local_bytes=64MiB --set latency_ns=20us.\n";
    return out;
}

std::string top_help() {
    return fmt::format(
        "usage: dime run [-c FILE] [--set key=value]... [--report FILE] [--trace FILE] [--] PROGRAM [ARGS...]\n"
        "       dime check-config [--set key=value]... FILE\n"
        "       dime sim --trace FILE --policy NAME --local-pages N [--json]...\n"
        "       dime ctl list | set [instance_id=ID] key=value... | stats PID | flush PID [ADDR LEN]\n"
        "       dime report [-o OUT.html] FILE...\n"
        "       dime doctor\n"
        "       dime --help | --version | help [COMMAND]\n"
        "\n"
        "DiME runs an unmodified Linux program with its heap emulated as disaggregated memory:\n"
        "at most local_npages pages stay local, every other access is a remote fetch that costs\n"
        "2 x latency_ns + page_size x 8 / bandwidth_bps.\n"
        "\n"
        "Commands:\n"
        "  run           run PROGRAM under emulation (see dime run --help)\n"
        "  check-config  validate a configuration file and print the effective settings\n"
        "                (see dime check-config --help)\n"
        "  sim           replay a page-access trace through a replacement policy, beside\n"
        "                Belady's OPT and exact LRU (see dime sim --help, docs/policies.md)\n"
        "  ctl           list and steer running emulations: change latency_ns, bandwidth_bps\n"
        "                and local_npages, read live counters, evict (see dime ctl --help)\n"
        "  report        an HTML page with plots from reports and time series (see\n"
        "                dime report --help)\n"
        "  doctor        what this machine allows DiME (userfaultfd, its features, limits) and\n"
        "                the backend dime run would use (see dime doctor --help)\n"
        "  help COMMAND  the same as dime COMMAND --help\n"
        "\n"
        "Options:\n"
        "  -h, --help     this text\n"
        "  -V, --version  dime's version and the libdime.so that dime run would preload\n"
        "\n"
        "{}\n{}\n"
        "Privileges: userfaultfd must be allowed for the program: root, or\n"
        "sysctl vm.unprivileged_userfaultfd=1, or read-write access to /dev/userfaultfd.\n"
        "\n"
        "Documentation: docs/usage.md (this command, the environment, what is emulated) and\n"
        "docs/configuration.md (every setting) in DiME's source tree.\n",
        environment_help(), kExitStatus);
}

std::string run_help() {
    return fmt::format(
        "usage: dime run [-c FILE] [--set key=value]... [--report FILE] [--trace FILE] [--] PROGRAM [ARGS...]\n"
        "\n"
        "Runs PROGRAM with libdime.so preloaded, so its heap is emulated. The configuration is\n"
        "checked first, with libdime's own parser: a problem stops dime run before anything\n"
        "starts, with one line naming the culprit and exit status 2. Then dime run sets the\n"
        "environment below and replaces itself with PROGRAM (searched in PATH as a shell does).\n"
        "The first argument that is not an option is PROGRAM; it and everything after it go to\n"
        "the program unchanged. Use -- when PROGRAM itself starts with '-'.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE  YAML settings file; sets DIME_CONFIG to its absolute path\n"
        "                     (replacing an inherited DIME_CONFIG). Without -c, an inherited\n"
        "                     DIME_CONFIG is used and checked.\n"
        "  --set key=value    one setting (several may share one --set, separated by commas);\n"
        "                     repeatable. Added to DIME_OPTIONS, so it overrides the file and\n"
        "                     the inherited DIME_OPTIONS; a later --set overrides an earlier\n"
        "                     one with the same key.\n"
        "  --report FILE      write the JSON report to FILE when the program exits; sets\n"
        "                     DIME_REPORT to its absolute path (its directory must exist and be\n"
        "                     writable). An empty FILE means no report.\n"
        "  --trace FILE       write the fault/eviction stream to FILE at exit (dime sim --trace\n"
        "                     reads it); sets DIME_TRACE to its absolute path, checked likewise.\n"
        "  -h, --help         this text\n"
        "A later -c or --report replaces an earlier one. Options take their value as the next\n"
        "argument or after '=' (--set=key=value, --report=FILE, -cFILE).\n"
        "\n"
        "Precedence, lowest first: the defaults < -c FILE (or DIME_CONFIG) < DIME_OPTIONS <\n"
        "--set < --report (for the report setting).\n"
        "\n"
        "{}\n{}\n{}\n"
        "Example:\n"
        "  dime run -c dime.yaml --set local_npages=1000 --report run.json -- ./app --its-flag\n",
        settings_help(), environment_help(), kExitStatus);
}

std::string check_config_help() {
    return fmt::format(
        "usage: dime check-config [--set key=value]... FILE\n"
        "\n"
        "Checks the YAML settings FILE with libdime's own parser, applies the --set settings on\n"
        "top (a later --set overrides an earlier one), runs the cross-key checks, and prints the\n"
        "effective settings as YAML (numbers in ns, bit/s and bytes), exit status 0. A problem\n"
        "is one line on stderr naming the file and line or the --set, and exit status 2.\n"
        "The environment (DIME_CONFIG, DIME_OPTIONS, DIME_REPORT) plays no part.\n"
        "\n"
        "Options:\n"
        "  --set key=value  one setting on top of FILE (repeatable)\n"
        "  -h, --help       this text\n"
        "\n"
        "{}",
        settings_help());
}

std::string doctor_help() {
    return "usage: dime doctor\n"
           "\n"
           "Probes what this machine allows DiME and prints one line per item: the ways to open\n"
           "userfaultfd (the system call with and without UFFD_USER_MODE_ONLY, /dev/userfaultfd),\n"
           "vm.unprivileged_userfaultfd, CAP_SYS_PTRACE, the features and ioctls the kernel grants\n"
           "(UFFDIO_MOVE, write-protect, MISSING on anonymous, shmem and hugetlb memory,\n"
           "UFFDIO_ZEROPAGE), whether a fault taken inside the kernel is served, vm.max_map_count,\n"
           "transparent huge pages, this process's seccomp mode, the page size, the CPUs, and the\n"
           "backend a program started by dime run would get with the settings in DIME_CONFIG and\n"
           "DIME_OPTIONS. The probes open and close descriptors and map scratch memory; nothing\n"
           "is changed.\n"
           "\n"
           "Exit status: 0 when userfaultfd works here, 1 when it does not, 2 for a bad command\n"
           "line or bad settings in the environment.\n";
}

}  // namespace dime::cli
