// test_engine.cpp — drives the Engine directly (no preload): nothing lost under eviction,
// exact fault counts of a sequential walk, the delay per remote access, and the pure pieces
// (fetch cost formula, latency histogram). Runs on the test thread plus its own worker threads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include "config.h"
#include "engine.h"
#include "stats.h"
#include "uffd.h"
#include "engine_support.h"
#include "page_check.h"
#include "programs/deny_uffd.h"

namespace {

using dime::test::diagnose;
using dime::test::KernelAccess;
using dime::test::kPage;
using dime::test::kWords;
using dime::test::kZeroVersion;
using dime::test::make_page;
using dime::test::mix;
using dime::test::Region;
using dime::test::uffd_required;

// A quiet configuration for tests; callers set the knobs they exercise.
dime::Config test_config() {
    dime::Config cfg;
    cfg.summary = false;
    return cfg;
}

// Starts an engine; nullptr only when this machine forbids userfaultfd (the caller returns).
std::unique_ptr<dime::Engine> start_engine(const dime::Config& cfg) { return dime::test::start_valid_engine_or_skip(cfg); }

void read_full(int fd, unsigned char* dst, size_t n) {
    size_t done = 0;
    while (done < n) {
        const ssize_t r = read(fd, dst + done, n - done);
        INFO("read() from a helper descriptor: " << std::strerror(errno));
        REQUIRE(r > 0);
        done += static_cast<size_t>(r);
    }
}

// Compares every page of `region` with `shadow`; returns up to 5 lines about mismatches.
std::vector<std::string> compare_all(const Region& region, const std::vector<unsigned char>& shadow) {
    std::vector<std::string> bad;
    for (size_t p = 0; p < region.pages && bad.size() < 5; ++p) {
        const unsigned char* want = shadow.data() + p * kPage;
        if (std::memcmp(region.page(p), want, kPage) != 0) {
            size_t off = 0;
            while (off < kPage && region.page(p)[off] == want[off]) ++off;
            bad.push_back(fmt::format("page {}: differs from byte {} (got 0x{:02x}, want 0x{:02x})",
                                      p, off, region.page(p)[off], want[off]));
        }
    }
    return bad;
}

std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure pieces.

TEST_CASE("fetch cost is 2 x latency plus transmission of one page", "[config]") {
    struct Case {
        uint64_t latency_ns, bandwidth_bps;
    };
    const Case cases[] = {
        {20000, 1000000000000000ull},  // DiME's Table 4.2 settings: 40 us
        {1000, 1000000000ull},         // transmission dominates
        {1000, 10000000000ull},        // the defaults
        {0, 1000000000000000000ull},   // nothing at all
        {123456, 12345678ull},
    };
    for (const auto& c : cases) {
        dime::Config cfg;
        cfg.latency_ns = c.latency_ns;
        cfg.bandwidth_bps = c.bandwidth_bps;
        const long double expected = 2.0L * c.latency_ns +
                                     static_cast<long double>(cfg.page_size) * 8.0L * 1e9L /
                                         static_cast<long double>(c.bandwidth_bps);
        const long long got = static_cast<long long>(cfg.fetch_cost_ns());
        INFO("latency_ns=" << c.latency_ns << " bandwidth_bps=" << c.bandwidth_bps << " expected "
                           << static_cast<double>(expected) << " ns, got " << got);
        CHECK(std::llabs(got - std::llround(expected)) <= 1);
    }
}

TEST_CASE("latency histogram percentiles are within one bucket", "[stats]") {
    dime::LatencyHistogram h;
    REQUIRE(h.count() == 0);

    // 1..1000 ns once each: p50 is 500, p99 is 990.
    for (uint64_t v = 1; v <= 1000; ++v) h.record(v);
    CHECK(h.count() == 1000);
    CHECK(h.max() == 1000);
    auto within_bucket = [](uint64_t got, double truth) {
        return static_cast<double>(got) >= truth * 0.875 && static_cast<double>(got) <= truth * 1.25;
    };
    const uint64_t p50 = h.percentile(0.50), p99 = h.percentile(0.99);
    INFO("p50=" << p50 << " p99=" << p99);
    CHECK(within_bucket(p50, 500));
    CHECK(within_bucket(p99, 990));
    CHECK(p50 <= p99);

    // Bimodal: 99% at 40 us, 1% at 2 ms. The tail must show in p99.5 and not drag p50.
    h.reset();
    CHECK(h.count() == 0);
    for (int i = 0; i < 990; ++i) h.record(40000);
    for (int i = 0; i < 10; ++i) h.record(2000000);
    const uint64_t b50 = h.percentile(0.50), b995 = h.percentile(0.995);
    INFO("bimodal p50=" << b50 << " p99.5=" << b995);
    CHECK(within_bucket(b50, 40000));
    CHECK(within_bucket(b995, 2000000));
    CHECK(h.max() == 2000000);

    // Values beyond the last bucket are clamped, not lost.
    h.reset();
    h.record(1ull << 50);
    CHECK(h.count() == 1);
    CHECK(h.max() == (1ull << 50));
}

// ---------------------------------------------------------------------------------------------
// (b) DiME's verification: a sequential walk faults exactly once per page.

TEST_CASE("sequential walk of N pages gives exactly N faults", "[engine][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    const std::string mode = GENERATE(as<std::string>{}, "busy", "block", "hybrid");
    // evict_batch 1 keeps the pool exactly full, so eviction counts are exact too; with batches
    // the pool holds between capacity - 2 batches and capacity, and evictions follow.
    const uint64_t batch = GENERATE(uint64_t(1), uint64_t(16));
    // A first touch is a fault either way: delayed (remote) or zero-filled at once (local). Both
    // backends count it, and evict for it, before the faulting thread runs again, so the totals
    // read right after the walk are exact.
    const std::string first_touch = GENERATE(as<std::string>{}, "remote", "local");
    constexpr uint64_t kPool = 1000;
    constexpr size_t kN = 5000;
    auto cfg = test_config();
    cfg.latency_ns = 0;
    cfg.local_npages = kPool;
    cfg.poll_mode = mode;
    cfg.evict_batch = batch;
    cfg.backend = backend;
    cfg.first_touch = first_touch;
    INFO("backend=" << backend << " poll_mode=" << mode << " evict_batch=" << batch << " first_touch=" << first_touch);
    const uint64_t slack = batch == 1 ? 0 : 2 * batch;
    auto engine = start_engine(cfg);
    if (!engine) return;
    Region region(*engine, kN);

    const dime::Totals t0 = engine->totals();
    CHECK(t0.faults == 0);
    CHECK(t0.evictions == 0);

    // Walk 1: first touch of every page, each leaves one word we check on the way back.
    for (size_t i = 0; i < kN; ++i) {
        const uint64_t v = mix(i);
        std::memcpy(region.page(i) + (i * 8) % kPage, &v, sizeof v);
    }
    const dime::Totals t1 = engine->totals();
    CHECK(t1.faults == kN);
    CHECK(t1.first_touch_faults == kN);
    CHECK(t1.refetch_faults == 0);
    CHECK(t1.evictions >= kN - kPool);
    CHECK(t1.evictions <= kN - kPool + slack);
    CHECK(t1.resident_pages <= kPool);

    // Walk 2: FIFO has evicted every page before the walk returns to it, so all N are re-fetched.
    size_t wrong = 0, first_wrong = kN;
    for (size_t i = 0; i < kN; ++i) {
        uint64_t v;
        std::memcpy(&v, region.page(i) + (i * 8) % kPage, sizeof v);
        if (v != mix(i) && wrong++ == 0) first_wrong = i;
    }
    const dime::Totals t2 = engine->totals();
    INFO("first page with a wrong word: " << first_wrong);
    CHECK(wrong == 0);
    CHECK(t2.faults == 2 * kN);
    CHECK(t2.refetch_faults == kN);
    CHECK(t2.first_touch_faults == kN);
    CHECK(t2.evictions >= 2 * kN - kPool);
    CHECK(t2.evictions <= 2 * kN - kPool + slack);
}

// ---------------------------------------------------------------------------------------------
// (c) The delay per remote access is the configured fetch cost.

namespace {

// Writes one byte to each page of `region`, `walks` times; returns the mean time per access of
// each walk. Every access must be remote (one fault each), or the mean would say nothing.
std::vector<double> timed_walks(dime::Engine& engine, const Region& region, int walks) {
    std::vector<double> means;
    for (int walk = 0; walk < walks; ++walk) {
        const dime::Totals before = engine.totals();
        const auto t0 = std::chrono::steady_clock::now();
        for (size_t i = 0; i < region.pages; ++i) {
            volatile unsigned char* p = region.page(i);
            *p = static_cast<unsigned char>(walk + 1);
        }
        const auto t1 = std::chrono::steady_clock::now();
        const dime::Totals after = engine.totals();
        INFO("walk " << walk);
        REQUIRE(after.faults - before.faults == region.pages);
        means.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() /
                        static_cast<double>(region.pages));
    }
    return means;
}

std::string show(const std::vector<double>& means) {
    std::string out;
    for (double m : means) out += fmt::format("{:.0f} ", m);
    return out;
}

}  // namespace

