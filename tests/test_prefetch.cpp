// test_prefetch.cpp — prefetching and access tracking: the prefetcher's window, stride and auto
// logic on hand-made fault sequences (pure), prefetched pages' data and the faults they save,
// nothing lost with prefetch + writes + eviction across threads, dime_prefetch through the
// engine, and the access tracker letting lru2q keep a hot set through a scan. Runs on the test
// thread plus its own worker threads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>

#include "config.h"
#include "engine.h"
#include "engine_support.h"
#include "page_check.h"
#include "prefetcher.h"

namespace {

using dime::Prefetcher;
using dime::test::diagnose;
using dime::test::kPage;
using dime::test::kZeroVersion;
using dime::test::make_page;
using dime::test::Region;

dime::Config quiet_config() {
    dime::Config cfg;
    cfg.summary = false;
    cfg.latency_ns = 0;
    return cfg;
}

std::unique_ptr<dime::Engine> start(const dime::Config& cfg) { return dime::test::start_valid_engine_or_skip(cfg); }

// Repeats `step` until `done` holds, failing after a generous deadline: a wait on the handler's
// idle-time work that has no event to block on.
template <typename Step, typename Done>
void repeat_until(Step step, Done done, const char* what) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done()) {
        INFO("waiting for " << what);
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        step();
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The prefetcher alone.

TEST_CASE("prefetcher: off by default, window N after each fault, +1 when there is no stride", "[prefetch]") {
    Prefetcher off;
    off.configure(0, false, 64, 10);
    CHECK(off.on_fault(100).count == 0);

    Prefetcher pf;
    pf.configure(8, false, 64, 0);
    const auto first = pf.on_fault(100);
    CHECK(first.count == 8);
    CHECK(first.stride == 1);
    // A sequential scan faults right past each window (101..108 were prefetched): +1 goes on.
    for (dime::PageId p = 109; p < 200; p += 9) {
        const auto plan = pf.on_fault(p);
        INFO("fault at " << p);
        CHECK(plan.stride == 1);
        CHECK(plan.count == 8);
    }
    CHECK(pf.probe() == false);  // probe_percent 0: never
}

TEST_CASE("prefetcher: two faults at the same distance set the stride, forward and backward", "[prefetch]") {
    Prefetcher pf;
    pf.configure(4, false, 64, 0);
    CHECK(pf.on_fault(0).stride == 1);
    CHECK(pf.on_fault(16).stride == 1);  // one distance seen: not yet a stride
    CHECK(pf.on_fault(32).stride == 16);
    // The plan fetched 48, 64, 80, 96: the next fault is right past it and keeps the stride.
    CHECK(pf.on_fault(112).stride == 16);
    CHECK(pf.on_fault(112 + 5 * 16).stride == 16);
    // A fault elsewhere in the same stream breaks it.
    CHECK(pf.on_fault(113 + 5 * 16 + 3).stride == 1);

    Prefetcher back;
    back.configure(4, false, 64, 0);
    back.on_fault(5000);
    back.on_fault(4999);
    CHECK(back.on_fault(4998).stride == -1);
    CHECK(back.on_fault(4998 - 5).stride == -1);  // right past 4997..4994
}

TEST_CASE("prefetcher: a window cut to the pool's limit is what the next fault is expected past", "[prefetch]") {
    Prefetcher pf;
    pf.configure(64, false, 64, 0);
    CHECK(pf.on_fault(0, 16).count == 16);
    // 1..16 were fetched: the fault at 17 continues the scan (not a stride of 17).
    for (dime::PageId p = 17; p < 17 * 6; p += 17) CHECK(pf.on_fault(p, 16).stride == 1);
}

TEST_CASE("prefetcher: interleaved streams keep their own strides", "[prefetch]") {
    Prefetcher pf;
    pf.configure(2, false, 64, 0);
    // Stream A at stride 10 from 0, stream B at stride -7 from 1'000'000, faults alternating.
    int64_t a = 0, b = 1000000;
    std::vector<int64_t> a_strides, b_strides;
    for (int i = 0; i < 6; ++i) {
        a_strides.push_back(pf.on_fault(static_cast<dime::PageId>(a)).stride);
        b_strides.push_back(pf.on_fault(static_cast<dime::PageId>(b)).stride);
        // Once a stride is found, the next fault is past the window (2 pages) along it.
        a += a_strides.back() == 10 ? 30 : 10;
        b += b_strides.back() == -7 ? -21 : -7;
    }
    CHECK(a_strides == std::vector<int64_t>{1, 1, 10, 10, 10, 10});
    CHECK(b_strides == std::vector<int64_t>{1, 1, -7, -7, -7, -7});
}

TEST_CASE("prefetcher: auto grows the window while probes hit and shrinks it when they miss", "[prefetch]") {
    Prefetcher pf;
    pf.configure(0, true, 32, 25);
    REQUIRE(pf.enabled());
    CHECK(pf.window() == Prefetcher::kAutoStartWindow);
    // Every 4th prefetched page is a probe at 25 %.
    int probes = 0;
    for (int i = 0; i < 40; ++i) probes += pf.probe();
    CHECK(probes == 10);

    auto feed = [&](int hits, int misses) {
        for (int i = 0; i < hits; ++i) pf.on_probe_result(true);
        for (int i = 0; i < misses; ++i) pf.on_probe_result(false);
    };
    feed(8, 0);
    CHECK(pf.window() == 8);
    feed(7, 1);  // 7/8 >= 0.75
    CHECK(pf.window() == 16);
    feed(8, 0);
    feed(8, 0);
    CHECK(pf.window() == 32);  // capped at max_window
    feed(4, 4);                // 0.5: neither grows nor shrinks
    CHECK(pf.window() == 32);
    feed(2, 6);  // 0.25 < 0.4
    CHECK(pf.window() == 16);
    for (int i = 0; i < 10; ++i) feed(0, 8);
    CHECK(pf.window() == 1);  // never below one page: probes keep measuring
    CHECK(pf.on_fault(77).count == 1);
    CHECK(pf.probe_hits() == 8 + 7 + 8 + 8 + 4 + 2);

    Prefetcher fixed;
    fixed.configure(8, false, 32, 100);
    for (int i = 0; i < 50; ++i) fixed.on_probe_result(false);
    CHECK(fixed.window() == 8);  // a fixed window never adapts
}

TEST_CASE("prefetch setting: a window 0 to 256 or auto, anything else refused naming it", "[prefetch][config]") {
    dime::Config cfg;
    CHECK(cfg.prefetch_window() == 0);
    for (auto [text, want] : {std::pair{"8", 8}, std::pair{"0", 0}, std::pair{"256", 256},
                              std::pair{"auto", dime::Config::kPrefetchAuto}, std::pair{"AUTO", dime::Config::kPrefetchAuto}}) {
        cfg.prefetch = text;
        INFO(text);
        CHECK(cfg.prefetch_window() == want);
        CHECK(dime::validate(cfg).ok);
    }
    for (const char* bad : {"257", "-1", "eight", "", "8 pages", "1000"}) {
        cfg.prefetch = bad;
        INFO(bad);
        const auto r = dime::validate(cfg);
        CHECK_FALSE(r.ok);
        CHECK(r.error.find("prefetch: '") == 0);
    }
    dime::Config opts;
    REQUIRE(dime::apply_options_string(opts, "prefetch=auto prefetch_max_window=32", "DIME_OPTIONS").ok);
    CHECK(opts.prefetch_window() == dime::Config::kPrefetchAuto);
    CHECK(opts.prefetch_max_window == 32);
    CHECK(opts.access_sample_share(true) == 2);  // -1: on only for policies that use accesses
    CHECK(opts.access_sample_share(false) == 0);
}

// ---------------------------------------------------------------------------------------------
// Through the engine.

TEST_CASE("prefetched pages hold the right data and save the faults of a sequential walk", "[engine][uffd][prefetch]") {
    constexpr uint64_t kPool = 64;
    constexpr size_t kPages = 8 * kPool;
    const uint64_t probe_percent = GENERATE(uint64_t(0), uint64_t(25));
    const std::string window = GENERATE(as<std::string>{}, "8", "auto");
    INFO("prefetch=" << window << " prefetch_probe_percent=" << probe_percent);
    auto cfg = quiet_config();
    cfg.local_npages = kPool;
    cfg.prefetch = window;
    cfg.prefetch_probe_percent = probe_percent;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, kPages);

    // Walk 1 writes every page: never-used pages are prefetched as zero pages, then written.
    std::string errors;
    for (size_t p = 0; p < kPages; ++p) {
        const std::string e = diagnose(region.page(p), p, kZeroVersion);
        if (!e.empty() && errors.size() < 400) errors += e + "\n";
        make_page(region.page(p), p, 1);
    }
    INFO(errors);
    REQUIRE(errors.empty());
    const dime::Totals t1 = engine->totals();
    CHECK(t1.prefetched_pages > 0);
    CHECK(t1.first_touch_faults < kPages / 3);  // without prefetch: one fault per page

    // Walk 2 reads them back: they were evicted (8x the pool) and come back with their data.
    for (size_t p = 0; p < kPages; ++p) {
        const std::string e = diagnose(region.page(p), p, 1);
        if (!e.empty() && errors.size() < 400) errors += e + "\n";
    }
    REQUIRE(errors.empty());
    const dime::Totals t2 = engine->totals();
    INFO("walk 2: " << t2.refetch_faults << " re-fetch faults, " << t2.prefetched_pages - t1.prefetched_pages
                    << " pages prefetched, " << t2.hit_faults << " hit faults");
    CHECK(t2.refetch_faults < kPages / 3);
    CHECK(t2.prefetched_pages - t1.prefetched_pages > kPages / 2);
    CHECK(t2.evictions > 0);
    if (probe_percent > 0) {
        // A sequential walk touches every probe: all are hits, none is a miss yet.
        CHECK(t2.prefetch_probes > 0);
        CHECK(t2.prefetch_probe_hits + t2.prefetch_probe_late_hits > 0);
        CHECK(t2.hit_faults >= t2.prefetch_probe_hits);
        CHECK(t2.prefetch_hit_ratio > 0.9);
    } else {
        CHECK(t2.prefetch_probes == 0);
        CHECK(t2.hit_faults == 0);
    }
}

