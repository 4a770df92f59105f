// local_pool.cpp — pool accounting around the replacement policy (see local_pool.h).
#include "local_pool.h"

#include "clock.h"

namespace dime {

// Time spent inside the policy is reported separately, as DiME did.
template <typename F>
static auto timed(Stats& stats, F&& f) {
    const uint64_t t0 = now_ns();
    auto result = f();
    Stats::bump(stats.policy_ns, now_ns() - t0);
    return result;
}

bool LocalPool::init(size_t max_pages) {
    if (!policy_->init(max_pages)) return false;
    wants_access_ = policy_->wants_access();
    told_capacity_ = capacity();
    policy_->on_capacity(told_capacity_);
    return true;
}

void LocalPool::admit(PageId p) {
    sync_capacity();
    timed(stats_, [&] { policy_->on_admit(p); return 0; });
    ++resident_;
    stats_.resident_pages.store(resident_, std::memory_order_relaxed);
    publish();
}

void LocalPool::forget(PageId p) {
    policy_->on_forget(p);
    --resident_;
    stats_.resident_pages.store(resident_, std::memory_order_relaxed);
    publish();
}

PageId LocalPool::evict_one() {
    sync_capacity();
    const PageId victim = timed(stats_, [&] { return policy_->pick_victim(); });
    if (victim != kNoPage) {
        --resident_;
        stats_.resident_pages.store(resident_, std::memory_order_relaxed);
        publish();
    }
    return victim;
}

void LocalPool::access(PageId p) {
    if (wants_access_) timed(stats_, [&] { policy_->on_access(p); return 0; });
}

}  // namespace dime
