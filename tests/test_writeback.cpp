// test_writeback.cpp — read vs write and run-time control of the pool, through the Engine (no
// preload): dirty/clean eviction counts on a worked-out sequence, write-back booked on the link,
// nothing lost when writes race evictions, resizing the pool under load, evicting a range. Runs
// on the test thread plus its own worker threads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
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
#include "engine_support.h"
#include "link_model.h"
#include "stats.h"

namespace {

constexpr size_t kPage = 4096;

dime::Config writeback_config(bool writeback) {
    dime::Config cfg;
    cfg.summary = false;
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;  // no calibration: these tests count, they do not time
    cfg.writeback = writeback;
    return cfg;
}

// An engine with write protection (dirty tracking needs it; the mprotect backend has its own);
// nullptr where userfaultfd is forbidden.
std::unique_ptr<dime::Engine> start(const dime::Config& cfg) {
    const auto valid = dime::validate(cfg);
    INFO(valid.error);
    REQUIRE(valid.ok);
    auto engine = dime::test::start_engine_or_skip(cfg);
    if (engine && cfg.backend != "mprotect") REQUIRE(engine->capabilities().write_protect);
    return engine;
}

// The backends the tests run on: userfaultfd with UFFDIO_MOVE ("move") or with the copy fallback
// ("copy"), and the mprotect backend.
void use_variant(dime::Config& cfg, const std::string& variant) {
    cfg.uffd_move = variant == "move";
    if (variant == "mprotect") cfg.backend = "mprotect";
}

struct Region {
    dime::Engine& engine;
    unsigned char* base;
    size_t pages;
    Region(dime::Engine& e, size_t n) : engine(e), pages(n) {
        base = static_cast<unsigned char*>(e.map_region(n * kPage));
        REQUIRE(base != nullptr);
    }
    ~Region() { engine.unmap_region(base); }
    unsigned char* page(size_t i) const { return base + i * kPage; }
};

// The bytes version `v` of a `len`-byte piece `id` holds: every byte depends on all three, so a
// stale version, a misplaced piece or zeros all differ from it.
void fill(unsigned char* dst, size_t len, uint64_t id, uint64_t v) {
    uint64_t x = (id << 20) ^ (v * 0x9e3779b97f4a7c15ull) ^ 0x5bd1e995;
    for (size_t i = 0; i < len; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        dst[i] = static_cast<unsigned char>(x);
    }
}

bool holds(const unsigned char* got, size_t len, uint64_t id, uint64_t v) {
    unsigned char want[kPage];
    fill(want, len, id, v);
    return std::memcmp(got, want, len) == 0;
}

// Pages of [base, base + n pages) local right now, per the kernel (see evicted_map).
size_t resident(const dime::Engine& e, const unsigned char* base, size_t n) {
    return dime::test::local_pages_in(e, base, n);
}

struct Delta {
    uint64_t refetch, evictions, dirty, clean, first_writes, fallbacks, wb_bytes, wb_ns;
};
Delta delta(const dime::Totals& a, const dime::Totals& b) {
    return {b.refetch_faults - a.refetch_faults,   b.evictions - a.evictions,
            b.dirty_evictions - a.dirty_evictions, b.clean_evictions - a.clean_evictions,
            b.first_write_faults - a.first_write_faults, b.eviction_fallbacks - a.eviction_fallbacks,
            b.writeback_bytes - a.writeback_bytes, b.writeback_ns - a.writeback_ns};
}

}  // namespace

TEST_CASE("LinkModel: a write-back occupies the link for one transmission, and fetches queue behind it",
          "[writeback]") {
    dime::LinkModel link;
    link.configure(/*latency_ns=*/1000, /*bandwidth_bps=*/1000000000, kPage);  // transmission 32768 ns
    dime::LinkModel idle = link;
    CHECK(idle.book_fetch(0) == 34768);  // 2 x 1000 + 32768 on an idle link
    CHECK(link.book_writeback(0) == 32768);
    // The request reaches the blade at 1000, the page waits for the write-back until 32768.
    CHECK(link.book_fetch(0) == 32768 + 32768 + 1000);
    // A write-back booked while the link is busy starts when it frees.
    CHECK(link.book_writeback(40000) == 32768);
    CHECK(link.book_fetch(40000) == 65536 + 32768 + 32768 + 1000);
}