TEST_CASE("prefetch auto through the engine: the window grows on a scan and shrinks on random accesses", "[engine][uffd][prefetch]") {
    constexpr uint64_t kPool = 256;
    constexpr size_t kPages = 16 * kPool;
    auto cfg = quiet_config();
    cfg.local_npages = kPool;
    cfg.prefetch = "auto";
    cfg.prefetch_probe_percent = 50;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, kPages);
    for (size_t p = 0; p < kPages; ++p) region.page(p)[0] = 1;  // a scan: every probe is used
    const dime::Totals scan = engine->totals();
    INFO("after the scan: window " << scan.prefetch_window << ", hit ratio " << scan.prefetch_hit_ratio);
    CHECK(scan.prefetch_window == 64);  // prefetch_max_window (and a quarter of the pool)
    CHECK(scan.prefetch_hit_ratio > 0.9);
    // Random single-page reads: the neighbours a fault brings are almost never touched before
    // they are evicted, so probes miss and the window halves down to one page.
    std::mt19937_64 rng(7);
    unsigned sum = 0;
    for (int i = 0; i < 20000; ++i) sum += static_cast<volatile unsigned char*>(region.page(rng() % kPages))[0];
    CHECK(sum == 20000);
    const dime::Totals random = engine->totals();
    INFO("after random reads: window " << random.prefetch_window << ", probe misses "
                                       << random.prefetch_probe_misses - scan.prefetch_probe_misses);
    CHECK(random.prefetch_window == 1);
    CHECK(random.prefetch_probe_misses - scan.prefetch_probe_misses > 50);
}

