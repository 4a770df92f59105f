// access_tracker.h — access tracking by sampling, for policies that want recency (clock, lru2q,
// arc). User space cannot read the accessed bits of page-table entries, so in idle time the
// handler takes a share of the local pages out of the application's page table while keeping
// them local: each run of them is moved (UFFDIO_MOVE, atomic with respect to writers, so no write
// is lost) to its place in the backing span and marked kSampled; it stays counted in the pool.
// The next access to such a page is a "hit fault": the page is mapped back at once (no injected
// delay) and the policy hears of the hit (LocalPool::access). The prefetcher's probes use the
// same state: a prefetched page left sampled on arrival tells, by its hit fault, that it was used.
// Handler thread only (FaultHandler calls every function here).
#pragma once

#include <cstdint>

#include "local_pool.h"
#include "meta_memory.h"
#include "page_table.h"
#include "stats.h"

namespace dime {

class AccessTracker {
public:
    AccessTracker(int uffd, PageTable& pages, LocalPool& pool, Stats& stats)
        : fd_(uffd), pages_(pages), pool_(pool), stats_(stats) {}

    // Every interval_ns of handler idle time, percent % of the local pages are sampled (0 = off).
    // write_protect: the application span is registered for WP faults (the copy fallback).
    void configure(uint32_t percent, uint64_t interval_ns, bool write_protect);
    bool enabled() const { return percent_ > 0; }
    // Per-page metadata (when enabled), sized for page numbers below max_pages. False on failure.
    bool init(size_t max_pages);
    // Page p was just admitted on a fault: the access that faulted is its admission, so p is not
    // sampled before a full interval has passed (a hit right after the fault would be the same
    // access seen twice, and would make every page of a scan look re-used).
    void note_admitted(PageId p) {
        if (enabled()) admitted_round_[p] = round_;
    }
    // When the next round of sampling is due (UINT64_MAX when off): the handler's idle wait ends by then.
    uint64_t next_sample_at() const { return enabled() ? next_at_ : UINT64_MAX; }
    // Idle time: samples the next share of local pages if a round is due. True if it did work.
    // move_works: UFFDIO_MOVE is usable (sampling needs it; without it nothing is sampled).
    bool sample_when_idle(uint64_t now, bool move_works);

    // A prefetched page arrives as a probe: it is counted local but left out of the page table.
    // never_used: the page has no data yet; the backing gets the zero page so that it holds the
    // page's (zero) contents like any other sampled page. False if that failed (map it instead).
    bool sample_on_arrival(PageId p, bool never_used);

    // A fault on sampled page p: maps it back from the backing (UFFDIO_COPY, which wakes the
    // thread) and, unless it was a prefetch probe, reports the hit to the policy. Returns
    // whether the page was an unconfirmed prefetch (a prefetch hit). On failure the thread is
    // woken to fault again and the page stays sampled.
    bool on_hit_fault(PageId p);
    // The pool chose sampled page p as a victim: its data is in the backing span already, so it
    // only becomes remote. Returns whether it was an unconfirmed prefetch (a prefetch miss).
    bool evict_sampled(PageId p);
    // Maps every sampled page of [begin, end) back in place (before fork, mremap, detach).
    void restore_range(PageId begin, PageId end, bool move_works);

private:
    void sample_run(PageId first, PageId n, bool* move_refused);
    // Admitted on a fault at least one full interval ago (see note_admitted).
    bool settled(PageId p) const { return uint16_t(round_ - admitted_round_[p]) >= 2; }
    bool copy_out(PageId first, PageId n);

    const int fd_;
    PageTable& pages_;
    LocalPool& pool_;
    Stats& stats_;
    uint32_t percent_ = 0;
    bool write_protect_ = false;
    uint64_t interval_ns_ = 0;
    uint64_t next_at_ = 0;
    int cursor_tier_ = 0;
    PageId cursor_ = 0;  // the next page the sampling round looks at, in cursor_tier_
    uint16_t round_ = 0;  // sampling rounds so far (wrapping)
    MetaArray<uint16_t> admitted_round_;  // per page: round_ when it was last admitted on a fault
};

}  // namespace dime
