// fault_handler_prefetch.cpp — the fault path's hooks for prefetching (prefetcher.h decides what,
// this file fetches it) and access tracking (access_tracker.h samples, this file ties its hit
// faults to the pool and the prefetcher). Handler thread, under the rules of the fault path.
//
// A prefetched page is booked on its tier's link like a fault (it queues for transmission and
// overlaps propagation), reserves a pool slot, and sits in the in-flight heap with no waiter
// (state kInFlight | kPrefetched). When it arrives it is mapped directly (UFFDIO_COPY from the
// backing, a zeroed page if never used): no second fault. A probe is left sampled instead, so
// that its first touch shows (a zero-delay hit fault). A fault on a page still in flight waits
// for the rest of its fetch and counts as a late prefetch hit.
#include <algorithm>

#include "clock.h"
#include "fault_handler.h"

namespace dime {

// A remote (or never-used, accessible) page that nothing is fetching yet.
bool FaultHandler::may_prefetch(PageId q) {
    const uint8_t st = pages_.state(q);
    if (st & kInFlight) return false;
    if ((st & kStateMask) == kRemote) return true;
    return st == kUntouched && !first_touch_local_ && pages_.accessible(q);
}

// Pool slots the next fault's prefetches will take: idle-time eviction keeps them free.
uint64_t FaultHandler::prefetch_room() const {
    return prefetcher_.enabled() ? std::min<uint64_t>(prefetcher_.window(), pool_.capacity() / 4) : 0;
}

// After the fault on p was scheduled: its neighbours along the prefetcher's stride, within p's
// tier, at most a quarter of the pool (a window must not evict its own pages).
void FaultHandler::prefetch_after(PageId p, uint64_t now) {
    // Not while a fork is prepared: everything must stay in place (a probe would not).
    if (!prefetcher_.enabled() || evictions_paused_ || calibrating_.load(std::memory_order_relaxed)) return;
    const auto limit = static_cast<uint32_t>(std::min<uint64_t>(pool_.capacity() / 4, Prefetcher::kMaxWindow));
    const Prefetcher::Plan plan = prefetcher_.on_fault(p, limit);
    stats_.prefetch_window.store(prefetcher_.window(), std::memory_order_relaxed);
    const uint64_t count = plan.count;
    const int64_t lo = pages_.tier_first_page(pages_.tier_of(p));
    const int64_t hi = lo + int64_t(pages_.tier_span_bytes() >> pages_.page_shift());
    for (uint64_t i = 1; i <= count; ++i) {
        const int64_t q = int64_t(p) + plan.stride * int64_t(i);
        if (q < lo || q >= hi) break;
        if (!may_prefetch(static_cast<PageId>(q))) continue;
        const bool probe = prefetcher_.probe();
        Stats::bump(stats_.prefetched_pages);
        if (probe) Stats::bump(stats_.prefetch_probes);
        const bool remote = (pages_.state(q) & kStateMask) == kRemote;
        pages_.note_touched(static_cast<PageId>(q));
        schedule(static_cast<PageId>(q), remote ? FetchKind::kRefetch : FetchKind::kFirstTouch, false, now,
                 probe ? Origin::kProbe : Origin::kPrefetch);
    }
    evict_to_capacity();  // room for the whole window at once
}

// A fault on a page whose prefetch is in flight: the pending resolution maps it and wakes the
// thread. Confirmed now, so it will not be left sampled on arrival.
void FaultHandler::on_prefetch_in_flight(PageId p) {
    pages_.state(p) &= ~kPrefetched;
    Stats::bump(stats_.prefetch_late_hits);
}

void FaultHandler::resolve_prefetch(const InFlight& f) {
    const uint64_t t0 = now_ns();
    const PageId p = f.page;
    const uint8_t before = pages_.state(p) & kStateMask;  // kRemote or kUntouched
    const bool awaited = !(pages_.state(p) & kPrefetched);  // a thread faulted on it meanwhile
    if (f.origin == Origin::kProbe && awaited) {
        Stats::bump(stats_.prefetch_probe_late_hits);
        prefetcher_.on_probe_result(true);
    }
    if (f.origin == Origin::kProbe && !awaited && tracker_.sample_on_arrival(p, before == kUntouched)) {
        pool_.admit_reserved(p);
    } else {
        pages_.state(p) = kLocal;
        pool_.admit_reserved(p);
        // A never-used page gets a private zeroed page, as for a write fault: fresh memory is
        // usually written first, and a zero-page mapping would cost that write a copy-on-write
        // fault (and a TLB flush) in the kernel.
        const bool ok = before == kUntouched ? fill_first_touch(p, /*write=*/true) : fetch_back(p);
        if (!ok) {  // the kernel refused: the page stays where it was (a waiter faults again)
            pool_.forget(p);
            pages_.state(p) = before;
        }
    }
    Stats::bump(stats_.handler_ns, now_ns() - t0);
}

void FaultHandler::on_hit_fault(PageId p) {
    if (!tracker_.on_hit_fault(p)) return;
    Stats::bump(stats_.prefetch_probe_hits);  // a probe's first touch: the prefetch was used
    prefetcher_.on_probe_result(true);
}

void FaultHandler::evict_sampled(PageId p) {
    if (!tracker_.evict_sampled(p)) return;
    Stats::bump(stats_.prefetch_probe_misses);  // a probe that nobody touched: a wasted prefetch
    prefetcher_.on_probe_result(false);
}

}  // namespace dime
