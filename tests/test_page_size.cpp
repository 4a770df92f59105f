// test_page_size.cpp — units larger than the kernel's page (page_size 64 KiB and 2 MiB), driven
// through the Engine API without preload: a fault anywhere in a unit fetches the whole unit
// (faults = units touched, every byte checked after eviction), the delay per fault includes the
// unit's transmission, and munmap/madvise/mprotect of part of a unit keep the rest of it intact.
// Runs on the test thread.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <sys/mman.h>

#include "config.h"
#include "engine.h"
#include "engine_support.h"

namespace {

constexpr size_t kKernelPage = 4096;

dime::Config unit_config(size_t unit, uint64_t pool_units, const std::string& backend = "userfaultfd") {
    dime::Config cfg;
    cfg.backend = backend;
    cfg.summary = false;
    cfg.page_size = unit;
    cfg.local_npages = pool_units;
    cfg.evict_batch = 1;  // the pool stays exactly full: eviction counts are exact
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;
    cfg.heap_bytes = 64ull << 20;
    const auto valid = dime::validate(cfg);
    INFO("test configuration rejected: " << valid.error);
    REQUIRE(valid.ok);
    return cfg;
}

uint64_t word(uint64_t tag, size_t index) {
    uint64_t x = tag * 0x9e3779b97f4a7c15ull + index;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}

// The first 8-byte word of [base + from, base + to) that does not hold word(tag, i) (tag 0:
// zero), as a byte offset from base; `to` if all do.
size_t first_wrong(const unsigned char* base, size_t from, size_t to, uint64_t tag) {
    const auto* w = reinterpret_cast<const uint64_t*>(base);
    for (size_t i = from / 8; i < to / 8; ++i)
        if (w[i] != (tag ? word(tag, i) : 0)) return i * 8;
    return to;
}

void fill(unsigned char* base, size_t from, size_t to, uint64_t tag) {
    auto* w = reinterpret_cast<uint64_t*>(base);
    for (size_t i = from / 8; i < to / 8; ++i) w[i] = word(tag, i);
}

}  // namespace

TEST_CASE("large units: one fault per unit touched, every byte intact after eviction", "[engine][uffd][page_size]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    const size_t unit = GENERATE(size_t(64) << 10, size_t(2) << 20);
    const size_t units = unit == (size_t(2) << 20) ? 12 : 64;
    const uint64_t pool = units / 4;
    INFO("backend " << backend << ", page_size " << unit << ", " << units << " units, pool " << pool);
    auto engine = dime::test::start_engine_or_skip(unit_config(unit, pool, backend));
    if (!engine) return;
    auto* base = static_cast<unsigned char*>(engine->map_region(units * unit));
    REQUIRE(base != nullptr);
    REQUIRE(reinterpret_cast<uintptr_t>(base) % unit == 0);  // units are aligned to themselves

    // Walk 1: the first touch of each unit is a read in its last kernel page, the rest of the unit
    // is then written whole. One fault per unit: the first touch mapped all of it.
    for (size_t u = 0; u < units; ++u) {
        volatile unsigned char probe = base[u * unit + unit - kKernelPage];
        (void)probe;
        const dime::Totals t = engine->totals();
        INFO("unit " << u);
        REQUIRE(t.faults == u + 1);
        fill(base, u * unit, (u + 1) * unit, 1);
    }
    dime::Totals t1 = engine->totals();
    CHECK(t1.faults == units);
    CHECK(t1.first_touch_faults == units);
    CHECK(t1.evictions == units - pool);
    CHECK(t1.resident_pages == pool);

    // Walk 2: FIFO evicted every unit before the walk returns to it; each is fetched back whole
    // (one re-fetch per unit) with every byte as written.
    for (size_t u = 0; u < units; ++u) {
        const size_t wrong = first_wrong(base, u * unit, (u + 1) * unit, 1);
        INFO("unit " << u << ": first wrong byte offset " << wrong);
        REQUIRE(wrong == (u + 1) * unit);
    }
    const dime::Totals t2 = engine->totals();
    CHECK(t2.refetch_faults == units);
    CHECK(t2.faults == 2 * units);
    CHECK(t2.evictions == 2 * units - pool);
    engine->unmap_region(base);
}

