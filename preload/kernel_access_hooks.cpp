// kernel_access_hooks.cpp — libdime.so's hooks of the common system-call wrappers that hand the
// kernel a buffer: read/write and their vector and positioned forms, the socket calls, fread and
// fwrite, the stat family, directory reads, paths (open, access, unlink, ...), poll/epoll/select,
// pipes and exec/posix_spawn. With the mprotect backend a page that is not local is PROT_NONE,
// and the kernel's own access to it fails with EFAULT instead of faulting; so each hook has the
// engine make its buffers local first and keep them so until the call returns
// (Engine::hold_resident), then calls glibc's function. With any other backend, before start-up
// and on DiME's own threads the hooks only forward. Any thread, also in signal handlers: no
// allocation, and the real functions are looked up before the program runs.
//
// Not covered: glibc's internal system calls (stdio's buffer flushes, readdir, getaddrinfo, ...),
// whose buffers glibc allocates itself: with the mprotect backend the preload gives glibc's own
// allocations to glibc's allocator, so those buffers are plain memory. See docs/architecture.md.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdlib>
#include <cstdio>
#include <cstring>

#include "engine.h"
#include "real_function.h"
#include "thread_role.h"

#define DIME_HOOK extern "C" __attribute__((visibility("default")))

extern char** environ;

namespace {

using dime::preload::Real;

std::atomic<dime::Engine*> g_engine{nullptr};  // set only with the mprotect backend

// The emulated buffers of one call, made local and held so until it returns.
class Buffers {
public:
    // holds_ stays unset: a Buffers is made on every hooked call, and holds_[i] is written before
    // n_ counts it.
    // cppcheck-suppress uninitMemberVar
    Buffers() : e_(dime::t_internal ? nullptr : g_engine.load(std::memory_order_acquire)) {}
    ~Buffers() {
        for (int i = 0; i < n_; ++i) e_->release_resident(holds_[i]);
    }
    Buffers(const Buffers&) = delete;
    Buffers& operator=(const Buffers&) = delete;

    Buffers& in(const void* p, size_t len) { return add(p, len, false); }  // the kernel reads it
    Buffers& out(void* p, size_t len) { return add(p, len, true); }        // the kernel writes it
    Buffers& str(const char* s) { return e_ && s ? add(s, std::strlen(s) + 1, false) : *this; }
    Buffers& vec(const iovec* iov, int count, bool written) {
        if (!e_ || !iov || count <= 0) return *this;
        in(iov, size_t(count) * sizeof *iov);
        for (int i = 0; i < count; ++i) add(iov[i].iov_base, iov[i].iov_len, written);
        return *this;
    }
    Buffers& msg(const msghdr* m, bool written) {
        if (!e_ || !m) return *this;
        add(m, sizeof *m, written);  // recvmsg writes msg_namelen, msg_controllen and msg_flags
        add(m->msg_name, m->msg_namelen, written);
        add(m->msg_control, m->msg_controllen, written);
        return vec(m->msg_iov, static_cast<int>(m->msg_iovlen), written);
    }
    Buffers& strs(char* const* v) {
        if (!e_ || !v) return *this;
        size_t n = 0;
        while (v[n]) ++n;
        in(v, (n + 1) * sizeof *v);
        for (size_t i = 0; i < n; ++i) str(v[i]);
        return *this;
    }
    template <typename T>
    Buffers& out_len(T* p, const socklen_t* len) {  // a socket address and its length
        if (len) add(len, sizeof *len, true);
        return p && len ? add(p, *len, true) : *this;
    }

private:
    static constexpr int kMaxHolds = 16;
    Buffers& add(const void* p, size_t len, bool write) {
        if (!e_ || !p || len == 0) return *this;
        const int h = e_->hold_resident(reinterpret_cast<uintptr_t>(p), len, write);
        // More buffers than this call keeps holds for: local now, though not kept so.
        if (h >= 0 && n_ < kMaxHolds)
            holds_[n_++] = h;
        else
            e_->release_resident(h);
        return *this;
    }
    dime::Engine* e_;
    int holds_[kMaxHolds];
    int n_ = 0;
};

// open's mode argument, present when the flags create a file.
bool has_mode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

}  // namespace

