// attribution.h — which allocation sites the remote traffic comes from.
//
// Application threads (in the allocation hooks) sample allocations by bytes: on average one
// sample per `attribution_sample_bytes` allocated bytes, and every allocation of at least
// `attribution_always_bytes`. A sampled allocation's call stack (glibc's backtrace()) is interned in a
// fixed table of sites, and every page the allocation covers is marked with that site. The
// handler thread charges each fault to the site marked on its page: one 2-byte load and three
// single-writer counter updates, no lock, no allocation. The report reads the table at exit.
//
// Attribution is by page: a page carries the site of the last sampled allocation that covered
// it, until another sampled allocation covers it. Faults on pages no sampled allocation ever
// covered are "unattributed". Costs and limits: docs/architecture.md, "Attribution".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "meta_memory.h"

namespace dime {

namespace detail {
// Bytes this thread may still allocate before its next sample (initial-exec: read in malloc).
// Starts at 0, so the first allocation of every thread is sampled.
inline thread_local int64_t t_bytes_until_sample __attribute__((tls_model("initial-exec"))) = 0;
inline thread_local uint64_t t_sample_rng __attribute__((tls_model("initial-exec"))) = 0;
}  // namespace detail

class Attribution {
public:
    static constexpr int kMaxFrames = 16;
    static constexpr uint32_t kMaxSites = 4095;  // site ids 1..kMaxSites; 0 = unattributed

    // Sizes the tables for the span [span_base, span_base + span_bytes) of 2^page_shift-byte
    // pages. False if metadata memory cannot be mapped.
    bool init(uintptr_t span_base, size_t span_bytes, int page_shift, uint64_t sample_bytes, uint64_t always_bytes);

    // Application thread: an allocation of n bytes at p (inside the span) was just made, and the
    // allocator's caller returns to `caller`. A subtraction and a compare unless it is sampled.
    void on_allocation(const void* p, size_t n, const void* caller) {
        int64_t& left = detail::t_bytes_until_sample;
        left -= static_cast<int64_t>(n);
        if (__builtin_expect(left > 0, 1) && n < always_bytes_) return;
        sample(p, n, caller);
    }

    // Application thread, before an allocation of n bytes: true, with the n bytes counted as
    // on_allocation() counts them, when that allocation will not be sampled (then on_allocation()
    // must not be called for it); false, counting nothing, when it would be. Lets the allocation
    // hooks decide before the block exists and end in a tail call.
    bool count_unsampled(size_t n) {
        int64_t& left = detail::t_bytes_until_sample;
        const int64_t after = left - static_cast<int64_t>(n);
        if (__builtin_expect(after <= 0 || n >= always_bytes_, 0)) return false;
        left = after;
        return true;
    }

    // Handler thread only: one fault on page `page` of the span, which injected `delay_ns` and
    // brought `bytes` over the link.
    void charge_fault(uint32_t page, uint64_t delay_ns, uint64_t bytes) {
        const uint16_t id = __atomic_load_n(&page_site_[page], __ATOMIC_RELAXED);
        Site& s = sites_[id];
        bump(s.faults, 1);
        bump(s.delay_ns, delay_ns);
        bump(s.bytes, bytes);
    }

    // A site as the report sees it: its stack (innermost first: the allocator's caller) and counters.
    struct SiteTotals {
        std::vector<uintptr_t> frames;  // return addresses
        uint64_t faults = 0, delay_ns = 0, bytes = 0;
        uint64_t sampled_allocations = 0, sampled_bytes = 0;
    };
    // The `n` sites with the most faults, most first (ties: more delay first); only sites with faults.
    std::vector<SiteTotals> top_sites(size_t n) const;
    // Faults on pages no sampled allocation covered.
    SiteTotals unattributed() const;
    uint64_t sampled_allocations() const { return samples_.load(std::memory_order_relaxed); }
    uint32_t site_count() const;
    // Allocations whose stack found no room in the table (counted as unattributed).
    uint64_t dropped_samples() const { return dropped_.load(std::memory_order_relaxed); }
    // Fault counters back to zero (a fork child, before its handler starts); sites stay.
    void reset_faults();

private:
    // Plain integers read and written with __atomic builtins: the table lives in zero-filled
    // metadata memory (MetaArray), where no constructor runs.
    struct Site {
        uint64_t key;          // hash of the stack; 0 = free slot of the table
        uint32_t ready;        // 1 once frames are written
        int32_t frame_count;
        uintptr_t frames[kMaxFrames];
        uint64_t allocations, allocated_bytes;  // sampled; any application thread
        uint64_t faults, delay_ns, bytes;       // handler thread only
    };
    static uint64_t load(const uint64_t& c) { return __atomic_load_n(&c, __ATOMIC_RELAXED); }
    // Single-writer increment (the handler is the only writer of the fault counters).
    static void bump(uint64_t& c, uint64_t by) { __atomic_store_n(&c, load(c) + by, __ATOMIC_RELAXED); }
    // Out of line: the stack walk, the interning and the page marks of one sampled allocation.
    void sample(const void* p, size_t n, const void* caller);
    // The site id of a stack, claiming a new one if needed; 0 if the table is full.
    uint16_t intern(const uintptr_t* frames, int count);
    int64_t next_interval();

    uintptr_t span_base_ = 0;
    size_t span_bytes_ = 0;
    int page_shift_ = 12;
    uint64_t sample_bytes_ = 0;
    uint64_t always_bytes_ = UINT64_MAX;
    MetaArray<uint16_t> page_site_;  // per page of the span: its site id (0 = none)
    MetaArray<Site> sites_;          // index = site id; sites_[0] collects the unattributed
    // Open-addressing index from stack hash to site id (2x the sites: short probe chains).
    static constexpr uint32_t kIndexSlots = 8192;
    MetaArray<uint16_t> index_;  // site id + 0 = empty; __atomic builtins
    std::atomic<uint32_t> next_id_{1};
    std::atomic<uint64_t> samples_{0}, dropped_{0};
};

}  // namespace dime
