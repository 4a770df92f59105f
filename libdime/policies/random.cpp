// random.cpp — uniform random replacement: every local page is equally likely to leave. A
// baseline that keeps no order at all. Local pages are packed into a dense array (a page's slot
// is kept per page), so admit, forget and victim choice are O(1) swap-removes; the generator is
// splitmix64, seeded per policy so that a run is repeatable. Handler thread only.
#include "policies/random.h"

namespace dime {

bool RandomPolicy::init(size_t max_pages) { return slots_.reset(max_pages) && where_.reset(max_pages); }

uint64_t RandomPolicy::next_random() {
    uint64_t z = (rng_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void RandomPolicy::on_admit(PageId p) {
    where_[p] = static_cast<PageId>(count_);
    slots_[count_++] = p;
}

void RandomPolicy::on_forget(PageId p) {
    const PageId slot = where_[p];
    const PageId last = slots_[--count_];
    slots_[slot] = last;
    where_[last] = slot;
}

PageId RandomPolicy::pick_victim() {
    if (count_ == 0) return kNoPage;
    // Multiply-shift maps 64 random bits onto [0, count_) without a division.
    const auto slot = static_cast<uint64_t>((static_cast<unsigned __int128>(next_random()) * count_) >> 64);
    const PageId victim = slots_[slot];
    on_forget(victim);
    return victim;
}

}  // namespace dime