// Each hook's real function is also listed in a section of its own, so that all of them are
// looked up in one loop before the program runs (the pointers are set by the loader's relocation).
using Resolver = void (*)();
extern "C" const Resolver __start_dime_kernel_reals[];
extern "C" const Resolver __stop_dime_kernel_reals[];
#define DIME_REAL(ret, name, params)                                                                  \
    Real<ret params> real_##name{#name};                                                              \
    void resolve_##name() { real_##name.resolve(); }                                                  \
    __attribute__((used, section("dime_kernel_reals"))) const Resolver list_##name = &resolve_##name;

// One hook of glibc's `name`: the buffers it hands the kernel (`held`), then the call. `args` is
// the parenthesised argument list itself, so it takes no parentheses of its own.
#define DIME_KERNEL_HOOK(ret, name, params, args, held) \
    DIME_REAL(ret, name, params)                         \
    DIME_HOOK ret name params {                          \
        Buffers b;                                       \
        held;                                            \
        return real_##name.get() args; /* NOLINT(bugprone-macro-parentheses) */ \
    }

// ---- read and write -----------------------------------------------------------------------------
DIME_KERNEL_HOOK(ssize_t, read, (int fd, void* buf, size_t n), (fd, buf, n), b.out(buf, n))
DIME_KERNEL_HOOK(ssize_t, write, (int fd, const void* buf, size_t n), (fd, buf, n), b.in(buf, n))
DIME_KERNEL_HOOK(ssize_t, pread, (int fd, void* buf, size_t n, off_t off), (fd, buf, n, off), b.out(buf, n))
DIME_KERNEL_HOOK(ssize_t, pread64, (int fd, void* buf, size_t n, off_t off), (fd, buf, n, off), b.out(buf, n))
DIME_KERNEL_HOOK(ssize_t, pwrite, (int fd, const void* buf, size_t n, off_t off), (fd, buf, n, off), b.in(buf, n))
DIME_KERNEL_HOOK(ssize_t, pwrite64, (int fd, const void* buf, size_t n, off_t off), (fd, buf, n, off), b.in(buf, n))
DIME_KERNEL_HOOK(ssize_t, readv, (int fd, const iovec* v, int n), (fd, v, n), b.vec(v, n, true))
DIME_KERNEL_HOOK(ssize_t, writev, (int fd, const iovec* v, int n), (fd, v, n), b.vec(v, n, false))
DIME_KERNEL_HOOK(ssize_t, preadv, (int fd, const iovec* v, int n, off_t off), (fd, v, n, off), b.vec(v, n, true))
DIME_KERNEL_HOOK(ssize_t, preadv64, (int fd, const iovec* v, int n, off_t off), (fd, v, n, off), b.vec(v, n, true))
DIME_KERNEL_HOOK(ssize_t, pwritev, (int fd, const iovec* v, int n, off_t off), (fd, v, n, off), b.vec(v, n, false))
DIME_KERNEL_HOOK(ssize_t, pwritev64, (int fd, const iovec* v, int n, off_t off), (fd, v, n, off), b.vec(v, n, false))
DIME_KERNEL_HOOK(ssize_t, preadv2, (int fd, const iovec* v, int n, off_t off, int fl), (fd, v, n, off, fl),
                 b.vec(v, n, true))
DIME_KERNEL_HOOK(ssize_t, pwritev2, (int fd, const iovec* v, int n, off_t off, int fl), (fd, v, n, off, fl),
                 b.vec(v, n, false))
DIME_KERNEL_HOOK(size_t, fread, (void* p, size_t size, size_t n, FILE* f), (p, size, n, f), b.out(p, size * n))
DIME_KERNEL_HOOK(size_t, fwrite, (const void* p, size_t size, size_t n, FILE* f), (p, size, n, f), b.in(p, size * n))
DIME_KERNEL_HOOK(size_t, fread_unlocked, (void* p, size_t size, size_t n, FILE* f), (p, size, n, f),
                 b.out(p, size * n))
