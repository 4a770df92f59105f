// prefetcher.h — which neighbours a remote fault also fetches: the next N pages (Hecatonchire's
// window), or pages along a stride detected in the fault stream, with a window that adapts to
// the measured prefetch hit ratio when configured `auto` (DiLOS). Pure logic, no system calls:
// the handler thread calls it (FaultHandler::prefetch_after), the unit tests call it directly.
//
// The fault stream hides the accesses a prefetch served: a sequential scan with window N faults
// every N + 1 pages. So a fault exactly where the previous prefetch of its stream ended
// continues that stream's stride; otherwise two consecutive faults of a stream with the same
// distance d (d != 0) make d the stride; otherwise the stride is +1. Faults are matched to one of
// kStreams streams (the nearest recent one within kMatchPages), so that threads scanning
// different regions do not break each other's strides.
#pragma once

#include <cstdint>

#include "page_table.h"

namespace dime {

class Prefetcher {
public:
    static constexpr uint32_t kMaxWindow = 256;  // options.def caps prefetch and prefetch_max_window here
    static constexpr int kStreams = 8;
    static constexpr int64_t kMatchPages = 1024;  // a fault this close to a stream's last one continues it
    // auto: the window is re-decided after this many measured prefetches (probes resolved).
    static constexpr uint32_t kAdaptEvery = 8;
    // auto: the window doubles at or above this hit ratio and halves below the lower one.
    static constexpr double kGrowAtRatio = 0.75, kShrinkBelowRatio = 0.4;
    static constexpr uint32_t kAutoStartWindow = 4;

    // window: pages per fault (0 = off) when fixed; adaptive: start at kAutoStartWindow and stay
    // within [1, max_window]. probe_percent: the share of prefetched pages measured (see probe()).
    void configure(uint32_t window, bool adaptive, uint32_t max_window, uint32_t probe_percent);
    bool enabled() const { return window_ > 0; }
    bool adaptive() const { return adaptive_; }
    uint32_t window() const { return window_; }

    // What a remote fault on page p should also fetch: `count` pages at p + stride, p + 2 stride,
    // ... (the caller skips those that are local, in flight, or outside p's tier or mapped
    // memory). count is the window, at most `limit` (what the pool allows); the next fault of a
    // stream is expected right past it. count == 0: nothing.
    struct Plan {
        int64_t stride = 1;
        uint32_t count = 0;
    };
    Plan on_fault(PageId p, uint32_t limit = kMaxWindow);

    // Whether the next prefetched page is a probe: sampled on arrival (mapped only when touched)
    // so that its use is observed. Every (100 / probe_percent)-th prefetched page, rounded.
    bool probe();
    // A probe's outcome: touched (hit) or evicted untouched (miss). Adapts the window in auto.
    void on_probe_result(bool hit);
    uint64_t probe_hits() const { return probe_hits_; }
    uint64_t probe_misses() const { return probe_misses_; }

private:
    struct Stream {
        PageId last = kNoPage;
        int64_t delta = 0;         // distance from the fault before last to last
        int64_t stride = 1;        // the stride the last plan used
        uint32_t planned = 0;      // pages the last plan asked for
        uint64_t used = 0;         // recency, for replacement
    };
    Stream* find_stream(PageId p);

    Stream streams_[kStreams];
    uint64_t clock_ = 0;
    uint32_t window_ = 0;
    uint32_t max_window_ = 0;
    bool adaptive_ = false;
    uint32_t probe_every_ = 0;  // 0: never
    uint32_t since_probe_ = 0;
    uint32_t round_hits_ = 0, round_total_ = 0;
    uint64_t probe_hits_ = 0, probe_misses_ = 0;
};

}  // namespace dime
