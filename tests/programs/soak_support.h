// soak_support.h — what the soak tests share (tests/programs/soak.cpp under libdime.so, and
// tests/test_soak.cpp on the engine directly): memory that is never emulated, for shadow copies
// and bookkeeping; a fast generator; counting descriptors and threads; a mismatch report that says
// where the wrong bytes lie and what they look like; and a watchdog that ends a stuck run with a
// line naming what was stuck. Nothing here allocates from the heap: under the preload, malloc is
// the memory under test.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace soak {

constexpr size_t kKernelPage = 4096;

inline uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// One line (or several) on stderr with one write(2): readable even when threads print at once.
inline void say(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline void say(const char* fmt, ...) {
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (size_t(n) >= sizeof line) n = sizeof line - 1;
    ssize_t ignored = write(STDERR_FILENO, line, size_t(n));
    (void)ignored;
}

// Anonymous memory straight from the kernel: the raw system call passes no hook, so the preload
// never sees it and it can never be emulated. Zeroed; exits on failure.
inline void* plain_memory(size_t bytes) {
    const long r = syscall(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                           -1, 0);
    if (r < 0 && r > -4096) {
        say("soak: cannot map %zu bytes of plain memory: %s\n", bytes, strerror(errno));
        _exit(2);
    }
    return reinterpret_cast<void*>(r);
}

// xorshift64*: fast, and reproducible from its seed.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed = 1) : s(seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull) {
        if (s == 0) s = 1;
    }
    uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545f4914f6cdd1dull;
    }
    uint64_t below(uint64_t n) { return n ? next() % n : 0; }
    // Sizes spread over orders of magnitude: [lo, hi), log-uniform.
    size_t log_size(size_t lo, size_t hi) {
        const int bits_lo = 63 - __builtin_clzll(lo), bits_hi = 63 - __builtin_clzll(hi);
        const int b = bits_lo + int(below(uint64_t(bits_hi - bits_lo + 1)));
        size_t v = (size_t(1) << b) + below(size_t(1) << b);
        return v < lo ? lo : v >= hi ? hi - 1 : v;
    }
    void fill(unsigned char* dst, size_t n) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            const uint64_t w = next();
            std::memcpy(dst + i, &w, 8);
        }
        if (i < n) {
            const uint64_t w = next();
            std::memcpy(dst + i, &w, n - i);
        }
    }
};

// Entries of a /proc directory ("self/fd", "self/task"), minus the directory stream's own
// descriptor. -1 if it cannot be read. With `list`, also the names (space-separated).
inline int count_entries(const char* dir, char* list = nullptr, size_t cap = 0) {
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    char buf[8192];
    int n = 0;
    size_t used = 0;
    if (list && cap) list[0] = '\0';
    for (;;) {
        const long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0) break;
        for (long off = 0; off < got;) {
            struct Entry {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[1];
            };
            const auto* e = reinterpret_cast<const Entry*>(buf + off);
            off += e->reclen;
            if (e->name[0] == '.') continue;
            if (atoi(e->name) == fd && std::strcmp(dir, "/proc/self/fd") == 0) continue;
            ++n;
            if (list && used + 64 < cap) {
                char target[256] = "";
                if (std::strcmp(dir, "/proc/self/fd") == 0) {
                    char path[64];
                    snprintf(path, sizeof path, "/proc/self/fd/%s", e->name);
                    const ssize_t len = readlink(path, target, sizeof target - 1);
                    target[len > 0 ? len : 0] = '\0';
                }
                used += size_t(snprintf(list + used, cap - used, " %s%s%.80s", e->name, target[0] ? "->" : "", target));
            }
        }
    }
    close(fd);
    return n;
}
inline int count_fds(char* list = nullptr, size_t cap = 0) { return count_entries("/proc/self/fd", list, cap); }
inline int count_threads(char* list = nullptr, size_t cap = 0) { return count_entries("/proc/self/task", list, cap); }

// The mapping of /proc/self/maps that holds `addr`: [lo, hi) and its name ("" for anonymous).
inline bool find_mapping(uintptr_t addr, uintptr_t* lo, uintptr_t* hi, char* name, size_t cap) {
    const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[16384];
    size_t have = 0;
    bool found = false;
    for (;;) {
        const ssize_t got = read(fd, buf + have, sizeof buf - 1 - have);
        if (got <= 0) break;
        have += size_t(got);
        buf[have] = '\0';
        char* line = buf;
        for (char* nl; (nl = std::strchr(line, '\n')) != nullptr; line = nl + 1) {
            *nl = '\0';
            unsigned long a = 0, b = 0;
            int name_at = 0;
            if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &a, &b, &name_at) >= 2 && addr >= a && addr < b) {
                *lo = a;
                *hi = b;
                snprintf(name, cap, "%s", name_at > 0 ? line + name_at : "");
                found = true;
                break;
            }
        }
        if (found) break;
        have = size_t(buf + have - line);
        std::memmove(buf, line, have);
    }
    close(fd);
    return found;
}

