// run.cpp — `dime run`: checks the settings, prepares DIME_CONFIG, DIME_OPTIONS, DIME_REPORT, DIME_TRACE and LD_PRELOAD, then replaces itself with the program (execvp), so its exit status and signals are the program's own.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "cli.h"
#include "config.h"
#include "output_path.h"

namespace dime::cli {
namespace {

constexpr std::string_view kHelp = "dime run --help";

struct RunOptions {
    std::optional<std::string> config;  // -c FILE, as given
    std::vector<std::string> sets;      // --set key=value, in order
    std::optional<std::string> report;  // --report FILE, as given
    std::optional<std::string> trace;   // --trace FILE, as given
    char** program = nullptr;           // PROGRAM ARGS..., null-terminated (argv's own end)
};

RunOptions parse(int argc, char** argv) {
    RunOptions o;
    std::string value;
    int i = 1;
    for (; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--") {
            ++i;
            break;
        }
        if (arg == "-h" || arg == "--help") {
            fmt::print("{}", run_help());
            std::exit(0);
        }
        if (option_value(argc, argv, i, "-c", "--config", value, kHelp)) {
            o.config = value;
        } else if (option_value(argc, argv, i, "", "--set", value, kHelp)) {
            o.sets.push_back(value);
        } else if (option_value(argc, argv, i, "", "--report", value, kHelp)) {
            o.report = value;
        } else if (option_value(argc, argv, i, "", "--trace", value, kHelp)) {
            o.trace = value;
        } else if (arg.size() > 1 && arg[0] == '-') {
            usage_error(fmt::format("run: unknown option '{}' (options after PROGRAM, or after --, "
                                    "go to the program)", arg),
                        kHelp);
        } else {
            break;  // PROGRAM: it and everything after it belong to the program
        }
    }
    if (i >= argc) usage_error("run: no program given", kHelp);
    o.program = argv + i;
    return o;
}

std::string current_directory() {
    char buf[PATH_MAX];
    if (!::getcwd(buf, sizeof buf))
        fail(1, fmt::format("cannot get the current directory: {}", std::strerror(errno)));
    return buf;
}

std::string absolute(const std::string& path) {
    if (!path.empty() && path[0] == '/') return path;
    return current_directory() + "/" + path;
}

// The report (or trace) is written when the program exits: check now that it can be, without
// creating it. `path` is absolute; `option` names it in the message.
void check_output_path(const std::string& path, std::string_view option) {
    if (std::string problem = output_path_problem(path); !problem.empty())
        fail(2, fmt::format("{}: {}", option, problem));
}

// DIME_OPTIONS splits settings at these characters (libdime/config.cpp).
constexpr std::string_view kSeparators = " \t\r\n,";

std::vector<std::string_view> tokens(std::string_view text) {
    std::vector<std::string_view> out;
    while (true) {
        size_t begin = text.find_first_not_of(kSeparators);
        if (begin == std::string_view::npos) break;
        text.remove_prefix(begin);
        size_t end = std::min(text.find_first_of(kSeparators), text.size());
        out.push_back(text.substr(0, end));
        text.remove_prefix(end);
    }
    return out;
}

std::string_view key_of(std::string_view token) { return token.substr(0, token.find('=')); }

// The inherited DIME_OPTIONS followed by the --set settings; a key given by --set replaces the
// same key given earlier (inherited or by an earlier --set), since DIME_OPTIONS takes each key once.
std::string merge_options(std::string_view inherited, const std::vector<std::string>& sets) {
    std::vector<std::string_view> from_sets;
    for (const std::string& s : sets)
        for (std::string_view t : tokens(s)) from_sets.push_back(t);
    auto overridden_after = [&](std::string_view token, size_t from) {
        for (size_t k = from; k < from_sets.size(); ++k)
            if (key_of(from_sets[k]) == key_of(token)) return true;
        return false;
    };
    std::string merged;
    auto add = [&](std::string_view t) {
        if (!merged.empty()) merged += ' ';
        merged += t;
    };
    for (std::string_view t : tokens(inherited))
        if (!overridden_after(t, 0)) add(t);
    for (size_t k = 0; k < from_sets.size(); ++k)
        if (!overridden_after(from_sets[k], k + 1)) add(from_sets[k]);
    return merged;
}

// LD_PRELOAD with `lib` first and any other entries kept (ld.so splits at spaces and colons).
std::string preload_with(const std::string& lib, const char* inherited) {
    std::string out = lib;
    std::string_view rest = inherited ? inherited : "";
    while (!rest.empty()) {
        size_t end = std::min(rest.find_first_of(" :"), rest.size());
        std::string_view entry = rest.substr(0, end);
        if (!entry.empty() && entry != lib) out += ':', out += entry;
        rest.remove_prefix(std::min(end + 1, rest.size()));
    }
    return out;
}

void set_env(const char* name, const std::string& value) {
    if (::setenv(name, value.c_str(), 1) != 0)
        fail(1, fmt::format("cannot set {}: {}", name, std::strerror(errno)));
}

}  // namespace

int run_main(int argc, char** argv) {
    RunOptions o = parse(argc, argv);

    // Each source on its own first, so a problem names the option it came from.
    if (o.config) {
        Config file_only;
        ConfigResult r = apply_yaml_file(file_only, *o.config);
        if (!r.ok) fail(2, (r.error.rfind("cannot read ", 0) == 0 ? "-c: " : "") + r.error);
        char resolved[PATH_MAX];
        if (!::realpath(o.config->c_str(), resolved))
            fail(2, fmt::format("-c: cannot resolve '{}': {}", *o.config, std::strerror(errno)));
        set_env("DIME_CONFIG", resolved);
    }
    for (const std::string& s : o.sets) {
        Config scratch;
        ConfigResult r = apply_options_string(scratch, s, "--set");
        if (!r.ok) fail(2, r.error);
    }
    if (!o.sets.empty()) {
        const char* inherited = std::getenv("DIME_OPTIONS");
        set_env("DIME_OPTIONS", merge_options(inherited ? inherited : "", o.sets));
    }
    if (o.report) {
        std::string path = o.report->empty() ? "" : absolute(*o.report);
        check_output_path(path, "--report");
        set_env("DIME_REPORT", path);
    }
    if (o.trace) {
        std::string path = o.trace->empty() ? "" : absolute(*o.trace);
        check_output_path(path, "--trace");
        set_env("DIME_TRACE", path);
    }

    // Then everything together, exactly as libdime.so will read it in the program.
    Config cfg;
    ConfigResult all = load_from_environment(cfg);
    if (!all.ok) fail(2, all.error);

    Library lib = find_library();
    if (lib.path.empty()) fail(lib.status, lib.error);
    set_env("LD_PRELOAD", preload_with(lib.path, std::getenv("LD_PRELOAD")));

    ::execvp(o.program[0], o.program);
    int err = errno;
    fail(err == ENOENT || err == ENOTDIR ? 127 : 126,
         fmt::format("cannot run '{}': {}", o.program[0], std::strerror(err)));
}

}  // namespace dime::cli