TEST_CASE("mean time per remote access matches latency_ns=20000 (loose bound)", "[engine][uffd][timing]") {
    auto cfg = test_config();
    cfg.latency_ns = 20000;
    cfg.bandwidth_bps = 1000000000000000ull;
    cfg.local_npages = 64;
    const double expected_ns = 2.0 * 20000 + static_cast<double>(kPage) * 8 * 1e9 / 1e15;
    // Walk 0 touches every page first (remote first touch), walks 1..3 re-fetch them all. Every
    // walk must be at least 0.75 x expected and the best at most 1.25 x expected. (The precise
    // +-2% figure is bench/'s job.) Another process taking the CPU during calibration or a walk
    // can push one engine outside those bounds, so up to three engines (each calibrating anew)
    // are tried and the first within bounds passes; an engine that injects the wrong delay fails
    // all three.
    //
    // The bounds say something only where a fault with no delay at all costs well below the
    // target. On a virtual machine whose vCPUs the host holds back, it has cost 35-100 us here,
    // and then an engine that injects nothing, or subtracts nothing, lands inside them too. So
    // before each attempt an engine that injects nothing measures that floor (the slowest of three
    // walks: the cost jumps between two levels from walk to walk); an attempt whose floor is above
    // 0.75 x expected is inconclusive, and if all are, the test says so instead of asserting.
    constexpr int kAttempts = 3;
    std::vector<double> means;
    uint64_t own = 0;
    double floor_ns = 0;
    bool measured = false, within = false;
    // The floor now: the slowest of three walks of an engine that injects nothing.
    auto measure_floor = [&]() -> double {
        auto bare = cfg;
        bare.latency_ns = 0;
        bare.overhead_ns = 0;
        auto engine = start_engine(bare);
        if (!engine) return -1;
        Region region(*engine, 1000);
        const auto floor_means = timed_walks(*engine, region, 3);
        return *std::max_element(floor_means.begin(), floor_means.end());
    };
    for (int attempt = 0; attempt < kAttempts && !within; ++attempt) {
        const double before = measure_floor();
        if (before < 0) return;  // no userfaultfd here (start_engine_or_skip said why)
        std::vector<double> walked;
        uint64_t calibrated = 0;
        {
            auto engine = start_engine(cfg);
            if (!engine) return;
            Region region(*engine, 1000);
            walked = timed_walks(*engine, region, 4);
            calibrated = engine->overhead_ns();
        }
        // The floor before and after the walks, as the machine may change its mind in between.
        floor_ns = std::max(before, measure_floor());
        if (floor_ns > 0.75 * expected_ns) {
            WARN("attempt " << attempt + 1 << " inconclusive: a fault with no delay costs " << floor_ns
                            << " ns here now, too close to the " << expected_ns << " ns to check");
            continue;
        }
        measured = true;
        means = walked;
        own = calibrated;
        // The same bounds the checks below assert, so a retry is taken whenever they would fail:
        // every walk (the first-touch walk too, whose own cost calibration measures separately
        // and a jump of the floor can overstate) at least 0.75 x, the best at most 1.25 x.
        const double fastest = *std::min_element(means.begin(), means.end());
        within = std::all_of(means.begin(), means.end(), [&](double m) { return m >= 0.75 * expected_ns; }) &&
                 fastest <= 1.25 * expected_ns;
        if (!within)
            WARN("attempt " << attempt + 1 << " out of bounds: mean ns per access per walk: " << show(means)
                            << "(calibrated own cost per re-fetch " << own << " ns; floor " << floor_ns << " ns)");
    }
    if (!measured) {
        WARN("not checked: this machine's own cost per fault stayed above 0.75 x the target in every attempt");
        return;
    }
    INFO("mean ns per access per walk: " << show(means) << "(expected " << expected_ns << ", floor here " << floor_ns
                                          << "; engine's calibrated own cost per re-fetch: " << own << " ns)");
    for (double m : means) CHECK(m >= 0.75 * expected_ns);
    CHECK(*std::min_element(means.begin(), means.end()) <= 1.25 * expected_ns);
}

