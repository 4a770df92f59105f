// child_runs.h — helpers for benchmarks that compare one workload natively and under libdime.so in
// one run: the benchmark re-executes itself as a worker child (with or without LD_PRELOAD and its
// DiME settings), reads the one number the worker prints, checks the worker's JSON report, and
// keeps the median of alternating runs. Used on the benchmark's main thread only.
#pragma once

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace dime::bench {

// Where libdime.so is: --preload's value, else <build>/preload/libdime.so beside <build>/bench/.
inline std::string find_preload(const std::string& given) {
    if (!given.empty()) return given;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return "libdime.so";
    exe[n] = '\0';
    std::string dir(exe);
    dir = dir.substr(0, dir.rfind('/'));
    return dir + "/../preload/libdime.so";
}

// Debian's mimalloc, preloaded on its own as a reference: the allocator inside libdime.so.
inline const std::string kDebianMimalloc = "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2";

// Where a benchmark's worker writes its DiME report: $TMPDIR (or /tmp)/<bench>.<pid>.json.
inline std::string report_path(const std::string& bench) {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp != nullptr ? tmp : "/tmp") + "/" + bench + "." + std::to_string(getpid()) + ".json";
}

// One worker run: the environment it gets on top of ours, minus every DIME_* and LD_PRELOAD.
struct Variant {
    std::string name;
    std::vector<std::string> env;  // "KEY=value", e.g. LD_PRELOAD=..., DIME_OPTIONS=...
    std::string report;            // DIME_REPORT path to check afterwards, or empty (native)
};

// Runs this executable with `args` in the variant's environment; returns the last number the
// worker printed on stdout ("<label> <value>" lines are allowed, the value is what counts).
// Exits the benchmark with a message when the worker fails: a figure from a crashed run is no figure.
inline double run_worker(const Variant& v, const std::vector<std::string>& args) {
    std::vector<std::string> env_store;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string entry(*e);
        if (entry.rfind("DIME_", 0) == 0 || entry.rfind("LD_PRELOAD=", 0) == 0) continue;
        env_store.push_back(entry);
    }
    for (const std::string& e : v.env) env_store.push_back(e);
    if (!v.report.empty()) {
        std::remove(v.report.c_str());
        env_store.push_back("DIME_REPORT=" + v.report);
    }
    std::vector<char*> envp;
    for (std::string& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);

    std::vector<std::string> argv_store{"/proc/self/exe"};
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    if (pipe(out) != 0) {
        std::perror("pipe");
        std::exit(1);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    pid_t pid;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    int rc = posix_spawn(&pid, exe, &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    if (rc != 0) {
        std::fprintf(stderr, "bench: cannot start the worker: %s\n", std::strerror(rc));
        std::exit(1);
    }
    std::string text;
    char buf[4096];
    for (ssize_t got; (got = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(got));
    close(out[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "bench: the %s worker failed (status 0x%x); it printed:\n%s\n", v.name.c_str(), status,
                     text.c_str());
        std::exit(1);
    }
    std::istringstream lines(text);
    std::string line;
    double value = -1;
    while (std::getline(lines, line)) {
        const size_t space = line.rfind(' ');
        value = std::atof(line.c_str() + (space == std::string::npos ? 0 : space + 1));
    }
    return value;
}

// The JSON report of a worker run, or "" when there is none.
inline std::string read_report(const Variant& v) {
    std::ifstream in(v.report);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The integer after "\"key\": " in a report, or -1.
inline long long report_number(const std::string& json, const std::string& key) {
    const std::string needle = "\"" + key + "\": ";
    const size_t at = json.find(needle);
    return at == std::string::npos ? -1 : std::atoll(json.c_str() + at + needle.size());
}

// The benchmark's "--name value" options: set(name, value) takes one and returns false for a
// name it does not know. Returns false, after one line on stderr naming the culprit, for an
// unknown option or one without a value (the benchmark then exits with status 2).
template <class Set>
bool parse_option_pairs(const char* bench, int argc, char** argv, Set set) {
    for (int i = 1; i < argc; i += 2) {
        const std::string name = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "%s: %s needs a value\n", bench, name.c_str());
            return false;
        }
        if (!set(name, argv[i + 1])) {
            std::fprintf(stderr, "%s: unknown option %s\n", bench, name.c_str());
            return false;
        }
    }
    return true;
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n == 0 ? 0 : (n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

}  // namespace dime::bench
