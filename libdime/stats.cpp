// stats.cpp — counter snapshots and the log-linear latency histogram (see stats.h).
#include "stats.h"

namespace dime {

int LatencyHistogram::bucket_of(uint64_t ns) {
    // Values below 2^kSubBits get their own buckets; above, each power of two is split in
    // 2^kSubBits equal parts.
    if (ns < (1u << kSubBits)) return static_cast<int>(ns);
    const int msb = 63 - __builtin_clzll(ns);
    const int sub = static_cast<int>((ns >> (msb - kSubBits)) & ((1u << kSubBits) - 1));
    const int b = ((msb - kSubBits + 1) << kSubBits) + sub;
    return b < kBuckets ? b : kBuckets - 1;
}

uint64_t LatencyHistogram::bucket_upper(int b) {
    if (b < (1 << kSubBits)) return static_cast<uint64_t>(b);
    const int msb = (b >> kSubBits) + kSubBits - 1;
    const uint64_t sub = static_cast<uint64_t>(b & ((1 << kSubBits) - 1));
    const uint64_t lower = (1ull << msb) + (sub << (msb - kSubBits));
    return lower + (1ull << (msb - kSubBits)) - 1;
}

void LatencyHistogram::record(uint64_t ns) {
    Stats::bump(counts_[bucket_of(ns)]);
    if (ns > max_.load(std::memory_order_relaxed)) max_.store(ns, std::memory_order_relaxed);
}

uint64_t LatencyHistogram::count() const {
    uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
}

uint64_t LatencyHistogram::percentile(double fraction) const {
    const uint64_t total = count();
    if (total == 0) return 0;
    const auto rank = static_cast<uint64_t>(fraction * double(total - 1)) + 1;
    uint64_t seen = 0;
    for (int b = 0; b < kBuckets; ++b) {
        seen += counts_[b].load(std::memory_order_relaxed);
        if (seen >= rank) {
            const uint64_t upper = bucket_upper(b);
            const uint64_t mx = max();
            return upper < mx ? upper : mx;
        }
    }
    return max();
}

void LatencyHistogram::reset() {
    for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
    max_.store(0, std::memory_order_relaxed);
}

Totals Stats::snapshot() const {
    Totals t;
    auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    t.first_touch_faults = get(first_touch_faults);
    t.refetch_faults = get(refetch_faults);
    t.faults = t.first_touch_faults + t.refetch_faults;
    t.duplicate_faults = get(duplicate_faults);
    t.evictions = get(evictions);
    t.eviction_fallbacks = get(eviction_fallbacks);
    t.move_uncounted = get(move_uncounted);
    t.dirty_evictions = get(dirty_evictions);
    t.clean_evictions = get(clean_evictions);
    t.writeback_bytes = get(writeback_bytes);
    t.writeback_ns = get(writeback_ns);
    t.first_write_faults = get(first_write_faults);
    t.injected_delay_ns = get(injected_delay_ns);
    t.handler_ns = get(handler_ns);
    t.policy_ns = get(policy_ns);
    t.resident_pages = get(resident_pages);
    t.fault_ns_p50 = fault_latency.percentile(0.50);
    t.fault_ns_p99 = fault_latency.percentile(0.99);
    t.fault_ns_max = fault_latency.max();
    t.sampled_pages = get(sampled_pages);
    t.hit_faults = get(hit_faults);
    t.tracking_ns = get(tracking_ns);
    t.prefetched_pages = get(prefetched_pages);
    t.prefetch_hint_pages = get(prefetch_hint_pages);
    t.prefetch_late_hits = get(prefetch_late_hits);
    t.prefetch_probes = get(prefetch_probes);
    t.prefetch_probe_hits = get(prefetch_probe_hits);
    t.prefetch_probe_late_hits = get(prefetch_probe_late_hits);
    t.prefetch_window = get(prefetch_window);
    t.prefetch_probe_misses = get(prefetch_probe_misses);
    t.prefetch_hits = t.prefetch_late_hits + t.prefetch_probe_hits;
    const uint64_t used = t.prefetch_probe_hits + t.prefetch_probe_late_hits;
    t.prefetch_hit_ratio = used + t.prefetch_probe_misses ? double(used) / double(used + t.prefetch_probe_misses) : 0.0;
    return t;
}

void Stats::reset_counters() {
    for (auto* c : {&first_touch_faults, &refetch_faults, &duplicate_faults, &evictions, &eviction_fallbacks, &move_uncounted,
                    &dirty_evictions, &clean_evictions, &writeback_bytes, &writeback_ns, &first_write_faults,
                    &injected_delay_ns, &handler_ns, &policy_ns, &sampled_pages, &hit_faults, &tracking_ns,
                    &prefetched_pages, &prefetch_hint_pages, &prefetch_late_hits, &prefetch_probes,
                    &prefetch_probe_hits, &prefetch_probe_late_hits, &prefetch_probe_misses})
        c->store(0, std::memory_order_relaxed);
    fault_latency.reset();
}

}  // namespace dime