// The sequence, FIFO, evict_batch 1 (the pool exactly full), N = 256 pages, pool P = 64:
//   1 write all:          N first touches, N-P evictions, all dirty (the blade has no copy yet)
//   2 read all:           N re-fetches; the first P victims are phase 1's last (dirty), N-P clean
//   3 read all:           N re-fetches, N clean evictions
//   4 write all:          N re-fetches (written at once: mapped writable), P clean victims left by
//                         phase 3, then N-P dirty; no first-write fault
//   5 read, then write:   N re-fetches, N first-write faults, N dirty evictions
TEST_CASE("writeback: dirty and clean evictions are counted exactly on a worked-out sequence",
          "[writeback][engine][uffd]") {
    const bool writeback = GENERATE(true, false);
    const std::string variant = GENERATE(as<std::string>{}, "move", "copy", "mprotect");
    INFO("writeback=" << writeback << " variant " << variant);
    constexpr uint64_t kN = 256, kP = 64;
    auto cfg = writeback_config(writeback);
    cfg.local_npages = kP;
    cfg.evict_batch = 1;
    use_variant(cfg, variant);
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, kN);
    const uint64_t tx = (kPage * 8 * 1000000000ull + cfg.bandwidth_bps / 2) / cfg.bandwidth_bps;

    size_t bad = 0;
    auto write_all = [&](uint64_t v) {
        for (size_t p = 0; p < kN; ++p) fill(region.page(p), kPage, p, v);
    };
    auto read_all = [&](uint64_t v) {
        for (size_t p = 0; p < kN; ++p) bad += !holds(region.page(p), kPage, p, v);
    };
    // Expected deltas {refetch, evictions, dirty, clean, first-write faults}; without writeback
    // nothing is tracked and the last three stay 0.
    auto expect = [&](const Delta& d, uint64_t refetch, uint64_t evictions, uint64_t dirty, uint64_t clean,
                      uint64_t first_writes) {
        CHECK(d.refetch == refetch);
        CHECK(d.evictions == evictions);
        CHECK(d.dirty == (writeback ? dirty : 0));
        CHECK(d.clean == (writeback ? clean : 0));
        CHECK(d.first_writes == (writeback ? first_writes : 0));
        CHECK(d.wb_bytes == d.dirty * kPage);
        CHECK(d.wb_ns == d.dirty * tx);
        // A clean eviction moves no data: without MOVE only the dirty ones take the copy fallback.
        if (variant == "copy") CHECK(d.fallbacks == evictions - d.clean);
        if (variant == "mprotect") CHECK(d.fallbacks == 0);
    };

    dime::Totals t0 = engine->totals();
    write_all(1);
    dime::Totals t1 = engine->totals();
    CHECK(t1.first_touch_faults - t0.first_touch_faults == kN);
    {
        INFO("phase 1: write all");
        expect(delta(t0, t1), 0, kN - kP, kN - kP, 0, 0);
    }
    read_all(1);
    dime::Totals t2 = engine->totals();
    {
        INFO("phase 2: read all");
        expect(delta(t1, t2), kN, kN, kP, kN - kP, 0);
    }
    read_all(1);
    dime::Totals t3 = engine->totals();
    {
        INFO("phase 3: read all again");
        expect(delta(t2, t3), kN, kN, 0, kN, 0);
    }
    write_all(2);
    dime::Totals t4 = engine->totals();
    {
        INFO("phase 4: write all");
        expect(delta(t3, t4), kN, kN, kN - kP, kP, 0);
    }
    for (size_t p = 0; p < kN; ++p) {
        bad += !holds(region.page(p), kPage, p, 2);
        fill(region.page(p), kPage, p, 3);
    }
    dime::Totals t5 = engine->totals();
    {
        INFO("phase 5: read, then write each page");
        expect(delta(t4, t5), kN, kN, kN, 0, kN);
    }
    read_all(3);
    CHECK(bad == 0);
}