DIME_KERNEL_HOOK(size_t, fwrite_unlocked, (const void* p, size_t size, size_t n, FILE* f), (p, size, n, f),
                 b.in(p, size * n))

// ---- sockets --------------------------------------------------------------------------------------
DIME_KERNEL_HOOK(ssize_t, recv, (int fd, void* buf, size_t n, int fl), (fd, buf, n, fl), b.out(buf, n))
DIME_KERNEL_HOOK(ssize_t, send, (int fd, const void* buf, size_t n, int fl), (fd, buf, n, fl), b.in(buf, n))
DIME_KERNEL_HOOK(ssize_t, recvfrom, (int fd, void* buf, size_t n, int fl, sockaddr* a, socklen_t* al),
                 (fd, buf, n, fl, a, al), b.out(buf, n).out_len(a, al))
DIME_KERNEL_HOOK(ssize_t, sendto, (int fd, const void* buf, size_t n, int fl, const sockaddr* a, socklen_t al),
                 (fd, buf, n, fl, a, al), b.in(buf, n).in(a, al))
DIME_KERNEL_HOOK(ssize_t, recvmsg, (int fd, msghdr* m, int fl), (fd, m, fl), b.msg(m, true))
DIME_KERNEL_HOOK(ssize_t, sendmsg, (int fd, const msghdr* m, int fl), (fd, m, fl), b.msg(m, false))
DIME_KERNEL_HOOK(int, accept, (int fd, sockaddr* a, socklen_t* al), (fd, a, al), b.out_len(a, al))
DIME_KERNEL_HOOK(int, accept4, (int fd, sockaddr* a, socklen_t* al, int fl), (fd, a, al, fl), b.out_len(a, al))
DIME_KERNEL_HOOK(int, connect, (int fd, const sockaddr* a, socklen_t al), (fd, a, al), b.in(a, al))
DIME_KERNEL_HOOK(int, bind, (int fd, const sockaddr* a, socklen_t al), (fd, a, al), b.in(a, al))
DIME_KERNEL_HOOK(int, getsockname, (int fd, sockaddr* a, socklen_t* al), (fd, a, al), b.out_len(a, al))
DIME_KERNEL_HOOK(int, getpeername, (int fd, sockaddr* a, socklen_t* al), (fd, a, al), b.out_len(a, al))
DIME_KERNEL_HOOK(int, getsockopt, (int fd, int lv, int o, void* v, socklen_t* vl), (fd, lv, o, v, vl),
                 b.out_len(v, vl))
DIME_KERNEL_HOOK(int, setsockopt, (int fd, int lv, int o, const void* v, socklen_t vl), (fd, lv, o, v, vl),
                 b.in(v, vl))
DIME_KERNEL_HOOK(int, pipe, (int fds[2]), (fds), b.out(fds, 2 * sizeof(int)))
DIME_KERNEL_HOOK(int, pipe2, (int fds[2], int fl), (fds, fl), b.out(fds, 2 * sizeof(int)))

// ---- waiting for descriptors ------------------------------------------------------------------------
DIME_KERNEL_HOOK(int, poll, (pollfd* f, nfds_t n, int t), (f, n, t), b.out(f, n * sizeof *f))
DIME_KERNEL_HOOK(int, ppoll, (pollfd* f, nfds_t n, const timespec* t, const sigset_t* m), (f, n, t, m),
                 b.out(f, n * sizeof *f).in(t, sizeof *t).in(m, sizeof *m))
DIME_KERNEL_HOOK(int, epoll_wait, (int fd, epoll_event* e, int n, int t), (fd, e, n, t),
                 b.out(e, size_t(n > 0 ? n : 0) * sizeof *e))
DIME_KERNEL_HOOK(int, epoll_pwait, (int fd, epoll_event* e, int n, int t, const sigset_t* m), (fd, e, n, t, m),
                 b.out(e, size_t(n > 0 ? n : 0) * sizeof *e).in(m, sizeof *m))
