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

void LocalPool::admit(PageId p) {
    timed(stats_, [&] { policy_->on_admit(p); return 0; });
    ++resident_;
    stats_.resident_pages.store(resident_, std::memory_order_relaxed);
}

void LocalPool::forget(PageId p) {
    policy_->on_forget(p);
    --resident_;
    stats_.resident_pages.store(resident_, std::memory_order_relaxed);
}

PageId LocalPool::evict_one() {
    const PageId victim = timed(stats_, [&] { return policy_->pick_victim(); });
    if (victim != kNoPage) {
        --resident_;
        stats_.resident_pages.store(resident_, std::memory_order_relaxed);
    }
    return victim;
}

}  // namespace dime
