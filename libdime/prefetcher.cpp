// prefetcher.cpp — window, stride and adaptation logic of prefetching (see prefetcher.h). Handler
// thread only; no system calls, no allocation.
#include "prefetcher.h"

#include <algorithm>

namespace dime {

void Prefetcher::configure(uint32_t window, bool adaptive, uint32_t max_window, uint32_t probe_percent) {
    max_window_ = std::clamp<uint32_t>(max_window, 1, kMaxWindow);
    adaptive_ = adaptive;
    window_ = adaptive ? std::min(kAutoStartWindow, max_window_) : std::min(window, kMaxWindow);
    probe_percent = std::min<uint32_t>(probe_percent, 100);
    probe_every_ = probe_percent ? (100 + probe_percent / 2) / probe_percent : 0;
    since_probe_ = 0;
    round_hits_ = round_total_ = 0;
    probe_hits_ = probe_misses_ = 0;
    for (Stream& s : streams_) s = Stream{};
}

// The stream a fault on p continues: the one whose last plan ended right before p, else the one
// whose last fault is nearest (within kMatchPages), else the least recently used one, reset.
Prefetcher::Stream* Prefetcher::find_stream(PageId p) {
    Stream* nearest = nullptr;
    int64_t best = kMatchPages + 1;
    Stream* oldest = &streams_[0];
    for (Stream& s : streams_) {
        if (s.used < oldest->used) oldest = &s;
        if (s.last == kNoPage) continue;
        const int64_t d = int64_t(p) - int64_t(s.last);
        if (d == s.stride * (int64_t(s.planned) + 1)) return &s;
        const int64_t dist = d < 0 ? -d : d;
        if (dist < best) {
            best = dist;
            nearest = &s;
        }
    }
    if (nearest) return nearest;
    *oldest = Stream{};
    return oldest;
}

Prefetcher::Plan Prefetcher::on_fault(PageId p, uint32_t limit) {
    if (!enabled()) return {};
    Stream& s = *find_stream(p);
    s.used = ++clock_;
    if (s.last != kNoPage) {
        const int64_t d = int64_t(p) - int64_t(s.last);
        if (d == s.stride * (int64_t(s.planned) + 1)) {
            // Right past what the last plan fetched: the stride goes on (the accesses in between
            // were served by the prefetch and caused no fault).
        } else if (d != 0 && d == s.delta) {
            s.stride = d;  // two faults in a row at the same distance
        } else {
            s.stride = 1;
        }
        s.delta = d;
    }
    s.last = p;
    s.planned = std::min(window_, limit);
    return {s.stride, s.planned};
}

bool Prefetcher::probe() {
    if (probe_every_ == 0) return false;
    if (++since_probe_ < probe_every_) return false;
    since_probe_ = 0;
    return true;
}

void Prefetcher::on_probe_result(bool hit) {
    ++(hit ? probe_hits_ : probe_misses_);
    if (!adaptive_) return;
    round_hits_ += hit;
    if (++round_total_ < kAdaptEvery) return;
    const double ratio = double(round_hits_) / double(round_total_);
    if (ratio >= kGrowAtRatio)
        window_ = std::min(window_ * 2, max_window_);
    else if (ratio < kShrinkBelowRatio)
        window_ = std::max<uint32_t>(window_ / 2, 1);
    round_hits_ = round_total_ = 0;
}

}  // namespace dime
