// page_table.h — where every emulated page is and what state it is in, with O(1) lookup.
//
// All emulated memory lies in one large reserved span of address space, so a page's number is
// simply (addr - span base) / page size, and its state is one byte in a flat array. The span is
// divided into equal, power-of-two sub-spans, one per tier, so a page's tier is its number
// shifted right: no lookup on the fault path. A mirror span of the same size is the backing
// store ("the memory blade"): the page at app_base + off is kept at backing_base + off while it
// is remote. The application span is reserved PROT_NONE; the engine makes parts of it
// read-write as it hands them out (AddressSpace decides which) and PROT_NONE again when they are
// given back. The backing span is read-write throughout and never touched by the program. The
// engine registers the spans with its userfaultfd once, at start (UFFDIO_MOVE requires source
// and destination registered with the same descriptor; a local tier's sub-span is not
// registered); mprotect keeps a registration, so handing out and giving back needs no ioctl.
//
// Threads: the spans are set up at start; page states are read and written only by the handler
// thread.
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
    kStateMask = 0x07,
    // With writeback (dirty tracking): a local page re-fetched by a read, mapped write-protected
    // and not written since, so its backing copy (kBackingCopy) is still exact. Its first write
    // takes a WP fault that clears this bit; evicting it is a plain drop. Never set without
    // kBackingCopy. Any path that maps the page again without write protection (a hit fault of
    // access tracking, a prefetch) assigns the state whole and so clears it.
    kClean = 0x08,
    // Prefetch (prefetcher.h): the fetch in flight, or the sampled page, was started by a
    // prefetch and no application access has confirmed it yet.
    kPrefetched = 0x10,
    // Access tracking (access_tracker.h): a local page, counted in the pool, whose data the
    // handler moved to the backing span so that the next access faults (a "hit fault"); the
    // backing holds the only copy. Only ever set together with kLocal.
    kSampled = 0x20,
    // A local page re-fetched by copy: the backing span still holds its (now stale) old copy,
    // which must be dropped before the page is moved out there again.
    kBackingCopy = 0x40,
    kInFlight = 0x80,  // a fetch is scheduled and not yet resolved
};

class PageTable {
public:
    // At most this many tiers (sub-spans); config.h's kMaxTiers is the same.
    static constexpr int kMaxSubSpans = 8;

    // Reserves the two spans (address space only), divided among `tiers` tiers: the application
    // span PROT_NONE, the backing span read-write, both MAP_NORESERVE and without transparent
    // huge pages. False on failure.
    bool init(size_t page_size, size_t span_bytes, int tiers = 1);
    ~PageTable();

    bool contains(uintptr_t addr) const { return addr - app_base_ < span_bytes_; }
    PageId page_of(uintptr_t addr) const { return static_cast<PageId>((addr - app_base_) >> page_shift_); }
    uintptr_t app_address(PageId p) const { return app_base_ + (uintptr_t(p) << page_shift_); }
    uintptr_t backing_address(PageId p) const { return backing_base_ + (uintptr_t(p) << page_shift_); }
    uintptr_t backing_of(uintptr_t app_addr) const { return app_addr - app_base_ + backing_base_; }
    uintptr_t app_base() const { return app_base_; }
    uintptr_t backing_base() const { return backing_base_; }
    size_t span_bytes() const { return span_bytes_; }

    int tier_of(PageId p) const { return static_cast<int>(p >> tier_page_shift_); }
    // The tier whose sub-span holds addr (which must be contained()).
    int tier_of_address(uintptr_t addr) const { return tier_of(page_of(addr)); }
    size_t tier_span_bytes() const { return size_t(1) << (tier_page_shift_ + page_shift_); }
    PageId tier_first_page(int tier) const { return static_cast<PageId>(size_t(tier) << tier_page_shift_); }
    uintptr_t tier_base(int tier) const { return app_address(tier_first_page(tier)); }

    uint8_t& state(PageId p) { return state_[p]; }
    // Pages of `tier` at or above this number have never faulted (handler thread writes it);
    // tier_first_page(tier) if none has.
    PageId touched_end(int tier) const { return touched_end_[tier].load(std::memory_order_acquire); }
    // The same for the tier of page p.
    PageId touched_end_of(PageId p) const { return touched_end(tier_of(p)); }
    void note_touched(PageId p) {
        std::atomic<PageId>& end = touched_end_[tier_of(p)];
        if (p >= end.load(std::memory_order_relaxed)) end.store(p + 1, std::memory_order_release);
    }
    // Whether page p lies in memory the engine has handed out read-write (set by application
    // threads when a range is made accessible, cleared by the handler when it is given back or
    // detached): the handler prefetches never-used pages only there.
    bool accessible(PageId p) const {
        return (__atomic_load_n(&accessible_[p >> 6], __ATOMIC_ACQUIRE) >> (p & 63)) & 1;
    }
    void set_accessible(PageId first, PageId count, bool on);
    int tiers() const { return tiers_; }
    size_t page_size() const { return page_size_; }
    int page_shift() const { return page_shift_; }
    size_t max_pages() const { return state_.size(); }

private:
    uintptr_t app_base_ = 0;
    uintptr_t backing_base_ = 0;
    size_t span_bytes_ = 0;
    size_t page_size_ = 0;
    int page_shift_ = 0;
    int tier_page_shift_ = 0;  // page number >> this = tier
    int tiers_ = 1;
    std::atomic<PageId> touched_end_[kMaxSubSpans] = {};
    MetaArray<uint8_t> state_;
    MetaArray<uint64_t> accessible_;  // one bit per page, atomic read-modify-writes
};

}  // namespace dime
