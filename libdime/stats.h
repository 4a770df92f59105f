// stats.h — DiME's counters. The handler thread is the only writer (relaxed atomics, no locks);
// any thread may read a snapshot. The latency histogram is log-linear with fixed buckets so
// recording a fault never allocates.
#pragma once

#include <atomic>
#include <cstdint>

namespace dime {

// A snapshot of the counters, as reported in "totals".
struct Totals {
    uint64_t faults = 0;              // first_touch_faults + refetch_faults
    uint64_t first_touch_faults = 0;  // never-used page touched
    uint64_t refetch_faults = 0;      // evicted page touched again: a remote fetch
    uint64_t duplicate_faults = 0;    // a second notification for a page already in flight
    uint64_t evictions = 0;
    uint64_t eviction_fallbacks = 0;  // evictions or fetches that could not use UFFDIO_MOVE
    uint64_t move_uncounted = 0;      // base pages a failed UFFDIO_MOVE moved without counting (uffd_settle.h)
    // With writeback (see options.def): evictions split by whether the page was written while
    // local, what the dirty ones cost on the links, and the WP faults that tracking took.
    uint64_t dirty_evictions = 0;     // written while local (or first touched): sent to the blade
    uint64_t clean_evictions = 0;     // re-fetched, only read: dropped, the blade's copy kept
    uint64_t writeback_bytes = 0;     // dirty_evictions x page size
    uint64_t writeback_ns = 0;        // link time booked for them (transmission)
    uint64_t first_write_faults = 0;  // WP faults on a clean page's first write (tracking's cost)
    uint64_t injected_delay_ns = 0;   // delay added on top of DiME's own cost
    uint64_t handler_ns = 0;          // time the handler spent working (not waiting)
    uint64_t policy_ns = 0;           // of which in the replacement policy
    uint64_t resident_pages = 0;      // pages in the local pool now
    uint64_t fault_ns_p50 = 0;        // per-fault latency as the application sees it
    uint64_t fault_ns_p99 = 0;
    uint64_t fault_ns_max = 0;
    // Access tracking (access_tracker.h).
    uint64_t sampled_pages = 0;  // local pages taken out of the page table to observe their next access
    uint64_t hit_faults = 0;     // accesses to sampled pages (zero delay; not part of `faults`)
    uint64_t tracking_ns = 0;    // handler time spent sampling and serving hit faults
    // Prefetching (prefetcher.h). Pages known used = late hits + probe hits.
    uint64_t prefetched_pages = 0;      // fetched as neighbours of a remote fault
    uint64_t prefetch_hint_pages = 0;   // fetched because of dime_prefetch()
    uint64_t prefetch_late_hits = 0;    // faults on a page whose prefetch was still in flight
    uint64_t prefetch_probes = 0;       // prefetched pages left sampled on arrival to observe their use
    uint64_t prefetch_probe_hits = 0;   // probes touched after they arrived (a hit fault)
    uint64_t prefetch_probe_late_hits = 0;  // probes faulted on while in flight (also in prefetch_late_hits)
    uint64_t prefetch_probe_misses = 0; // probes evicted untouched
    uint64_t prefetch_hits = 0;         // prefetch_late_hits + prefetch_probe_hits: prefetched pages known used
    // (probe hits + probe late hits) / (the same + probe misses); 0 while no probe is resolved.
    double prefetch_hit_ratio = 0;
    uint64_t prefetch_window = 0;       // the window now (with prefetch: auto, where it adapted to)
};

class LatencyHistogram {
public:
    // 16 sub-buckets per power of two (a bucket spans at most 6.25% of its values), up to
    // ~2^40 ns.
    static constexpr int kSubBits = 4;
    static constexpr int kBuckets = 41 << kSubBits;

    void record(uint64_t ns);
    // Value below which `fraction` (0..1) of the recorded samples fall (bucket upper bound).
    uint64_t percentile(double fraction) const;
    uint64_t count() const;
    uint64_t max() const { return max_.load(std::memory_order_relaxed); }
    void reset();
    // Calls fn(upper_ns, count) for every bucket with samples, in increasing order (the
    // report's histogram; upper_ns is the largest value the bucket holds).
    template <typename Fn>
    void for_each_bucket(Fn fn) const {
        for (int b = 0; b < kBuckets; ++b)
            if (const uint64_t n = counts_[b].load(std::memory_order_relaxed)) fn(bucket_upper(b), n);
    }

private:
    static int bucket_of(uint64_t ns);
    static uint64_t bucket_upper(int bucket);
    std::atomic<uint64_t> counts_[kBuckets] = {};
    std::atomic<uint64_t> max_{0};
};

struct Stats {
    std::atomic<uint64_t> first_touch_faults{0};
    std::atomic<uint64_t> refetch_faults{0};
    std::atomic<uint64_t> duplicate_faults{0};
    std::atomic<uint64_t> evictions{0};
    std::atomic<uint64_t> eviction_fallbacks{0};
    std::atomic<uint64_t> move_uncounted{0};
    std::atomic<uint64_t> dirty_evictions{0};
    std::atomic<uint64_t> clean_evictions{0};
    std::atomic<uint64_t> writeback_bytes{0};
    std::atomic<uint64_t> writeback_ns{0};
    std::atomic<uint64_t> first_write_faults{0};
    std::atomic<uint64_t> injected_delay_ns{0};
    std::atomic<uint64_t> handler_ns{0};
    std::atomic<uint64_t> policy_ns{0};
    std::atomic<uint64_t> resident_pages{0};
    std::atomic<uint64_t> sampled_pages{0}, hit_faults{0}, tracking_ns{0};
    std::atomic<uint64_t> prefetched_pages{0}, prefetch_hint_pages{0}, prefetch_late_hits{0};
    std::atomic<uint64_t> prefetch_probes{0}, prefetch_probe_hits{0}, prefetch_probe_late_hits{0};
    std::atomic<uint64_t> prefetch_probe_misses{0};
    std::atomic<uint64_t> prefetch_window{0};  // a level, like resident_pages
    LatencyHistogram fault_latency;

    // Single-writer increment: cheaper than fetch_add, safe because only the handler writes.
    static void bump(std::atomic<uint64_t>& c, uint64_t by = 1) {
        c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
    }
    Totals snapshot() const;
    // Every counter and the histogram back to zero; resident_pages stays (it is a level, not a
    // count). Only where no handler thread writes concurrently: a fork child before its handler
    // starts, or the handler itself (a reset_stats request).
    void reset_counters();
};

}  // namespace dime