TEST_CASE("without prefetch a sequential walk faults on every page (the baseline the above beats)", "[engine][uffd][prefetch]") {
    constexpr uint64_t kPool = 64;
    constexpr size_t kPages = 4 * kPool;
    auto cfg = quiet_config();
    cfg.local_npages = kPool;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, kPages);
    for (size_t p = 0; p < kPages; ++p) make_page(region.page(p), p, 1);
    for (size_t p = 0; p < kPages; ++p) REQUIRE(diagnose(region.page(p), p, 1).empty());
    const dime::Totals t = engine->totals();
    CHECK(t.faults == 2 * kPages);
    CHECK(t.prefetched_pages == 0);
}

namespace {

// Nanoseconds per page of a read walk over an evicted region (after a writing walk), with
// prefetch `window` on a link where transmission dominates: 1 Gbit/s, no latency.
double bandwidth_bound_walk_ns(const char* window) {
    constexpr uint64_t kPool = 64;
    constexpr size_t kPages = 4 * kPool;
    auto cfg = quiet_config();
    cfg.local_npages = kPool;
    cfg.bandwidth_bps = 1000000000ull;  // 32.8 us per page on the wire
    cfg.overhead_ns = 0;
    cfg.prefetch = window;
    cfg.prefetch_probe_percent = 0;
    auto engine = start(cfg);
    if (!engine) return 0;
    Region region(*engine, kPages);
    for (size_t p = 0; p < kPages; ++p) region.page(p)[0] = 1;
    const auto t0 = std::chrono::steady_clock::now();
    unsigned sum = 0;
    for (size_t p = 0; p < kPages; ++p) sum += static_cast<volatile unsigned char*>(region.page(p))[0];
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    CHECK(sum == kPages);
    if (std::string(window) == "0")
        CHECK(engine->totals().prefetched_pages == 0);
    else
        CHECK(engine->totals().prefetched_pages > kPages / 2);
    return ns / kPages;
}

}  // namespace