TEST_CASE("with no overhead subtracted, no remote access is faster than the fetch cost", "[engine][uffd]") {
    // overhead_ns=0 turns calibration off, so the handler injects the whole fetch cost after it
    // has seen the fault: whatever the machine does, an access cannot take less. Calibration
    // cannot hide a delay that is too short here.
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    const uint64_t latency = GENERATE(uint64_t{5000}, uint64_t{20000});
    auto cfg = test_config();
    cfg.backend = backend;
    cfg.latency_ns = latency;
    cfg.bandwidth_bps = 1000000000ull;  // 1 Gbit/s: transmission (32.8 us) counts too
    cfg.local_npages = 64;
    cfg.overhead_ns = 0;
    auto engine = start_engine(cfg);
    if (!engine) return;
    Region region(*engine, 300);

    const double expected_ns = 2.0 * static_cast<double>(latency) + static_cast<double>(kPage) * 8 * 1e9 / 1e9;
    const auto means = timed_walks(*engine, region, 3);
    INFO("backend=" << backend << " latency_ns=" << latency << ": mean ns per access per walk: " << show(means) << "(fetch cost "
                       << expected_ns << ")");
    for (double m : means) CHECK(m >= 0.99 * expected_ns);
}

// ---------------------------------------------------------------------------------------------
// (a) Nothing lost: threads, kernel-mode accesses and fork() over a region 8x the local pool.

