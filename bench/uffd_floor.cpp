// uffd_floor.cpp — benchmark of the raw userfaultfd floor on this machine: probes of single
// ioctls, error semantics and wake-up costs, then the bare pager of uffd_floor.h timed for
// 1 and 2 app threads under several CPU placements. Runs on the main thread plus the threads
// it starts itself; prints figures, asserts nothing (see docs/performance.md).
#include "uffd_floor.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <linux/futex.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

using namespace dime::bench;
namespace uffd = dime::uffd;

namespace {

// ---------------------------------------------------------------------------------------------
// Command line.

struct Args {
    bool quick = false;
    size_t runs = 5;
    size_t sweeps = 16;
    size_t pool = 1024;
    size_t factor = 4;
    bool probes = true, floor = true, variants = true, handlers = true;
    bool verbose = false;
};

[[noreturn]] void bad_arg(const char* flag, const char* value, const char* expected) {
    std::fprintf(stderr, "uffd_floor: bad value for %s: '%s' (expected %s)\n", flag, value, expected);
    std::exit(2);
}

size_t parse_count(const char* flag, const char* value, size_t lo, size_t hi) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(value, &end, 10);
    if (errno || end == value || *end || value[0] == '-' || v < lo || v > hi) {
        char expected[96];
        std::snprintf(expected, sizeof expected, "an integer in [%zu, %zu]", lo, hi);
        bad_arg(flag, value, expected);
    }
    return static_cast<size_t>(v);
}

void usage(FILE* to) {
    std::fprintf(to,
                 "usage: uffd_floor [--quick] [--runs N] [--sweeps N] [--pool PAGES] [--factor K]\n"
                 "                  [--only probes|floor|variants|handlers] [--verbose]\n"
                 "  --quick       fewer runs and sweeps (3 runs, 4 sweeps): a smoke run of about a minute\n"
                 "  --runs N      repetitions of every floor configuration; medians are printed (5)\n"
                 "  --sweeps N    timed sweeps over the region per run (16)\n"
                 "  --pool PAGES  the bare pager's local pool (1024 pages)\n"
                 "  --factor K    region = K x pool, so every access faults (4; at least 2)\n"
                 "  --only S      run one section: probes, floor, variants or handlers (all four)\n"
                 "  --verbose     also print every run of every configuration\n");
}

Args parse_args(int argc, char** argv) {
    Args a;
    bool runs_set = false, sweeps_set = false;
    for (int i = 1; i < argc; ++i) {
        const std::string f = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "uffd_floor: %s needs a value\n", f.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (f == "--quick") {
            a.quick = true;
        } else if (f == "--runs") {
            a.runs = parse_count("--runs", value(), 1, 1000);
            runs_set = true;
        } else if (f == "--sweeps") {
            a.sweeps = parse_count("--sweeps", value(), 1, 100000);
            sweeps_set = true;
        } else if (f == "--pool") {
            a.pool = parse_count("--pool", value(), 16, 1u << 20);
        } else if (f == "--factor") {
            a.factor = parse_count("--factor", value(), 2, 64);
        } else if (f == "--only") {
            const std::string s = value();
            if (s != "probes" && s != "floor" && s != "variants" && s != "handlers")
                bad_arg("--only", s.c_str(), "probes, floor, variants or handlers");
            a.probes = s == "probes";
            a.floor = s == "floor";
            a.variants = s == "variants";
            a.handlers = s == "handlers";
        } else if (f == "--verbose") {
            a.verbose = true;
        } else if (f == "--help" || f == "-h") {
            usage(stdout);
            std::exit(0);
        } else {
            std::fprintf(stderr, "uffd_floor: unknown option '%s' (try --help)\n", f.c_str());
            std::exit(2);
        }
    }
    if (a.quick) {
        if (!runs_set) a.runs = 3;
        if (!sweeps_set) a.sweeps = 4;
    }
    return a;
}

// ---------------------------------------------------------------------------------------------
// Small helpers for the probes.

int ncpus() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

char* map_pages(size_t pages) {
    void* p = mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        std::perror("uffd_floor: mmap");
        std::exit(1);
    }
    madvise(p, pages * kPage, MADV_NOHUGEPAGE);
    return static_cast<char*>(p);
}

// Touches and drops the pages so page tables exist and the RAM behind them is warm.
void warm(char* p, size_t pages) {
    std::memset(p, 1, pages * kPage);
    madvise(p, pages * kPage, MADV_DONTNEED);
}

int open_uffd() {
    uffd::Capabilities caps;
    const char* why = nullptr;
    const int fd = uffd::open_descriptor(&caps, &why);
    if (fd < 0) {
        std::fprintf(stderr, "uffd_floor: %s\n", why ? why : "userfaultfd unavailable");
        std::exit(1);
    }
    return fd;
}