TEST_CASE("writeback: the write-back of dirty pages is booked on the link (loose bound)", "[writeback][engine][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    // 100 Mbit/s: one page's transmission (328 us) dominates the fetch (330 us) and DiME's own
    // cost per fault (10-50 us on a loaded machine) hardly counts. Every fault of a
    // writing walk over 4 x the pool evicts one dirty page, whose write-back the next fetch waits
    // for: about 2 transmissions per access, where a fetch alone costs one. Load only slows the
    // walk, so the lower bound holds on a busy machine; without the booking it is ~1 x.
    auto cfg = writeback_config(true);
    cfg.latency_ns = 1000;
    cfg.bandwidth_bps = 100000000ull;
    cfg.local_npages = 32;
    cfg.evict_batch = 1;
    cfg.backend = backend;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, 128);
    for (size_t p = 0; p < region.pages; ++p) region.page(p)[0] = 1;  // first touches

    const double fetch_ns = static_cast<double>(cfg.fetch_cost_ns());
    std::vector<double> means;
    const dime::Totals before = engine->totals();
    for (int walk = 0; walk < 3; ++walk) {
        const auto t0 = std::chrono::steady_clock::now();
        for (size_t p = 0; p < region.pages; ++p) region.page(p)[1] = static_cast<unsigned char>(walk);
        const auto t1 = std::chrono::steady_clock::now();
        means.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / double(region.pages));
    }
    const dime::Totals after = engine->totals();
    INFO(fmt::format("mean ns per access per walk: {:.0f} {:.0f} {:.0f} (fetch alone {:.0f})", means[0], means[1],
                     means[2], fetch_ns));
    REQUIRE(after.refetch_faults - before.refetch_faults == 3 * region.pages);
    CHECK(after.dirty_evictions - before.dirty_evictions == 3 * region.pages);
    CHECK(after.writeback_ns - before.writeback_ns == 3 * region.pages * 327680);
    for (double m : means) CHECK(m >= 1.5 * fetch_ns);
}

namespace {

// Four threads share every page of a region several times the pool: page p is four 1 KiB slots,
// slot t belongs to thread t, which alone writes it. Each step a thread picks a page, reads the
// whole page (a read fault maps it clean), checks its own slot, then rewrites that slot (the
// first write to a clean page) — while the other threads' faults evict, dropping clean pages.
// Returns lines about lost or corrupt slots; every byte of every slot is checked at the end.
constexpr int kThreads = 4;
constexpr size_t kSlot = kPage / kThreads;

struct SharedPages {
    Region& region;
    std::vector<std::vector<uint64_t>> version;  // [thread][page]: the version its slot holds
    explicit SharedPages(Region& r) : region(r), version(kThreads, std::vector<uint64_t>(r.pages, 0)) {}
    unsigned char* slot(size_t page, int t) const { return region.page(page) + size_t(t) * kSlot; }
    // What a wrong slot holds instead: zeros, an older version of itself, or something else.
    static std::string what_holds(const unsigned char* got, uint64_t slot_id, uint64_t expected) {
        if (std::all_of(got, got + kSlot, [](unsigned char c) { return c == 0; })) return "reads zeros";
        for (uint64_t older = 1; older < expected; ++older)
            if (holds(got, kSlot, slot_id, older)) return fmt::format("holds the older version {}", older);
        return "holds something else";
    }
    uint64_t id(size_t page, int t) const { return page * kThreads + size_t(t); }

    // One worker: `steps` read-check-write steps on random pages. Thread-safe per t.
    std::string work(int t, size_t steps, uint64_t seed) {
        std::mt19937_64 rng(seed);
        unsigned char copy[kPage];
        for (size_t s = 0; s < steps; ++s) {
            const size_t p = rng() % region.pages;
            std::memcpy(copy, region.page(p), kPage);  // the whole page: a read fault if remote
            const uint64_t v = version[t][p];
            if (v != 0 && !holds(copy + size_t(t) * kSlot, kSlot, id(p, t), v))
                return fmt::format("thread {}: page {} slot lost version {}: {}", t, p, v,
                                   what_holds(copy + size_t(t) * kSlot, id(p, t), v));
            fill(slot(p, t), kSlot, id(p, t), v + 1);
            version[t][p] = v + 1;
        }
        return {};
    }
    std::vector<std::string> check_all() const {
        std::vector<std::string> bad;
        for (size_t p = 0; p < region.pages; ++p)
            for (int t = 0; t < kThreads; ++t) {
                const uint64_t v = version[t][p];
                const bool ok = v == 0 ? std::all_of(slot(p, t), slot(p, t) + kSlot, [](unsigned char c) { return c == 0; })
                                       : holds(slot(p, t), kSlot, id(p, t), v);
                if (!ok && bad.size() < 5) bad.push_back(fmt::format("page {} slot {}: not version {}", p, t, v));
            }
        return bad;
    }
};

// Steps per worker are divided by this in a sanitizer build (tests/CMakeLists.txt): the race
// needs many steps in a Release build, but ThreadSanitizer makes each one 10-50x slower, and the
// checks that the race really happened (clean and dirty evictions, first writes) still hold.
#ifdef DIME_SANITIZED_BUILD
constexpr size_t kStepDivisor = 10;
#else
constexpr size_t kStepDivisor = 1;
#endif

std::string run_workers(SharedPages& shared, size_t steps) {
    steps = std::max<size_t>(steps / kStepDivisor, 1);
    std::vector<std::string> errors(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] { errors[t] = shared.work(t, steps, 0xdeed0000ull + uint64_t(t)); });
    for (auto& th : threads) th.join();
    std::string all;
    for (const auto& e : errors)
        if (!e.empty()) all += e + "\n";
    return all;
}

}  // namespace