TEST_CASE("large units: the delay per fault includes the unit's transmission", "[engine][uffd][page_size]") {
    // overhead_ns=0: the whole fetch cost is injected after the fault is seen, so no access can
    // take less. At 10 Gbit/s a 2 MiB unit takes 1.68 ms on the link, 4 KiB 3.3 us.
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend " << backend);
    constexpr size_t kUnit = size_t(2) << 20;
    auto cfg = unit_config(kUnit, 2, backend);
    cfg.latency_ns = 1000;
    cfg.bandwidth_bps = 10000000000ull;
    auto engine = dime::test::start_engine_or_skip(cfg);
    if (!engine) return;
    constexpr size_t kUnits = 8;
    auto* base = static_cast<unsigned char*>(engine->map_region(kUnits * kUnit));
    REQUIRE(base != nullptr);

    const uint64_t cost = 2 * 1000 + uint64_t(std::llround(double(kUnit) * 8 * 1e9 / 1e10));
    REQUIRE(cfg.fetch_cost_ns() == cost);
    const auto t0 = std::chrono::steady_clock::now();
    for (int walk = 0; walk < 2; ++walk)
        for (size_t u = 0; u < kUnits; ++u) base[u * kUnit + (u * 8192) % kUnit] = static_cast<unsigned char>(walk + 1);
    const double elapsed = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    const dime::Totals t = engine->totals();
    REQUIRE(t.faults == 2 * kUnits);
    // One thread, one fault at a time: no fetch queues behind another, each is booked at the cost.
    CHECK(t.injected_delay_ns == t.faults * cost);
    const double mean = elapsed / double(t.faults);
    INFO("mean ns per fault " << mean << ", fetch cost " << cost);
    CHECK(mean >= 0.99 * double(cost));
    CHECK(mean <= 10.0 * double(cost));  // loose: a 2 MiB copy is far cheaper than 17 ms
    engine->unmap_region(base);
}

TEST_CASE("large units: munmap, madvise and mprotect of part of a unit keep the rest", "[engine][uffd][page_size]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend " << backend);
    constexpr size_t kUnit = size_t(64) << 10;
    auto engine = dime::test::start_engine_or_skip(unit_config(kUnit, 2, backend));
    if (!engine) return;
    constexpr int kRW = PROT_READ | PROT_WRITE, kAnon = MAP_PRIVATE | MAP_ANONYMOUS;
    const size_t used_before = engine->span_usage().used_bytes;

    // A mapping whose length is not a multiple of the unit: its munmap frees the rounded-up unit.
    const auto odd = engine->map_memory(nullptr, 100 << 10, kRW, kAnon, -1, 0);
    REQUIRE((odd.handled && odd.err == 0));
    CHECK(odd.value % kUnit == 0);
    CHECK(engine->span_usage().used_bytes == used_before + 2 * kUnit);
    std::memset(reinterpret_cast<void*>(odd.value), 7, 100 << 10);
    REQUIRE(engine->unmap_memory(reinterpret_cast<void*>(odd.value), 100 << 10).err == 0);
    CHECK(engine->span_usage().used_bytes == used_before);
    CHECK(engine->span_usage().detaches == 0);

    // Eight units, filled, then most of them evicted (pool of two).
    constexpr size_t kUnits = 8, kLen = kUnits * kUnit;
    const auto m = engine->map_memory(nullptr, kLen, kRW, kAnon, -1, 0);
    REQUIRE((m.handled && m.err == 0));
    auto* base = reinterpret_cast<unsigned char*>(m.value);
    fill(base, 0, kLen, 3);
    REQUIRE(engine->totals().evictions >= kUnits - 2);

    // MADV_DONTNEED of one kernel page inside unit 1: that page reads zero, the rest of the unit
    // keeps its data (the unit became plain memory: one detach).
    const size_t dontneed = 1 * kUnit + 3 * kKernelPage;
    REQUIRE(engine->advise_memory(base + dontneed, kKernelPage, MADV_DONTNEED).err == 0);
    CHECK(first_wrong(base, dontneed, dontneed + kKernelPage, 0) == dontneed + kKernelPage);
    CHECK(first_wrong(base, 1 * kUnit, dontneed, 3) == dontneed);
    CHECK(first_wrong(base, dontneed + kKernelPage, 2 * kUnit, 3) == 2 * kUnit);
    CHECK(engine->span_usage().detaches == 1);

    // munmap of the second half of unit 4 and the first half of unit 5: both halves that stay
    // keep their data; the whole units around are untouched.
    const size_t cut = 4 * kUnit + kUnit / 2;
    REQUIRE(engine->unmap_memory(base + cut, kUnit).err == 0);
    CHECK(first_wrong(base, 4 * kUnit, cut, 3) == cut);
    CHECK(first_wrong(base, cut + kUnit, kLen, 3) == kLen);

    // mprotect of one kernel page of unit 7 read-only: the unit keeps its data, reads still work.
    REQUIRE(engine->protect_memory(base + 7 * kUnit, kKernelPage, PROT_READ).err == 0);
    CHECK(first_wrong(base, 6 * kUnit, kLen, 3) == kLen);

    // Everything else still evicts and comes back whole: walk the emulated units twice.
    for (int pass = 0; pass < 2; ++pass) {
        CHECK(first_wrong(base, 0, 1 * kUnit, 3) == 1 * kUnit);
        CHECK(first_wrong(base, 2 * kUnit, 4 * kUnit, 3) == 4 * kUnit);
    }
    // The rest goes: the span is as before (the partial units' remnants are freed too).
    REQUIRE(engine->unmap_memory(base, cut).err == 0);
    REQUIRE(engine->unmap_memory(base + cut + kUnit, kLen - cut - kUnit).err == 0);
    CHECK(engine->span_usage().used_bytes == used_before);
}

