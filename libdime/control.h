// control.h — steering a running emulation from outside: each emulated process serves a Unix
// socket (`<dir>/<pid>.sock`, dir = $XDG_RUNTIME_DIR/dime or /tmp/dime-<uid>, mode 0700) that
// `dime ctl` talks to, the counterpart of the original DiME's /proc/dime_config.
//
// Protocol: one request per connection, one line of printable ASCII of at most kMaxRequest bytes
// ending in '\n'; the reply is "ok\n" followed by key=value lines, or one line "error: ...\n".
// Requests: `info`, `stats`, `set key=value...` (latency_ns, bandwidth_bps, local_npages),
// `flush` (every local page) or `flush ADDR LEN`. Only peers of the same uid are served
// (SO_PEERCRED). The server runs on its own thread (a DiME thread: its allocations go to
// glibc); a request that needs the handler waits for it like any other application-side
// request, so the fault path never waits for the server.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace dime {

class Engine;

namespace control {

inline constexpr size_t kMaxRequest = 4096;

// The directory of the sockets for this user, created (0700) if missing. "" and *error when it
// cannot be used safely (not a directory, not ours, open to others).
std::string socket_directory(bool create, std::string* error);
// The socket of process `pid` in `dir`.
std::string socket_path(const std::string& dir, long pid);

// Answers one request line (without its '\n') for `engine`: the whole protocol, without the
// socket, so tests and fuzzers can drive it directly.
std::string handle_request(Engine& engine, std::string_view request);

// Sends `request` to the socket at `path` and returns the reply; false + *error when it cannot
// connect or the server does not answer (for `dime ctl`).
bool send_request(const std::string& path, std::string_view request, std::string* reply, std::string* error);

class Server {
public:
    explicit Server(Engine& engine) : engine_(engine) {}
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds the socket of this process and starts the thread. False + *error on failure.
    bool start(std::string* error);
    // Ends the thread and removes the socket.
    void stop();
    // In a fork child: the parent's thread does not exist here and its socket is the parent's;
    // closes the inherited descriptors (without removing the parent's socket) and starts anew.
    bool restart_in_child(std::string* error);
    // In a fork child that will not serve: closes the inherited descriptors, removes nothing.
    void abandon_in_child();
    const std::string& path() const { return path_; }

private:
    static void* thread_main(void* self);
    void run();
    void serve(int connection);
    void close_descriptors();

    Engine& engine_;
    std::string path_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;  // eventfd: stop() wakes the thread from poll()
    pthread_t thread_{};
    bool running_ = false;
};

}  // namespace control
}  // namespace dime