TEST_CASE("nothing is lost under eviction: threads, read()/write() and fork()", "[engine][uffd]") {
    constexpr uint64_t kPool = 256;
    constexpr size_t kPages = 8 * kPool;
    constexpr int kThreads = 4;
    constexpr uint64_t kPasses = 4;
    // Both userfaultfd eviction paths (zero-copy UFFDIO_MOVE, the write-protected copy fallback)
    // and the mprotect backend.
    const std::string variant = GENERATE(as<std::string>{}, "move", "copy", "mprotect");
    const bool use_move = variant == "move";
    INFO("variant " << variant);
    auto cfg = test_config();
    cfg.latency_ns = 1000;
    cfg.local_npages = kPool;
    cfg.uffd_move = use_move;
    if (variant == "mprotect") cfg.backend = "mprotect";
    auto engine = start_engine(cfg);
    if (!engine) return;
    if (variant == "copy") REQUIRE(engine->capabilities().write_protect);
    Region region(*engine, kPages);

    // --- Threads. Each pass: every thread rewrites the pages it owns (page % kThreads) in a
    // random order, checking each still holds the previous pass (zeros before the first);
    // then every thread reads every page in its own random order. Barriers separate the phases.
    // Meanwhile a fifth thread keeps writing a few hot pages of their own, so evictions (FIFO
    // evicts hot pages too) race with writes to the very page being evicted; each write is
    // checked by the next one.
    constexpr size_t kHot = 4;
    Region hot(*engine, kHot);
    {
        std::atomic<bool> stop{false};
        std::string hammer_error;
        uint64_t hammer_writes = 0, hammer_stalls = 0;
        // A write that stalls for half a fetch or more found its page evicted since the write
        // before (a few nanoseconds earlier): the eviction raced with an active writer.
        const auto stall = std::chrono::nanoseconds(cfg.fetch_cost_ns() / 2);
        std::thread hammer([&] {
            // Writes done so far to each hot page; write #k stores k at word k % kWords.
            uint64_t n[kHot] = {};
            while (!stop.load(std::memory_order_relaxed)) {
                for (size_t h = 0; h < kHot; ++h) {
                    auto* words = reinterpret_cast<volatile uint64_t*>(hot.page(h));
                    const auto t0 = std::chrono::steady_clock::now();
                    const uint64_t last = n[h];
                    const uint64_t got = words[last % kWords];
                    if (got != last) {
                        hammer_error = fmt::format("hot page {}: write #{} lost (reads {})", h, last, got);
                        return;
                    }
                    words[(last + 1) % kWords] = last + 1;
                    n[h] = last + 1;
                    ++hammer_writes;
                    if (std::chrono::steady_clock::now() - t0 >= stall) ++hammer_stalls;
                }
            }
        });
        std::barrier sync(kThreads);
        std::vector<std::vector<std::string>> errors(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                std::mt19937_64 rng(0xd1e5eed0ull + static_cast<uint64_t>(t));
                std::vector<size_t> own, all(kPages);
                for (size_t p = 0; p < kPages; ++p) {
                    all[p] = p;
                    if (p % kThreads == static_cast<size_t>(t)) own.push_back(p);
                }
                auto note = [&](std::string line) {
                    if (!line.empty() && errors[t].size() < 5) errors[t].push_back(std::move(line));
                };
                for (uint64_t pass = 0; pass < kPasses; ++pass) {
                    std::shuffle(own.begin(), own.end(), rng);
                    const uint64_t previous = pass == 0 ? kZeroVersion : pass - 1;
                    for (size_t p : own) {
                        note(diagnose(region.page(p), p, previous));
                        make_page(region.page(p), p, pass);
                        note(diagnose(region.page(p), p, pass));
                    }
                    sync.arrive_and_wait();
                    std::shuffle(all.begin(), all.end(), rng);
                    for (size_t p : all) note(diagnose(region.page(p), p, pass));
                    sync.arrive_and_wait();
                }
            });
        }
        for (auto& th : threads) th.join();
        stop.store(true, std::memory_order_relaxed);
        hammer.join();
        std::string all_errors;
        for (int t = 0; t < kThreads; ++t)
            for (const auto& e : errors[t]) all_errors += fmt::format("thread {}: {}\n", t, e);
        INFO(all_errors);
        REQUIRE(all_errors.empty());
        INFO("hot-page writer: " << hammer_writes << " writes, " << hammer_stalls
                                 << " of them stalled on a fetch");
        INFO(hammer_error);
        CHECK(hammer_error.empty());
        CHECK(hammer_stalls > 0);  // otherwise no eviction raced with the writer
    }
    const dime::Totals after_threads = engine->totals();
    CHECK(after_threads.first_touch_faults == kPages + kHot);
    REQUIRE(after_threads.evictions > 0);
    REQUIRE(after_threads.refetch_faults > 0);

    // The test's model of the region from here on.
    std::vector<unsigned char> shadow(kPages * kPage);
    for (size_t p = 0; p < kPages; ++p) make_page(shadow.data() + p * kPage, p, kPasses - 1);

    // --- Kernel-mode accesses: the kernel itself touches evicted pages inside read()/write().
    {
        auto evicted = dime::test::evicted_pages(*engine, region.base, kPages);
        INFO("pages evicted after the threaded phase: " << evicted.size());
        REQUIRE(evicted.size() >= 16);
        int pfd[2];
        REQUIRE(pipe2(pfd, O_CLOEXEC) == 0);
        const int mfd = memfd_create("dime-test", MFD_CLOEXEC);
        REQUIRE(mfd >= 0);
        std::vector<unsigned char> buf(8 * kPage);

        auto pick_evicted = [&] {
            auto now = dime::test::evicted_pages(*engine, region.base, kPages);
            REQUIRE(!now.empty());
            return now[now.size() / 2];
        };

        {  // write() FROM an evicted page into a pipe
            const size_t p = pick_evicted();
            const KernelAccess held(*engine, region.page(p), kPage, false);
            const ssize_t n = write(pfd[1], region.page(p), kPage);
            INFO("write(pipe, evicted page " << p << ") = " << n << " (" << std::strerror(errno) << ")");
            REQUIRE(n == static_cast<ssize_t>(kPage));
            read_full(pfd[0], buf.data(), kPage);
            CHECK(std::memcmp(buf.data(), shadow.data() + p * kPage, kPage) == 0);
        }
        {  // write() FROM a run of four evicted pages into a file, in one call
            const std::vector<bool> ev = dime::test::evicted_map(*engine, region.base, kPages);
            size_t start = kPages;
            for (size_t p = 0; p + 4 <= kPages && start == kPages; ++p)
                if (ev[p] && ev[p + 1] && ev[p + 2] && ev[p + 3]) start = p;
            INFO("no run of four evicted pages found");
            REQUIRE(start < kPages);
            const KernelAccess held(*engine, region.page(start), 4 * kPage, false);
            const ssize_t n = pwrite(mfd, region.page(start), 4 * kPage, 0);
            INFO("pwrite(memfd, evicted pages " << start << ".." << start + 3 << ") = " << n << " ("
                                                << std::strerror(errno) << ")");
            REQUIRE(n == static_cast<ssize_t>(4 * kPage));
            REQUIRE(pread(mfd, buf.data(), 4 * kPage, 0) == static_cast<ssize_t>(4 * kPage));
            CHECK(std::memcmp(buf.data(), shadow.data() + start * kPage, 4 * kPage) == 0);
        }
        {  // read() INTO an evicted page, the whole page, from a file
            const size_t p = pick_evicted();
            make_page(buf.data(), p, 1000);
            REQUIRE(pwrite(mfd, buf.data(), kPage, 0) == static_cast<ssize_t>(kPage));
            const KernelAccess held(*engine, region.page(p), kPage, true);
            const ssize_t n = pread(mfd, region.page(p), kPage, 0);
            INFO("pread(memfd -> evicted page " << p << ") = " << n << " (" << std::strerror(errno) << ")");
            REQUIRE(n == static_cast<ssize_t>(kPage));
            std::memcpy(shadow.data() + p * kPage, buf.data(), kPage);
            CHECK(diagnose(region.page(p), p, 1000).empty());
        }
        {  // read() INTO the middle of an evicted page from a pipe: the rest must be the old data
            const size_t p = pick_evicted();
            make_page(buf.data(), p, 2000);
            REQUIRE(write(pfd[1], buf.data(), 200) == 200);
            const KernelAccess held(*engine, region.page(p) + 1000, 200, true);
            const ssize_t n = read(pfd[0], region.page(p) + 1000, 200);
            INFO("read(pipe -> evicted page " << p << " + 1000, 200) = " << n << " ("
                                              << std::strerror(errno) << ")");
            REQUIRE(n == 200);
            std::memcpy(shadow.data() + p * kPage + 1000, buf.data(), 200);
            CHECK(std::memcmp(region.page(p), shadow.data() + p * kPage, kPage) == 0);
        }
        {  // read() INTO two evicted neighbours at once, straddling their boundary
            const std::vector<bool> ev = dime::test::evicted_map(*engine, region.base, kPages);
            size_t start = kPages;
            for (size_t p = 0; p + 2 <= kPages && start == kPages; ++p)
                if (ev[p] && ev[p + 1]) start = p;
            REQUIRE(start < kPages);
            make_page(buf.data(), start, 3000);
            REQUIRE(pwrite(mfd, buf.data(), 200, 0) == 200);
            unsigned char* at = region.page(start) + kPage - 100;
            const KernelAccess held(*engine, at, 200, true);
            const ssize_t n = pread(mfd, at, 200, 0);
            INFO("pread(memfd -> evicted pages " << start << "/" << start + 1 << ") = " << n << " ("
                                                 << std::strerror(errno) << ")");
            REQUIRE(n == 200);
            std::memcpy(shadow.data() + start * kPage + kPage - 100, buf.data(), 200);
            CHECK(std::memcmp(region.page(start), shadow.data() + start * kPage, 2 * kPage) == 0);
        }
        close(pfd[0]);
        close(pfd[1]);
        close(mfd);

        // Every page, again: this also evicts and re-fetches the pages the kernel touched.
        const auto bad = compare_all(region, shadow);
        INFO(join(bad));
        CHECK(bad.empty());
    }

    // --- fork(): the child checks every page (evicted ones included) against the model as it
    // was at fork time, while the parent rewrites every page; then the parent checks its own.
    {
        const auto evicted = dime::test::evicted_pages(*engine, region.base, kPages);
        INFO("pages evicted at fork: " << evicted.size());
        REQUIRE(!evicted.empty());
        std::fflush(nullptr);
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            alarm(120);  // a hang in the child becomes SIGALRM, which the parent reports
            for (size_t p = 0; p < kPages; ++p) {
                const unsigned char* want = shadow.data() + p * kPage;
                if (std::memcmp(region.page(p), want, kPage) != 0) {
                    size_t off = 0;
                    while (off < kPage && region.page(p)[off] == want[off]) ++off;
                    const bool was_evicted = std::binary_search(evicted.begin(), evicted.end(), p);
                    char msg[200];
                    const int len = std::snprintf(
                        msg, sizeof msg, "fork child: page %zu (%s at fork) differs from byte %zu\n",
                        p, was_evicted ? "evicted" : "resident", off);
                    if (len > 0) (void)!write(2, msg, static_cast<size_t>(len));
                    _exit(1);
                }
            }
            _exit(0);
        }
        for (size_t p = 0; p < kPages; ++p) {
            make_page(region.page(p), p, kPasses);
            make_page(shadow.data() + p * kPage, p, kPasses);
        }
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        INFO("fork child: " << (WIFEXITED(status)
                                    ? fmt::format("exit status {} (1: a page differed)", WEXITSTATUS(status))
                                    : fmt::format("killed by signal {} (14: hung for 120 s)",
                                                  WIFSIGNALED(status) ? WTERMSIG(status) : -1)));
        CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));

        const auto bad = compare_all(region, shadow);
        INFO(join(bad));
        CHECK(bad.empty());
    }

    const dime::Totals end = engine->totals();
    CHECK(end.evictions > after_threads.evictions);
    CHECK(end.refetch_faults > after_threads.refetch_faults);
    // The copy path must really have been taken (and MOVE, when chosen, used throughout
    // until fork shared the pages). The mprotect backend has no fallback.
    if (variant != "copy")
        CHECK(after_threads.eviction_fallbacks == 0);
    else
        CHECK(end.eviction_fallbacks >= end.evictions);
}