TEST_CASE("writeback: nothing is lost when writes race evictions across 4 threads", "[writeback][engine][uffd]") {
    const std::string variant = GENERATE(as<std::string>{}, "move", "copy", "mprotect");
    const uint64_t batch = GENERATE(uint64_t(1), uint64_t(16));
    INFO("variant " << variant << " evict_batch=" << batch);
    auto cfg = writeback_config(true);
    cfg.latency_ns = 1000;
    cfg.local_npages = 64;
    cfg.evict_batch = batch;
    use_variant(cfg, variant);
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, 6 * 64);
    SharedPages shared(region);

    const std::string errors = run_workers(shared, 3000);
    INFO(errors);
    CHECK(errors.empty());
    const auto bad = shared.check_all();
    INFO((bad.empty() ? std::string() : bad.front()));
    CHECK(bad.empty());
    const dime::Totals t = engine->totals();
    INFO("dirty " << t.dirty_evictions << ", clean " << t.clean_evictions << ", first writes "
                  << t.first_write_faults);
    // Otherwise the race under test did not happen.
    CHECK(t.clean_evictions > 0);
    CHECK(t.dirty_evictions > 0);
    CHECK(t.first_write_faults > 0);
    CHECK(t.dirty_evictions + t.clean_evictions == t.evictions);
}

TEST_CASE("set_local_pages: resizing the pool up and down under load loses nothing and a shrink holds",
          "[writeback][engine][uffd]") {
#ifdef DIME_SANITIZED_BUILD
    // Under a sanitizer one backend and one policy: the resizer's tight loop against four workers
    // took over ten minutes for the twenty combinations under ThreadSanitizer; what it checks
    // there is the handler's synchronisation, which every combination shares.
    const std::string backend = "userfaultfd";
    const bool writeback = GENERATE(false, true);
    const std::string policy = "fifo";
#else
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    const bool writeback = GENERATE(false, true);
    // Every built-in policy hears the capacity change (on_capacity) and must keep naming victims.
    const std::string policy = GENERATE(as<std::string>{}, "fifo", "random", "clock", "lru2q", "arc");
#endif
    INFO("backend=" << backend << " writeback=" << writeback << " policy=" << policy);
    auto cfg = writeback_config(writeback);
    cfg.backend = backend;
    cfg.policy = policy;
    cfg.latency_ns = 1000;
    cfg.local_npages = 256;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, 512);
    SharedPages shared(region);

    std::atomic<bool> done{false};
    std::atomic<uint64_t> resizes{0};
    uint64_t violations = 0, worst = 0, refused = 0, last = 0;
    std::thread resizer([&] {
        const uint64_t sizes[] = {16, 300, 24, 600, 40, 128, 17};
        for (size_t i = 0; !done.load(std::memory_order_relaxed); ++i) {
            const uint64_t n = sizes[i % std::size(sizes)];
            if (!engine->set_local_pages(n)) ++refused;
            ++resizes;
            last = n;
            // No thread but this one changes the capacity, so it holds from the return on.
            const uint64_t now = engine->totals().resident_pages;
            if (now > n) {
                ++violations;
                worst = std::max(worst, now - n);
            }
        }
    });
    std::string errors = run_workers(shared, 4000);
    // On a loaded machine the workers can finish before the resizer got going: go on until the
    // pool was resized under them often enough.
    while (resizes.load() <= 10 && errors.empty()) errors = run_workers(shared, 500);
    done.store(true);
    resizer.join();
    INFO(errors);
    CHECK(errors.empty());
    const auto bad = shared.check_all();
    INFO((bad.empty() ? std::string() : bad.front()));
    CHECK(bad.empty());
    INFO(resizes.load() << " resizes, " << violations << " left the pool above capacity (worst by " << worst << ")");
    CHECK(resizes > 10);
    CHECK(refused == 0);
    CHECK(violations == 0);
    CHECK(engine->local_pages() == last);

    // Bounds: 0 and more than local_npages allows are refused, and change nothing.
    const uint64_t cap = engine->local_pages();
    CHECK_FALSE(engine->set_local_pages(0));
    CHECK_FALSE(engine->set_local_pages((1ull << 34) + 1));
    CHECK(engine->local_pages() == cap);
    // A shrink with nothing else running leaves exactly what fits (evict_batch caps at cap/32).
    REQUIRE(engine->set_local_pages(32));
    CHECK(engine->totals().resident_pages <= 32);
    CHECK(resident(*engine, region.base, region.pages) <= 32);
}

