// arc.cpp — ARC (Megiddo and Modha, FAST 2003), the adaptive policy.
//
// Local pages are split into T1 (seen once since they came in) and T2 (seen again: a hit, or
// a refault of a page ARC still remembers). Evicted pages are remembered, without data, as
// ghosts: B1 for those that left T1, B2 for those that left T2. The split is steered by one
// number, the target size p of T1. A fault on a B1 ghost means T1 was too small, so p grows; a
// fault on a B2 ghost means T2 was too small, so p shrinks (each by the ratio of the ghost
// lists' sizes, at least 1). The victim comes from T1 while T1 is larger than p, otherwise
// from T2. A scan fills only T1 and B1 and leaves T2, the re-used pages, alone; a workload
// with reuse at any distance up to the pool size moves p to where it is served best. No
// parameter needs tuning, which is why DiME's adaptive policy is ARC rather than CLOCK-Pro
// (whose cold/hot split also adapts but whose test periods and hand movements are harder to
// state and to check by hand).
//
// Deviations forced by the engine's interface: the victim is chosen before the page that
// caused the fault is admitted (the engine evicts while the fetch is in flight), so p is
// adapted one eviction later than in the paper and its tie-break on "x in B2" is dropped; a
// hit is an on_access, which the engine only samples. Ghosts are per-page entries of the same
// metadata arrays, so there is no separate ghost table to size: ARC keeps |T1|+|B1| <= c and
// |T1|+|T2|+|B1|+|B2| <= 2c for the current capacity c, trimming the ghosts when c shrinks.
// Every call is O(1) amortised (trimming removes what earlier calls added). Handler thread only.
#include "policies/arc.h"

#include <algorithm>

namespace dime {

bool ArcPolicy::init(size_t max_pages) { return links_.init(max_pages) && where_.reset(max_pages); }

void ArcPolicy::move(PageId p, List to) {
    if (where_[p] != kNone) list(static_cast<List>(where_[p])).remove(links_, p);
    where_[p] = to;
    if (to != kNone) list(to).push_back(links_, p);
}

void ArcPolicy::on_capacity(uint64_t pages) {
    capacity_ = pages;
    target_ = std::min(target_, capacity_);
    trim_ghosts();
}

void ArcPolicy::trim_ghosts() {
    if (capacity_ == 0) return;
    PageList &t1 = list(kT1), &t2 = list(kT2), &b1 = list(kB1), &b2 = list(kB2);
    while (!b1.empty() && t1.size() + b1.size() > capacity_) where_[b1.pop_front(links_)] = kNone;
    while (t1.size() + t2.size() + b1.size() + b2.size() > 2 * capacity_) {
        PageList& from = !b2.empty() ? b2 : b1;
        if (from.empty()) break;
        where_[from.pop_front(links_)] = kNone;
    }
}

void ArcPolicy::on_admit(PageId p) {
    const uint64_t b1 = list(kB1).size(), b2 = list(kB2).size();
    switch (where_[p]) {
        case kB1:  // T1 was too small: p would have stayed with a larger T1
            target_ = std::min(target_ + std::max<uint64_t>(b2 / b1, 1), capacity_ ? capacity_ : UINT64_MAX);
            move(p, kT2);
            break;
        case kB2:  // T2 was too small
            target_ -= std::min(target_, std::max<uint64_t>(b1 / b2, 1));
            move(p, kT2);
            break;
        case kT1:
        case kT2:  // already local (not expected): count it as a hit
            move(p, kT2);
            break;
        default:
            move(p, kT1);
    }
    trim_ghosts();
}

void ArcPolicy::on_forget(PageId p) {
    if (where_[p] == kT1 || where_[p] == kT2) move(p, kNone);
}

void ArcPolicy::on_access(PageId p) {
    if (where_[p] == kT1 || where_[p] == kT2) move(p, kT2);
}

PageId ArcPolicy::pick_victim() {
    PageList &t1 = list(kT1), &t2 = list(kT2);
    PageId victim;
    if (!t1.empty() && (t1.size() > target_ || t2.empty())) {
        victim = t1.front();
        move(victim, kB1);
    } else if (!t2.empty()) {
        victim = t2.front();
        move(victim, kB2);
    } else {
        return kNoPage;
    }
    trim_ghosts();
    return victim;
}

}  // namespace dime
