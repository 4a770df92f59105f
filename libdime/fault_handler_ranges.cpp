// fault_handler_ranges.cpp — the handler's page-range requests for the mmap family: discard
// (munmap, MADV_DONTNEED), move (mremap) and detach (memory handed back as plain). The requester
// (an application thread holding the engine's control mutex) fills range_ and calls request();
// the handler thread serves it between two fault operations, under the rules of the fault path:
// no allocation, no lock, no logging, and emulated memory is never touched directly.
#include <algorithm>
#include <cerrno>
#include <sys/mman.h>

#include "clock.h"
#include "fault_handler.h"
#include "sys_memory.h"

namespace dime {

// ---- requesting threads -----------------------------------------------------------------------

int FaultHandler::discard_pages(PageId first, PageId count, bool inaccessible) {
    range_ = {first, count, 0, inaccessible, 0};
    if (running_ && count) request(Request::kDiscardPages);
    return range_.result;
}

void FaultHandler::move_pages(PageId first, PageId count, PageId dst) {
    range_ = {first, count, dst, false, 0};
    if (running_ && count) request(Request::kMovePages);
}

int FaultHandler::detach_pages(PageId first, PageId count) {
    range_ = {first, count, 0, false, 0};
    if (running_ && count) request(Request::kDetachPages);
    return range_.result;
}

int FaultHandler::prefetch_pages(PageId first, PageId count) {
    range_ = {first, count, 0, false, 0};
    if (running_ && count) request(Request::kPrefetchPages);
    return range_.result;
}

// ---- the handler thread -------------------------------------------------------------------------

// Takes the in-flight faults on [first, first + count) out of the in-flight set: resolved now (the
// page is mapped and its threads go on), or cancelled (their threads are woken and fault again).
void FaultHandler::take_in_flight(PageId first, PageId count, bool resolve_them) {
    bool taken = false;
    for (size_t i = 0; i < heap_size_;) {
        if (heap_[i].page - first >= count) {
            ++i;
            continue;
        }
        InFlight f = heap_[i];
        heap_[i] = heap_[--heap_size_];
        taken = true;
        if (resolve_them) {
            if (f.origin == Origin::kProbe) f.origin = Origin::kPrefetch;  // mapped, not left sampled
            resolve(f);
        } else {
            pages_.state(f.page) &= ~(kInFlight | kPrefetched);
            pool_.cancel_reservation();
            // A first touch filled early is mapped already: drop it with the range (only the
            // discard of a range cancels, and it drops the range's pages anyway).
            if (f.filled) sys::madvise(reinterpret_cast<void*>(pages_.app_address(f.page)), cfg_.page_size, MADV_DONTNEED);
            uffd::wake(fd_, pages_.app_address(f.page), cfg_.page_size);
        }
    }
    if (taken)
        std::make_heap(heap_, heap_ + heap_size_, [](const InFlight& a, const InFlight& b) { return a.due > b.due; });
}

// One page from `from` to `to`, in the application span (local) or the backing span (remote).
// 1: moved; 0: nothing was there (it reads as zero); -1: the kernel refused both MOVE and COPY.
int FaultHandler::move_one(PageId from, PageId to, bool remote) {
    const uintptr_t src = remote ? pages_.backing_address(from) : pages_.app_address(from);
    const uintptr_t dst = remote ? pages_.backing_address(to) : pages_.app_address(to);
    const size_t len = cfg_.page_size;
    if (move_works_) {
        if (uffd::move(fd_, dst, src, len, /*wake=*/false) == 0) return 1;
        // From the page tables, not the error (uffd_settle.h); nobody uses either side here, so a
        // base page shared after fork is copied. The source's copy wins (dst was never used).
        const uffd::Settled s = settle(dst, src, {/*src_wins=*/true, /*src_live=*/false});
        return s == uffd::Settled::kMoved ? 1 : s == uffd::Settled::kHole ? 0 : -1;
    }
    // A hole would make COPY read a registered page that nobody else can serve: check first.
    if (!sys::all_resident(src, len)) return 0;
    // EBUSY (shared with a child after fork) and the like: copy, then drop the source.
    const int rc = uffd::copy(fd_, dst, src, len, /*wake=*/false);
    if (rc != 0 && rc != -EEXIST) return -1;
    sys::madvise(reinterpret_cast<void*>(src), len, MADV_DONTNEED);
    return 1;
}

void FaultHandler::serve_range_request(Request r) {
    const PageId first = range_.first, count = range_.count;
    const size_t ps = cfg_.page_size;
    range_.result = 0;
    switch (r) {
    case Request::kDiscardPages: {
        // No prefetch may fill the range once it is given back.
        if (range_.inaccessible) pages_.set_accessible(first, count, false);
        if (range_.inaccessible)
            range_.result = sys::mprotect(reinterpret_cast<void*>(pages_.app_address(first)), size_t(count) * ps,
                                          PROT_NONE);
        // The range's pages leave the pool before anything below can evict: the notifications
        // read next may schedule fetches that make room, and a victim in a range made PROT_NONE
        // just now is one UFFDIO_MOVE refuses (EINVAL), which would switch MOVE off for good.
        auto forget_range = [&] {
            const PageId end = std::min<PageId>(first + count, pages_.touched_end_of(first));
            for (PageId p = first; p < end; ++p) {
                if ((pages_.state(p) & kStateMask) == kLocal) pool_.forget(p);
                pages_.state(p) = kUntouched;
            }
            return end;
        };
        forget_range();
        // Faults that began before the range became inaccessible are queued already: take them
        // in now so that they are cancelled below instead of being filled after the discard.
        read_notifications(now_ns());
        take_in_flight(first, count, /*resolve_them=*/false);
        const PageId end = forget_range();  // again: a local first touch may have filled a page meanwhile
        if (first >= end) break;
        const size_t len = size_t(end - first) * ps;
        sys::madvise(reinterpret_cast<void*>(pages_.app_address(first)), len, MADV_DONTNEED);
        sys::madvise(reinterpret_cast<void*>(pages_.backing_address(first)), len, MADV_DONTNEED);
        break;
    }
    case Request::kMovePages: {
        const PageId dst = range_.dst;
        take_in_flight(first, count, /*resolve_them=*/true);
        const PageId end = std::min<PageId>(first + count, pages_.touched_end_of(first));
        tracker_.restore_range(first, end, move_works_);  // sampled local pages: data back in place
        for (PageId p = first; p < end;) {
            const uint8_t st = pages_.state(p) & kStateMask;
            if (st != kLocal && st != kRemote) {
                ++p;
                continue;
            }
            PageId q = p + 1;
            while (q < end && (pages_.state(q) & kStateMask) == st) ++q;
            const bool remote = st == kRemote;
            // The whole run in one MOVE when the kernel takes it (it must lie in one VMA on each
            // side); whatever it leaves is done page by page.
            size_t done = 0;
            if (move_works_) {
                const uintptr_t to = pages_.app_address(dst + (p - first));
                const uintptr_t from = pages_.app_address(p);
                const uintptr_t shift = remote ? pages_.backing_base() - pages_.app_base() : 0;
                uffd::move_range(fd_, to + shift, from + shift, size_t(q - p) * ps, &done);
            }
            const PageId moved_end = p + static_cast<PageId>(done / ps);
            for (PageId i = p; i < q; ++i) {
                const PageId to = dst + (i - first);
                const int how = i < moved_end ? 1 : move_one(i, to, remote);
                if (how < 0) range_.result = -ENOMEM;
                if (!remote) pool_.forget(i);
                pages_.state(i) = kUntouched;
                if (how > 0) {
                    pages_.note_touched(to);
                    pages_.state(to) = st;
                    if (!remote) pool_.admit(to);
                }
            }
            p = q;
        }
        // Stale copies of local source pages (kBackingCopy) go too; moved remote pages are gone.
        if (first < end)
            sys::madvise(reinterpret_cast<void*>(pages_.backing_address(first)), size_t(end - first) * ps, MADV_DONTNEED);
        evict_to_capacity();  // resolving in-flight faults may have filled the pool
        break;
    }
    case Request::kDetachPages: {
        take_in_flight(first, count, /*resolve_them=*/true);
        pages_.set_accessible(first, count, false);  // plain memory now: never prefetched into
        const PageId end = std::min<PageId>(first + count, pages_.touched_end_of(first));
        tracker_.restore_range(first, end, move_works_);
        for (PageId p = first; p < end; ++p) {
            const uint8_t st = pages_.state(p) & kStateMask;
            if (st == kRemote && !fetch_back(p)) range_.result = -ENOMEM;  // its data stays behind
            if (st == kLocal) pool_.forget(p);
            pages_.state(p) = kUntouched;
        }
        if (first < end)  // copies left behind by re-fetches by copy (kBackingCopy)
            sys::madvise(reinterpret_cast<void*>(pages_.backing_address(first)), size_t(end - first) * ps, MADV_DONTNEED);
        const int rc = uffd::unregister_range(fd_, reinterpret_cast<void*>(pages_.app_address(first)),
                                              size_t(count) * ps);
        if (rc != 0 && range_.result == 0) range_.result = rc;
        evict_to_capacity();
        break;
    }
    case Request::kPrefetchPages: {
        // A hint: the range's remote pages (and never-used accessible ones) start their fetch
        // now, as prefetches, within half the pool so that a large hint does not evict itself.
        const uint64_t now = now_ns();
        const PageId end = static_cast<PageId>(std::min<uint64_t>(uint64_t(first) + count, pages_.max_pages()));
        uint64_t room = evictions_paused_ ? 0 : pool_.capacity() / 2;  // nothing while a fork is prepared
        int started = 0;
        for (PageId p = first; p < end && room > 0; ++p) {
            if (!may_prefetch(p)) continue;
            const bool remote = (pages_.state(p) & kStateMask) == kRemote;
            pages_.note_touched(p);
            schedule(p, remote ? FetchKind::kRefetch : FetchKind::kFirstTouch, false, now, Origin::kHint);
            Stats::bump(stats_.prefetch_hint_pages);
            --room;
            ++started;
        }
        evict_to_capacity();  // room for them all at once
        range_.result = started;
        break;
    }
    default:
        break;
    }
}

}  // namespace dime