TEST_CASE("evict_range: every local page of the range leaves at once, and comes back intact on the next touch",
          "[writeback][engine][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    const bool writeback = GENERATE(false, true);
    INFO("backend=" << backend << " writeback=" << writeback);
    auto cfg = writeback_config(writeback);
    cfg.backend = backend;
    cfg.local_npages = 256;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, 128);
    for (size_t p = 0; p < region.pages; ++p) fill(region.page(p), kPage, p, 1);
    REQUIRE(resident(*engine, region.base, region.pages) == region.pages);

    // Pages 10..49: all local, all written.
    dime::Totals t0 = engine->totals();
    CHECK(engine->evict_range(region.page(10), 40 * kPage) == 40);
    dime::Totals t1 = engine->totals();
    CHECK(resident(*engine, region.page(10), 40) == 0);
    CHECK(resident(*engine, region.base, region.pages) == region.pages - 40);
    CHECK(t1.evictions - t0.evictions == 40);
    CHECK(t1.dirty_evictions - t0.dirty_evictions == (writeback ? 40 : 0));
    CHECK(t1.resident_pages == t0.resident_pages - 40);

    // Reading them back: one re-fetch each, data intact; evicting again: clean now.
    size_t bad = 0;
    for (size_t p = 10; p < 50; ++p) bad += !holds(region.page(p), kPage, p, 1);
    dime::Totals t2 = engine->totals();
    CHECK(bad == 0);
    CHECK(t2.refetch_faults - t1.refetch_faults == 40);
    CHECK(engine->evict_range(region.page(10), 40 * kPage) == 40);
    dime::Totals t3 = engine->totals();
    CHECK(t3.clean_evictions - t2.clean_evictions == (writeback ? 40 : 0));

    // Evicting remote pages does nothing; an unaligned range covers every page it touches; a
    // range reaching outside emulated memory is clipped; an empty one does nothing.
    CHECK(engine->evict_range(region.page(10), 40 * kPage) == 0);
    CHECK(engine->evict_range(region.page(60) + 100, kPage) == 2);
    CHECK(resident(*engine, region.page(60), 2) == 0);
    CHECK(engine->evict_range(region.page(70), 0) == 0);
    CHECK(engine->evict_range(region.page(100), SIZE_MAX) == 28);  // pages 100..127
    int on_stack = 0;
    CHECK(engine->evict_range(&on_stack, sizeof on_stack) == 0);
    // Everything comes back, written since or not.
    for (size_t p = 0; p < region.pages; ++p) bad += !holds(region.page(p), kPage, p, 1);
    CHECK(bad == 0);
}