DIME_KERNEL_HOOK(int, epoll_ctl, (int fd, int op, int target, epoll_event* e), (fd, op, target, e),
                 b.in(e, sizeof *e))
DIME_KERNEL_HOOK(int, select, (int n, fd_set* r, fd_set* w, fd_set* x, timeval* t), (n, r, w, x, t),
                 b.out(r, sizeof *r).out(w, sizeof *w).out(x, sizeof *x).out(t, sizeof *t))

// ---- file status and directories ------------------------------------------------------------------
DIME_KERNEL_HOOK(int, stat, (const char* p, struct stat* s), (p, s), b.str(p).out(s, sizeof *s))
DIME_KERNEL_HOOK(int, lstat, (const char* p, struct stat* s), (p, s), b.str(p).out(s, sizeof *s))
DIME_KERNEL_HOOK(int, fstat, (int fd, struct stat* s), (fd, s), b.out(s, sizeof *s))
DIME_KERNEL_HOOK(int, fstatat, (int d, const char* p, struct stat* s, int fl), (d, p, s, fl),
                 b.str(p).out(s, sizeof *s))
DIME_KERNEL_HOOK(int, stat64, (const char* p, struct stat64* s), (p, s), b.str(p).out(s, sizeof *s))
DIME_KERNEL_HOOK(int, lstat64, (const char* p, struct stat64* s), (p, s), b.str(p).out(s, sizeof *s))
DIME_KERNEL_HOOK(int, fstat64, (int fd, struct stat64* s), (fd, s), b.out(s, sizeof *s))
DIME_KERNEL_HOOK(int, fstatat64, (int d, const char* p, struct stat64* s, int fl), (d, p, s, fl),
                 b.str(p).out(s, sizeof *s))
DIME_KERNEL_HOOK(int, statx, (int d, const char* p, int fl, unsigned mask, struct statx* s), (d, p, fl, mask, s),
                 b.str(p).out(s, sizeof *s))
DIME_KERNEL_HOOK(ssize_t, getdents64, (int fd, void* buf, size_t n), (fd, buf, n), b.out(buf, n))
DIME_KERNEL_HOOK(ssize_t, readlink, (const char* p, char* buf, size_t n), (p, buf, n), b.str(p).out(buf, n))
DIME_KERNEL_HOOK(ssize_t, readlinkat, (int d, const char* p, char* buf, size_t n), (d, p, buf, n),
                 b.str(p).out(buf, n))
DIME_KERNEL_HOOK(char*, getcwd, (char* buf, size_t n), (buf, n), b.out(buf, n))

// ---- paths ------------------------------------------------------------------------------------------
DIME_KERNEL_HOOK(int, creat, (const char* p, mode_t m), (p, m), b.str(p))
DIME_KERNEL_HOOK(int, creat64, (const char* p, mode_t m), (p, m), b.str(p))
DIME_KERNEL_HOOK(FILE*, fopen, (const char* p, const char* m), (p, m), b.str(p))
DIME_KERNEL_HOOK(FILE*, fopen64, (const char* p, const char* m), (p, m), b.str(p))
DIME_KERNEL_HOOK(int, access, (const char* p, int m), (p, m), b.str(p))
DIME_KERNEL_HOOK(int, faccessat, (int d, const char* p, int m, int fl), (d, p, m, fl), b.str(p))
DIME_KERNEL_HOOK(int, unlink, (const char* p), (p), b.str(p))
DIME_KERNEL_HOOK(int, unlinkat, (int d, const char* p, int fl), (d, p, fl), b.str(p))
DIME_KERNEL_HOOK(int, rmdir, (const char* p), (p), b.str(p))
DIME_KERNEL_HOOK(int, mkdir, (const char* p, mode_t m), (p, m), b.str(p))
DIME_KERNEL_HOOK(int, mkdirat, (int d, const char* p, mode_t m), (d, p, m), b.str(p))
DIME_KERNEL_HOOK(int, rename, (const char* a, const char* z), (a, z), b.str(a).str(z))
DIME_KERNEL_HOOK(int, renameat, (int da, const char* a, int dz, const char* z), (da, a, dz, z), b.str(a).str(z))
DIME_KERNEL_HOOK(int, chdir, (const char* p), (p), b.str(p))
DIME_KERNEL_HOOK(int, truncate, (const char* p, off_t n), (p, n), b.str(p))

