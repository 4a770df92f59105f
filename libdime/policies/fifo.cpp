// fifo.cpp — first in, first out: DiME's original policy. The oldest admitted page leaves first.
// An intrusive doubly linked list over page numbers gives O(1) admit, forget and victim choice.
#include "policies/fifo.h"

namespace dime {

bool FifoPolicy::init(size_t max_pages) { return prev_.reset(max_pages) && next_.reset(max_pages); }

void FifoPolicy::on_admit(PageId p) {
    prev_[p] = tail_;
    next_[p] = kNoPage;
    if (tail_ != kNoPage)
        next_[tail_] = p;
    else
        head_ = p;
    tail_ = p;
}

void FifoPolicy::on_forget(PageId p) {
    const PageId before = prev_[p], after = next_[p];
    if (before != kNoPage)
        next_[before] = after;
    else
        head_ = after;
    if (after != kNoPage)
        prev_[after] = before;
    else
        tail_ = before;
}

PageId FifoPolicy::pick_victim() {
    const PageId victim = head_;
    if (victim != kNoPage) on_forget(victim);
    return victim;
}

}  // namespace dime