// ---------------------------------------------------------------------------------------------
// backend: auto picks userfaultfd where it can be opened, and mprotect where a seccomp filter
// forbids it (deny_uffd.h, as in a container), in a fork child so the filter stays there.

TEST_CASE("backend auto: userfaultfd where it can be opened, mprotect where seccomp forbids it", "[engine][backend]") {
    auto cfg = test_config();
    cfg.backend = "auto";
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;
    cfg.local_npages = 64;
    {
        std::string error;
        auto engine = dime::Engine::start(cfg, &error);
        INFO(error);
        REQUIRE(engine);
        dime::uffd::Capabilities caps;
        const int fd = dime::uffd::open_descriptor(&caps, nullptr);
        if (fd >= 0) close(fd);
        CHECK(std::string(engine->backend_name()) == (fd >= 0 ? "userfaultfd" : "mprotect"));
    }
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(60);
        if (deny_userfaultfd() != 0) _exit(126);
        std::string error;
        auto engine = dime::Engine::start(cfg, &error);
        if (!engine) _exit(2);
        if (std::string(engine->backend_name()) != "mprotect") _exit(3);
        // It emulates: a walk over 4x the pool, written, then read back.
        constexpr size_t kPages = 256;
        auto* base = static_cast<unsigned char*>(engine->map_region(kPages * kPage));
        if (!base) _exit(4);
        for (size_t p = 0; p < kPages; ++p) std::memset(base + p * kPage, int(p & 0xff), kPage);
        for (size_t p = 0; p < kPages; ++p)
            if (base[p * kPage + p % kPage] != (p & 0xff)) _exit(5);
        const dime::Totals t = engine->totals();
        _exit(t.refetch_faults >= kPages && t.evictions > 0 ? 0 : 6);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 126) {
        WARN("SKIPPED: this machine does not let a process install a seccomp filter");
        return;
    }
    INFO("fork child under the filter: exit status " << WEXITSTATUS(status)
                                                     << " (2: no engine, 3: not mprotect, 4: no region, 5: wrong byte, "
                                                        "6: nothing evicted and fetched back)");
    CHECK(WEXITSTATUS(status) == 0);
}
