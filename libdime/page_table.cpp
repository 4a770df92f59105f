// page_table.cpp — the reserved spans (see page_table.h). Runs at engine start and teardown.
#include "page_table.h"

#include <algorithm>

#include "sys_memory.h"

namespace dime {
namespace {

// Reserves `bytes` aligned to `align` (the unit): a fault's address rounded down to the unit is
// then the unit's start, and every unit lies inside one span. The slack is given back.
uintptr_t reserve(size_t bytes, size_t align, int prot) {
    const size_t slack = align > sys::kBasePage ? align : 0;
    const uintptr_t raw = sys::mmap(nullptr, bytes + slack, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (sys::is_error(raw)) return 0;
    const uintptr_t p = (raw + align - 1) & ~(uintptr_t(align) - 1);
    if (p > raw) sys::munmap(reinterpret_cast<void*>(raw), p - raw);
    if (raw + bytes + slack > p + bytes) sys::munmap(reinterpret_cast<void*>(p + bytes), raw + bytes + slack - (p + bytes));
    // Transparent huge pages would make the kernel fill 2 MiB at a time behind our back and let
    // khugepaged collapse resident runs; the pool counts units it fills itself with ioctls.
    sys::madvise(reinterpret_cast<void*>(p), bytes, MADV_NOHUGEPAGE);
    return p;
}

}  // namespace

bool PageTable::init(size_t page_size, size_t span_bytes, int tiers) {
    if (tiers < 1 || tiers > 8) return false;
    page_size_ = page_size;
    page_shift_ = __builtin_ctzll(page_size);
    span_bytes_ = span_bytes;
    int tier_bits = 0;
    while ((1 << tier_bits) < tiers) ++tier_bits;
    tier_page_shift_ = __builtin_ctzll(span_bytes >> page_shift_) - tier_bits;
    tiers_ = tiers;
    for (int t = 0; t < kMaxSubSpans; ++t) touched_end_[t].store(tier_first_page(t), std::memory_order_relaxed);
    app_base_ = reserve(span_bytes, page_size, PROT_NONE);
    backing_base_ = reserve(span_bytes, page_size, PROT_READ | PROT_WRITE);
    if (!app_base_ || !backing_base_) return false;
    const size_t pages = span_bytes >> page_shift_;
    return state_.reset(pages) && accessible_.reset((pages + 63) / 64);
}

void PageTable::set_accessible(PageId first, PageId count, bool on) {
    const uint64_t end = uint64_t(first) + count;
    for (uint64_t p = first; p < end;) {
        const unsigned bit = p & 63;
        const uint64_t n = std::min<uint64_t>(64 - bit, end - p);
        const uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
        if (on)
            __atomic_fetch_or(&accessible_[p >> 6], mask, __ATOMIC_RELEASE);
        else
            __atomic_fetch_and(&accessible_[p >> 6], ~mask, __ATOMIC_RELEASE);
        p += n;
    }
}

PageTable::~PageTable() {
    if (app_base_) sys::munmap(reinterpret_cast<void*>(app_base_), span_bytes_);
    if (backing_base_) sys::munmap(reinterpret_cast<void*>(backing_base_), span_bytes_);
}

}  // namespace dime
