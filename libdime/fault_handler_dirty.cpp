// fault_handler_dirty.cpp — read vs write (writeback: true): which local pages are dirty, dropping
// the clean ones for free, and booking the dirty ones' write-back on their tier's link. Runs on
// the handler thread, under the rules of the fault path (no allocation, no lock, no logging).
//
// The mechanism is synchronous userfaultfd write protection (docs/architecture.md, "Read vs
// write"): a page re-fetched for a read is mapped with UFFDIO_COPY_MODE_WP and marked kClean; its
// backing copy stays (kBackingCopy) and is exact. The first write takes a WP fault, which
// on_first_write() answers at once: the page is dirty, the protection lifted. A clean victim is
// dropped with MADV_DONTNEED and the backing copy becomes the page's remote copy: no data moves.
// A write racing with that drop cannot be lost: the page is still write-protected, so the writer
// sleeps in a WP fault, and its notification finds the page remote and fetches it back, intact.
#include <algorithm>
#include <sys/mman.h>

#include "clock.h"
#include "fault_handler.h"
#include "sys_memory.h"

namespace dime {

size_t FaultHandler::evict_clean(PageId* victims, size_t k) {
    const size_t ps = cfg_.page_size;
    constexpr uint8_t kCleanCopy = kClean | kBackingCopy;
    std::sort(victims, victims + k);  // adjacent clean pages are dropped with one madvise
    size_t dirty = 0;
    for (size_t i = 0; i < k;) {
        if ((pages_.state(victims[i]) & kCleanCopy) != kCleanCopy) {
            victims[dirty++] = victims[i++];
            continue;
        }
        size_t j = i + 1;
        while (j < k && victims[j] == victims[j - 1] + 1 && (pages_.state(victims[j]) & kCleanCopy) == kCleanCopy)
            ++j;
        sys::madvise(reinterpret_cast<void*>(pages_.app_address(victims[i])), (j - i) * ps, MADV_DONTNEED);
        for (size_t v = i; v < j; ++v) pages_.state(victims[v]) = kRemote;  // the backing copy is the page now
        Stats::bump(stats_.evictions, j - i);
        Stats::bump(stats_.clean_evictions, j - i);
        i = j;
    }
    return dirty;
}

void FaultHandler::account_dirty(const PageId* victims, size_t k) {
    const uint64_t now = now_ns();
    const bool book = !writeback_free_.load(std::memory_order_relaxed);
    uint64_t sent = 0, link_ns = 0;
    for (size_t i = 0; i < k; ++i) {
        if ((pages_.state(victims[i]) & kStateMask) != kRemote) continue;  // kept local, or dropped by the program
        if (book) link_ns += links_[pages_.tier_of(victims[i])].book_writeback(now);
        ++sent;
    }
    Stats::bump(stats_.dirty_evictions, sent);
    Stats::bump(stats_.writeback_bytes, sent * cfg_.page_size);
    Stats::bump(stats_.writeback_ns, link_ns);
}

bool FaultHandler::on_first_write(PageId p, uintptr_t addr) {
    if (!(pages_.state(p) & kClean)) return false;
    // Book-keep first: lifting the protection wakes the writer, which may read the counters at once.
    Stats::bump(stats_.first_write_faults);
    pages_.state(p) &= ~kClean;  // the backing copy stays, stale, until the page leaves (kBackingCopy)
    uffd::write_protect(fd_, addr, cfg_.page_size, /*protect=*/false, /*wake_on_clear=*/true);
    return true;
}

void FaultHandler::forget_clean_pages() {
    for (int t = 0; t < pages_.tiers(); ++t)
        for (PageId p = pages_.tier_first_page(t), end = pages_.touched_end(t); p < end; ++p)
            pages_.state(p) &= ~kClean;
}

}  // namespace dime
