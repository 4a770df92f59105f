// lru2q.cpp — the Linux kernel's approach to LRU: two lists instead of one exact order.
//
// A page enters the inactive list. An access while it is there sets its referenced bit; a
// second access (or being found referenced when it reaches the end of the inactive list)
// promotes it to the active list. Victims come only from the old end of the inactive list, so
// a page touched once (a scan) leaves without disturbing the active working set. The active
// list may hold at most half of the local pages (the kernel's ratio for small memories); when
// it holds more, its oldest pages go back to the inactive list, except that a referenced one
// has its bit cleared and goes round once more (second chance). Like the kernel's workingset
// detection, an evicted inactive page leaves a shadow entry (the eviction count at that time);
// if it faults back in while its refault distance is at most the active list's size, it would
// have stayed local with a larger inactive list, so it is admitted straight to the active list.
//
// Every move is paid for by an admission or an on_access, so all calls are O(1) amortised.
// Without access information (no on_access) only the refault rule promotes pages.
// Handler thread only.
#include "policies/lru2q.h"

namespace dime {

bool Lru2qPolicy::init(size_t max_pages) {
    return links_.init(max_pages) && list_.reset(max_pages) && referenced_.reset(max_pages) &&
           evicted_at_.reset(max_pages);
}

void Lru2qPolicy::on_admit(PageId p) {
    referenced_[p] = 0;
    const uint32_t shadow = evicted_at_[p];
    evicted_at_[p] = 0;
    if (shadow != 0 && uint32_t(evictions_ - shadow) <= active_.size()) {  // refault distance
        list_[p] = kActive;
        active_.push_back(links_, p);
        return;
    }
    list_[p] = kInactive;
    inactive_.push_back(links_, p);
}

void Lru2qPolicy::on_forget(PageId p) {
    if (list_[p] == kActive)
        active_.remove(links_, p);
    else if (list_[p] == kInactive)
        inactive_.remove(links_, p);
    list_[p] = kNone;
}

void Lru2qPolicy::activate(PageId p) {
    inactive_.remove(links_, p);
    referenced_[p] = 0;
    list_[p] = kActive;
    active_.push_back(links_, p);
}

void Lru2qPolicy::on_access(PageId p) {
    if (list_[p] == kInactive && referenced_[p])
        activate(p);
    else if (list_[p] != kNone)
        referenced_[p] = 1;
}

// Keeps the active list at most as long as the inactive one (and the inactive one non-empty).
void Lru2qPolicy::deactivate_excess() {
    while (!active_.empty() && (active_.size() > inactive_.size() || inactive_.empty())) {
        const PageId oldest = active_.front();
        if (referenced_[oldest] && !inactive_.empty()) {
            referenced_[oldest] = 0;
            active_.move_to_back(links_, oldest);
            continue;
        }
        active_.remove(links_, oldest);
        referenced_[oldest] = 0;
        list_[oldest] = kInactive;
        inactive_.push_back(links_, oldest);
    }
}

PageId Lru2qPolicy::pick_victim() {
    for (;;) {
        deactivate_excess();
        const PageId oldest = inactive_.front();
        if (oldest == kNoPage) return kNoPage;
        if (referenced_[oldest]) {  // used since it came in: earns the active list
            activate(oldest);
            continue;
        }
        inactive_.remove(links_, oldest);
        list_[oldest] = kNone;
        evicted_at_[oldest] = ++evictions_;
        return oldest;
    }
}

}  // namespace dime
