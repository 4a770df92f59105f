// mprotect_ranges.cpp — the mprotect backend's requests from application threads: the mmap
// family's page ranges (discard, move, detach), the pool controls (evict a range, resize), the
// link, the counters, and fork(). Each runs on the calling thread under the backend's lock, with
// every signal blocked (see mprotect_backend.h); the page data itself never moves except in
// move_pages, which copies it while both ranges are accessible to it.
#include <algorithm>
#include <cstring>
#include <pthread.h>
#include <sys/mman.h>

#include "attribution.h"
#include "mprotect_backend.h"
#include "segv_chain.h"
#include "sys_memory.h"

namespace dime {
namespace {

void* ptr(uintptr_t a) { return reinterpret_cast<void*>(a); }

}  // namespace

int MprotectBackend::discard_pages(PageId first, PageId count, bool inaccessible) {
    if (count == 0) return 0;
    Critical c(*this);
    if (inaccessible) pages_.set_accessible(first, count, false);  // no fault is served there any more
    cancel_in_range(first, count);  // their threads run the access again: a first touch, or SIGSEGV
    const PageId end = std::min<PageId>(first + count, pages_.touched_end_of(first));
    if (first >= end) return 0;  // never touched: PROT_NONE and empty already
    const PageId lo = first ? first - 1 : 0;
    const PageId hi = static_cast<PageId>(std::min<uint64_t>(end, pages_.max_pages() - 1));
    const uint64_t before = boundaries(lo, hi);
    for (PageId p = first; p < end; ++p) {
        if ((pages_.state(p) & kStateMask) == kLocal) pool_.forget(p);
        pages_.state(p) = kUntouched;
    }
    const size_t len = size_t(end - first) << pages_.page_shift();
    const int rc = sys::mprotect(ptr(pages_.app_address(first)), len, PROT_NONE);
    sys::madvise(ptr(pages_.app_address(first)), len, MADV_DONTNEED);
    account(static_cast<int64_t>(boundaries(lo, hi)) - static_cast<int64_t>(before));
    return inaccessible ? rc : 0;
}

void MprotectBackend::move_pages(PageId first, PageId count, PageId dst) {
    if (count == 0) return;
    Critical c(*this);
    resolve_in_range(first, count);
    const PageId end = std::min<PageId>(first + count, pages_.touched_end_of(first));
    if (first >= end) return;
    const PageId n = end - first;
    const size_t ps = cfg_.page_size, len = size_t(n) * ps;
    const uintptr_t from = pages_.app_address(first), to = pages_.app_address(dst);
    auto edges = [&] {
        const uint64_t max = pages_.max_pages() - 1;
        return boundaries(first ? first - 1 : 0, static_cast<PageId>(std::min<uint64_t>(end, max))) +
               boundaries(dst ? dst - 1 : 0, static_cast<PageId>(std::min<uint64_t>(uint64_t(dst) + n, max)));
    };
    const uint64_t before = edges();
    // The copy reads the source and writes the destination, so both are made accessible to it
    // first (whole ranges if the kernel lets it, else page by page); nothing can fault here.
    const bool whole = sys::mprotect(ptr(from), len, PROT_READ) == 0 && sys::mprotect(ptr(to), len, PROT_READ | PROT_WRITE) == 0;
    for (PageId i = 0; i < n; ++i) {
        const PageId p = first + i, q = dst + i;
        const uint8_t st = pages_.state(p) & kStateMask;
        if (st != kLocal && st != kRemote) continue;  // untouched: nothing to copy
        if (!whole && (sys::mprotect(ptr(pages_.app_address(p)), ps, PROT_READ) != 0 ||
                       sys::mprotect(ptr(pages_.app_address(q)), ps, PROT_READ | PROT_WRITE) != 0))
            continue;  // the kernel refused even that (vm.max_map_count): the page reads as zeros there
        std::memcpy(ptr(pages_.app_address(q)), ptr(pages_.app_address(p)), ps);
        if (st == kLocal) {
            pool_.forget(p);
            pool_.admit(q);
        }
        pages_.note_touched(q);
        pages_.state(q) = st;  // a clean page becomes dirty, as with the userfaultfd backend
    }
    for (PageId p = first; p < end; ++p) pages_.state(p) = kUntouched;
    sys::madvise(ptr(from), len, MADV_DONTNEED);
    sys::mprotect(ptr(from), len, PROT_NONE);
    // The destination's protections from its states: each run of non-local pages PROT_NONE.
    for (PageId i = 0; i < n;) {
        if ((pages_.state(dst + i) & kStateMask) == kLocal) {
            sys::mprotect(ptr(pages_.app_address(dst + i)), ps, PROT_READ | PROT_WRITE);
            ++i;
            continue;
        }
        PageId j = i + 1;
        while (j < n && (pages_.state(dst + j) & kStateMask) != kLocal) ++j;
        sys::mprotect(ptr(pages_.app_address(dst + i)), size_t(j - i) * ps, PROT_NONE);
        i = j;
    }
    account(static_cast<int64_t>(edges()) - static_cast<int64_t>(before));
    evict_to_capacity();  // resolving the fetches in flight may have filled the pool
}

int MprotectBackend::detach_pages(PageId first, PageId count) {
    if (count == 0) return 0;
    Critical c(*this);
    resolve_in_range(first, count);
    pages_.set_accessible(first, count, false);  // plain memory from now on: no fault is served there
    const PageId end = std::min<PageId>(first + count, pages_.touched_end_of(first));
    const PageId lo = first ? first - 1 : 0;
    const PageId hi = static_cast<PageId>(std::min<uint64_t>(std::max(end, first), pages_.max_pages() - 1));
    const uint64_t before = boundaries(lo, hi);
    for (PageId p = first; p < end; ++p) {
        if ((pages_.state(p) & kStateMask) == kLocal) pool_.forget(p);
        pages_.state(p) = kUntouched;
    }
    // Every page's data is in place already, remote ones included: making the range accessible
    // is all it takes (nothing is fetched, as with the userfaultfd backend).
    const int rc = sys::mprotect(ptr(pages_.app_address(first)), size_t(count) << pages_.page_shift(),
                                 PROT_READ | PROT_WRITE);
    account(static_cast<int64_t>(boundaries(lo, hi)) - static_cast<int64_t>(before));
    evict_to_capacity();
    return rc;
}

uint64_t MprotectBackend::evict_range(PageId first, PageId count) {
    if (count == 0) return 0;
    Critical c(*this);
    resolve_in_range(first, count);  // a fetch in flight there completes and leaves with the rest
    const PageId end = first + count;
    const uint64_t before = stats_.evictions.load(std::memory_order_relaxed);
    PageId victims[kVictimChunk];
    size_t k = 0;
    for (PageId p = first; p < end;) {
        const int tier = pages_.tier_of(p);
        for (const PageId touched = std::min(end, pages_.touched_end(tier)); p < touched; ++p) {
            if ((pages_.state(p) & (kStateMask | kInFlight)) != kLocal || pinned(p)) continue;
            pool_.forget(p);
            victims[k++] = p;
            if (k == kVictimChunk) {
                evict_victims(victims, k);
                k = 0;
            }
        }
        if (tier + 1 >= pages_.tiers()) break;
        p = std::max(p, pages_.tier_first_page(tier + 1));
    }
    if (k) evict_victims(victims, k);
    return stats_.evictions.load(std::memory_order_relaxed) - before;
}

void MprotectBackend::resize_pool(uint64_t pages) {
    Critical c(*this);
    pool_.set_capacity(pages);
    evict_to_capacity();
}

void MprotectBackend::set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps) {
    if (tier < 0 || tier >= kMaxTiers) return;
    Critical c(*this);
    links_[tier].configure(latency_ns, bandwidth_bps, cfg_.page_size);  // fetches in flight keep their due times
}

