// simulate.cpp — the policy lab's replay loop (the engine's calling sequence without the
// memory), Belady's OPT with a lazy max-heap on next use, and exact LRU with a linked list.
// Offline, single-threaded.
#include "simulate.h"

#include <algorithm>
#include <limits>
#include <queue>
#include <utility>

namespace dime::lab {

uint64_t engine_batch(uint64_t evict_batch, uint64_t capacity) {
    constexpr uint64_t kMaxBatch = 256;  // options.def's bound on evict_batch
    return std::max<uint64_t>(std::min({evict_batch, std::max<uint64_t>(capacity / 32, 1), kMaxBatch}), 1);
}

bool simulate(ReplacementPolicy& policy, const Trace& trace, const SimOptions& options, SimResult* result,
              std::string* error) {
    const std::string who = std::string("policy '") + policy.name() + "'";
    const uint64_t capacity = options.capacity;
    if (capacity == 0) {
        *error = "the pool must hold at least one page";
        return false;
    }
    if (!policy.init(trace.distinct_pages ? trace.distinct_pages : 1)) {
        *error = who + ": init failed";
        return false;
    }
    policy.on_capacity(capacity);
    const uint64_t batch = engine_batch(options.evict_batch, capacity);
    const bool wants_access = policy.wants_access() && options.access_fraction > 0;
    // Hits are reported when a 64-bit random number falls below this threshold.
    const bool report_all = options.access_fraction >= 1;
    const auto threshold = static_cast<uint64_t>(options.access_fraction * 18446744073709551616.0);
    uint64_t rng = 0x243f6a8885a308d3ull;
    auto sampled = [&] {
        uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return (z ^ (z >> 31)) < threshold;
    };
    std::vector<uint8_t> local(trace.distinct_pages, 0);
    uint64_t resident = 0;
    auto evict = [&](uint64_t n) {
        for (; n > 0; --n) {
            const PageId v = policy.pick_victim();
            if (v == kNoPage) {
                *error = who + " named no victim while " + std::to_string(resident) + " pages were local";
                return false;
            }
            if (v >= local.size() || !local[v]) {
                *error = who + " named page " + std::to_string(v) + " as victim, which is not local";
                return false;
            }
            local[v] = 0;
            --resident;
            if (options.victims) options.victims->push_back(v);
        }
        return true;
    };
    SimResult r;
    for (PageId p : trace.accesses) {
        ++r.accesses;
        if (local[p]) {
            if (wants_access && (report_all || sampled())) policy.on_access(p);
            continue;
        }
        ++r.faults;
        // The engine reserves a slot for the page being fetched and, if occupancy (resident +
        // reserved) exceeds the capacity, evicts the excess but at least a batch
        // (evict_to_capacity); the page is admitted when its fetch completes.
        if (resident + 1 > capacity && !evict(std::max(resident + 1 - capacity, batch))) return false;
        policy.on_admit(p);
        local[p] = 1;
        ++resident;
        // Then the handler is idle until the next fault: with batches, a full pool evicts a
        // batch ahead of need (evict_when_idle).
        if (batch > 1 && resident >= capacity && !evict(std::max(resident - capacity, batch))) return false;
    }
    *result = r;
    return true;
}

bool simulate(ReplacementPolicy& policy, const Trace& trace, uint64_t capacity, SimResult* result,
              std::string* error, std::vector<PageId>* victims, double access_fraction) {
    SimOptions options;
    options.capacity = capacity;
    options.victims = victims;
    options.access_fraction = access_fraction;
    return simulate(policy, trace, options, result, error);
}

uint64_t opt_faults(const Trace& trace, uint64_t capacity) {
    const size_t n = trace.accesses.size();
    constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
    // next_use[i]: the position of the next access to the page accessed at i.
    std::vector<uint64_t> next_use(n), last(trace.distinct_pages, kNever);
    for (size_t i = n; i-- > 0;) {
        const PageId p = trace.accesses[i];
        next_use[i] = last[p];
        last[p] = i;
    }
    // Max-heap of (next use, page); an entry is stale once the page left or was used again.
    std::priority_queue<std::pair<uint64_t, PageId>> heap;
    std::vector<uint64_t> current(trace.distinct_pages, 0);
    std::vector<uint8_t> local(trace.distinct_pages, 0);
    uint64_t resident = 0, faults = 0;
    for (size_t i = 0; i < n; ++i) {
        const PageId p = trace.accesses[i];
        if (!local[p]) {
            ++faults;
            if (resident >= capacity) {
                for (;;) {
                    auto [when, q] = heap.top();
                    heap.pop();
                    if (local[q] && current[q] == when) {
                        local[q] = 0;
                        --resident;
                        break;
                    }
                }
            }
            local[p] = 1;
            ++resident;
        }
        current[p] = next_use[i];
        heap.emplace(next_use[i], p);
    }
    return faults;
}

uint64_t lru_faults(const Trace& trace, uint64_t capacity) {
    // A doubly linked list over dense page numbers: front = least recently used.
    const PageId none = kNoPage;
    std::vector<PageId> prev(trace.distinct_pages, none), next(trace.distinct_pages, none);
    std::vector<uint8_t> local(trace.distinct_pages, 0);
    PageId head = none, tail = none;
    auto unlink = [&](PageId p) {
        (prev[p] != none ? next[prev[p]] : head) = next[p];
        (next[p] != none ? prev[next[p]] : tail) = prev[p];
    };
    auto push_back = [&](PageId p) {
        prev[p] = tail;
        next[p] = none;
        (tail != none ? next[tail] : head) = p;
        tail = p;
    };
    uint64_t resident = 0, faults = 0;
    for (PageId p : trace.accesses) {
        if (local[p]) {
            unlink(p);
        } else {
            ++faults;
            if (resident >= capacity) {
                const PageId lru = head;
                unlink(lru);
                local[lru] = 0;
                --resident;
            }
            local[p] = 1;
            ++resident;
        }
        push_back(p);
    }
    return faults;
}

}  // namespace dime::lab
