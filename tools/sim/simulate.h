// simulate.h — replays a trace through a replacement policy exactly as the engine drives it,
// and computes the yardsticks: Belady's OPT and exact LRU. Offline, single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policies/policy.h"
#include "trace.h"

namespace dime::lab {

struct SimResult {
    uint64_t accesses = 0;
    uint64_t faults = 0;  // misses, first accesses included (DiME's first_touch: remote)
    double hit_ratio() const { return accesses ? double(accesses - faults) / double(accesses) : 0.0; }
};

struct SimOptions {
    uint64_t capacity = 0;       // pages the pool holds
    double access_fraction = 1;  // probability that a hit is reported to on_access
    // The engine's evict_batch: 1 evicts exactly one page per miss. Larger (capped as the
    // engine caps it, at capacity/32 and 256) evicts at least a batch when over capacity and a
    // batch ahead of need after each miss once the pool is full, as the engine does when its
    // handler is idle between faults (the usual case for a program that waits on each fault).
    uint64_t evict_batch = 1;
    std::vector<PageId>* victims = nullptr;  // if set, every victim is appended (dense numbers)
};

// Drives `policy` (freshly constructed, not yet init()ed) over the trace as the engine does:
// init(distinct pages) and on_capacity(capacity) first; then per access, a hit calls on_access
// if the policy wants_access() (each with probability access_fraction, independently, from a
// fixed-seed generator: a simple model of sampled access tracking; 0 is the engine without
// access tracking); a miss calls pick_victim() while the pool is full (see evict_batch) and
// then on_admit(). Returns false with *error if the policy misbehaves (no victim while pages are
// local, a victim that is not local) or cannot init.
bool simulate(ReplacementPolicy& policy, const Trace& trace, const SimOptions& options, SimResult* result,
              std::string* error);
// The same with exact eviction (evict_batch 1).
bool simulate(ReplacementPolicy& policy, const Trace& trace, uint64_t capacity, SimResult* result,
              std::string* error, std::vector<PageId>* victims = nullptr, double access_fraction = 1.0);
// The batch the engine uses for `evict_batch` and `capacity` (FaultHandler::batch_size()).
uint64_t engine_batch(uint64_t evict_batch, uint64_t capacity);

// Faults of Belady's optimal replacement (evict the page used again furthest in the future),
// with demand paging: every missed page is admitted.
uint64_t opt_faults(const Trace& trace, uint64_t capacity);
// Faults of exact least-recently-used replacement.
uint64_t lru_faults(const Trace& trace, uint64_t capacity);

}  // namespace dime::lab