void MprotectBackend::reset_stats() {
    Critical c(*this);
    stats_.reset_counters();  // resident_pages stays: it is a level, not a count
    if (attribution_) attribution_->reset_faults();
    trace_.reset();
}

// ---- fork -----------------------------------------------------------------------------------------

void MprotectBackend::prepare_fork() {
    if (!running_.load(std::memory_order_acquire)) return;
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    lock();
    // Nothing stays in flight: the parent's waiters find their pages local, and the child, where
    // those threads do not exist, inherits no fetch that nobody would ever finish.
    resolve_in_range(0, static_cast<PageId>(pages_.max_pages()));
    // The lock stays held until the fork is over, so the child inherits whole state. glibc touches
    // the heap inside fork() after this: this thread's own faults are served meanwhile (Critical
    // is a no-op for the fork owner); other threads' wait.
    fork_owner_.store(self_id(), std::memory_order_relaxed);
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

void MprotectBackend::fork_done() {
    if (fork_owner_.load(std::memory_order_relaxed) != self_id()) return;
    fork_owner_.store(0, std::memory_order_relaxed);
    unlock();
}

bool MprotectBackend::start_in_child(std::string*) {
    // The only thread here is the one that forked: no fetch is in flight (prepare_fork), and the
    // slots and holds of the parent's other threads belong to threads that do not exist here.
    for (size_t s = 0; s < kMaxFetches; ++s) {
        Fetch& f = fetches_[s];
        f.used = false;
        f.page = kNoPage;
        __atomic_store_n(&f.generation, f.generation + 1, __ATOMIC_RELEASE);
        free_fetches_[s] = static_cast<uint16_t>(kMaxFetches - 1 - s);
    }
    free_count_ = kMaxFetches;
    fetch_high_ = 0;
    for (Hold& h : holds_) {
        h.first.store(kNoPage, std::memory_order_relaxed);
        h.count.store(0, std::memory_order_relaxed);
        h.busy.store(false, std::memory_order_relaxed);
    }
    holds_active_.store(0, std::memory_order_relaxed);
    trace_.reset();  // the child's own stream
    fork_owner_.store(0, std::memory_order_relaxed);
    lock_owner_.store(0, std::memory_order_release);
    return true;
}

// A child on plain memory: the engine makes its emulated memory accessible; its faults are the
// program's from now on.
void MprotectBackend::abandon_in_child() {
    running_.store(false, std::memory_order_release);
    segv::delist(this);
    fork_owner_.store(0, std::memory_order_relaxed);
    lock_owner_.store(0, std::memory_order_release);
}

}  // namespace dime
