// placement.cpp — the placement rules' call-site half: the lock-free site cache, stack walks past
// the runtime's allocation wrappers, and name resolution on a miss (see placement.h). Runs on
// application threads inside the allocation hooks; the constructor runs once at start-up.
#include "placement.h"

#include <cstring>

#include "call_site.h"
#include "thread_role.h"

namespace dime {

Placement::Placement(const Config& cfg) {
    static std::atomic<uint64_t> instances{0};
    id_ = instances.fetch_add(1, std::memory_order_relaxed) + 1;
    const std::vector<TierConfig> tiers = cfg.tiers();
    tier_count_ = static_cast<int>(tiers.size());
    for (int i = 0; i < tier_count_ && i < kMaxTiers; ++i)
        std::strncpy(names_[i], tiers[i].name.c_str(), kMaxTierName);
    default_tier_ = cfg.tier_index(cfg.default_tier);
    if (default_tier_ < 0) default_tier_ = 0;
    for (const PlacementRule& pr : cfg.placement) {
        if (rule_count_ == static_cast<int>(kMaxPlacementRules)) break;
        Rule& r = rules_[rule_count_++];
        r.min_bytes = pr.min_bytes;
        r.max_bytes = pr.max_bytes;
        r.tier = cfg.tier_index(pr.tier);
        if (r.tier < 0) r.tier = default_tier_;
        r.needs_site = !pr.function.empty() || !pr.library.empty();
        site_rules_ = site_rules_ || r.needs_site;
        function_patterns_.push_back(pr.function);
        library_patterns_.push_back(pr.library);
    }
    sites_only_ = site_rules_;
    for (int i = 0; i < rule_count_; ++i)
        if (!rules_[i].needs_site || rules_[i].min_bytes != 0 || rules_[i].max_bytes != UINT64_MAX) sites_only_ = false;
    if (site_rules_ && !cache_.reset(kCacheEntries)) {
        // No memory for the cache: every site is resolved each time (slow, still correct).
    }
}

int Placement::tier_named(const char* name) const noexcept {
    if (name == nullptr) return -1;
    for (int i = 0; i < tier_count_; ++i)
        if (std::strcmp(names_[i], name) == 0) return i;
    return -1;
}

const char* Placement::tier_name(int tier) const noexcept {
    return tier >= 0 && tier < tier_count_ ? names_[tier] : nullptr;
}

void Placement::resolve(uintptr_t addr, uint64_t* matches, bool* runtime) noexcept {
    InternalScope internal;
    resolutions_.fetch_add(1, std::memory_order_relaxed);
    *matches = 0;
    *runtime = false;
    call_site::Description d;
    bool known = false;
    try {
        known = call_site::describe(addr, &d);
    } catch (...) {  // out of memory while naming: an unknown site
        known = false;
    }
    if (!known) return;
    *runtime = d.runtime;
    for (int i = 0; i < rule_count_; ++i) {
        if (!rules_[i].needs_site) continue;
        const std::string& fp = function_patterns_[i];
        const std::string& lp = library_patterns_[i];
        bool ok = true;
        if (!fp.empty())
            ok = !d.function.empty() &&
                 (glob_match(fp.c_str(), d.demangled.c_str()) || glob_match(fp.c_str(), d.function.c_str()));
        if (ok && !lp.empty()) ok = glob_match(lp.c_str(), d.library.c_str());
        if (ok) *matches |= uint64_t(1) << i;
    }
}

void Placement::lookup(uintptr_t addr, uint64_t* matches, bool* runtime) noexcept {
    if (cache_.size() == 0) return resolve(addr, matches, runtime);
    size_t slot = (addr * 0x9E3779B97F4A7C15ull) >> 49;  // top 15 bits: kCacheEntries slots
    for (int probe = 0; probe < kProbes; ++probe, slot = (slot + 1) & (kCacheEntries - 1)) {
        Entry& e = cache_[slot];
        const uintptr_t key = e.key.load(std::memory_order_acquire);
        if (key == addr) {
            *matches = e.matches.load(std::memory_order_relaxed);
            *runtime = e.runtime.load(std::memory_order_relaxed);
            return;
        }
        if (key != 0) continue;
        // Empty: resolve, then claim the slot. Another thread may claim it first (for this or
        // another address); then go on probing, the work is not lost for this call.
        resolve(addr, matches, runtime);
        for (; probe < kProbes; ++probe, slot = (slot + 1) & (kCacheEntries - 1)) {
            Entry& f = cache_[slot];
            uintptr_t expected = f.key.load(std::memory_order_acquire);
            if (expected == addr) return;
            if (expected != 0) continue;
            // Claim the slot with key 1 (no code lives at address 1, so no reader matches it),
            // fill it, then publish the real key.
            if (!f.key.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
                if (expected == addr) return;
                continue;
            }
            f.matches.store(*matches, std::memory_order_relaxed);
            f.runtime.store(*runtime, std::memory_order_relaxed);
            f.key.store(addr, std::memory_order_release);
            return;
        }
        return;
    }
    resolve(addr, matches, runtime);  // the neighbourhood is full: not cached
}

uint64_t Placement::site_matches(uintptr_t ret) noexcept {
    uint64_t matches = 0;
    bool runtime = false;
    lookup(ret, &matches, &runtime);
    if (!runtime) {
        int tier = default_tier_;
        for (int i = 0; i < rule_count_; ++i)
            if ((matches >> i) & 1) {
                tier = rules_[i].tier;
                break;
            }
        detail::t_site_memo = {id_, ret, matches, tier};  // tier is used only when sites_only_
        return matches;
    }

    // The allocator was called from a wrapper (operator new, strdup, ...): find the program's own
    // frame further out. The walk starts inside DiME; the frames past `ret` are the wrapper's callers.
    backtraces_.fetch_add(1, std::memory_order_relaxed);
    void* frames[kMaxFrames];
    const int n = call_site::backtrace(frames, kMaxFrames);
    int k = 0;
    while (k < n && reinterpret_cast<uintptr_t>(frames[k]) != ret) ++k;
    for (int j = k + 1; j < n; ++j) {
        lookup(reinterpret_cast<uintptr_t>(frames[j]), &matches, &runtime);
        if (!runtime) return matches;
    }
    return 0;  // no frame outside the runtime (or the walk lost `ret`): an unknown site
}

}  // namespace dime
