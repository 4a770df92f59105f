// test_tiers.cpp — the engine's tiers: each tier's regions lie in its own sub-span, faults there
// cost that tier's link, and a tier named "local" is plain memory that never faults.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "engine_support.h"

namespace {

constexpr size_t kPage = 4096;

// Mean nanoseconds per access of one write to each of `pages` pages of `base`.
double walk_ns(unsigned char* base, size_t pages, unsigned char value) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < pages; ++i) static_cast<volatile unsigned char*>(base)[i * kPage] = value;
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / double(pages);
}

}  // namespace

TEST_CASE("tiers: sub-spans, per-tier fetch cost, and a local tier that never faults", "[engine][uffd][tiers]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend " << backend);
    dime::Config cfg;
    cfg.backend = backend;
    cfg.summary = false;
    cfg.latency_ns = 2000;                 // remote: 4 us per fetch
    cfg.bandwidth_bps = 1000000000000000ull;
    cfg.local_npages = 64;
    cfg.overhead_ns = 0;                   // inject the whole cost: a lower bound per access holds
    cfg.extra_tiers.push_back({"far", 40000, 1000000000000000ull, false});  // 80 us per fetch
    cfg.extra_tiers.push_back({"local", 0, 0, true});
    REQUIRE(cfg.tiers().size() == 3);
    REQUIRE(cfg.tier_index("far") == 1);
    REQUIRE(cfg.tier_index("local") == 2);
    REQUIRE(cfg.tier_index("nowhere") == -1);

    auto engine = dime::test::start_engine_or_skip(cfg);
    if (!engine) return;
    REQUIRE(engine->tier_count() == 3);

    constexpr size_t kPages = 200;
    std::string error;
    auto* remote = static_cast<unsigned char*>(engine->map_region_in_tier(kPages * kPage, 0, &error));
    auto* far = static_cast<unsigned char*>(engine->map_region_in_tier(kPages * kPage, 1, &error));
    auto* local = static_cast<unsigned char*>(engine->map_region_in_tier(kPages * kPage, 2, &error));
    INFO(error);
    REQUIRE(remote != nullptr);
    REQUIRE(far != nullptr);
    REQUIRE(local != nullptr);
    CHECK(engine->map_region_in_tier(kPage, 3, &error) == nullptr);
    CHECK(engine->tier_of(remote) == 0);
    CHECK(engine->tier_of(far + kPages * kPage - 1) == 1);
    CHECK(engine->tier_of(local + 5 * kPage) == 2);
    int on_stack = 0;
    CHECK(engine->tier_of(&on_stack) == -1);

    // Local tier: plain memory, not a single fault.
    const dime::Totals t0 = engine->totals();
    walk_ns(local, kPages, 1);
    walk_ns(local, kPages, 2);
    const dime::Totals t1 = engine->totals();
    CHECK(t1.faults == t0.faults);
    for (size_t i = 0; i < kPages; ++i) REQUIRE(local[i * kPage] == 2);

    // Remote and far: one fault per page, each costing at least its own tier's fetch.
    const double remote_ns = walk_ns(remote, kPages, 3);
    const dime::Totals t2 = engine->totals();
    CHECK(t2.faults - t1.faults == kPages);
    const double far_ns = walk_ns(far, kPages, 4);
    const dime::Totals t3 = engine->totals();
    CHECK(t3.faults - t2.faults == kPages);
    INFO("remote " << remote_ns << " ns/access, far " << far_ns << " ns/access");
    CHECK(remote_ns >= 4000 * 0.99);
    CHECK(far_ns >= 80000 * 0.99);  // far pays its own link (remote's would cost 4 us)
    CHECK(t3.injected_delay_ns - t2.injected_delay_ns >= kPages * 80000);

    for (size_t i = 0; i < kPages; ++i) {
        REQUIRE(remote[i * kPage] == 3);
        REQUIRE(far[i * kPage] == 4);
    }
    engine->unmap_region(remote);
    engine->unmap_region(far);
    engine->unmap_region(local);
}
