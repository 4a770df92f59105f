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

// Drives `policy` (freshly constructed, not yet init()ed) over the trace with a pool of
// `capacity` pages: init(distinct pages) and on_capacity(capacity) first; then per access, a
// hit calls on_access if the policy wants_access(), a miss calls pick_victim() while the pool
// is full and then on_admit(). If `victims` is given, every victim is appended to it (dense
// page numbers). `access_fraction` < 1 reports each hit to on_access only with that
// probability (independently, from a fixed-seed generator): a simple model of sampled access
// tracking; 0 is the engine without access tracking. Returns false with *error if the policy
// misbehaves (no victim while pages are local, a victim that is not local) or cannot init.
bool simulate(ReplacementPolicy& policy, const Trace& trace, uint64_t capacity, SimResult* result,
              std::string* error, std::vector<PageId>* victims = nullptr, double access_fraction = 1.0);

// Faults of Belady's optimal replacement (evict the page used again furthest in the future),
// with demand paging: every missed page is admitted.
uint64_t opt_faults(const Trace& trace, uint64_t capacity);
// Faults of exact least-recently-used replacement.
uint64_t lru_faults(const Trace& trace, uint64_t capacity);

}  // namespace dime::lab
