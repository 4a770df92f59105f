// page_table.h — where every emulated page is and what state it is in, with O(1) lookup.
//
// All emulated regions are carved from one large reserved span of address space, so a page's
// number is simply (addr - span base) / page size, and its state is one byte in a flat array.
// The span is divided into equal, power-of-two sub-spans, one per tier, so a page's tier is
// its number shifted right: no lookup on the fault path.
// A mirror span of the same size is the backing store ("the memory blade"): the page at
// app_base + off is kept at backing_base + off while it is remote. Both spans' carved parts
// are registered with the same userfaultfd (UFFDIO_MOVE requires it).
//
// Threads: regions are carved and retired by application threads (map/unmap, under the
// engine's control mutex); page states are read and written only by the handler thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "meta_memory.h"

namespace dime {

using PageId = uint32_t;
inline constexpr PageId kNoPage = UINT32_MAX;

enum PageState : uint8_t {
    kUntouched = 0,  // never used: zero-filled on first touch
    kLocal = 1,      // mapped in the application's region, counted in the local pool
    kRemote = 2,     // evicted: its data waits in the backing span
    kStateMask = 0x0f,
    // A local page re-fetched by copy: the backing span still holds its (now stale) old copy,
    // which must be dropped before the page is moved out there again.
    kBackingCopy = 0x40,
    kInFlight = 0x80,  // a fetch is scheduled and not yet resolved
};

struct Region {
    std::atomic<uintptr_t> base{0};  // 0: slot free
    size_t bytes = 0;
    PageId first = 0;   // page number of base
    PageId count = 0;   // pages in the region
};

class PageTable {
public:
    static constexpr int kMaxRegions = 256;

    // Reserves the two spans (address space only), divided among `tiers` tiers. False on failure.
    bool init(size_t page_size, size_t span_bytes, int tiers = 1);
    ~PageTable();

    // Carves `bytes` (page multiple) from the span: maps both halves read-write. Returns the
    // region or nullptr (span exhausted / too many regions / mmap failed).
    Region* carve(size_t bytes, int tier = 0);
    // Returns the region's address space to PROT_NONE reservation and frees its slot.
    void retire(Region* r);

    bool contains(uintptr_t addr) const { return addr - app_base_ < span_bytes_; }
    PageId page_of(uintptr_t addr) const { return static_cast<PageId>((addr - app_base_) >> page_shift_); }
    uintptr_t app_address(PageId p) const { return app_base_ + (uintptr_t(p) << page_shift_); }
    uintptr_t backing_address(PageId p) const { return backing_base_ + (uintptr_t(p) << page_shift_); }
    uintptr_t backing_of(uintptr_t app_addr) const { return app_addr - app_base_ + backing_base_; }
    // The live region holding page p, or nullptr.
    Region* region_of(PageId p);

    int tier_of(PageId p) const { return static_cast<int>(p >> tier_page_shift_); }
    // The tier whose sub-span holds addr (which must be contained()).
    int tier_of_address(uintptr_t addr) const { return tier_of(page_of(addr)); }
    size_t tier_span_bytes() const { return size_t(1) << (tier_page_shift_ + page_shift_); }

    uint8_t& state(PageId p) { return state_[p]; }
    // Pages at or above this number have never faulted (handler thread writes it).
    PageId touched_end() const { return touched_end_.load(std::memory_order_acquire); }
    void note_touched(PageId p) {
        if (p >= touched_end_.load(std::memory_order_relaxed)) touched_end_.store(p + 1, std::memory_order_release);
    }
    size_t page_size() const { return page_size_; }
    int page_shift() const { return page_shift_; }
    size_t max_pages() const { return state_.size(); }
    Region* regions() { return regions_; }

private:
    uintptr_t app_base_ = 0;
    uintptr_t backing_base_ = 0;
    size_t span_bytes_ = 0;
    size_t page_size_ = 0;
    int page_shift_ = 0;
    int tier_page_shift_ = 0;             // page number >> this = tier
    size_t carved_bytes_[8] = {};          // per tier, a bump pointer: retired space is not reused
    std::atomic<PageId> touched_end_{0};
    MetaArray<uint8_t> state_;
    Region regions_[kMaxRegions];
};

}  // namespace dime
