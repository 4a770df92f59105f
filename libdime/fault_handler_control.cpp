// fault_handler_control.cpp — the handler's requests from the program (include/dime.h through the
// engine): evict a range now (dime_evict) and resize the pool (dime_set_local_pages). The
// requester, any application thread, fills range_ and calls request(); the handler thread serves
// it between two fault operations, under the rules of the fault path.
#include <algorithm>

#include "fault_handler.h"

namespace dime {

// ---- requesting threads -----------------------------------------------------------------------

uint64_t FaultHandler::evict_range(PageId first, PageId count) {
    range_ = {first, count, 0, false, 0, 0};
    if (running_ && count) request(Request::kEvictRange);
    return range_.pages;
}

void FaultHandler::resize_pool(uint64_t pages) {
    // The capacity is set by the handler, in request order: of two threads resizing at once, the
    // one served last decides, and its call returns with the pool within what it asked for.
    range_ = {};
    range_.pages = pages;
    if (running_)
        request(Request::kResizePool);
    else
        pool_.set_capacity(pages);
}

// ---- the handler thread -------------------------------------------------------------------------

void FaultHandler::serve_control_request(Request r) {
    switch (r) {
    case Request::kEvictRange: {
        const PageId first = range_.first, end = first + range_.count;
        range_.pages = 0;
        if (evictions_paused_) break;  // fork(): every page stays until fork_done()
        // A fetch in flight in the range is completed, so that its page leaves with the others.
        take_in_flight(first, range_.count, /*resolve_them=*/true);
        const uint64_t before = stats_.evictions.load(std::memory_order_relaxed);
        size_t k = 0;
        for (PageId p = first; p < end;) {
            // Only pages below their tier's highest ever touched can be local; skip the rest.
            const int tier = pages_.tier_of(p);
            for (const PageId touched = std::min(end, pages_.touched_end(tier)); p < touched; ++p) {
                if ((pages_.state(p) & kStateMask) != kLocal) continue;
                pool_.forget(p);
                // A sampled page (access tracking, a prefetch probe) is in the backing already and
                // absent from the application span: nothing to move, as in evict_pages. Handed to
                // evict(), its MOVE met an occupied backing (EEXIST), which evict() takes for a
                // stale copy and drops: the page's only copy, so it read as zeros afterwards.
                if (pages_.state(p) & kSampled) {
                    evict_sampled(p);
                    continue;
                }
                victims_[k++] = p;
                if (k == kMaxBatch) {
                    evict_victims(victims_, k);
                    k = 0;
                }
            }
            if (tier + 1 >= pages_.tiers()) break;
            p = std::max(p, pages_.tier_first_page(tier + 1));
        }
        if (k) evict_victims(victims_, k);
        range_.pages = stats_.evictions.load(std::memory_order_relaxed) - before;
        break;
    }
    case Request::kResizePool:
        pool_.set_capacity(range_.pages);
        evict_to_capacity();
        break;
    default:
        break;
    }
}

}  // namespace dime