void must(int rc, const char* what) {
    if (rc != 0) {
        std::fprintf(stderr, "uffd_floor: %s failed: %s\n", what, std::strerror(-rc));
        std::exit(1);
    }
}

const char* errname(int rc) {
    switch (-rc) {
        case 0: return "0 (success)";
        case EEXIST: return "-EEXIST";
        case EBUSY: return "-EBUSY";
        case ENOENT: return "-ENOENT";
        case EINVAL: return "-EINVAL";
        case EAGAIN: return "-EAGAIN";
        case EFAULT: return "-EFAULT";
        case EPERM: return "-EPERM";
        default: return std::strerror(-rc);
    }
}

// Per-operation samples in TSC ticks.
struct Samples {
    std::vector<uint64_t> v;
    void add(uint64_t t) { v.push_back(t); }
    double median_ns(double per = 1) { return ticks_to_ns(percentile(v, 0.5)) / per; }
};

// A thread of this process spinning on another CPU keeps the address space active there, so
// every TLB flush needs an inter-processor interrupt — the situation of a running app thread.
class Sibling {
public:
    explicit Sibling(int cpu) {
        if (cpu < 0) return;
        th_ = std::thread([this, cpu] {
            pin_self(cpu);
            while (!stop_.load(std::memory_order_relaxed)) _mm_pause();
        });
    }
    ~Sibling() {
        stop_.store(true);
        if (th_.joinable()) th_.join();
    }

private:
    std::atomic<bool> stop_{false};
    std::thread th_;
};

// ---------------------------------------------------------------------------------------------
// Probe 1: what a busy-poll read() costs when nothing is pending.

void probe_empty_read() {
    const int fd = open_uffd();
    uffd_msg msgs[16];
    for (int i = 0; i < 10000; ++i) (void)!read(fd, msgs, sizeof msgs);
    const int n = 400000;
    int eagain = 0;
    const uint64_t t0 = tsc_begin();
    for (int i = 0; i < n; ++i) eagain += read(fd, msgs, sizeof msgs) < 0 && errno == EAGAIN;
    const uint64_t t1 = tsc_end();
    close(fd);
    std::printf("  read() on an empty userfaultfd: %.0f ns per call (%d of %d returned EAGAIN)\n",
                ticks_to_ns(static_cast<double>(t1 - t0) / n), eagain, n);
}

// ---------------------------------------------------------------------------------------------
// Probe 2: the cost of each resolution ioctl when no thread waits (handler side only).

