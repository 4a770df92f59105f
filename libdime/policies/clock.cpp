// clock.cpp — CLOCK (second chance): pages sit on a ring in admission order with one
// "referenced" bit each. The hand looks at the oldest page: if its bit is set (it was accessed
// since the hand last passed), the bit is cleared and the page goes round again; otherwise it is
// the victim. A page enters with its bit clear: the fault that brought it in is its admission,
// and only a later access (on_access, a sampled hit fault in the engine) earns a second chance.
// Without access information it is exactly FIFO. The ring is a list whose front is the hand, so
// "going round again" is a move to the back; every bit cleared was set by one on_access, which
// makes pick_victim O(1) amortised. Handler thread only.
#include "policies/clock.h"

namespace dime {

bool ClockPolicy::init(size_t max_pages) { return links_.init(max_pages) && referenced_.reset(max_pages); }

void ClockPolicy::on_admit(PageId p) {
    referenced_[p] = 0;
    ring_.push_back(links_, p);
}

void ClockPolicy::on_forget(PageId p) { ring_.remove(links_, p); }

PageId ClockPolicy::pick_victim() {
    for (;;) {
        const PageId hand = ring_.front();
        if (hand == kNoPage || !referenced_[hand]) return ring_.pop_front(links_);
        referenced_[hand] = 0;
        ring_.move_to_back(links_, hand);
    }
}

}  // namespace dime
