// local_pool.h — the bounded set of pages that are local (mapped in the application's
// address space). Admission and victim choice go through the replacement policy; the
// mechanics of moving a victim out belong to the fault handler. Handler thread only, except
// capacity, which any thread may change (it is read once per fault); the policy hears of a
// change (on_capacity) at the next admit or eviction, on the handler thread.
//
// In an instance (instance.h) the capacity is the instance's and the pool is over capacity when
// it holds more than its limit: its fair share of the instance, or what the other members leave
// free if that is more. Every change of the pool's count is published to the member's slot.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "instance.h"
#include "policies/policy.h"
#include "stats.h"

namespace dime {

class LocalPool {
public:
    LocalPool(std::unique_ptr<ReplacementPolicy> policy, uint64_t capacity, Stats& stats)
        : policy_(std::move(policy)), capacity_(capacity), stats_(stats) {}

    // Sizes the policy's metadata and tells it the capacity.
    bool init(size_t max_pages);
    const char* policy_name() const { return policy_->name(); }
    // True if the policy uses access information (a sampled hit: access()).
    bool policy_wants_access() const { return wants_access_; }

    // A fetch was scheduled: hold a slot for its page, so room is made while it is in flight.
    void reserve() {
        ++reserved_;
        publish();
    }
    // The reserved page arrived (reserve() was called for it) / a page arrived unannounced.
    void admit_reserved(PageId p) { --reserved_; admit(p); }
    void cancel_reservation() {
        --reserved_;
        publish();
    }
    void admit(PageId p);
    void forget(PageId p);
    bool over_capacity() const { return occupancy() > limit(); }
    // Pages local or on their way (reserved).
    uint64_t occupancy() const { return resident_ + reserved_; }
    uint64_t excess() const {
        const uint64_t l = limit();
        return occupancy() > l ? occupancy() - l : 0;
    }
    // The most pages the pool may hold now: its capacity, or in an instance its limit there.
    uint64_t limit() const {
        const Instance* in = instance_.load(std::memory_order_relaxed);
        return in ? in->limit() : capacity();
    }
    // From now on the pool counts against `in`'s budget (nullptr: its own capacity again).
    // Handler thread (or before it runs).
    void share(Instance* in) {
        instance_.store(in, std::memory_order_relaxed);
        publish();
    }
    // Picks the next page to leave and removes it from the pool; kNoPage if the pool is empty.
    PageId evict_one();
    // Local page p was accessed (a sampled "hit fault"): tells the policy if it wants to know.
    void access(PageId p);

    uint64_t resident() const { return resident_; }
    // The instance's capacity in an instance (set_capacity then changes it for every member).
    uint64_t capacity() const {
        const Instance* in = instance_.load(std::memory_order_relaxed);
        return in ? in->capacity() : capacity_.load(std::memory_order_relaxed);
    }
    void set_capacity(uint64_t pages) {
        if (Instance* in = instance_.load(std::memory_order_relaxed))
            in->set_capacity(pages);
        else
            capacity_.store(pages, std::memory_order_relaxed);
    }

private:
    void publish() {
        if (Instance* in = instance_.load(std::memory_order_relaxed)) in->publish(occupancy(), resident_);
    }
    // Tells the policy about a capacity change made since it last heard (handler thread).
    void sync_capacity() {
        const uint64_t c = capacity();
        if (c != told_capacity_) {
            told_capacity_ = c;
            policy_->on_capacity(c);
        }
    }

    std::unique_ptr<ReplacementPolicy> policy_;
    bool wants_access_ = false;
    uint64_t told_capacity_ = 0;  // the capacity the policy was last given
    std::atomic<uint64_t> capacity_;
    uint64_t resident_ = 0;
    uint64_t reserved_ = 0;  // fetches in flight
    Stats& stats_;
    std::atomic<Instance*> instance_{nullptr};  // the instance whose budget the pool counts against
};

}  // namespace dime