void probe_ioctls(int sibling_cpu) {
    const size_t n = 1024, rounds = 5;
    const int fd = open_uffd();
    char* region = map_pages(n);
    char* backing = map_pages(n);
    char* plain = map_pages(n);
    char* src = map_pages(1);
    warm(region, n);
    warm(backing, n);
    std::memset(plain, 2, n * kPage);
    std::memset(src, 3, kPage);
    must(uffd::register_range(fd, region, n * kPage, false, nullptr), "register region");
    must(uffd::register_range(fd, backing, n * kPage, false, nullptr), "register backing");
    const uintptr_t R = reinterpret_cast<uintptr_t>(region), B = reinterpret_cast<uintptr_t>(backing),
                    S = reinterpret_cast<uintptr_t>(src);
    Sibling sib(sibling_cpu);

    Samples copy1, copy_back, zero1, out1, in1, out16, in16, dn1, dn16, memcpy1, wake0, eexist_copy, eexist_move;
    auto fill_by_copy = [&] {
        for (size_t i = 0; i < n; ++i) must(uffd::copy(fd, R + i * kPage, S, kPage), "copy");
    };
    for (size_t r = 0; r < rounds; ++r) {
        for (size_t i = 0; i < n; ++i) {
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::copy(fd, R + i * kPage, S, kPage);
            copy1.add(tsc_end() - t0);
            must(rc, "UFFDIO_COPY");
        }
        for (size_t i = 0; i < n; ++i) {  // EEXIST: the target is mapped
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::copy(fd, R + i * kPage, S, kPage);
            eexist_copy.add(tsc_end() - t0);
            if (rc != -EEXIST) must(rc ? rc : -EINVAL, "UFFDIO_COPY onto a mapped page");
        }
        for (size_t i = 0; i < n; ++i) {
            const uint64_t t0 = tsc_begin();
            must(madvise(region + i * kPage, kPage, MADV_DONTNEED) ? -errno : 0, "madvise");
            dn1.add(tsc_end() - t0);
        }
        for (size_t i = 0; i < n; ++i) {
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::zeropage(fd, R + i * kPage, kPage);
            zero1.add(tsc_end() - t0);
            must(rc, "UFFDIO_ZEROPAGE");
        }
        madvise(region, n * kPage, MADV_DONTNEED);
        fill_by_copy();
        for (size_t i = 0; i < n; i += 16) {
            const uint64_t t0 = tsc_begin();
            must(madvise(region + i * kPage, 16 * kPage, MADV_DONTNEED) ? -errno : 0, "madvise");
            dn16.add(tsc_end() - t0);
        }
        fill_by_copy();
        for (size_t i = 0; i < n; ++i) {
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::move(fd, B + i * kPage, R + i * kPage, kPage, false);
            out1.add(tsc_end() - t0);
            must(rc, "UFFDIO_MOVE out");
        }
        for (size_t i = 0; i < n; ++i) {
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::move(fd, R + i * kPage, B + i * kPage, kPage, true);
            in1.add(tsc_end() - t0);
            must(rc, "UFFDIO_MOVE in");
        }
        for (size_t i = 0; i < n; ++i) {  // EEXIST: the destination is mapped
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::move(fd, R + i * kPage, B + i * kPage, kPage, true);
            eexist_move.add(tsc_end() - t0);
            if (rc != -EEXIST && rc != -ENOENT) must(rc ? rc : -EINVAL, "UFFDIO_MOVE onto a mapped page");
        }
        for (size_t i = 0; i < n; i += 16) {
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::move(fd, B + i * kPage, R + i * kPage, 16 * kPage, false);
            out16.add(tsc_end() - t0);
            must(rc, "UFFDIO_MOVE out x16");
        }
        for (size_t i = 0; i < n; i += 16) {
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::move(fd, R + i * kPage, B + i * kPage, 16 * kPage, true);
            in16.add(tsc_end() - t0);
            must(rc, "UFFDIO_MOVE in x16");
        }
        must(uffd::move(fd, B, R, n * kPage, false), "UFFDIO_MOVE out, all");
        for (size_t i = 0; i < n; ++i) {  // re-fetch by copy: the page stays in the backing too
            const uint64_t t0 = tsc_begin();
            const int rc = uffd::copy(fd, R + i * kPage, B + i * kPage, kPage);
            copy_back.add(tsc_end() - t0);
            must(rc, "UFFDIO_COPY from the backing");
        }
        madvise(backing, n * kPage, MADV_DONTNEED);
        for (size_t i = 0; i < n; ++i) {
            const uint64_t t0 = tsc_begin();
            std::memcpy(plain + i * kPage, src, kPage);
            memcpy1.add(tsc_end() - t0);
        }
        for (size_t i = 0; i < n; ++i) {
            const uint64_t t0 = tsc_begin();
            must(uffd::wake(fd, R + i * kPage, kPage), "UFFDIO_WAKE");
            wake0.add(tsc_end() - t0);
        }
        madvise(region, n * kPage, MADV_DONTNEED);
    }
    std::printf("  %-44s %8.0f ns\n", "UFFDIO_COPY, 1 page (allocates + copies)", copy1.median_ns());
    std::printf("  %-44s %8.0f ns\n", "UFFDIO_COPY from a page moved to the backing", copy_back.median_ns());
    std::printf("  %-44s %8.0f ns\n", "UFFDIO_ZEROPAGE, 1 page", zero1.median_ns());
    std::printf("  %-44s %8.0f ns\n", "UFFDIO_MOVE out, 1 page", out1.median_ns());
    std::printf("  %-44s %8.0f ns\n", "UFFDIO_MOVE in, 1 page (wake)", in1.median_ns());
    std::printf("  %-44s %8.0f ns per page\n", "UFFDIO_MOVE out, 16 adjacent pages per call", out16.median_ns(16));
    std::printf("  %-44s %8.0f ns per page\n", "UFFDIO_MOVE in, 16 adjacent pages per call", in16.median_ns(16));
    std::printf("  %-44s %8.0f ns\n", "madvise(MADV_DONTNEED), 1 page", dn1.median_ns());
    std::printf("  %-44s %8.0f ns per page\n", "madvise(MADV_DONTNEED), 16 pages per call", dn16.median_ns(16));
    std::printf("  %-44s %8.0f ns\n", "memcpy of 4 KiB (warm)", memcpy1.median_ns());
    std::printf("  %-44s %8.0f ns\n", "UFFDIO_WAKE with nobody waiting", wake0.median_ns());
    std::printf("  %-44s %8.0f ns\n", "UFFDIO_COPY onto a mapped page (-EEXIST)", eexist_copy.median_ns());
    std::printf("  %-44s %8.0f ns\n", "UFFDIO_MOVE onto a mapped page (-EEXIST)", eexist_move.median_ns());
    close(fd);
    munmap(region, n * kPage);
    munmap(backing, n * kPage);
    munmap(plain, n * kPage);
    munmap(src, kPage);
}