inline bool all_zero(const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (p[i]) return false;
    return true;
}

// What one wrong range looks like, for the report. `got` is the memory under test (it is read
// again, so a transient and a lasting loss can be told apart), `want` its shadow, both `len`
// bytes; `unit` is DiME's page size (page_size); `refetch` (may be null) evicts a range so that
// the next read fetches it back, to see whether the remote copy is wrong too.
struct Mismatch {
    const char* who;         // "thread 2, op 123456 (read)"
    const char* what;        // "slot 17: block 0x... (20000 bytes, calloc, tier far)"
    const unsigned char* got;
    const unsigned char* want;
    size_t len;
    size_t base_offset;      // offset of `got` within its block
    size_t unit;
    long (*refetch)(const void*, size_t);
    const char* history;     // what the block went through, newest first
    const char* config;      // the configuration the run uses
};

// Prints the report (several lines, one write) and returns whether the memory was wrong when read
// again right now (false: it was right on the second look, a transient wrong read).
inline bool report_mismatch(const Mismatch& m) {
    size_t first = 0;
    while (first < m.len && m.got[first] == m.want[first]) ++first;
    if (first == m.len) {
        say("soak: MISMATCH %s, %s: the range read wrong, then right on the second look (a torn read)\n", m.who, m.what);
        return false;
    }
    size_t last = m.len;
    while (last > first && m.got[last - 1] == m.want[last - 1]) --last;
    size_t wrong = 0;
    for (size_t i = first; i < last; ++i) wrong += m.got[i] != m.want[i];
    const auto addr = reinterpret_cast<uintptr_t>(m.got + first);
    const uintptr_t page = addr & ~(uintptr_t)(kKernelPage - 1);
    const size_t unit = m.unit ? m.unit : kKernelPage;
    const uintptr_t unit_base = addr & ~(uintptr_t)(unit - 1);
    const bool page_zero = all_zero(reinterpret_cast<const unsigned char*>(page), kKernelPage);
    unsigned char resident = 0;
    const bool have_mincore = mincore(reinterpret_cast<void*>(page), kKernelPage, &resident) == 0;
    uintptr_t lo = 0, hi = 0;
    char name[256] = "";
    const bool mapped = find_mapping(addr, &lo, &hi, name, sizeof name);
    // The bytes at the first wrong one, as read and as expected.
    char got_hex[16 * 3 + 1] = "", want_hex[16 * 3 + 1] = "";
    for (size_t i = 0; i < 16 && first + i < m.len; ++i) {
        snprintf(got_hex + 3 * i, 4, "%02x ", m.got[first + i]);
        snprintf(want_hex + 3 * i, 4, "%02x ", m.want[first + i]);
    }
    // A second look now, and a third after a fresh fetch from the remote copy.
    const bool still = std::memcmp(m.got + first, m.want + first, last - first) != 0;
    const char* after_refetch = "not tried";
    if (m.refetch) {
        m.refetch(m.got + first, last - first);
        after_refetch = std::memcmp(m.got + first, m.want + first, last - first) != 0 ? "still wrong" : "right";
    }
    say("soak: MISMATCH %s, %s\n"
        "  first wrong byte at block offset %zu = %p: 4 KiB page %p (byte 0x%zx of it), DiME unit %p (%zu bytes)\n"
        "  %zu wrong bytes between block offsets %zu and %zu (%zu bytes); the whole 4 KiB page reads zeros: %s\n"
        "  mapping %lx-%lx %s: page %lu of it, unit %lu of it; mincore when found: %s\n"
        "  read:     %s\n"
        "  expected: %s\n"
        "  read again at once: %s; after dime_evict and a fresh fetch: %s\n"
        "  history (newest first): %s\n"
        "  configuration: %s\n",
        m.who, m.what, m.base_offset + first, reinterpret_cast<const void*>(addr), reinterpret_cast<void*>(page),
        size_t(addr - page), reinterpret_cast<void*>(unit_base), unit, wrong, m.base_offset + first,
        m.base_offset + last, last - first, page_zero ? "yes" : "no", mapped ? (unsigned long)lo : 0ul,
        mapped ? (unsigned long)hi : 0ul, mapped ? (name[0] ? name : "[anonymous]") : "(not found)",
        mapped ? (unsigned long)((page - lo) / kKernelPage) : 0ul,
        mapped ? (unsigned long)((unit_base - (lo & ~(uintptr_t)(unit - 1))) / unit) : 0ul,
        have_mincore ? ((resident & 1) ? "resident" : "not resident") : "unknown", got_hex, want_hex,
        still ? "still wrong" : "right (a torn read)", after_refetch, m.history ? m.history : "(none kept)",
        m.config ? m.config : "(default)");
    return still;
}

