// uffd_floor.h — the raw userfaultfd floor, header-only: a bare busy-polling pager (its own
// handler thread) and a timed page-sweep workload (app threads) that other benchmarks reuse.
//
// The bare pager is the least work a steady-state remote access needs: read the fault message,
// move the oldest resident page out to a backing region, move (or copy) the faulting page in,
// wake the thread. Its only bookkeeping is a FIFO ring of resident pages and one state byte per
// page. run_sweeps() is independent of the pager, so the engine comparison can time the very
// same access pattern over a region the engine serves.
#pragma once

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

#include "uffd.h"

namespace dime::bench {

constexpr size_t kPage = 4096;

// ---------------------------------------------------------------------------------------------
// Time: the TSC, calibrated once against CLOCK_MONOTONIC_RAW.

inline uint64_t tsc_begin() {
    _mm_lfence();
    return __rdtsc();
}
inline uint64_t tsc_end() {
    _mm_lfence();  // every earlier load has completed
    return __rdtsc();
}

inline uint64_t mono_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Nanoseconds per TSC tick, measured over a 50 ms busy interval on first use.
inline double ns_per_tick() {
    static const double value = [] {
        const uint64_t n0 = mono_ns(), t0 = tsc_begin();
        while (mono_ns() - n0 < 50'000'000) {
        }
        const uint64_t n1 = mono_ns(), t1 = tsc_end();
        return static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0);
    }();
    return value;
}
inline double ticks_to_ns(double ticks) { return ticks * ns_per_tick(); }

