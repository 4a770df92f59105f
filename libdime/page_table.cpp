// page_table.cpp — the reserved spans and the region slots (see page_table.h).
#include "page_table.h"

#include <algorithm>
#include <sys/mman.h>

namespace dime {
namespace {

uintptr_t reserve(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? 0 : reinterpret_cast<uintptr_t>(p);
}

bool map_read_write(uintptr_t addr, size_t bytes) {
    void* p = mmap(reinterpret_cast<void*>(addr), bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) return false;
    // Transparent huge pages would make the kernel fill 2 MiB at a time behind our back and
    // let khugepaged collapse resident runs; the pool works in base pages.
    madvise(p, bytes, MADV_NOHUGEPAGE);
    return true;
}

void unmap_to_reservation(uintptr_t addr, size_t bytes) {
    mmap(reinterpret_cast<void*>(addr), bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
         -1, 0);
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
    app_base_ = reserve(span_bytes);
    backing_base_ = reserve(span_bytes);
    if (!app_base_ || !backing_base_) return false;
    return state_.reset(span_bytes >> page_shift_);
}

PageTable::~PageTable() {
    if (app_base_) munmap(reinterpret_cast<void*>(app_base_), span_bytes_);
    if (backing_base_) munmap(reinterpret_cast<void*>(backing_base_), span_bytes_);
}

Region* PageTable::carve(size_t bytes, int tier) {
    if (tier < 0 || (size_t(tier) + 1) * tier_span_bytes() > span_bytes_) return nullptr;
    size_t& carved = carved_bytes_[tier];
    if (bytes == 0 || bytes % page_size_ || bytes > tier_span_bytes() - carved) return nullptr;
    Region* slot = nullptr;
    for (auto& r : regions_)
        if (r.base.load(std::memory_order_relaxed) == 0) {
            slot = &r;
            break;
        }
    if (!slot) return nullptr;
    const uintptr_t app = app_base_ + tier * tier_span_bytes() + carved;
    if (!map_read_write(app, bytes)) return nullptr;
    if (!map_read_write(backing_of(app), bytes)) {
        unmap_to_reservation(app, bytes);
        return nullptr;
    }
    carved += bytes;
    slot->bytes = bytes;
    slot->first = page_of(app);
    slot->count = static_cast<PageId>(bytes >> page_shift_);
    slot->base.store(app, std::memory_order_release);
    return slot;
}

void PageTable::retire(Region* r) {
    const uintptr_t app = r->base.load(std::memory_order_relaxed);
    unmap_to_reservation(app, r->bytes);
    unmap_to_reservation(backing_of(app), r->bytes);
    const PageId end = std::min<PageId>(r->first + r->count, touched_end());
    for (PageId p = r->first; p < end; ++p) state_[p] = kUntouched;
    r->base.store(0, std::memory_order_release);
}

Region* PageTable::region_of(PageId p) {
    for (auto& r : regions_)
        if (r.base.load(std::memory_order_acquire) && p - r.first < r.count) return &r;
    return nullptr;
}

}  // namespace dime
