// access_tracker.cpp — sampling local pages out of the page table and serving their hit faults
// (see access_tracker.h). Handler thread only; no allocation, no lock, no logging; page contents
// move through ioctls only.
#include "access_tracker.h"

#include <algorithm>
#include <cerrno>
#include <sys/mman.h>

#include "clock.h"
#include "uffd.h"
#include "uffd_settle.h"

namespace dime {
namespace {

// Pages one sampling round looks at, at most (a sparse span must not stall the handler).
constexpr uint64_t kScanLimit = 1 << 16;
// Pages moved out by one UFFDIO_MOVE at most (one TLB flush each).
constexpr PageId kMaxRun = 256;

// A local page with nothing else going on (a stale backing copy is fine: it is dropped). A clean
// page (writeback) may be sampled too: it comes back unprotected and so counts as dirty after.
bool may_sample(uint8_t st) { return (st & ~(kBackingCopy | kClean)) == kLocal; }

}  // namespace

void AccessTracker::configure(uint32_t percent, uint64_t interval_ns, bool write_protect) {
    write_protect_ = write_protect;
    percent_ = std::min<uint32_t>(percent, 100);
    interval_ns_ = interval_ns;
    next_at_ = now_ns() + interval_ns_;
}

bool AccessTracker::init(size_t max_pages) { return !enabled() || admitted_round_.reset(max_pages); }

bool AccessTracker::sample_when_idle(uint64_t now, bool move_works) {
    if (!enabled() || now < next_at_) return false;
    next_at_ = now + interval_ns_;
    ++round_;
    if (!move_works || pool_.resident() == 0) return false;
    const uint64_t t0 = now_ns();
    uint64_t budget = std::max<uint64_t>(pool_.resident() * percent_ / 100, 1);
    // At most once around every touched page (a round ends sooner when its budget is spent).
    uint64_t span = 0;
    for (int t = 0; t < pages_.tiers(); ++t) span += pages_.touched_end(t) - pages_.tier_first_page(t) + 1;
    const uint64_t limit = std::min(kScanLimit, span);
    bool refused = false;
    for (uint64_t scanned = 0; budget > 0 && scanned < limit && !refused;) {
        const PageId first = pages_.tier_first_page(cursor_tier_), end = pages_.touched_end(cursor_tier_);
        if (cursor_ < first) cursor_ = first;
        if (cursor_ >= end) {  // on to the next tier, wrapping around
            cursor_tier_ = (cursor_tier_ + 1) % pages_.tiers();
            cursor_ = pages_.tier_first_page(cursor_tier_);
            ++scanned;
            continue;
        }
        if (!may_sample(pages_.state(cursor_)) || !settled(cursor_)) {
            ++cursor_;
            ++scanned;
            continue;
        }
        const PageId longest = static_cast<PageId>(std::min<uint64_t>({budget, kMaxRun, end - cursor_}));
        PageId n = 1;
        while (n < longest && may_sample(pages_.state(cursor_ + n)) && settled(cursor_ + n)) ++n;
        sample_run(cursor_, n, &refused);
        budget -= n;
        scanned += n;
        cursor_ += n;
    }
    Stats::bump(stats_.tracking_ns, now_ns() - t0);
    return true;
}

// Moves the local pages [first, first + n) to the backing span in one ioctl. A run the kernel
// refuses as a whole (across two mappings) is retried page by page; pages shared after fork are
// copied out instead; what is left (a page the program dropped) stays mapped and unsampled, and
// the round goes on after it.
void AccessTracker::sample_run(PageId first, PageId n, bool* move_refused) {
    const size_t ps = pages_.page_size();
    bool copies = false;  // the move needs an empty destination: drop stale copies first
    for (PageId i = 0; i < n; ++i)
        if (pages_.state(first + i) & kBackingCopy) {
            pages_.state(first + i) &= ~kBackingCopy;
            copies = true;
        }
    if (copies) madvise(reinterpret_cast<void*>(pages_.backing_address(first)), n * ps, MADV_DONTNEED);
    int64_t moved = 0;
    const int rc = uffd::move(fd_, pages_.backing_address(first), pages_.app_address(first), n * ps,
                              /*wake=*/false, &moved);
    PageId done = rc == 0 ? n : static_cast<PageId>(std::min<int64_t>(n, moved / int64_t(ps)));
    if (rc == -EBUSY && copy_out(first + done, n - done)) done = n;  // shared after fork: copy instead
    for (PageId i = 0; i < done; ++i) pages_.state(first + i) = kLocal | kSampled;
    PageId sampled = done;
    if (done < n && rc != -EINVAL && rc != -ENOTTY) {
        // What the failed move did not count is read from the page tables (uffd_settle.h): a page
        // it moved anyway is sampled; one that refuses stays mapped, unsampled.
        for (PageId i = done; i < n; ++i) {
            size_t found = 0;
            const uffd::Settled s = uffd::settle_move(fd_, pages_.backing_address(first + i), pages_.app_address(first + i),
                                                      ps, {/*src_wins=*/true, /*src_live=*/true}, &found);
            if (found) Stats::bump(stats_.move_uncounted, found);
            if (s == uffd::Settled::kMoved) {
                pages_.state(first + i) = kLocal | kSampled;
                ++sampled;
            }
        }
    }
    Stats::bump(stats_.sampled_pages, sampled);
    if (rc == -EINVAL && n - done > 1) {  // a run across two mappings, perhaps: page by page
        for (PageId i = done; i < n && !*move_refused; ++i) sample_run(first + i, 1, move_refused);
        return;
    }
    if (rc == -EINVAL || rc == -ENOTTY) *move_refused = true;  // this mapping cannot move: stop the round
}

// Pages MOVE refuses because they are not exclusively ours (shared with a fork child, or still
// marked so after it exited): write-protected, copied to the backing, dropped (no write is lost,
// see uffd::copy_out_protected). Only for a run that is resident throughout: a copy from a hole
// would fault on the application span, which only this thread serves.
bool AccessTracker::copy_out(PageId first, PageId n) {
    const size_t ps = pages_.page_size();
    unsigned char resident[kMaxRun];
    if (!write_protect_ || n == 0 || n > kMaxRun) return false;
    const uintptr_t addr = pages_.app_address(first);
    if (mincore(reinterpret_cast<void*>(addr), n * ps, resident) != 0) return false;
    for (PageId i = 0; i < n; ++i)
        if (!(resident[i] & 1)) return false;
    return uffd::copy_out_protected(fd_, addr, pages_.backing_address(first), n * ps);
}

bool AccessTracker::sample_on_arrival(PageId p, bool never_used) {
    if (never_used) {
        // EEXIST would mean a stale page there, which must not become this page's contents.
        if (uffd::zeropage(fd_, pages_.backing_address(p), pages_.page_size(), /*wake=*/false) != 0) return false;
    }
    pages_.state(p) = kLocal | kSampled | kPrefetched;
    return true;
}

bool AccessTracker::on_hit_fault(PageId p) {
    const uint64_t t0 = now_ns();
    const uint8_t st = pages_.state(p);
    const bool prefetched = st & kPrefetched;
    // Book-keep first: the ioctl wakes the application, which may read the counters at once. A
    // prefetched page's first use is its admission, not a second reference: the policy is told
    // only of hits on pages it admitted on a fault.
    Stats::bump(stats_.hit_faults);
    pages_.state(p) = kLocal | kBackingCopy;  // the backing copy stays, identical, until the next move out
    if (!prefetched) pool_.access(p);
    const uintptr_t addr = pages_.app_address(p);
    const int rc = uffd::copy(fd_, addr, pages_.backing_address(p), pages_.page_size());
    if (rc != 0) uffd::wake(fd_, addr, pages_.page_size());
    if (rc != 0 && rc != -EEXIST) pages_.state(p) = st;  // out of memory? the thread faults again
    Stats::bump(stats_.tracking_ns, now_ns() - t0);
    return prefetched;
}

bool AccessTracker::evict_sampled(PageId p) {
    const bool prefetched = pages_.state(p) & kPrefetched;
    pages_.state(p) = kRemote;
    Stats::bump(stats_.evictions);
    return prefetched;
}

void AccessTracker::restore_range(PageId begin, PageId end, bool move_works) {
    const size_t ps = pages_.page_size();
    for (PageId p = begin; p < end;) {
        if (!(pages_.state(p) & kSampled)) {
            ++p;
            continue;
        }
        PageId q = p + 1;
        while (q < end && (pages_.state(q) & kSampled)) ++q;
        int64_t moved = 0;
        if (move_works) uffd::move(fd_, pages_.app_address(p), pages_.backing_address(p), (q - p) * ps, true, &moved);
        const PageId done = static_cast<PageId>(std::min<int64_t>(q - p, moved / int64_t(ps)));
        for (PageId i = p; i < q; ++i) {
            if (i < p + done) {
                pages_.state(i) = kLocal;
                continue;
            }
            // Not counted as moved: from the page tables (uffd_settle.h), never a copy from a
            // backing page that did move. A unit refused stays sampled: its data is safe in the
            // backing, and a touch maps it back.
            size_t found = 0;
            const uffd::Settled s = uffd::settle_move(fd_, pages_.app_address(i), pages_.backing_address(i), ps,
                                                      {/*src_wins=*/false, /*src_live=*/false}, &found);
            if (found) Stats::bump(stats_.move_uncounted, found);
            if (s != uffd::Settled::kStayed) pages_.state(i) = kLocal;  // a hole: reads as zeros
            uffd::wake(fd_, pages_.app_address(i), ps);
        }
        p = q;
    }
}

}  // namespace dime