// ---------------------------------------------------------------------------------------------
// Probe 3: error returns of UFFDIO_MOVE and friends, and who gets woken.

// Waits up to `ms` for `flag`; true if it was set in time.
bool wait_flag(const std::atomic<bool>& flag, int ms) {
    const uint64_t until = mono_ns() + static_cast<uint64_t>(ms) * 1000000ull;
    while (!flag.load() && mono_ns() < until) usleep(200);
    return flag.load();
}

// Reads one fault message within `ms`; returns the faulting address or 0.
uint64_t next_fault(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1) return 0;
    uffd_msg m{};
    if (read(fd, &m, sizeof m) != static_cast<ssize_t>(sizeof m)) return 0;
    return m.event == UFFD_EVENT_PAGEFAULT ? m.arg.pagefault.address : 0;
}

void on_sigusr1(int) {}

void probe_semantics() {
    const int fd = open_uffd();
    const size_t n = 8;
    char* region = map_pages(n);
    char* backing = map_pages(n);
    char* plain = map_pages(n);
    char* other = map_pages(n);
    char* src = map_pages(1);
    std::memset(src, 7, kPage);
    std::memset(plain, 1, n * kPage);
    must(uffd::register_range(fd, region, n * kPage, false, nullptr), "register region");
    must(uffd::register_range(fd, backing, n * kPage, false, nullptr), "register backing");
    const int fd2 = open_uffd();
    must(uffd::register_range(fd2, other, n * kPage, false, nullptr), "register other");
    const uintptr_t R = reinterpret_cast<uintptr_t>(region), B = reinterpret_cast<uintptr_t>(backing);

    must(uffd::copy(fd, R, reinterpret_cast<uintptr_t>(src), kPage), "copy");
    std::printf("  COPY onto a mapped page                      -> %s\n",
                errname(uffd::copy(fd, R, reinterpret_cast<uintptr_t>(src), kPage)));
    std::printf("  ZEROPAGE onto a mapped page                  -> %s\n", errname(uffd::zeropage(fd, R, kPage)));
    must(uffd::copy(fd, B + kPage, reinterpret_cast<uintptr_t>(src), kPage), "copy");
    std::printf("  MOVE onto a mapped destination               -> %s\n", errname(uffd::move(fd, R, B + kPage, kPage)));
    std::printf("  MOVE from an empty source (no ALLOW_SRC_HOLES) -> %s\n",
                errname(uffd::move(fd, B + 2 * kPage, R + 3 * kPage, kPage)));
    std::printf("  MOVE to an unregistered destination          -> %s\n",
                errname(uffd::move(fd, reinterpret_cast<uintptr_t>(plain) + kPage, R, kPage)));
    std::printf("  MOVE to a destination of another userfaultfd -> %s\n",
                errname(uffd::move(fd, reinterpret_cast<uintptr_t>(other), R, kPage)));
    madvise(plain + 2 * kPage, kPage, MADV_DONTNEED);
    std::printf("  MOVE from an unregistered source (dst ours)  -> %s\n",
                errname(uffd::move(fd, B + 3 * kPage, reinterpret_cast<uintptr_t>(plain), kPage)));
    // Shared after fork: the page is no longer exclusive to this process.
    must(uffd::copy(fd, R + 4 * kPage, reinterpret_cast<uintptr_t>(src), kPage), "copy");
    int go[2];
    if (pipe(go) != 0) std::exit(1);
    const pid_t child = fork();
    if (child == 0) {
        char c;
        (void)!read(go[0], &c, 1);
        _exit(0);
    }
    std::printf("  MOVE of a page shared with a forked child    -> %s\n",
                errname(uffd::move(fd, B + 4 * kPage, R + 4 * kPage, kPage)));
    (void)!write(go[1], "x", 1);
    waitpid(child, nullptr, 0);
    close(go[0]);
    close(go[1]);
    const int after_exit = uffd::move(fd, B + 4 * kPage, R + 4 * kPage, kPage);
    std::printf("  ... the same page after the child exited     -> %s\n", errname(after_exit));
    if (after_exit == 0) must(uffd::move(fd, R + 4 * kPage, B + 4 * kPage, kPage), "move back");
    region[4 * kPage] = 9;  // a write makes the page exclusive again
    std::printf("  ... after the parent wrote to the page       -> %s\n",
                errname(uffd::move(fd, B + 5 * kPage, R + 4 * kPage, kPage)));

    // Who is woken: COPY with DONTWAKE, then an EEXIST COPY, then UFFDIO_WAKE.
    {
        std::atomic<bool> done{false};
        std::thread t([&] {
            (void)*reinterpret_cast<volatile char*>(region + 6 * kPage);
            done.store(true);
        });
        const uint64_t a = next_fault(fd, 1000);
        const bool got = (a & ~(kPage - 1)) == R + 6 * kPage;
        must(uffd::copy(fd, R + 6 * kPage, reinterpret_cast<uintptr_t>(src), kPage, false), "copy dontwake");
        const bool after_dontwake = wait_flag(done, 50);
        const int rc = uffd::copy(fd, R + 6 * kPage, reinterpret_cast<uintptr_t>(src), kPage, true);
        const bool after_eexist = wait_flag(done, 50);
        uffd::wake(fd, R + 6 * kPage, kPage);
        const bool after_wake = wait_flag(done, 2000);
        t.join();
        std::printf("  faulting thread (message %s): after COPY+DONTWAKE %s; after a waking COPY that "
                    "returned %s %s; after UFFDIO_WAKE %s\n",
                    got ? "seen" : "NOT seen", after_dontwake ? "woke" : "still blocked", errname(rc),
                    after_eexist ? "woke" : "still blocked", after_wake ? "woke" : "still blocked");
    }
    // Signals: each signal makes a blocked thread leave the fault and fault again.
    {
        struct sigaction sa{};
        sa.sa_handler = on_sigusr1;
        sigaction(SIGUSR1, &sa, nullptr);
        std::atomic<bool> done{false};
        std::thread t([&] {
            (void)*reinterpret_cast<volatile char*>(region + 7 * kPage);
            done.store(true);
        });
        int msgs = next_fault(fd, 1000) ? 1 : 0;
        const int signals = 10;
        for (int k = 0; k < signals; ++k) {
            pthread_kill(t.native_handle(), SIGUSR1);
            while (next_fault(fd, 50)) ++msgs;
        }
        must(uffd::copy(fd, R + 7 * kPage, reinterpret_cast<uintptr_t>(src), kPage), "copy");
        wait_flag(done, 2000);
        t.join();
        std::printf("  %d signals to a thread blocked in a fault -> %d fault messages for the same page\n",
                    signals, msgs);
        signal(SIGUSR1, SIG_DFL);
    }
    close(fd);
    close(fd2);
    for (char* p : {region, backing, plain, other}) munmap(p, n * kPage);
    munmap(src, kPage);
}

