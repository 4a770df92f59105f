// random.h — uniform random replacement (see random.cpp). Handler thread only.
#pragma once

#include "policies/policy.h"

namespace dime {

class RandomPolicy final : public ReplacementPolicy {
public:
    // A fixed default seed makes runs and simulations repeatable.
    explicit RandomPolicy(uint64_t seed = 0x9e3779b97f4a7c15ull) : rng_(seed) {}
    const char* name() const override { return "random"; }
    bool init(size_t max_pages) override;
    void on_admit(PageId p) override;
    void on_forget(PageId p) override;
    PageId pick_victim() override;

private:
    uint64_t next_random();
    // Local pages packed into slots_[0, count_); where_[p] is p's slot.
    MetaArray<PageId> slots_, where_;
    uint64_t count_ = 0;
    uint64_t rng_;
};

}  // namespace dime