// Pins the calling thread to `cpu`; a negative cpu leaves it free. Returns false on failure.
inline bool pin_self(int cpu) {
    if (cpu < 0) return true;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// Median and a high percentile of a sample set (reorders it). Empty input gives 0.
template <class T>
inline double percentile(std::vector<T>& v, double q) {
    if (v.empty()) return 0;
    const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
    return static_cast<double>(v[k]);
}

// ---------------------------------------------------------------------------------------------
// The workload: T app threads sweep a region page by page, timing every access.

struct SweepConfig {
    int threads = 1;             // thread t sweeps the t-th contiguous slice of the region
    std::vector<int> cpus;       // thread t is pinned to cpus[t % size]; empty: unpinned
    size_t warm_sweeps = 1;      // sweeps done before timing starts (fill the pool, the backing)
    size_t sweeps = 16;          // timed sweeps
    bool verify_stamp = false;   // the first word of page i must read i
};

struct SweepResult {
    uint64_t accesses = 0;    // timed accesses, all threads
    uint64_t mismatches = 0;  // pages whose stamp was wrong (verify_stamp only)
    double seconds = 0;       // from the release of the timed phase to the last thread's end
    double mean_ns = 0, median_ns = 0, p99_ns = 0;
    double p10_ns = 0, p25_ns = 0, p75_ns = 0, p90_ns = 0;  // the shape of the distribution
    bool pin_failed = false;
};

// Runs the sweeps. `on_start()` is called after every thread has finished its warm sweeps and
// right before the timed phase; `on_end()` after the last thread has finished. Both run on the
// calling thread (use them to snapshot counters).
template <class OnStart, class OnEnd>
SweepResult run_sweeps(char* region, size_t pages, const SweepConfig& cfg, OnStart&& on_start,
                       OnEnd&& on_end) {
    const int nthreads = std::max(1, cfg.threads);
    const size_t slice = pages / static_cast<size_t>(nthreads);
    const size_t per_thread = slice * cfg.sweeps;
    std::vector<std::vector<uint32_t>> samples(static_cast<size_t>(nthreads));
    for (auto& s : samples) s.assign(per_thread, 0);  // touched now, not during the sweeps
    std::vector<uint64_t> sums(static_cast<size_t>(nthreads), 0), ends(static_cast<size_t>(nthreads), 0),
        bad(static_cast<size_t>(nthreads), 0);
    std::atomic<bool> pin_failed{false};
    std::latch warmed(nthreads), go(1);

    auto body = [&](int t) {
        if (!cfg.cpus.empty() && !pin_self(cfg.cpus[static_cast<size_t>(t) % cfg.cpus.size()]))
            pin_failed.store(true);
        const size_t first = slice * static_cast<size_t>(t);
        uint32_t* out = samples[static_cast<size_t>(t)].data();
        uint64_t sum = 0, mism = 0;
        for (size_t w = 0; w < cfg.warm_sweeps; ++w)
            for (size_t i = first; i < first + slice; ++i)
                mism += *reinterpret_cast<volatile uint64_t*>(region + i * kPage) != i;
        warmed.count_down();
        go.wait();
        mism = 0;
        for (size_t s = 0; s < cfg.sweeps; ++s) {
            for (size_t i = first; i < first + slice; ++i) {
                const uint64_t t0 = tsc_begin();
                const uint64_t v = *reinterpret_cast<volatile uint64_t*>(region + i * kPage);
                const uint64_t t1 = tsc_end();
                const uint64_t d = t1 - t0;
                *out++ = static_cast<uint32_t>(std::min<uint64_t>(d, UINT32_MAX));
                sum += d;
                mism += v != i;
            }
        }
        ends[static_cast<size_t>(t)] = tsc_end();
        sums[static_cast<size_t>(t)] = sum;
        bad[static_cast<size_t>(t)] = cfg.verify_stamp ? mism : 0;
    };

    std::vector<std::thread> threads;
    for (int t = 0; t < nthreads; ++t) threads.emplace_back(body, t);
    warmed.wait();
    on_start();
    const uint64_t start = tsc_begin();
    go.count_down();
    for (auto& th : threads) th.join();
    on_end();

    SweepResult r;
    r.pin_failed = pin_failed.load();
    uint64_t total = 0, end = start;
    std::vector<uint32_t> all;
    all.reserve(per_thread * static_cast<size_t>(nthreads));
    for (size_t t = 0; t < static_cast<size_t>(nthreads); ++t) {
        total += sums[t];
        end = std::max(end, ends[t]);
        r.mismatches += bad[t];
        all.insert(all.end(), samples[t].begin(), samples[t].end());
    }
    r.accesses = all.size();
    r.seconds = ticks_to_ns(static_cast<double>(end - start)) * 1e-9;
    if (r.accesses) {
        r.mean_ns = ticks_to_ns(static_cast<double>(total) / static_cast<double>(r.accesses));
        r.median_ns = ticks_to_ns(percentile(all, 0.5));
        r.p99_ns = ticks_to_ns(percentile(all, 0.99));
        r.p10_ns = ticks_to_ns(percentile(all, 0.10));
        r.p25_ns = ticks_to_ns(percentile(all, 0.25));
        r.p75_ns = ticks_to_ns(percentile(all, 0.75));
        r.p90_ns = ticks_to_ns(percentile(all, 0.90));
    }
    return r;
}

// ---------------------------------------------------------------------------------------------
// The bare pager.

// How a fault is resolved and how a page leaves the pool.
enum class Resolve {
    move,      // first touch: COPY from a stamped source page; eviction and re-fetch: UFFDIO_MOVE
    copy,      // the no-MOVE fallback: evict = memcpy to backing + MADV_DONTNEED; re-fetch = COPY
    move_out,  // evict with MOVE, re-fetch with COPY from the backing (which leaves a stale copy
               // there: it is dropped with MADV_DONTNEED right before the page is moved out again)
    zeropage,  // ZEROPAGE in, MADV_DONTNEED out: no data at all (notification + wake-up only)
};

inline const char* resolve_name(Resolve r) {
    switch (r) {
        case Resolve::move: return "move";
        case Resolve::copy: return "copy";
        case Resolve::move_out: return "move_out";
        case Resolve::zeropage: return "zeropage";
    }
    return "?";
}

// Counters the handler publishes (it is the only writer; readers snapshot them).
struct PagerCounters {
    uint64_t faults = 0;        // faults resolved by mapping a page
    uint64_t first_touch = 0;   // ... of pages never resident before
    uint64_t duplicates = 0;    // messages for a page already resident (woken, nothing mapped)
    uint64_t eexist = 0;        // map ioctls that found the page already there (then woken)
    uint64_t errors = 0;        // any other ioctl failure (the first errno is kept)
    uint64_t evict_ioctls = 0;  // eviction calls (a batch of adjacent pages is one call)
    uint64_t evicted = 0;       // pages evicted
    uint64_t empty_polls = 0;   // read() calls that returned EAGAIN
    uint64_t handler_ticks = 0; // TSC ticks from a message read to its page mapped and woken
    uint64_t evict_ticks = 0;   // TSC ticks spent evicting (on the fault path or in idle polls)
    uint64_t map_ticks = 0;     // TSC ticks in the ioctl that maps the page and wakes the thread
    int first_errno = 0;

    PagerCounters operator-(const PagerCounters& o) const {
        PagerCounters d = *this;
        d.faults -= o.faults;
        d.first_touch -= o.first_touch;
        d.duplicates -= o.duplicates;
        d.eexist -= o.eexist;
        d.errors -= o.errors;
        d.evict_ioctls -= o.evict_ioctls;
        d.evicted -= o.evicted;
        d.empty_polls -= o.empty_polls;
        d.handler_ticks -= o.handler_ticks;
        d.evict_ticks -= o.evict_ticks;
        d.map_ticks -= o.map_ticks;
        return d;
    }
};

struct PagerOptions {
    size_t pool_pages = 1024;
    size_t evict_batch = 1;  // pages evicted per eviction round (adjacent ones in one call), <= 64
    bool evict_when_idle = false;  // evict in empty polls, keeping evict_batch slots free: the
                                   // eviction follows the wake-up instead of preceding it
    Resolve resolve = Resolve::move;
    int cpu = -1;            // the handler thread's CPU; negative: unpinned
    bool block = false;      // wait in poll() (1 ms timeout) instead of spinning on read()
    int handlers = 1;        // > 1: that many handler threads, thread i pinned to CPU i, sharing
                             // the pager's state under a spinlock (a handler per CPU: the one
                             // on the faulting thread's CPU is woken locally and reads first)
};

// One userfaultfd, one busy-polling handler thread, one region and its backing region.
class BarePager {
public:
    BarePager() = default;
    BarePager(const BarePager&) = delete;
    BarePager& operator=(const BarePager&) = delete;
    ~BarePager() { stop(); }

    // Registers [region, region + pages*kPage) (which must be mapped, private, anonymous and
    // empty) and starts the handler. Returns false with *error set on failure.
    bool start(char* region, size_t pages, const PagerOptions& opt, std::string* error) {
        opt_ = opt;
        region_ = region;
        pages_ = pages;
        if (opt_.pool_pages == 0 || opt_.pool_pages > pages_ || opt_.evict_batch == 0 ||
            opt_.evict_batch > std::min(opt_.pool_pages, kMaxBatch))
            return fail(error, "pool_pages must be in [1, pages] and evict_batch in [1, min(pool_pages, 64)]");
        const char* why = nullptr;
        fd_ = uffd::open_descriptor(&caps_, &why);
        if (fd_ < 0) return fail(error, why ? why : "userfaultfd unavailable");
        const bool moves = opt_.resolve == Resolve::move || opt_.resolve == Resolve::move_out;
        if (moves && !caps_.move)
            return fail(error, "this kernel lacks UFFDIO_MOVE (Linux >= 6.8 needed for resolve=move)");
        const size_t bytes = pages_ * kPage;
        void* b = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (b == MAP_FAILED) return fail(error, "mmap of the backing region failed");
        backing_ = static_cast<char*>(b);
        madvise(backing_, bytes, MADV_NOHUGEPAGE);
        // Warm the memory: touch every page of both regions, then drop them again, so page
        // tables exist and the pages the kernel hands out are already backed by the host.
        // MOVE needs an empty destination, so the backing is dropped too unless copies go there.
        std::memset(backing_, 0, bytes);
        std::memset(region_, 0, bytes);
        madvise(region_, bytes, MADV_DONTNEED);
        if (moves) madvise(backing_, bytes, MADV_DONTNEED);
        // MOVE requires its destination registered with the same userfaultfd: both directions.
        if (int rc = uffd::register_range(fd_, region_, bytes, false, nullptr); rc != 0)
            return fail(error, "UFFDIO_REGISTER of the region failed");
        if (moves)
            if (int rc = uffd::register_range(fd_, backing_, bytes, false, nullptr); rc != 0)
                return fail(error, "UFFDIO_REGISTER of the backing region failed");
        void* s = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (s == MAP_FAILED) return fail(error, "mmap of the source page failed");
        source_ = static_cast<char*>(s);
        std::memset(source_, 0, kPage);
        state_.assign(pages_, kNever);
        ring_.assign(opt_.pool_pages, 0);
        head_ = tail_ = resident_ = 0;
        stop_.store(false);
        for (int i = 0; i < std::max(1, opt_.handlers); ++i) threads_.emplace_back([this, i] { loop(i); });
        return true;
    }

    void stop() {
        stop_.store(true);
        for (auto& t : threads_)
            if (t.joinable()) t.join();
        threads_.clear();
        if (fd_ >= 0) {
            close(fd_);  // unregisters everything
            fd_ = -1;
        }
        if (backing_) munmap(backing_, pages_ * kPage);
        if (source_) munmap(source_, kPage);
        backing_ = source_ = nullptr;
    }

    PagerCounters snapshot() const {
        PagerCounters c;
        c.faults = faults_.load(std::memory_order_relaxed);
        c.first_touch = first_touch_.load(std::memory_order_relaxed);
        c.duplicates = duplicates_.load(std::memory_order_relaxed);
        c.eexist = eexist_.load(std::memory_order_relaxed);
        c.errors = errors_.load(std::memory_order_relaxed);
        c.evict_ioctls = evict_ioctls_.load(std::memory_order_relaxed);
        c.evicted = evicted_.load(std::memory_order_relaxed);
        c.empty_polls = empty_polls_.load(std::memory_order_relaxed);
        c.handler_ticks = handler_ticks_.load(std::memory_order_relaxed);
        c.evict_ticks = evict_ticks_.load(std::memory_order_relaxed);
        c.map_ticks = map_ticks_.load(std::memory_order_relaxed);
        c.first_errno = first_errno_.load(std::memory_order_relaxed);
        return c;
    }
    bool pin_failed() const { return pin_failed_.load(); }

    // Returns once the handler has found the descriptor empty twice in a row, so every fault
    // whose thread has already been woken is also counted (the count follows the wake-up).
    void quiesce() const {
        const uint64_t seen = empty_polls_.load(std::memory_order_relaxed);
        while (!threads_.empty() && empty_polls_.load(std::memory_order_relaxed) < seen + 2) _mm_pause();
    }

private:
    enum : uint8_t { kNever = 0, kResident = 1, kEvicted = 2 };
    static constexpr size_t kMaxBatch = 64;

    static void bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
        c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }
    bool fail(std::string* error, const char* what) {
        if (error) *error = what;
        stop();
        return false;
    }
    void failed(int rc) {
        bump(errors_);
        if (first_errno_.load(std::memory_order_relaxed) == 0)
            first_errno_.store(-rc, std::memory_order_relaxed);
    }

    void lock() {
        while (lock_.test_and_set(std::memory_order_acquire)) _mm_pause();
    }
    void unlock() { lock_.clear(std::memory_order_release); }

    // Handler thread i: poll the descriptor (spinning, or blocking in poll()) until stopped.
    void loop(int i) {
        const int cpu = opt_.handlers > 1 ? i % static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)) : opt_.cpu;
        if (!pin_self(cpu)) pin_failed_.store(true);
        uffd_msg msgs[16];
        while (!stop_.load(std::memory_order_relaxed)) {
            if (opt_.block) {
                pollfd p{fd_, POLLIN, 0};
                poll(&p, 1, 1);
            }
            const ssize_t n = read(fd_, msgs, sizeof msgs);
            if (n <= 0) {
                empty_polls_.fetch_add(1, std::memory_order_relaxed);
                if (opt_.evict_when_idle && resident_ + opt_.evict_batch > opt_.pool_pages) {
                    lock();
                    if (resident_ + opt_.evict_batch > opt_.pool_pages) {
                        const uint64_t e0 = tsc_begin();
                        evict();
                        bump(evict_ticks_, tsc_end() - e0);
                    }
                    unlock();
                }
                continue;
            }
            lock();
            const uint64_t t0 = tsc_begin();
            for (size_t k = 0; k < static_cast<size_t>(n) / sizeof(uffd_msg); ++k)
                if (msgs[k].event == UFFD_EVENT_PAGEFAULT) resolve(msgs[k].arg.pagefault.address);
            bump(handler_ticks_, tsc_end() - t0);
            unlock();
        }
    }

    void resolve(uint64_t address) {
        const uintptr_t page = address & ~static_cast<uint64_t>(kPage - 1);
        const uintptr_t base = reinterpret_cast<uintptr_t>(region_);
        if (page < base || page >= base + pages_ * kPage) {
            failed(-EFAULT);  // a fault outside the region (the backing is never touched)
            return;
        }
        const size_t idx = (page - base) / kPage;
        const uint8_t st = state_[idx];
        if (st == kResident) {
            bump(duplicates_);
            uffd::wake(fd_, page, kPage);
            return;
        }
        if (resident_ == opt_.pool_pages) {
            const uint64_t e0 = tsc_begin();
            evict();
            bump(evict_ticks_, tsc_end() - e0);
        }
        const uintptr_t back = reinterpret_cast<uintptr_t>(backing_) + idx * kPage;
        int rc;
        const uint64_t m0 = tsc_begin();
        if (opt_.resolve == Resolve::zeropage) {
            rc = uffd::zeropage(fd_, page, kPage);
        } else if (st == kNever) {
            *reinterpret_cast<uint64_t*>(source_) = idx;  // the stamp the app verifies
            rc = uffd::copy(fd_, page, reinterpret_cast<uintptr_t>(source_), kPage);
        } else if (opt_.resolve == Resolve::move) {
            rc = uffd::move(fd_, page, back, kPage);
        } else {
            rc = uffd::copy(fd_, page, back, kPage);
        }
        bump(map_ticks_, tsc_end() - m0);
        if (rc == -EEXIST) {
            bump(eexist_);
            uffd::wake(fd_, page, kPage);  // an EEXIST return wakes nobody
        } else if (rc != 0) {
            failed(rc);
            uffd::wake(fd_, page, kPage);
            return;
        }
        if (st == kNever) bump(first_touch_);
        bump(faults_);
        state_[idx] = kResident;
        ring_[tail_] = static_cast<uint32_t>(idx);
        tail_ = tail_ + 1 == ring_.size() ? 0 : tail_ + 1;
        ++resident_;
    }

    // Takes the evict_batch oldest pages out, sorted so that adjacent pages (also those of
    // different app threads) go in one call.
    void evict() {
        uint32_t batch[kMaxBatch];
        const size_t n = std::min(opt_.evict_batch, resident_);
        for (size_t k = 0; k < n; ++k) {
            batch[k] = ring_[head_];
            head_ = head_ + 1 == ring_.size() ? 0 : head_ + 1;
        }
        resident_ -= n;
        for (size_t k = 1; k < n; ++k)  // insertion sort: n is small
            for (size_t j = k; j > 0 && batch[j - 1] > batch[j]; --j) std::swap(batch[j - 1], batch[j]);
        for (size_t k = 0; k < n;) {
            const size_t first = batch[k];
            size_t run = 1;
            while (k + run < n && batch[k + run] == first + run) ++run;
            k += run;
            const uintptr_t src = reinterpret_cast<uintptr_t>(region_) + first * kPage;
            const uintptr_t dst = reinterpret_cast<uintptr_t>(backing_) + first * kPage;
            int rc = 0;
            if (opt_.resolve == Resolve::move_out &&
                madvise(reinterpret_cast<void*>(dst), run * kPage, MADV_DONTNEED) != 0)
                rc = -errno;
            if (opt_.resolve == Resolve::move || opt_.resolve == Resolve::move_out) {
                if (rc == 0) rc = uffd::move(fd_, dst, src, run * kPage, false);
            } else {
                if (opt_.resolve == Resolve::copy)
                    std::memcpy(reinterpret_cast<void*>(dst), reinterpret_cast<void*>(src), run * kPage);
                if (madvise(reinterpret_cast<void*>(src), run * kPage, MADV_DONTNEED) != 0) rc = -errno;
            }
            if (rc != 0) failed(rc);
            for (size_t i = first; i < first + run; ++i) state_[i] = kEvicted;
            bump(evict_ioctls_);
            bump(evicted_, run);
        }
    }

    PagerOptions opt_;
    uffd::Capabilities caps_;
    int fd_ = -1;
    char* region_ = nullptr;
    char* backing_ = nullptr;
    char* source_ = nullptr;
    size_t pages_ = 0;
    std::vector<uint8_t> state_;
    std::vector<uint32_t> ring_;
    size_t head_ = 0, tail_ = 0, resident_ = 0;
    std::vector<std::thread> threads_;
    std::atomic_flag lock_ = ATOMIC_FLAG_INIT;  // handlers only: the state below is theirs
    std::atomic<bool> stop_{false}, pin_failed_{false};
    std::atomic<uint64_t> faults_{0}, first_touch_{0}, duplicates_{0}, eexist_{0}, errors_{0},
        evict_ioctls_{0}, evicted_{0}, empty_polls_{0}, handler_ticks_{0}, evict_ticks_{0}, map_ticks_{0};
    std::atomic<int> first_errno_{0};
};