// ---------------------------------------------------------------------------------------------
// Probe 4: wake-up latency between threads (futex), the other half of every fault.

long futex(std::atomic<uint32_t>* w, int op, uint32_t val) {
    return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, val, nullptr, nullptr, 0);
}

// One-way wake latency: the sleeper blocks in FUTEX_WAIT; after it has slept `gap_us` the
// waker stamps the TSC and wakes it; the sleeper stamps on return. Median over `n` rounds.
double wake_latency(int waker_cpu, int sleeper_cpu, unsigned gap_us, int n) {
    std::atomic<uint32_t> word{0};
    std::atomic<uint64_t> stamp{0};
    std::atomic<int> asleep{0};
    std::vector<uint64_t> d;
    d.reserve(static_cast<size_t>(n));
    std::thread sleeper([&] {
        pin_self(sleeper_cpu);
        for (int i = 0; i < n; ++i) {
            asleep.store(i + 1);
            while (word.load() == 0) futex(&word, FUTEX_WAIT_PRIVATE, 0);
            const uint64_t now = tsc_end();
            d.push_back(now - stamp.load());
            word.store(0);
        }
        asleep.store(n + 1);
    });
    pin_self(waker_cpu);
    for (int i = 0; i < n; ++i) {
        while (asleep.load() != i + 1) sched_yield();
        const uint64_t until = tsc_begin() + static_cast<uint64_t>(gap_us * 1000.0 / ns_per_tick());
        while (tsc_begin() < until) sched_yield();  // on the same CPU this lets the sleeper block
        stamp.store(tsc_begin());
        word.store(1);
        futex(&word, FUTEX_WAKE_PRIVATE, 1);
    }
    sleeper.join();
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < ncpus(); ++c) CPU_SET(c, &all);
    pthread_setaffinity_np(pthread_self(), sizeof all, &all);
    return ticks_to_ns(percentile(d, 0.5));
}

void probe_wakeups() {
    if (ncpus() < 2) {
        std::printf("  (one CPU only: no cross-CPU figures)\n");
        return;
    }
    for (unsigned gap : {5u, 50u, 500u, 5000u})
        std::printf("  futex wake, other CPU, sleeper asleep for %4u us: %6.0f ns to running\n", gap,
                    wake_latency(0, 1, gap, gap >= 5000 ? 200 : 2000));
    std::printf("  futex wake, same CPU (waker yields):              %6.0f ns to running\n",
                wake_latency(0, 0, 5, 2000));
}

// ---------------------------------------------------------------------------------------------
// The floor under CPU placements, resolve modes and eviction batches.