// ---- programs ---------------------------------------------------------------------------------------
DIME_KERNEL_HOOK(int, execve, (const char* p, char* const* a, char* const* e), (p, a, e), b.str(p).strs(a).strs(e))
DIME_KERNEL_HOOK(int, execv, (const char* p, char* const* a), (p, a), b.str(p).strs(a).strs(environ))
DIME_KERNEL_HOOK(int, execvp, (const char* p, char* const* a), (p, a), b.str(p).strs(a).strs(environ))
DIME_KERNEL_HOOK(int, execvpe, (const char* p, char* const* a, char* const* e), (p, a, e), b.str(p).strs(a).strs(e))
DIME_KERNEL_HOOK(int, fexecve, (int fd, char* const* a, char* const* e), (fd, a, e), b.strs(a).strs(e))
DIME_KERNEL_HOOK(int, posix_spawn,
                 (pid_t * pid, const char* p, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
                  char* const* a, char* const* e),
                 (pid, p, fa, at, a, e), b.out(pid, sizeof *pid).str(p).in(fa, sizeof *fa).in(at, sizeof *at).strs(a).strs(e))
DIME_KERNEL_HOOK(int, posix_spawnp,
                 (pid_t * pid, const char* p, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
                  char* const* a, char* const* e),
                 (pid, p, fa, at, a, e), b.out(pid, sizeof *pid).str(p).in(fa, sizeof *fa).in(at, sizeof *at).strs(a).strs(e))
// system() and popen() start `sh -c command` with glibc's own posix_spawn: the command string and
// the environment are read by the kernel in the child's execve.
DIME_KERNEL_HOOK(int, system, (const char* c), (c), b.str(c).strs(environ))
DIME_KERNEL_HOOK(FILE*, popen, (const char* c, const char* m), (c, m), b.str(c).strs(environ))

// ---- open: a mode argument only when the flags create a file -----------------------------------------
// glibc's open is variadic; its real function is called with the mode always (it reads it only
// when the flags say so).
#define DIME_OPEN_HOOK(name, real_params, params, args) \
    DIME_REAL(int, name, real_params)                     \
    DIME_HOOK int name params {                           \
        mode_t mode = 0;                                  \
        if (has_mode(flags)) {                            \
            va_list ap;                                   \
            va_start(ap, flags);                          \
            mode = static_cast<mode_t>(va_arg(ap, int));  \
            va_end(ap);                                   \
        }                                                 \
        Buffers b;                                        \
        b.str(path);                                      \
        return real_##name.get() args; /* NOLINT(bugprone-macro-parentheses): as above */ \
    }
DIME_OPEN_HOOK(open, (const char*, int, mode_t), (const char* path, int flags, ...), (path, flags, mode))
DIME_OPEN_HOOK(open64, (const char*, int, mode_t), (const char* path, int flags, ...), (path, flags, mode))
DIME_OPEN_HOOK(openat, (int, const char*, int, mode_t), (int dirfd, const char* path, int flags, ...),
               (dirfd, path, flags, mode))
DIME_OPEN_HOOK(openat64, (int, const char*, int, mode_t), (int dirfd, const char* path, int flags, ...),
               (dirfd, path, flags, mode))

namespace dime::preload {

// Every real function looked up now (a hook may first run in a signal handler, where dlsym is not
// safe); with the mprotect backend the hooks start holding buffers.
void enable_kernel_access_hooks(Engine* engine) {
    // The linker's __start_/__stop_ symbols bound the one section, so they may be compared.
    // cppcheck-suppress comparePointers
    for (const Resolver* r = __start_dime_kernel_reals; r < __stop_dime_kernel_reals; ++r) (*r)();
    if (engine && engine->needs_resident_buffers()) g_engine.store(engine, std::memory_order_release);
}

}  // namespace dime::preload