TEST_CASE("large units: an mremap that shrinks inside a unit, then grows, gives zeros there", "[engine][uffd][page_size]") {
    // The kernel unmaps what a shrink gives up, so a later growth reads as zeros. With 64 KiB units
    // the rest of the last unit stays (slack beyond the program's end) and kept the old bytes,
    // which a growth in place, a move or a growth into new units handed back (found by the soak
    // test: mremap'd blocks read old data where zeros were due).
    constexpr size_t kUnit = size_t(64) << 10;
    auto engine = dime::test::start_engine_or_skip(unit_config(kUnit, 2));
    if (!engine) return;
    constexpr int kRW = PROT_READ | PROT_WRITE, kAnon = MAP_PRIVATE | MAP_ANONYMOUS;
    auto remap = [&](unsigned char* p, size_t from, size_t to, int flags) {
        const auto c = engine->remap_memory(p, from, to, flags, nullptr);
        INFO("mremap " << from << " -> " << to << ": errno " << c.err);
        REQUIRE((c.handled && c.err == 0));
        return reinterpret_cast<unsigned char*>(c.value);
    };
    const auto m = engine->map_memory(nullptr, 3 * kUnit, kRW, kAnon, -1, 0);
    REQUIRE((m.handled && m.err == 0));
    auto* base = reinterpret_cast<unsigned char*>(m.value);
    constexpr size_t kSmall = 3 * kKernelPage;
    for (const char* how : {"in place", "into new units", "moved"}) {
        INFO(how);
        fill(base, 0, 3 * kUnit, 5);
        base = remap(base, 3 * kUnit, kSmall, 0);  // shrink to 3 kernel pages of the first unit
        CHECK(first_wrong(base, 0, kSmall, 5) == kSmall);
        if (std::strcmp(how, "in place") == 0) {
            base = remap(base, kSmall, kUnit, 0);  // within the unit
        } else if (std::strcmp(how, "into new units") == 0) {
            base = remap(base, kSmall, 3 * kUnit, 0);
        } else {
            // A neighbour right after the unit forces the move.
            const auto block = engine->map_memory(base + kUnit, kUnit, kRW, kAnon | MAP_FIXED, -1, 0);
            REQUIRE((block.handled && block.err == 0));
            base = remap(base, kSmall, 3 * kUnit, MREMAP_MAYMOVE);
            REQUIRE(engine->unmap_memory(reinterpret_cast<void*>(block.value), kUnit).err == 0);
        }
        CHECK(first_wrong(base, 0, kSmall, 5) == kSmall);
        const size_t grown = std::strcmp(how, "in place") == 0 ? kUnit : 3 * kUnit;
        CHECK(first_wrong(base, kSmall, grown, 0) == grown);
        if (grown == kUnit) base = remap(base, kUnit, 3 * kUnit, MREMAP_MAYMOVE);
    }
    REQUIRE(engine->unmap_memory(base, 3 * kUnit).err == 0);
}

TEST_CASE("large units: mean time per re-fetch matches the fetch cost (loose bound)", "[engine][uffd][page_size][timing]") {
    // Calibrated (overhead_ns = -1): what DiME itself costs per fault, the copy or move of the
    // unit included, is subtracted from the injected delay. Walks 1..3 re-fetch every unit.
    const size_t unit = GENERATE(size_t(64) << 10, size_t(2) << 20);
    const size_t units = unit == (size_t(2) << 20) ? 16 : 256;
    auto cfg = unit_config(unit, units / 4);
    cfg.latency_ns = 20000;
    cfg.bandwidth_bps = 10000000000ull;
    cfg.overhead_ns = -1;
    // Other load on the machine can push one engine past the bound; up to three engines (each
    // calibrating anew) are tried, and the first within it passes. A wrong delay fails all three.
    const double cost = double(cfg.fetch_cost_ns());
    std::string means;
    double best = 1e300;
    uint64_t own = 0;
    for (int attempt = 0; attempt < 3 && !(best <= 1.25 * cost); ++attempt) {
        auto engine = dime::test::start_engine_or_skip(cfg);
        if (!engine) return;
        auto* base = static_cast<volatile unsigned char*>(engine->map_region(units * unit));
        REQUIRE(base != nullptr);
        means.clear();
        best = 1e300;
        for (int walk = 0; walk < 4; ++walk) {
            const dime::Totals before = engine->totals();
            const auto t0 = std::chrono::steady_clock::now();
            for (size_t u = 0; u < units; ++u) base[u * unit + (u * 4096) % unit] = static_cast<unsigned char>(walk + 1);
            const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
            REQUIRE(engine->totals().faults - before.faults == units);
            const double mean = ns / double(units);
            means += std::to_string(int64_t(mean)) + " ";
            if (walk > 0) {  // walk 0 is first touches (a fresh unit costs more to fill)
                CHECK(mean >= 0.75 * cost);
                best = std::min(best, mean);
            }
        }
        own = engine->overhead_ns();
        engine->unmap_region(const_cast<unsigned char*>(base));
        if (!(best <= 1.25 * cost)) WARN("attempt " << attempt + 1 << " above the bound: " << means);
    }
    INFO("page_size " << unit << ": mean ns per fault per walk " << means << "(fetch cost " << cost
                      << ", calibrated re-fetch overhead " << own << " ns)");
    CHECK(best <= 1.25 * cost);
}