TEST_CASE("writeback: calibration does not mistake write-back queueing for DiME's own cost", "[writeback][engine][uffd]") {
    // At 100 Mbit/s a write-back holds the link 328 us; calibration's walks write every page, so
    // each of their fetches would queue behind one, and the queueing would be taken for DiME's
    // own cost and subtracted from every later fault: >= 328 us. DiME's real cost after a sleep
    // that long was 20-75 us on the loaded 2-core test machine.
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto cfg = writeback_config(true);
    cfg.backend = backend;
    cfg.overhead_ns = -1;  // calibrate
    cfg.latency_ns = 1000;
    cfg.bandwidth_bps = 100000000ull;
    auto engine = start(cfg);
    if (!engine) return;
    INFO("calibrated own cost per re-fetch: " << engine->overhead_ns() << " ns");
    CHECK(engine->overhead_ns() < 200000);
}

TEST_CASE("writeback: a write by the kernel (read() into a clean page) takes the WP fault and is not lost",
          "[writeback][engine][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    constexpr size_t kN = 256, kP = 64;
    auto cfg = writeback_config(true);
    cfg.backend = backend;
    cfg.local_npages = kP;
    cfg.evict_batch = 1;
    auto engine = start(cfg);
    if (!engine) return;
    Region region(*engine, kN);
    for (size_t p = 0; p < kN; ++p) fill(region.page(p), kPage, p, 1);
    size_t bad = 0;
    for (size_t p = 0; p < kN; ++p) bad += !holds(region.page(p), kPage, p, 1);  // the last kP are clean now
    REQUIRE(bad == 0);

    // read() from a pipe into a clean local page: the kernel's write takes the WP fault.
    const size_t target = kN - 1;
    REQUIRE(resident(*engine, region.page(target), 1) == 1);
    const dime::Totals before = engine->totals();
    int pfd[2];
    REQUIRE(pipe2(pfd, O_CLOEXEC) == 0);
    unsigned char buf[kPage];
    fill(buf, kPage, target, 2);
    REQUIRE(write(pfd[1], buf, kPage) == static_cast<ssize_t>(kPage));
    {
        const dime::test::KernelAccess held(*engine, region.page(target), kPage, /*write=*/true);
        REQUIRE(read(pfd[0], region.page(target), kPage) == static_cast<ssize_t>(kPage));
    }
    close(pfd[0]);
    close(pfd[1]);
    CHECK(engine->totals().first_write_faults - before.first_write_faults == 1);
    // Evict it (dirty now, so it is sent, not dropped) and read it back.
    CHECK(engine->evict_range(region.page(target), kPage) == 1);
    CHECK(holds(region.page(target), kPage, target, 2));

}

TEST_CASE("writeback: a fork child's writes to pages clean in the parent are not lost", "[writeback][engine][uffd]") {
    // A fork child inherits the parent's clean pages without their write protection (its
    // registration is new): it must treat them as dirty, or its writes would be dropped with them.
    // 32 pages, all clean and local at the fork, and nothing else: the child keeps them all local.
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto cfg = writeback_config(true);
    cfg.backend = backend;
    cfg.local_npages = 64;
    auto engine = start(cfg);
    if (!engine) return;
    size_t bad = 0;
    Region small(*engine, 32);
    for (size_t p = 0; p < small.pages; ++p) fill(small.page(p), kPage, 1000 + p, 1);
    REQUIRE(engine->evict_range(small.base, small.pages * kPage) == small.pages);
    for (size_t p = 0; p < small.pages; ++p) bad += !holds(small.page(p), kPage, 1000 + p, 1);
    REQUIRE(bad == 0);
    std::fflush(nullptr);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(120);
        // Write every page (no fault: unprotected here), evict them all, read them back.
        for (size_t p = 0; p < small.pages; ++p) fill(small.page(p), kPage, 1000 + p, 2);
        if (engine->evict_range(small.base, small.pages * kPage) != small.pages) _exit(2);
        for (size_t p = 0; p < small.pages; ++p)
            if (!holds(small.page(p), kPage, 1000 + p, 2)) {
                char msg[100];
                const int len = std::snprintf(msg, sizeof msg, "fork child: page %zu lost its write\n", p);
                if (len > 0) (void)!write(2, msg, static_cast<size_t>(len));
                _exit(1);
            }
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    INFO("fork child: exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
                                    << " (1: a write lost, 2: evict_range did not evict every page)");
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    for (size_t p = 0; p < small.pages; ++p) bad += !holds(small.page(p), kPage, 1000 + p, 1);
    CHECK(bad == 0);
}
