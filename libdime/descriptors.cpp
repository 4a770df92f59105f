// descriptors.cpp — the registry of DiME's protected descriptors (see descriptors.h). Runs on
// application threads; is_protected() and close_range_sparing() are async-signal-safe.
#include "descriptors.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace dime::descriptors {
namespace {

// -1: free slot. A fixed table: the hooks read it from signal handlers and vfork children.
std::atomic<int> g_protected[kMaxProtected] = {};
std::atomic<bool> g_initialised{false};

void init_slots() {
    if (g_initialised.load(std::memory_order_acquire)) return;
    for (auto& s : g_protected) s.store(-1, std::memory_order_relaxed);
    g_initialised.store(true, std::memory_order_release);
}

// Closes without going through the preload's hook.
void raw_close(int fd) { syscall(SYS_close, fd); }

bool protect(int fd) {
    init_slots();
    for (auto& s : g_protected) {
        int expected = -1;
        if (s.compare_exchange_strong(expected, fd, std::memory_order_acq_rel)) return true;
    }
    return false;
}

// Highest number below the soft limit (at most 1024) that is free, as a duplicate of fd.
int move_high(int fd) {
    rlimit rl{};
    rlim_t limit = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < limit) limit = rl.rlim_cur;
    // Below the program's own low numbers: stay out of 0..63 (they would gain nothing).
    for (rlim_t target = limit; target-- > 64 && limit - target <= 64;) {
        const int got = fcntl(fd, F_DUPFD_CLOEXEC, static_cast<int>(target));
        if (got < 0) continue;
        if (static_cast<rlim_t>(got) == target) return got;
        raw_close(got);  // a free number below a taken one: try the next lower target
    }
    return -1;
}

}  // namespace

int adopt(int fd) {
    if (fd < 0) return -1;
    int high = move_high(fd);
    if (high >= 0) {
        raw_close(fd);
        fd = high;
    } else {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    protect(fd);
    return fd;
}

void release(int fd) {
    if (fd < 0) return;
    init_slots();
    for (auto& s : g_protected) {
        int expected = fd;
        s.compare_exchange_strong(expected, -1, std::memory_order_acq_rel);
    }
    raw_close(fd);
}

bool replace(int fd, int fresh) {
    if (syscall(SYS_dup3, fresh, fd, O_CLOEXEC) < 0) return false;
    raw_close(fresh);
    return true;
}

bool is_protected(int fd) {
    if (fd < 0 || !g_initialised.load(std::memory_order_acquire)) return false;
    for (auto& s : g_protected)
        if (s.load(std::memory_order_relaxed) == fd) return true;
    return false;
}

int close_range_sparing(unsigned first, unsigned last, int flags, int (*real)(unsigned, unsigned, int)) {
    if (first > last) return real(first, last, flags);  // let the kernel say EINVAL
    // The protected numbers inside [first, last], sorted (a fixed array: no allocation).
    unsigned spare[kMaxProtected];
    int n = 0;
    if (g_initialised.load(std::memory_order_acquire))
        for (auto& s : g_protected) {
            const int fd = s.load(std::memory_order_relaxed);
            if (fd >= 0 && static_cast<unsigned>(fd) >= first && static_cast<unsigned>(fd) <= last)
                spare[n++] = static_cast<unsigned>(fd);
        }
    if (n == 0) return real(first, last, flags);
    std::sort(spare, spare + n);
    unsigned from = first;
    for (int i = 0; i < n; ++i) {
        if (spare[i] > from && real(from, spare[i] - 1, flags) != 0) return -1;
        from = spare[i] + 1;  // spare[i] <= last <= UINT_MAX, so this wraps only past UINT_MAX
        if (from == 0) return 0;
    }
    if (from <= last) return real(from, last, flags);
    return 0;
}

}  // namespace dime::descriptors
