// ctl.cpp — `dime ctl`: lists the emulated processes of this user and steers them through their
// control sockets (libdime/control.h), the counterpart of the original DiME's /proc/dime_config.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "cli.h"
#include "control.h"
#include "instance.h"

namespace dime::cli {
namespace {

constexpr std::string_view kHelpCommand = "dime ctl --help";

struct Process {
    long pid = 0;
    std::string path;
    std::map<std::string, std::string> info;  // the reply to `info`
};

// key=value lines after the "ok" line.
std::map<std::string, std::string> parse_reply(const std::string& reply) {
    std::map<std::string, std::string> out;
    size_t start = reply.find('\n');
    while (start != std::string::npos && start + 1 < reply.size()) {
        const size_t end = reply.find('\n', start + 1);
        const std::string line = reply.substr(start + 1, end == std::string::npos ? std::string::npos : end - start - 1);
        const size_t eq = line.find('=');
        if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
        start = end;
    }
    return out;
}

std::string directory_or_fail() {
    std::string error;
    const std::string dir = control::socket_directory(false, &error);
    if (dir.empty()) {
        if (errno == ENOENT || error.find("No such file") != std::string::npos) return {};  // none ever ran
        fail(1, error);
    }
    return dir;
}

// Every emulated process of this user that answers; sockets of processes that are gone are removed,
// and so are the segments of instances whose every member was killed.
std::vector<Process> live_processes() {
    remove_orphan_instances();
    std::vector<Process> out;
    const std::string dir = directory_or_fail();
    if (dir.empty()) return out;
    DIR* d = opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name.size() <= 5 || name.substr(name.size() - 5) != ".sock") continue;
        char* end = nullptr;
        const long pid = std::strtol(name.c_str(), &end, 10);
        if (pid <= 0 || std::string_view(end) != ".sock") continue;
        Process p;
        p.pid = pid;
        p.path = dir + "/" + name;
        std::string reply, error;
        if (!control::send_request(p.path, "info", &reply, &error)) {
            if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) unlink(p.path.c_str());  // stale
            continue;
        }
        if (reply.rfind("ok\n", 0) != 0) continue;
        p.info = parse_reply(reply);
        out.push_back(std::move(p));
    }
    closedir(d);
    std::sort(out.begin(), out.end(), [](const Process& a, const Process& b) { return a.pid < b.pid; });
    return out;
}

std::string ask(const Process& p, const std::string& request) {
    std::string reply, error;
    if (!control::send_request(p.path, request, &reply, &error))
        fail(1, fmt::format("pid {}: no answer on {}: {}", p.pid, p.path, error));
    if (reply.rfind("error: ", 0) == 0) {
        std::string line = reply.substr(7);
        while (!line.empty() && line.back() == '\n') line.pop_back();
        fail(2, fmt::format("pid {}: {}", p.pid, line));
    }
    return reply;
}

const Process& find_pid(const std::vector<Process>& all, std::string_view text) {
    char* end = nullptr;
    const std::string s(text);
    const long pid = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || pid <= 0) usage_error(fmt::format("'{}' is not a process id", text), kHelpCommand);
    for (const Process& p : all)
        if (p.pid == pid) return p;
    fail(1, fmt::format("no emulated process {} of this user answers (see dime ctl list)", pid));
}

std::string info_of(const Process& p, const char* key) {
    auto it = p.info.find(key);
    return it == p.info.end() ? std::string("?") : it->second;
}

// One row of `dime ctl list`: an instance and its members (a private instance has one).
struct Row {
    std::string instance_id;
    std::vector<const Process*> members;
};

// The processes grouped by instance_id, in the order of each instance's lowest pid.
std::vector<Row> rows_of(const std::vector<Process>& all) {
    std::vector<Row> rows;
    for (const Process& p : all) {
        const std::string id = info_of(p, "instance_id");
        auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.instance_id == id; });
        if (it == rows.end()) {
            rows.push_back({id, {}});
            it = rows.end() - 1;
        }
        it->members.push_back(&p);
    }
    return rows;
}

