// control.cpp — the control socket's server thread, its request handler, and the client side
// `dime ctl` uses (see control.h).
#include "control.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "config.h"
#include "descriptors.h"
#include "engine.h"
#include "instance.h"
#include "log.h"
#include "service_thread.h"
#include "stats.h"
#include "thread_role.h"

namespace dime::control {
namespace {

// A request or reply never waits longer than this on a slow or silent peer.
constexpr int kIoTimeoutMs = 2000;
// The settings `set` may change while the program runs.
constexpr const char* kRuntimeKeys[] = {"latency_ns", "bandwidth_bps", "local_npages"};

bool is_runtime_key(std::string_view key) {
    for (const char* k : kRuntimeKeys)
        if (key == k) return true;
    return false;
}

std::string error_reply(std::string_view message) { return fmt::format("error: {}\n", message); }

bool usable_directory(const std::string& dir, std::string* error) {
    struct stat st{};
    if (lstat(dir.c_str(), &st) != 0) {
        *error = fmt::format("{}: {}", dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        *error = fmt::format("{} is not a directory", dir);
        return false;
    }
    if (st.st_uid != geteuid()) {
        *error = fmt::format("{} belongs to uid {}, not to this user ({})", dir, st.st_uid, geteuid());
        return false;
    }
    if (st.st_mode & 077) {
        *error = fmt::format("{} is open to other users (mode {:o}; 0700 expected)", dir, st.st_mode & 0777);
        return false;
    }
    return true;
}

std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && s[i] == ' ') ++i;
        size_t j = i;
        while (j < s.size() && s[j] != ' ') ++j;
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

bool parse_number(std::string_view text, uint64_t* out) {
    if (text.empty() || text.size() > 20) return false;
    const std::string s(text);
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 0);  // decimal or 0x hex
    if (errno != 0 || end != s.c_str() + s.size() || s[0] == '-') return false;
    *out = v;
    return true;
}

// DiME's instance_id: the instance's name, or in a private instance the pid.
std::string instance_id(const Engine& e) {
    return e.instance() ? e.instance()->name() : std::to_string(static_cast<long>(getpid()));
}

// The instance's members and pages, for info (nothing in a private instance).
std::string instance_lines(const Engine& e) {
    const Instance* in = e.instance();
    if (!in) return {};
    const Instance::View v = in->view();
    return fmt::format("instance={}\ninstance_members={}\ninstance_pids={}\ninstance_pages={}\n"
                       "instance_resident_pages={}\n",
                       in->name(), v.members, fmt::join(v.pids, ","), v.pages, v.resident);
}

std::string info_reply(Engine& e) {
    const Totals t = e.totals();
    char comm[64] = {};
    if (FILE* f = std::fopen("/proc/self/comm", "re")) {
        if (std::fgets(comm, sizeof comm, f)) comm[std::strcspn(comm, "\n")] = '\0';
        std::fclose(f);
    }
    return fmt::format(
        "ok\npid={}\nprogram={}\ninstance_id={}\nlatency_ns={}\nbandwidth_bps={}\nlocal_npages={}\n"
        "page_fault_count={}\npolicy={}\npage_size={}\nresident_pages={}\n{}",
        getpid(), comm, instance_id(e), e.link_latency_ns(0), e.link_bandwidth_bps(0), e.local_pages(), t.faults,
        e.policy_name(), e.config().page_size, t.resident_pages, instance_lines(e));
}

std::string stats_reply(Engine& e) {
    const Totals t = e.totals();
    return fmt::format(
        "ok\nfaults={}\nfirst_touch_faults={}\nrefetch_faults={}\nduplicate_faults={}\nevictions={}\n"
        "eviction_fallbacks={}\ninjected_delay_ns={}\nhandler_ns={}\npolicy_ns={}\nresident_pages={}\n"
        "fault_ns_p50={}\nfault_ns_p99={}\nfault_ns_max={}\nlocal_npages={}\n",
        t.faults, t.first_touch_faults, t.refetch_faults, t.duplicate_faults, t.evictions, t.eviction_fallbacks,
        t.injected_delay_ns, t.handler_ns, t.policy_ns, t.resident_pages, t.fault_ns_p50, t.fault_ns_p99,
        t.fault_ns_max, e.local_pages());
}

// `set key=value...`: checked whole with the settings parser first, applied only if all is well.
std::string set_reply(Engine& e, const std::vector<std::string_view>& args) {
    if (args.empty()) return error_reply("set: nothing to set (latency_ns=, bandwidth_bps=, local_npages=)");
    Config staged = e.config();
    staged.latency_ns = e.link_latency_ns(0);
    staged.bandwidth_bps = e.link_bandwidth_bps(0);
    staged.local_npages = e.local_pages();
    staged.local_bytes = 0;
    std::string text;
    for (std::string_view a : args) {
        const size_t eq = a.find('=');
        const std::string_view key = a.substr(0, eq);
        if (eq == std::string_view::npos) return error_reply(fmt::format("set: '{}' is not key=value", a));
        if (!is_runtime_key(key))
            return error_reply(fmt::format("set: '{}' cannot change while the program runs (latency_ns, "
                                           "bandwidth_bps and local_npages can)",
                                           key));
        text += std::string(a) + " ";
    }
    const ConfigResult r = apply_options_string(staged, text, "dime ctl set");
    if (!r.ok) return error_reply(r.error);
    if (const ConfigResult v = validate(staged); !v.ok) return error_reply(v.error);
    if (!e.set_link(0, staged.latency_ns, staged.bandwidth_bps)) return error_reply("set: no emulation here");
    if (staged.local_npages != e.local_pages() && !e.set_local_pages(staged.local_npages))
        return error_reply(fmt::format("set: local_npages={} refused", staged.local_npages));
    return fmt::format("ok\ninstance_id={}\nlatency_ns={}\nbandwidth_bps={}\nlocal_npages={}\n", instance_id(e),
                       e.link_latency_ns(0), e.link_bandwidth_bps(0), e.local_pages());
}

std::string flush_reply(Engine& e, const std::vector<std::string_view>& args) {
    uintptr_t addr = 0;
    uint64_t len = UINT64_MAX;
    if (args.size() == 2) {
        uint64_t a = 0;
        if (!parse_number(args[0], &a) || !parse_number(args[1], &len))
            return error_reply("flush: expected ADDR LEN (numbers, 0x for hexadecimal)");
        addr = static_cast<uintptr_t>(a);
    } else if (!args.empty()) {
        return error_reply("flush: expected nothing (every local page) or ADDR LEN");
    }
    if (len == UINT64_MAX) {  // the whole emulated span
        addr = e.span_base();
        len = e.span_bytes();
    }
    const uint64_t evicted = e.evict_range(reinterpret_cast<void*>(addr), static_cast<size_t>(len));
    return fmt::format("ok\nevicted_pages={}\n", evicted);
}

// Reads one request line from `fd` into *line: false + *error if it is too long, never ends, or
// the peer goes quiet.
bool read_request(int fd, std::string* line, std::string* error) {
    char buf[kMaxRequest + 1];
    size_t got = 0;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int rc = poll(&p, 1, kIoTimeoutMs);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) {
            *error = "request timed out";
            return false;
        }
        const ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            *error = got ? "request not terminated by a newline" : "empty request";
            return false;
        }
        got += static_cast<size_t>(n);
        if (void* nl = std::memchr(buf, '\n', got)) {
            line->assign(buf, static_cast<size_t>(static_cast<char*>(nl) - buf));
            return true;
        }
        if (got > kMaxRequest) {
            *error = fmt::format("request too long (more than {} bytes)", kMaxRequest);
            return false;
        }
    }
}

