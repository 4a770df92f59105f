// page_list.h — intrusive doubly linked lists of page numbers for the replacement policies
// (handler thread only). One PageLinks holds prev/next for every page; several PageLists may
// share it as long as a page is on at most one of them at a time. Every operation is O(1) and
// none allocates: the links live in MetaArrays sized once by init().
#pragma once

#include <cstddef>
#include <cstdint>

#include "meta_memory.h"
#include "page_table.h"

namespace dime {

struct PageLinks {
    MetaArray<PageId> prev, next;
    bool init(size_t max_pages) { return prev.reset(max_pages) && next.reset(max_pages); }
};

// Front = oldest (the least recently inserted), back = newest.
class PageList {
public:
    PageId front() const { return head_; }
    PageId back() const { return tail_; }
    uint64_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    void push_back(PageLinks& l, PageId p) {
        l.prev[p] = tail_;
        l.next[p] = kNoPage;
        if (tail_ != kNoPage)
            l.next[tail_] = p;
        else
            head_ = p;
        tail_ = p;
        ++size_;
    }

    // p must be on this list.
    void remove(PageLinks& l, PageId p) {
        const PageId before = l.prev[p], after = l.next[p];
        if (before != kNoPage)
            l.next[before] = after;
        else
            head_ = after;
        if (after != kNoPage)
            l.prev[after] = before;
        else
            tail_ = before;
        --size_;
    }

    // Removes and returns the oldest page; kNoPage if empty.
    PageId pop_front(PageLinks& l) {
        const PageId p = head_;
        if (p != kNoPage) remove(l, p);
        return p;
    }

    // Moves p (on this list) to the back.
    void move_to_back(PageLinks& l, PageId p) {
        if (p == tail_) return;
        remove(l, p);
        push_back(l, p);
    }

private:
    PageId head_ = kNoPage, tail_ = kNoPage;
    uint64_t size_ = 0;
};

}  // namespace dime