struct Placement {
    const char* name;
    int handler_cpu;
    std::vector<int> app_cpus;
};

struct Variant {
    std::string label;
    FloorConfig cfg;
    std::vector<FloorResult> runs;
};

struct Medians {
    double fps, mean, median, p99, handler, evict, map, polls;
};

Medians medians(const std::vector<FloorResult>& rs) {
    auto med = [&](auto get) {
        std::vector<double> v;
        for (const auto& r : rs) v.push_back(get(r));
        return percentile(v, 0.5);
    };
    return {med([](const FloorResult& r) { return r.faults_per_s; }),
            med([](const FloorResult& r) { return r.app.mean_ns; }),
            med([](const FloorResult& r) { return r.app.median_ns; }),
            med([](const FloorResult& r) { return r.app.p99_ns; }),
            med([](const FloorResult& r) { return r.handler_ns; }),
            med([](const FloorResult& r) { return r.evict_ns; }),
            med([](const FloorResult& r) { return r.map_ns; }),
            med([](const FloorResult& r) { return r.polls_per_fault; })};
}

// How much CPU time other processes (and the hypervisor, as steal) took while a section ran:
// the machine's busy time from /proc/stat minus this process's own (getrusage).
class LoadMeter {
public:
    LoadMeter() { sample(&busy0_, &steal0_, &self0_, &wall0_); }
    void report(const char* what) const {
        uint64_t busy, steal, self, wall;
        sample(&busy, &steal, &self, &wall);
        const double cap = static_cast<double>(wall - wall0_) * ncpus();  // ns of CPU available
        if (cap <= 0) return;
        const double foreign = std::max(0.0, static_cast<double>(busy - busy0_) - static_cast<double>(self - self0_));
        const double other_pct = 100.0 * foreign / cap, steal_pct = 100.0 * static_cast<double>(steal - steal0_) / cap;
        std::printf("  (during %s: other processes used %.1f%% of the CPUs, hypervisor steal %.1f%%)%s\n", what,
                    other_pct, steal_pct,
                    other_pct > 5 || steal_pct > 5 ? "  WARNING: competing load, figures unreliable" : "");
    }

private:
    static void sample(uint64_t* busy, uint64_t* steal, uint64_t* self, uint64_t* wall) {
        *busy = *steal = 0;
        if (FILE* f = std::fopen("/proc/stat", "r")) {
            unsigned long long v[8] = {};
            if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                            &v[5], &v[6], &v[7]) == 8) {
                const double tick_ns = 1e9 / static_cast<double>(sysconf(_SC_CLK_TCK));
                *busy = static_cast<uint64_t>(static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6]) * tick_ns);
                *steal = static_cast<uint64_t>(static_cast<double>(v[7]) * tick_ns);
            }
            std::fclose(f);
        }
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        auto ns = [](const timeval& t) { return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_usec) * 1000ull; };
        *self = ns(ru.ru_utime) + ns(ru.ru_stime);
        *wall = mono_ns();
    }
    uint64_t busy0_, steal0_, self0_, wall0_;
};

// Runs every variant `runs` times, alternating between them, and prints the medians.
void run_variants(std::vector<Variant>& vs, size_t runs, bool verbose) {
    const LoadMeter load;
    for (size_t r = 0; r < runs; ++r) {
        for (auto& v : vs) {
            FloorResult res = run_floor(v.cfg);
            if (!res.ok) {
                std::fprintf(stderr, "uffd_floor: %s: %s\n", v.label.c_str(), res.error.c_str());
                std::exit(1);
            }
            v.runs.push_back(res);
        }
    }
    load.report("these runs");
    std::printf("  %-44s %9s %8s %8s %8s %8s %7s %7s %5s\n", "configuration", "faults/s", "mean", "median",
                "p99", "handler", "evict", "map", "polls");
    for (auto& v : vs) {
        const Medians m = medians(v.runs);
        uint64_t faults = 0, accesses = 0;
        for (const auto& r : v.runs) {
            faults += r.pager.faults;
            accesses += r.app.accesses;
        }
        char extra[64] = "";
        if (faults != accesses)
            std::snprintf(extra, sizeof extra, "  (%+ld faults vs accesses)",
                          static_cast<long>(faults) - static_cast<long>(accesses));
        std::printf("  %-44s %9.0f %6.0fns %6.0fns %6.0fns %6.0fns %5.0fns %5.0fns %5.1f%s\n", v.label.c_str(),
                    m.fps, m.mean, m.median, m.p99, m.handler, m.evict, m.map, m.polls, extra);
        if (verbose)
            for (const auto& r : v.runs)
                std::printf("      run: %lu faults (%lu first touch, %lu duplicate, %lu EEXIST), %lu evicted in %lu "
                            "calls, %.3f s, %.0f faults/s, mean %.0f ns, handler %.0f ns = evict %.0f + map %.0f + "
                            "rest\n"
                            "           per access: p10 %.0f  p25 %.0f  p50 %.0f  p75 %.0f  p90 %.0f  p99 %.0f ns\n",
                            r.pager.faults, r.pager.first_touch, r.pager.duplicates, r.pager.eexist, r.pager.evicted,
                            r.pager.evict_ioctls, r.app.seconds, r.faults_per_s, r.app.mean_ns, r.handler_ns,
                            r.evict_ns, r.map_ns, r.app.p10_ns, r.app.p25_ns, r.app.median_ns, r.app.p75_ns,
                            r.app.p90_ns, r.app.p99_ns);
    }
}