// What one thread is doing, published for the watchdog (plain memory, relaxed atomics).
struct Activity {
    std::atomic<uint64_t> ops{0};            // operations finished
    std::atomic<const char*> doing{"idle"};  // the operation under way
    std::atomic<uintptr_t> addr{0};          // the block it works on
    std::atomic<size_t> len{0};
    std::atomic<long> slot{-1};
    std::atomic<uint64_t> since_ns{0};       // when `doing` began
    std::atomic<int> tid{0};
    char name[24] = "";
    void begin(const char* what, const void* a = nullptr, size_t n = 0, long s = -1) {
        addr.store(reinterpret_cast<uintptr_t>(a), std::memory_order_relaxed);
        len.store(n, std::memory_order_relaxed);
        slot.store(s, std::memory_order_relaxed);
        since_ns.store(now_ns(), std::memory_order_relaxed);
        doing.store(what, std::memory_order_release);
    }
    void end() {
        doing.store("idle", std::memory_order_relaxed);
        ops.fetch_add(1, std::memory_order_relaxed);
    }
};

// Reads the kernel's view of a thread: its state letter and where it sleeps (wchan).
inline void thread_state(int tid, char* out, size_t cap) {
    char path[96], stat[512] = "", wchan[128] = "";
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    if (int fd = open(path, O_RDONLY | O_CLOEXEC); fd >= 0) {
        const ssize_t n = read(fd, stat, sizeof stat - 1);
        stat[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    snprintf(path, sizeof path, "/proc/self/task/%d/wchan", tid);
    if (int fd = open(path, O_RDONLY | O_CLOEXEC); fd >= 0) {
        const ssize_t n = read(fd, wchan, sizeof wchan - 1);
        wchan[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    const char* close_paren = std::strrchr(stat, ')');
    snprintf(out, cap, "state %c, wchan %s", close_paren && close_paren[1] && close_paren[2] ? close_paren[2] : '?',
             wchan[0] ? wchan : "?");
}

// Ends the process (exit status 3) when some thread finished no operation for `stall_ns`, or the
// run outlives `deadline_ns` (absolute, now_ns()), printing what every thread was doing, and kills
// the fork child in `child` (if any) so that none is left behind. Checks twice a second, on a thread
// of its own that touches only plain memory.
class Watchdog {
public:
    std::atomic<int> child{0};  // a fork child running now (set and cleared by whoever forked it)

    Watchdog(Activity* acts, int n, uint64_t stall_ns, uint64_t deadline_ns)
        : acts_(acts), n_(n), stall_ns_(stall_ns), deadline_ns_(deadline_ns), thread_([this] { run(); }) {}
    ~Watchdog() {
        stop_.store(true);
        thread_.join();
    }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

private:
    void run() {
        uint64_t last_ops[64] = {}, last_change[64] = {};
        const uint64_t t0 = now_ns();
        for (int i = 0; i < n_ && i < 64; ++i) last_change[i] = t0;
        while (!stop_.load()) {
            const timespec half = {0, 500000000};
            nanosleep(&half, nullptr);
            const uint64_t t = now_ns();
            int stuck = -1;
            for (int i = 0; i < n_ && i < 64; ++i) {
                const uint64_t ops = acts_[i].ops.load(std::memory_order_relaxed);
                // Between operations (or not started, or done) a thread cannot be stuck in one.
                const bool idle = std::strcmp(acts_[i].doing.load(), "idle") == 0;
                if (ops != last_ops[i] || idle) {
                    last_ops[i] = ops;
                    last_change[i] = t;
                } else if (t - last_change[i] > stall_ns_ && stuck < 0) {
                    stuck = i;
                }
            }
            if (stuck < 0 && t < deadline_ns_) continue;
            if (stuck >= 0)
                say("soak: WATCHDOG: %s finished no operation for %.0f s: stuck in %s\n", acts_[stuck].name,
                    double(t - last_change[stuck]) / 1e9, acts_[stuck].doing.load());
            else
                say("soak: WATCHDOG: the run is %.0f s past its deadline\n", double(t - deadline_ns_) / 1e9);
            for (int i = 0; i < n_; ++i) {
                char state[256];
                thread_state(acts_[i].tid.load(), state, sizeof state);
                say("soak:   %-12s %s for %.1f s, slot %ld, block %p (%zu bytes), %llu ops; tid %d: %s\n", acts_[i].name,
                    acts_[i].doing.load(), double(t - acts_[i].since_ns.load()) / 1e9, acts_[i].slot.load(),
                    reinterpret_cast<void*>(acts_[i].addr.load()), acts_[i].len.load(),
                    (unsigned long long)acts_[i].ops.load(), acts_[i].tid.load(), state);
            }
            if (const int pid = child.load(); pid > 0) {
                say("soak:   fork child %d killed\n", pid);
                kill(pid, SIGKILL);
            }
            _exit(3);
        }
    }

    Activity* acts_;
    int n_;
    uint64_t stall_ns_, deadline_ns_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace soak