TEST_CASE("prefetched pages queue for the link: no faster than the wire allows", "[engine][uffd][prefetch][timing]") {
    const double off = bandwidth_bound_walk_ns("0");
    if (off == 0) return;
    const double on = bandwidth_bound_walk_ns("8");
    INFO("ns per page at 1 Gbit/s: " << off << " without prefetch, " << on << " with prefetch=8");
    // Every page still crosses the wire: 32.8 us each, prefetched or not (load can only make it
    // slower). Were prefetches free of transmission, the walk would run about 9 times faster.
    CHECK(off >= 0.8 * 32768);
    CHECK(on >= 0.8 * 32768);
}

TEST_CASE("nothing is lost with prefetch, writes and eviction across 4 threads, 8x the pool", "[engine][uffd][prefetch]") {
    constexpr uint64_t kPool = 128;
    constexpr size_t kPages = 8 * kPool;
    constexpr int kThreads = 4;
    constexpr uint64_t kPasses = 4;
    struct Setup {
        const char* prefetch;
        const char* policy;
        int64_t sample_percent;
        bool move;  // false: the copy fallback evicts, and only prefetch probes are sampled
    };
    const Setup setup = GENERATE(Setup{"8", "fifo", 0, true}, Setup{"auto", "clock", 50, true},
                                 Setup{"16", "lru2q", 20, true}, Setup{"auto", "arc", 50, false});
    INFO("prefetch=" << setup.prefetch << " policy=" << setup.policy << " access_sample_percent=" << setup.sample_percent
                     << " uffd_move=" << setup.move);
    auto cfg = quiet_config();
    cfg.latency_ns = 2000;
    cfg.local_npages = kPool;
    cfg.prefetch = setup.prefetch;
    cfg.policy = setup.policy;
    cfg.prefetch_probe_percent = 25;
    cfg.access_sample_percent = setup.sample_percent;
    cfg.access_sample_interval_ns = 200000;
    cfg.uffd_move = setup.move;
    auto engine = start(cfg);
    if (!engine) return;
    if (!setup.move) REQUIRE(engine->capabilities().write_protect);
    Region region(*engine, kPages);

    // Each pass, each thread rewrites the pages it owns (page % kThreads): in ascending order on
    // even passes (a stride of 4 in each thread, 1 overall: prefetches of one thread bring pages
    // another is about to write), in random order on odd ones; it checks the previous version
    // first. Then every thread reads every page. Barriers separate the phases.
    std::barrier sync(kThreads);
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937_64 rng(0x9e37f00dull + static_cast<uint64_t>(t));
            std::vector<size_t> own, all(kPages);
            for (size_t p = 0; p < kPages; ++p) {
                all[p] = p;
                if (p % kThreads == static_cast<size_t>(t)) own.push_back(p);
            }
            auto note = [&](const std::string& line) {
                if (!line.empty() && errors[t].size() < 600) errors[t] += line + "\n";
            };
            for (uint64_t pass = 0; pass < kPasses; ++pass) {
                if (pass % 2)
                    std::shuffle(own.begin(), own.end(), rng);
                else
                    std::sort(own.begin(), own.end());
                const uint64_t previous = pass == 0 ? kZeroVersion : pass - 1;
                for (size_t p : own) {
                    note(diagnose(region.page(p), p, previous));
                    make_page(region.page(p), p, pass);
                }
                sync.arrive_and_wait();
                if (pass % 2) std::shuffle(all.begin(), all.end(), rng);
                for (size_t p : all) note(diagnose(region.page(p), p, pass));
                sync.arrive_and_wait();
            }
        });
    }
    for (auto& th : threads) th.join();
    std::string all_errors;
    for (int t = 0; t < kThreads; ++t)
        if (!errors[t].empty()) all_errors += fmt::format("thread {}:\n{}", t, errors[t]);
    INFO(all_errors);
    REQUIRE(all_errors.empty());
    // Every byte once more, after the threads are gone.
    for (size_t p = 0; p < kPages; ++p) REQUIRE(diagnose(region.page(p), p, kPasses - 1).empty());
    const dime::Totals t = engine->totals();
    INFO(fmt::format("faults {} evictions {} prefetched {} late hits {} probes {} hit faults {} sampled {}", t.faults,
                     t.evictions, t.prefetched_pages, t.prefetch_late_hits, t.prefetch_probes, t.hit_faults,
                     t.sampled_pages));
    CHECK(t.prefetched_pages > 0);
    CHECK(t.evictions > kPages);
    CHECK(t.resident_pages <= kPool);
}

