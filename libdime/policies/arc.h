// arc.h — Adaptive Replacement Cache (see arc.cpp). Handler thread only.
#pragma once

#include "policies/page_list.h"
#include "policies/policy.h"

namespace dime {

class ArcPolicy final : public ReplacementPolicy {
public:
    const char* name() const override { return "arc"; }
    bool init(size_t max_pages) override;
    void on_admit(PageId p) override;
    void on_forget(PageId p) override;
    PageId pick_victim() override;
    bool wants_access() const override { return true; }
    void on_access(PageId p) override;
    void on_capacity(uint64_t pages) override;

    // For tests and the docs.
    enum List : uint8_t { kNone = 0, kT1 = 1, kT2 = 2, kB1 = 3, kB2 = 4 };
    List list_of(PageId p) const { return static_cast<List>(where_[p]); }
    uint64_t target_t1() const { return target_; }
    uint64_t size(List l) const { return list(l).size(); }

private:
    PageList& list(List l) { return lists_[l - 1]; }
    const PageList& list(List l) const { return lists_[l - 1]; }
    void move(PageId p, List to);
    void trim_ghosts();

    PageLinks links_;
    PageList lists_[4];          // T1, T2, B1, B2; front = least recently used
    MetaArray<uint8_t> where_;   // List of each page
    uint64_t capacity_ = 0;      // c; 0 until on_capacity: ghosts are then not trimmed
    uint64_t target_ = 0;        // p: the size T1 is steered towards, 0..c
};

}  // namespace dime
