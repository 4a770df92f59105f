// test_attribution.cpp — the attribution tables without the preload: sampling by bytes, one site
// per distinct call stack, faults charged by page, the unattributed bucket, and reset.
#include <catch2/catch.hpp>

#include <cstdint>

#include "attribution.h"

namespace {

constexpr uintptr_t kBase = uintptr_t(1) << 40;  // addresses only: the tables never touch the span
constexpr size_t kSpan = size_t(1) << 30;
constexpr int kShift = 12;

// Each call statement below is its own call stack: `caller` is where this function returns to.
__attribute__((noinline)) void allocate(dime::Attribution& a, uintptr_t at, size_t n) {
    a.on_allocation(reinterpret_cast<void*>(at), n, __builtin_return_address(0));
    asm volatile("" ::: "memory");  // no tail call: the caller's frame stays on the stack
}

uint32_t page_at(uintptr_t addr) { return static_cast<uint32_t>((addr - kBase) >> kShift); }

}  // namespace

TEST_CASE("attribution: large allocations are sampled, faults go to the site of their page", "[attribution]") {
    dime::Attribution a;
    REQUIRE(a.init(kBase, kSpan, kShift, /*sample_bytes=*/uint64_t(1) << 40, /*always_bytes=*/1 << 20));
    dime::detail::t_bytes_until_sample = int64_t(1) << 40;  // no sample by the byte count
    allocate(a, kBase, 1 << 20);                 // site A: 256 pages, always sampled
    allocate(a, kBase + (64 << 20), 2 << 20);    // site B: 512 pages
    allocate(a, kBase + (128 << 20), 4096);      // small, and the byte count is far: not sampled
    REQUIRE(a.sampled_allocations() == 2);
    REQUIRE(a.site_count() == 2);

    for (int i = 0; i < 5; ++i) a.charge_fault(page_at(kBase + (64 << 20) + i * 4096), 1000, 4096);  // B
    for (int i = 0; i < 3; ++i) a.charge_fault(page_at(kBase + 255 * 4096), 2000, 4096);              // A, last page
    a.charge_fault(page_at(kBase + (128 << 20)), 7, 4096);  // the unsampled block
    a.charge_fault(page_at(kBase + 256 * 4096), 9, 4096);   // just past A

    const auto top = a.top_sites(10);
    REQUIRE(top.size() == 2);
    CHECK(top[0].faults == 5);
    CHECK(top[0].delay_ns == 5000);
    CHECK(top[0].bytes == 5 * 4096);
    CHECK(top[0].sampled_bytes == (2u << 20));
    CHECK(top[1].faults == 3);
    CHECK(top[1].delay_ns == 6000);
    CHECK(top[1].sampled_allocations == 1);
    CHECK(top[0].frames != top[1].frames);  // two call statements, two stacks
    CHECK_FALSE(top[0].frames.empty());
    const auto none = a.unattributed();
    CHECK(none.faults == 2);
    CHECK(none.delay_ns == 16);
    CHECK(a.top_sites(1).size() == 1);

    a.reset_faults();
    CHECK(a.top_sites(10).empty());
    CHECK(a.unattributed().faults == 0);
}

TEST_CASE("attribution: one site per call stack, however often it allocates", "[attribution]") {
    dime::Attribution a;
    REQUIRE(a.init(kBase, kSpan, kShift, uint64_t(1) << 40, 4096));
    for (int i = 0; i < 100; ++i) allocate(a, kBase + uintptr_t(i) * 8192, 4096);  // one statement
    CHECK(a.sampled_allocations() == 100);
    CHECK(a.site_count() == 1);
    a.charge_fault(page_at(kBase + 99 * 8192), 1, 4096);
    const auto top = a.top_sites(10);
    REQUIRE(top.size() == 1);
    CHECK(top[0].sampled_allocations == 100);
}

TEST_CASE("attribution: small allocations are sampled once per sample_bytes on average", "[attribution]") {
    constexpr uint64_t kSample = 64 << 10;
    constexpr size_t kAllocations = 100000, kSize = 256;  // 25.6 MB: about 390 samples expected
    dime::Attribution a;
    REQUIRE(a.init(kBase, kSpan, kShift, kSample, uint64_t(1) << 40));
    dime::detail::t_bytes_until_sample = 0;
    for (size_t i = 0; i < kAllocations; ++i) allocate(a, kBase + i * kSize, kSize);
    const double expected = double(kAllocations * kSize) / kSample;
    INFO("samples " << a.sampled_allocations() << ", expected about " << expected);
    CHECK(a.sampled_allocations() > 0.6 * expected);
    CHECK(a.sampled_allocations() < 1.5 * expected);
}
