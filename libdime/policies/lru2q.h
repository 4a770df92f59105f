// lru2q.h — two-list LRU approximation after the Linux kernel's active/inactive lists (see
// lru2q.cpp). Handler thread only.
#pragma once

#include "policies/page_list.h"
#include "policies/policy.h"

namespace dime {

class Lru2qPolicy final : public ReplacementPolicy {
public:
    const char* name() const override { return "lru2q"; }
    bool init(size_t max_pages) override;
    void on_admit(PageId p) override;
    void on_forget(PageId p) override;
    PageId pick_victim() override;
    bool wants_access() const override { return true; }
    void on_access(PageId p) override;

    // For tests and the docs: which list a page is on.
    enum List : uint8_t { kNone = 0, kInactive = 1, kActive = 2 };
    List list_of(PageId p) const { return static_cast<List>(list_[p]); }
    uint64_t active_size() const { return active_.size(); }
    uint64_t inactive_size() const { return inactive_.size(); }

private:
    void activate(PageId p);
    void deactivate_excess();

    PageLinks links_;
    PageList inactive_, active_;  // front = least recently inserted
    MetaArray<uint8_t> list_, referenced_;
    // Shadow entries (the kernel's workingset detection): the eviction count just after an
    // inactive page left (counts start at 1; 0 = none), to measure its refault distance.
    MetaArray<uint32_t> evicted_at_;
    uint32_t evictions_ = 0;
};

}  // namespace dime