// ---------------------------------------------------------------------------------------------
// One floor measurement: a fresh region, a fresh pager, warm sweeps, timed sweeps.

struct FloorConfig {
    PagerOptions pager;
    SweepConfig sweep;
    size_t region_factor = 4;    // region = region_factor x pool pages
    bool idle_spinners = false;  // a SCHED_IDLE spinner per CPU keeps idle CPUs out of halt
};

struct FloorResult {
    bool ok = false;
    std::string error;
    SweepResult app;
    PagerCounters pager;     // the timed phase only
    double faults_per_s = 0;
    double handler_ns = 0;   // handler time per fault (read to woken)
    double evict_ns = 0;     // eviction time per fault (inside handler_ns unless evict_when_idle)
    double map_ns = 0;       // time per fault in the ioctl that maps the page and wakes the thread
    double polls_per_fault = 0;
};

inline FloorResult run_floor(const FloorConfig& cfg) {
    FloorResult out;
    const size_t pages = cfg.pager.pool_pages * cfg.region_factor;
    void* r = mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED) {
        out.error = "mmap of the region failed";
        return out;
    }
    char* region = static_cast<char*>(r);
    madvise(region, pages * kPage, MADV_NOHUGEPAGE);

    std::atomic<bool> spin_stop{false};
    std::vector<std::thread> spinners;
    if (cfg.idle_spinners) {
        const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        for (long c = 0; c < ncpu; ++c)
            spinners.emplace_back([&spin_stop, c] {
                pin_self(static_cast<int>(c));
                sched_param sp{};
                pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
                while (!spin_stop.load(std::memory_order_relaxed)) _mm_pause();
            });
    }

    {
        BarePager pager;
        if (pager.start(region, pages, cfg.pager, &out.error)) {
            PagerCounters before, after;
            SweepConfig sc = cfg.sweep;
            sc.verify_stamp = cfg.pager.resolve != Resolve::zeropage;
            out.app = run_sweeps(
                region, pages, sc, [&] {
                    pager.quiesce();
                    before = pager.snapshot();
                },
                [&] {
                    pager.quiesce();
                    after = pager.snapshot();
                });
            out.pager = after - before;
            out.pager.first_errno = after.first_errno;
            out.ok = !pager.pin_failed() && !out.app.pin_failed;
            if (!out.ok) out.error = "could not pin a thread to the requested CPU";
            if (out.pager.errors) {
                out.ok = false;
                out.error = std::string("the handler saw ioctl errors: ") + std::strerror(after.first_errno);
            }
            if (out.app.mismatches) {
                out.ok = false;
                out.error = "pages came back with the wrong content";
            }
        }
    }
    spin_stop.store(true);
    for (auto& t : spinners) t.join();
    munmap(region, pages * kPage);

    if (out.app.seconds > 0) out.faults_per_s = static_cast<double>(out.pager.faults) / out.app.seconds;
    if (out.pager.faults) {
        out.handler_ns = ticks_to_ns(static_cast<double>(out.pager.handler_ticks) / static_cast<double>(out.pager.faults));
        out.evict_ns = ticks_to_ns(static_cast<double>(out.pager.evict_ticks) / static_cast<double>(out.pager.faults));
        out.map_ns = ticks_to_ns(static_cast<double>(out.pager.map_ticks) / static_cast<double>(out.pager.faults));
        out.polls_per_fault = static_cast<double>(out.pager.empty_polls) / static_cast<double>(out.pager.faults);
    }
    return out;
}

}  // namespace dime::bench