// The members' values of `key`, each distinct one once, separated by commas.
std::string distinct(const Row& r, const char* key) {
    std::vector<std::string> seen;
    for (const Process* p : r.members)
        if (std::string v = info_of(*p, key); std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(v);
    return fmt::format("{}", fmt::join(seen, ","));
}

int list_main(const std::vector<Process>& all) {
    fmt::print("{:>11} {:>10} {:>14} {:>12} {:>16} {:>8} {:>7} {:>9}  {}\n", "instance_id", "latency_ns",
               "bandwidth_bps", "local_npages", "page_fault_count", "pids", "policy", "page_size", "program");
    for (const Row& r : rows_of(all)) {
        // The instance's settings are shared: any member's are the instance's. Its fault count
        // is the members' sum, as DiME counted an instance's faults.
        const Process& first = *r.members.front();
        uint64_t faults = 0;
        std::vector<long> pids;
        for (const Process* p : r.members) {
            faults += std::strtoull(info_of(*p, "page_fault_count").c_str(), nullptr, 10);
            pids.push_back(p->pid);
        }
        fmt::print("{:>11} {:>10} {:>14} {:>12} {:>16} {:>8} {:>7} {:>9}  {}\n", r.instance_id,
                   info_of(first, "latency_ns"), info_of(first, "bandwidth_bps"), info_of(first, "local_npages"), faults,
                   fmt::format("{}", fmt::join(pids, ",")), distinct(r, "policy"), distinct(r, "page_size"),
                   distinct(r, "program"));
    }
    return 0;
}

// `set [instance_id=ID | pid=PID] key=value...`, DiME's syntax: the selector may come anywhere.
// instance_id names an instance (its settings are shared: one member applies them for all), or
// the pid of a process in a private instance.
int set_main(const std::vector<Process>& all, const std::vector<std::string_view>& args) {
    std::string selector, selector_key, request = "set";
    for (std::string_view a : args) {
        if (a.rfind("instance_id=", 0) == 0 || a.rfind("pid=", 0) == 0) {
            if (!selector.empty()) usage_error("name one instance: a single instance_id= or pid=", kHelpCommand);
            selector_key = std::string(a.substr(0, a.find('=')));
            selector = std::string(a.substr(a.find('=') + 1));
        } else if (a.find('=') == std::string_view::npos) {
            usage_error(fmt::format("'{}' is not key=value", a), kHelpCommand);
        } else {
            request.append(1, ' ').append(a);
        }
    }
    if (request == "set") usage_error("nothing to set (latency_ns=, bandwidth_bps=, local_npages=)", kHelpCommand);
    const std::vector<Row> rows = rows_of(all);
    const Process* target = nullptr;
    if (!selector.empty()) {
        for (const Row& r : rows)
            if (selector_key == "instance_id" && r.instance_id == selector) target = r.members.front();
        if (!target) target = &find_pid(all, selector);
    } else if (rows.size() == 1) {
        target = rows.front().members.front();
    } else {
        fail(2, all.empty() ? "no emulated process of this user answers"
                            : "several instances: name one with instance_id= (see dime ctl list)");
    }
    const std::map<std::string, std::string> now = parse_reply(ask(*target, request));
    auto get = [&](const char* k) {
        auto it = now.find(k);
        return it == now.end() ? std::string("?") : it->second;
    };
    fmt::print("instance_id={} latency_ns={} bandwidth_bps={} local_npages={}\n", get("instance_id"),
               get("latency_ns"), get("bandwidth_bps"), get("local_npages"));
    return 0;
}

}  // namespace

std::string ctl_help() {
    return "usage: dime ctl list\n"
           "       dime ctl set [instance_id=ID] key=value...\n"
           "       dime ctl stats PID\n"
           "       dime ctl flush PID [ADDR LEN]\n"
           "\n"
           "Steers programs running under DiME, the counterpart of the original DiME's\n"
           "/proc/dime_config. Every emulated process serves a control socket (setting\n"
           "`control`, on by default) in $XDG_RUNTIME_DIR/dime/, or /tmp/dime-<uid>/ when\n"
           "XDG_RUNTIME_DIR is unset; dime ctl reaches the processes of its own user only.\n"
           "Processes started with the same `instance` setting form one instance (they share\n"
           "its local pages and links): its instance_id is that name. Any other process is an\n"
           "instance of its own, whose instance_id is its pid.\n"
           "\n"
           "Commands:\n"
           "  list    every instance: instance_id, latency_ns, bandwidth_bps, local_npages,\n"
           "          page_fault_count (its members' sum), pids, policy, page_size, program\n"
           "  set     change a running instance: latency_ns, bandwidth_bps (its remote tier's\n"
           "          link) and local_npages (shrinking evicts at once); values take the units\n"
           "          of --set (20us, 10Gbit). DiME's syntax: dime ctl set instance_id=0\n"
           "          latency_ns=500 local_npages=5000 (instance_id as dime ctl list shows it;\n"
           "          pid= names a process; either may be left out when one instance runs)\n"
           "  stats   the live counters of process PID, as key=value lines\n"
           "  flush   evict every local page of process PID now, or those of [ADDR, ADDR+LEN)\n"
           "          (numbers; 0x for hexadecimal)\n"
           "\n"
           "Exit status: 0 done; 2 a bad command line or a request the process refused (one line\n"
           "on stderr says why); 1 the process cannot be reached.\n";
}

int ctl_main(int argc, char** argv) {
    if (argc < 2) usage_error("dime ctl needs a command (list, set, stats, flush)", kHelpCommand);
    const std::string_view command = argv[1];
    if (command == "-h" || command == "--help") {
        fmt::print("{}", ctl_help());
        return 0;
    }
    std::vector<std::string_view> args(argv + 2, argv + argc);
    if (command == "list") {
        if (!args.empty()) usage_error("dime ctl list takes no arguments", kHelpCommand);
        return list_main(live_processes());
    }
    if (command == "set") return set_main(live_processes(), args);
    if (command == "stats") {
        if (args.size() != 1) usage_error("dime ctl stats needs one PID", kHelpCommand);
        const std::vector<Process> all = live_processes();
        const std::string reply = ask(find_pid(all, args[0]), "stats");
        fmt::print("{}", reply.substr(reply.find('\n') + 1));
        return 0;
    }
    if (command == "flush") {
        if (args.size() != 1 && args.size() != 3) usage_error("dime ctl flush needs PID [ADDR LEN]", kHelpCommand);
        const std::vector<Process> all = live_processes();
        std::string request = "flush";
        if (args.size() == 3) request += fmt::format(" {} {}", args[1], args[2]);
        const std::string reply = ask(find_pid(all, args[0]), request);
        fmt::print("{}", reply.substr(reply.find('\n') + 1));
        return 0;
    }
    usage_error(fmt::format("unknown ctl command '{}' (list, set, stats, flush)", command), kHelpCommand);
}

}  // namespace dime::cli