void write_all(int fd, std::string_view s) {
    while (!s.empty()) {
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, kIoTimeoutMs) <= 0) return;
        const ssize_t n = send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        s.remove_prefix(static_cast<size_t>(n));
    }
}

// After the reply: a peer that sent more than was read (an oversize request) would otherwise
// get a reset instead of the reply, so the rest is read and dropped, within bounds.
void finish(int fd) {
    shutdown(fd, SHUT_WR);
    char buf[4096];
    for (size_t dropped = 0; dropped < (size_t(1) << 20);) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 200) <= 0) return;
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return;
        dropped += static_cast<size_t>(n);
    }
}

}  // namespace

std::string socket_directory(bool create, std::string* error) {
    std::string dir;
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg == '/')
        dir = std::string(xdg) + "/dime";
    else
        dir = fmt::format("/tmp/dime-{}", geteuid());
    if (create && mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        *error = fmt::format("cannot create {}: {}", dir, strerror(errno));
        return {};
    }
    if (!usable_directory(dir, error)) return {};
    return dir;
}

std::string socket_path(const std::string& dir, long pid) { return fmt::format("{}/{}.sock", dir, pid); }

std::string handle_request(Engine& engine, std::string_view request) {
    if (request.size() > kMaxRequest) return error_reply("request too long");
    if (!request.empty() && request.back() == '\r') request.remove_suffix(1);
    for (char c : request)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e)
            return error_reply("malformed request: only printable ASCII is accepted");
    const std::vector<std::string_view> w = words(request);
    if (w.empty()) return error_reply("empty request (info, stats, set, flush)");
    const std::vector<std::string_view> args(w.begin() + 1, w.end());
    if (w[0] == "info" && args.empty()) return info_reply(engine);
    if (w[0] == "stats" && args.empty()) return stats_reply(engine);
    if (w[0] == "set") return set_reply(engine, args);
    if (w[0] == "flush") return flush_reply(engine, args);
    std::string shown(w[0].substr(0, 64));
    return error_reply(fmt::format("unknown request '{}' (info, stats, set, flush)", shown));
}