TEST_CASE("dime_prefetch through the engine: remote pages arrive mapped, no fault on the next touch", "[engine][uffd][prefetch]") {
    constexpr uint64_t kPool = 256;
    constexpr size_t kPages = 2 * kPool;
    auto cfg = quiet_config();
    cfg.latency_ns = 20000;
    cfg.bandwidth_bps = 1000000000000000ull;
    cfg.local_npages = kPool;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, kPages);
    for (size_t p = 0; p < kPages; ++p) make_page(region.page(p), p, 7);
    // The first pages are remote now (FIFO); ask for 32 of them.
    constexpr size_t kHint = 32;
    const dime::Totals before = engine->totals();
    const int started = engine->prefetch_memory(region.page(0), kHint * kPage);
    CHECK(started == static_cast<int>(kHint));
    CHECK(engine->totals().prefetch_hint_pages - before.prefetch_hint_pages == kHint);
    // A second hint for the same pages starts nothing: they are in flight or local already.
    CHECK(engine->prefetch_memory(region.page(0), kHint * kPage) == 0);
    // Touching them now either waits for the rest of their fetch (a late hit) or finds them
    // mapped: never a fault of its own.
    for (size_t p = 0; p < kHint; ++p) REQUIRE(diagnose(region.page(p), p, 7).empty());
    const dime::Totals after = engine->totals();
    CHECK(after.faults == before.faults);
    CHECK(after.prefetch_late_hits - before.prefetch_late_hits <= kHint);
    // Outside emulated memory, and for nothing: 0.
    int on_stack = 0;
    CHECK(engine->prefetch_memory(&on_stack, sizeof on_stack) == 0);
    CHECK(engine->prefetch_memory(region.page(0), 0) == 0);
}

// ---------------------------------------------------------------------------------------------
// Access tracking.