FloorConfig base_config(const Args& a) {
    FloorConfig c;
    c.pager.pool_pages = a.pool;
    c.region_factor = a.factor;
    c.sweep.sweeps = a.sweeps;
    c.sweep.warm_sweeps = 1;
    return c;
}

std::string thread_label(int threads) { return threads == 1 ? "1 thread,  " : std::to_string(threads) + " threads, "; }

void section_floor(const Args& a) {
    std::vector<Placement> places{{"unpinned", -1, {}}};
    if (ncpus() >= 2) {
        places.push_back({"handler on cpu0", 0, {}});
        places.push_back({"handler on cpu1", 1, {}});
        places.push_back({"handler cpu0, apps cpu1", 0, {1}});
    }
    places.push_back({"handler and apps on cpu0", 0, {0}});

    std::vector<Variant> vs;
    for (int threads : {1, 2}) {
        for (const auto& p : places) {
            Variant v;
            v.cfg = base_config(a);
            v.cfg.sweep.threads = threads;
            v.cfg.pager.cpu = p.handler_cpu;
            v.cfg.sweep.cpus = p.app_cpus;
            v.label = thread_label(threads) + p.name;
            vs.push_back(std::move(v));
        }
    }
    run_variants(vs, a.runs, a.verbose);

    // The summary the engine is tuned against: the best placement for each thread count.
    for (int threads : {1, 2}) {
        const Variant* best = nullptr;
        const Variant* unpinned = nullptr;
        double best_fps = 0;
        for (const auto& v : vs) {
            if (v.cfg.sweep.threads != threads) continue;
            const double fps = medians(v.runs).fps;
            if (v.cfg.pager.cpu < 0) unpinned = &v;
            if (fps > best_fps) {
                best_fps = fps;
                best = &v;
            }
        }
        if (!best || !unpinned) continue;
        const Medians b = medians(best->runs), u = medians(unpinned->runs);
        std::printf("  floor, %d app thread%s: best %.0f faults/s, %.0f ns mean / %.0f ns median per access (%s);"
                    " unpinned %.0f faults/s, %.0f ns mean / %.0f ns median\n",
                    threads, threads == 1 ? "" : "s", b.fps, b.mean, b.median, best->label.c_str(), u.fps, u.mean,
                    u.median);
    }
}

void section_variants(const Args& a) {
    struct V {
        const char* label;
        Resolve resolve;
        size_t batch;
        bool idle_evict, spinners;
    };
    const V list[] = {
        {"move, evict 1 per fault", Resolve::move, 1, false, false},
        {"move, evict 1 when idle (after wake)", Resolve::move, 1, true, false},
        {"move, evict 16 per round", Resolve::move, 16, false, false},
        {"move, evict 16 when idle (after wake)", Resolve::move, 16, true, false},
        {"MOVE out 16 per round, COPY in", Resolve::move_out, 16, false, false},
        {"MOVE out 16 when idle, COPY in", Resolve::move_out, 16, true, false},
        {"copy+DONTNEED, evict 1", Resolve::copy, 1, false, false},
        {"copy+DONTNEED, evict 16 per round", Resolve::copy, 16, false, false},
        {"zeropage+DONTNEED, evict 1", Resolve::zeropage, 1, false, false},
        {"move, evict 1, CPUs kept from halting", Resolve::move, 1, false, true},
    };
    const Placement places[] = {{"", -1, {}}, {"cpu0: ", 0, {0}}};
    std::vector<Variant> vs;
    for (int threads : {1, 2}) {
        for (const Placement& p : places) {
            for (const V& x : list) {
                Variant v;
                v.cfg = base_config(a);
                v.cfg.sweep.threads = threads;
                v.cfg.pager.cpu = p.handler_cpu;
                v.cfg.sweep.cpus = p.app_cpus;
                v.cfg.pager.resolve = x.resolve;
                v.cfg.pager.evict_batch = x.batch;
                v.cfg.pager.evict_when_idle = x.idle_evict;
                v.cfg.idle_spinners = x.spinners;
                v.label = std::to_string(threads) + "t " + p.name + x.label;
                vs.push_back(std::move(v));
            }
        }
    }
    run_variants(vs, a.runs, a.verbose);
}