bool send_request(const std::string& path, std::string_view request, std::string* reply, std::string* error) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *error = strerror(errno);
        return false;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        close(fd);
        *error = "socket path too long";
        return false;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        *error = strerror(errno);
        close(fd);
        return false;
    }
    write_all(fd, std::string(request) + "\n");
    shutdown(fd, SHUT_WR);
    reply->clear();
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int rc = poll(&p, 1, 10 * kIoTimeoutMs);  // a flush may evict many pages
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) {
            *error = "no answer";
            close(fd);
            return false;
        }
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        reply->append(buf, static_cast<size_t>(n));
    }
    close(fd);
    if (reply->empty()) {
        *error = "empty answer";
        return false;
    }
    return true;
}

// ---- the server ------------------------------------------------------------------------------

Server::~Server() { stop(); }

bool Server::start(std::string* error) {
    InternalScope internal;
    const std::string dir = socket_directory(true, error);
    if (dir.empty()) return false;
    path_ = socket_path(dir, getpid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof addr.sun_path) {
        *error = fmt::format("socket path too long: {}", path_);
        return false;
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *error = fmt::format("socket: {}", strerror(errno));
        return false;
    }
    unlink(path_.c_str());  // a stale socket of an earlier process with this pid
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 8) != 0) {
        *error = fmt::format("cannot serve {}: {}", path_, strerror(errno));
        close(fd);
        return false;
    }
    chmod(path_.c_str(), 0600);  // the directory is 0700 already; the socket is the user's alone too
    listen_fd_ = descriptors::adopt(fd);
    wake_fd_ = descriptors::adopt(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (wake_fd_ < 0) {
        *error = "cannot create the control server's eventfd";
        close_descriptors();
        unlink(path_.c_str());
        return false;
    }
    if (pthread_create(&thread_, nullptr, &Server::thread_main, this) != 0) {
        *error = "cannot start the control server thread";
        close_descriptors();
        unlink(path_.c_str());
        return false;
    }
    running_ = true;
    return true;
}

void Server::close_descriptors() {
    if (listen_fd_ >= 0) descriptors::release(listen_fd_);
    if (wake_fd_ >= 0) descriptors::release(wake_fd_);
    listen_fd_ = wake_fd_ = -1;
}

void Server::stop() {
    if (!running_) return;
    InternalScope internal;
    wake_and_join(wake_fd_, thread_);
    running_ = false;
    close_descriptors();
    unlink(path_.c_str());
}

bool Server::restart_in_child(std::string* error) {
    InternalScope internal;
    running_ = false;  // the thread was the parent's
    close_descriptors();  // the parent's socket file stays: it is the parent's
    return start(error);
}

void Server::abandon_in_child() {
    InternalScope internal;
    running_ = false;
    close_descriptors();
}

void* Server::thread_main(void* self) {
    t_internal = true;  // DiME's own thread: its allocations go to glibc, never to emulated memory
    static_cast<Server*>(self)->run();
    return nullptr;
}

void Server::run() {
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        if (fds[1].revents) return;
        const int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        serve(c);
        finish(c);
        close(c);
    }
}

void Server::serve(int c) {
    ucred peer{};
    socklen_t len = sizeof peer;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.uid != geteuid()) {
        write_all(c, error_reply(fmt::format("permission denied: peer uid {} is not this process's uid {}",
                                             peer.uid, geteuid())));
        return;
    }
    std::string line, why;
    if (!read_request(c, &line, &why)) {
        write_all(c, error_reply(why));
        return;
    }
    std::string reply;
    try {
        reply = handle_request(engine_, line);
    } catch (const std::exception& e) {  // out of memory in formatting: the program goes on
        reply = error_reply(e.what());
    }
    write_all(c, reply);
}

}  // namespace dime::control