namespace {

// Under lru2q with pool kPool: a hot set is touched, (with tracking) touched again until hit
// faults show its pages were sampled and seen, then a scan 4x the pool passes through, then the
// hot set is touched again. Returns the re-fetch faults of that last touch.
uint64_t hot_set_faults_after_scan(int64_t sample_percent) {
    constexpr uint64_t kPool = 256;
    constexpr size_t kHot = 64, kScan = 4 * kPool;
    auto cfg = quiet_config();
    cfg.local_npages = kPool;
    cfg.policy = "lru2q";
    cfg.evict_batch = 1;
    cfg.access_sample_percent = sample_percent;
    cfg.access_sample_interval_ns = 500000;
    auto engine = start(cfg);
    if (!engine) return UINT64_MAX;
    Region hot(*engine, kHot), scan(*engine, kScan);
    auto touch_hot = [&] {
        for (size_t p = 0; p < kHot; ++p) {
            volatile unsigned char* byte = hot.page(p) + p;
            *byte = static_cast<unsigned char>(*byte + 1);
        }
    };
    touch_hot();
    if (sample_percent > 0) {
        const uint64_t hits0 = engine->totals().hit_faults;
        repeat_until(touch_hot, [&] { return engine->totals().hit_faults - hits0 >= 3 * kHot; },
                     "hit faults on the hot set");
    } else {
        for (int i = 0; i < 1000; ++i) touch_hot();
        CHECK(engine->totals().hit_faults == 0);
        CHECK(engine->totals().sampled_pages == 0);
    }
    for (size_t p = 0; p < kScan; ++p) static_cast<volatile unsigned char*>(scan.page(p))[0] = 1;
    const uint64_t before = engine->totals().refetch_faults;
    touch_hot();
    return engine->totals().refetch_faults - before;
}

}  // namespace

TEST_CASE("access tracking: lru2q keeps a hot set through a scan with sampling on, not with it off", "[engine][uffd][tracking]") {
    const uint64_t with = hot_set_faults_after_scan(100);
    if (with == UINT64_MAX) return;
    const uint64_t without = hot_set_faults_after_scan(0);
    INFO("hot-set re-fetches after the scan: " << with << " with tracking, " << without << " without");
    CHECK(without >= 48);  // of 64: the scan evicted them
    CHECK(with <= 16);     // the sampled hits promoted them to the active list
}

TEST_CASE("access tracking: sampled pages keep their data through hit faults, eviction and writes", "[engine][uffd][tracking]") {
    constexpr uint64_t kPool = 128;
    constexpr size_t kPages = 3 * kPool;
    auto cfg = quiet_config();
    cfg.local_npages = kPool;
    cfg.policy = GENERATE(as<std::string>{}, "clock", "arc");
    cfg.access_sample_percent = 100;
    cfg.access_sample_interval_ns = 100000;
    INFO("policy=" << cfg.policy);
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, kPages);
    std::vector<uint64_t> version(kPages, kZeroVersion);
    std::mt19937_64 rng(42);
    std::string errors;
    const uint64_t sampled0 = engine->totals().sampled_pages;
    // Random reads and rewrites until the tracker has sampled many pages and hits happened.
    repeat_until(
        [&] {
            for (int i = 0; i < 200; ++i) {
                const size_t p = rng() % kPages;
                const std::string e = diagnose(region.page(p), p, version[p]);
                if (!e.empty() && errors.size() < 400) errors += e + "\n";
                if (rng() % 2) make_page(region.page(p), p, version[p] = version[p] == kZeroVersion ? 0 : version[p] + 1);
            }
        },
        [&] {
            const dime::Totals t = engine->totals();
            return t.hit_faults > 200 && t.sampled_pages - sampled0 > 2 * kPool;
        },
        "hit faults");
    INFO(errors);
    REQUIRE(errors.empty());
    for (size_t p = 0; p < kPages; ++p) REQUIRE(diagnose(region.page(p), p, version[p]).empty());
    CHECK(engine->totals().resident_pages <= kPool);
}