// One handler busy-polling, one blocking in poll(), and one blocking handler per CPU, each
// with the engine's eviction (MOVE out 16 when idle, COPY in); threads unpinned.
void section_handlers(const Args& a) {
    struct H {
        const char* label;
        bool block;
        int handlers;
    };
    const H list[] = {
        {"1 handler, busy", false, 1},
        {"1 handler, blocking", true, 1},
        {"a blocking handler per CPU", true, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN))},
    };
    std::vector<Variant> vs;
    for (int threads : {1, 2})
        for (const H& h : list) {
            Variant v;
            v.cfg = base_config(a);
            v.cfg.sweep.threads = threads;
            v.cfg.pager.resolve = Resolve::move_out;
            v.cfg.pager.evict_batch = 16;
            v.cfg.pager.evict_when_idle = true;
            v.cfg.pager.block = h.block;
            v.cfg.pager.handlers = h.handlers;
            v.label = std::to_string(threads) + "t " + h.label;
            vs.push_back(std::move(v));
        }
    run_variants(vs, a.runs, a.verbose);
}

void print_environment(const Args& a) {
    utsname u{};
    uname(&u);
    uffd::Capabilities caps;
    const char* why = nullptr;
    const int fd = uffd::open_descriptor(&caps, &why);
    if (fd < 0) {
        std::fprintf(stderr, "uffd_floor: %s\n", why ? why : "userfaultfd unavailable");
        std::exit(1);
    }
    close(fd);
    char idle[64] = "?";
    if (FILE* f = std::fopen("/sys/devices/system/cpu/cpuidle/current_driver", "r")) {
        if (std::fgets(idle, sizeof idle, f)) idle[std::strcspn(idle, "\n")] = 0;
        std::fclose(f);
    }
    std::printf("uffd_floor: kernel %s, %d CPUs, cpuidle driver %s, TSC %.3f GHz\n", u.release, ncpus(),
                idle, 1.0 / ns_per_tick());
    std::printf("  userfaultfd via %s; UFFDIO_MOVE %s; write-protect %s\n",
                caps.via_dev_node ? "/dev/userfaultfd" : "the syscall", caps.move ? "yes" : "no",
                caps.write_protect ? "yes" : "no");
    std::printf("  pool %zu pages, region %zu pages (%zux), %zu timed sweeps after 1 warm sweep, %zu runs%s\n",
                a.pool, a.pool * a.factor, a.factor, a.sweeps, a.runs, a.quick ? " (--quick)" : "");
    std::printf("  figures are medians over runs; per-fault times are per app access (TSC-timed);\n"
                "  'handler' is the handler's time from read() to woken, 'evict' its eviction time per fault\n"
                "  (inside 'handler' unless evicting when idle), 'map' its time in the ioctl that maps the page\n"
                "  and wakes the thread, 'polls' = empty reads per fault\n");
}

}  // namespace

int main(int argc, char** argv) {
    const Args a = parse_args(argc, argv);
    print_environment(a);
    if (a.probes) {
        const LoadMeter load;
        std::printf("\n[probes] busy polling\n");
        probe_empty_read();
        std::printf("\n[probes] one ioctl, nobody waiting, this thread on cpu0, cpu1 idle\n");
        pin_self(0);
        probe_ioctls(-1);
        if (ncpus() >= 2) {
            std::printf("\n[probes] the same with a sibling thread running on cpu1 (TLB flushes need an IPI)\n");
            probe_ioctls(1);
        }
        cpu_set_t all;
        CPU_ZERO(&all);
        for (int c = 0; c < ncpus(); ++c) CPU_SET(c, &all);
        pthread_setaffinity_np(pthread_self(), sizeof all, &all);
        std::printf("\n[probes] error returns and wake-ups\n");
        probe_semantics();
        std::printf("\n[probes] thread wake-up latency\n");
        probe_wakeups();
        load.report("the probes");
    }
    if (a.floor) {
        std::printf("\n[floor] bare busy-polling pager: COPY on first touch, MOVE out the oldest page, MOVE in on re-fetch\n");
        section_floor(a);
    }
    if (a.variants) {
        std::printf("\n[variants] resolution, eviction batch and timing, idle CPUs; unpinned or all on cpu0\n");
        section_variants(a);
    }
    if (a.handlers) {
        std::printf("\n[handlers] busy vs blocking handler vs a blocking handler per CPU (MOVE out 16 when idle, COPY in)\n");
        section_handlers(a);
    }
    return 0;
}