TEST_CASE("access tracking: sampled pages keep their data through mremap, mprotect, fork and MADV_DONTNEED", "[engine][uffd][tracking]") {
    constexpr size_t kN = 64;
    auto cfg = quiet_config();
    cfg.local_npages = 1024;  // no eviction: sampled local pages are what is being checked
    cfg.policy = "clock";
    cfg.access_sample_percent = 100;
    cfg.access_sample_interval_ns = 50000;
    auto engine = start(cfg);
    if (!engine) return;
    // Until every page of [base, base + pages) is sampled: out of the page table (mincore) while
    // local (nothing is evicted here). Nothing touches them meanwhile, so they stay that way.
    auto wait_sampled = [&](const unsigned char* base, size_t pages) {
        std::vector<unsigned char> vec(pages);
        repeat_until([] {},
                     [&] {
                         REQUIRE(mincore(const_cast<unsigned char*>(base), pages * kPage, vec.data()) == 0);
                         return std::none_of(vec.begin(), vec.end(), [](unsigned char v) { return v & 1; });
                     },
                     "sampling");
    };
    auto check = [&](const unsigned char* base, size_t pages, uint64_t version) {
        std::string errors;
        for (size_t p = 0; p < pages && errors.size() < 400; ++p) {
            const std::string e = diagnose(base + p * kPage, p, version);
            if (!e.empty()) errors += e + "\n";
        }
        return errors;
    };
    const auto m = engine->map_memory(nullptr, kN * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(m.handled);
    REQUIRE(m.err == 0);
    auto* base = reinterpret_cast<unsigned char*>(m.value);
    const auto t = engine->map_memory(nullptr, kN * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(t.err == 0);
    for (size_t p = 0; p < kN; ++p) make_page(base + p * kPage, p, 1);

    wait_sampled(base, kN);  // mremap moves sampled pages: their data is in the backing span
    const auto moved =
        engine->remap_memory(base, kN * kPage, kN * kPage, MREMAP_MAYMOVE | MREMAP_FIXED, reinterpret_cast<void*>(t.value));
    REQUIRE(moved.handled);
    REQUIRE(moved.err == 0);
    REQUIRE(moved.value == t.value);
    base = reinterpret_cast<unsigned char*>(moved.value);
    CHECK(check(base, kN, 1).empty());

    wait_sampled(base, kN);  // fork brings every page back before the child inherits them
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(check(base, kN, 1).empty() ? 0 : 1);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(check(base, kN, 1).empty());

    wait_sampled(base, kN);  // MADV_DONTNEED drops them: zeros, and the pool forgets them
    const auto dropped = engine->advise_memory(base, kN / 2 * kPage, MADV_DONTNEED);
    REQUIRE(dropped.handled);
    CHECK(check(base, kN / 2, kZeroVersion).empty());

    // The upper half is still sampled: mprotect turns it into plain memory with its contents.
    const auto ro = engine->protect_memory(base, kN * kPage, PROT_READ);
    REQUIRE(ro.handled);
    REQUIRE(ro.err == 0);
    CHECK(check(base, kN / 2, kZeroVersion).empty());
    std::string upper;
    for (size_t p = kN / 2; p < kN; ++p) {
        const std::string e = diagnose(base + p * kPage, p, 1);
        if (!e.empty() && upper.size() < 400) upper += e + "\n";
    }
    CHECK(upper.empty());
    CHECK(engine->totals().resident_pages <= kN / 2);
    CHECK(engine->unmap_memory(base, kN * kPage).err == 0);
}

TEST_CASE("access tracking: sampled pages keep their data through evict_range (dime_evict)", "[engine][uffd][tracking]") {
    // A sampled page (tracked, or a prefetch probe) is local but lives in the backing span only.
    // evict_range once handed it to the MOVE path, which met the occupied backing (EEXIST), took
    // it for a stale copy and dropped it: the page read as zeros afterwards (found by the soak
    // test with prefetch: auto, whose probes are sampled pages).
    constexpr size_t kN = 64;
    auto cfg = quiet_config();
    cfg.local_npages = 1024;  // no eviction but the one under test
    cfg.policy = "clock";
    cfg.access_sample_percent = 100;
    cfg.access_sample_interval_ns = 50000;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, kN);
    for (size_t p = 0; p < kN; ++p) make_page(region.page(p), p, 1);
    std::vector<unsigned char> vec(kN);
    repeat_until([] {},
                 [&] {
                     REQUIRE(mincore(region.base, kN * kPage, vec.data()) == 0);
                     return std::none_of(vec.begin(), vec.end(), [](unsigned char v) { return v & 1; });
                 },
                 "sampling");
    const uint64_t evicted = engine->evict_range(region.base, kN * kPage);
    CHECK(evicted == kN);
    std::string errors;
    for (size_t p = 0; p < kN && errors.size() < 400; ++p) {
        const std::string e = diagnose(region.page(p), p, 1);
        if (!e.empty()) errors += e + "\n";
    }
    INFO(errors);
    CHECK(errors.empty());
}
