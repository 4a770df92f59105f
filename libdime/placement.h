// placement.h — decides the tier of each allocation from its size and call site (the rules of
// YAML `placement:`, first match wins, else default_tier). Built once at start-up from the
// Config; then called on application threads from the allocation hooks, lock-free.
//
// Cost model:
// - no rules: one comparison;
// - size rules only: a scan of at most kMaxPlacementRules size windows;
// - a rule with `function` or `library`: the caller's return address is looked up in a lock-free
//   cache (open addressing, entries are written once and never change) that holds, per code
//   address, whether it lies in the runtime and which rules' patterns match it. When the caller is
//   in the runtime (operator new in libstdc++, strdup in libc), the stack is walked with
//   unw_backtrace to the first frame outside it, the program's call site, which is looked up the
//   same way. Names are resolved (and patterns matched) only on a miss.
//
// The call site is the innermost frame outside libc, libstdc++, libgcc_s, ld.so and libdime:
// `function` matches its symbol name (raw or demangled), `library` the basename of its object.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "meta_memory.h"

namespace dime {

class Placement;

namespace detail {
// The last call site this thread looked up: a loop allocating from one site skips the cache.
struct SiteMemo {
    uint64_t owner;  // Placement::id_ (an address could be reused by a later instance)
    uintptr_t ret;
    uint64_t matches;
    int tier;  // the decision, when no rule looks at sizes
};
inline thread_local SiteMemo t_site_memo __attribute__((tls_model("initial-exec"))) = {0, 0, 0, 0};
}  // namespace detail

class Placement {
public:
    // `cfg` must have passed validate() (every rule names a known tier).
    explicit Placement(const Config& cfg);
    Placement(const Placement&) = delete;
    Placement& operator=(const Placement&) = delete;

    // The tier (an index into cfg.tiers()) of an allocation of `n` bytes whose call to the
    // allocator returns to `ret` (__builtin_return_address(0) in the hook).
    int choose(size_t n, const void* ret) noexcept {
        if (sites_only_) {  // the tier depends on the call site alone: one memo compare
            const detail::SiteMemo& m = detail::t_site_memo;
            if (m.ret == reinterpret_cast<uintptr_t>(ret) && m.owner == id_) return m.tier;
        }
        const int t = rule_tier(n, ret);
        return t >= 0 ? t : default_tier_;
    }
    // The tier of the first rule that matches, or -1 when none does (realloc keeps its tier then).
    int rule_tier(size_t n, const void* ret) noexcept {
        if (rule_count_ == 0) return -1;
        uint64_t sites = 0;
        bool have_sites = false;
        for (int i = 0; i < rule_count_; ++i) {
            const Rule& r = rules_[i];
            if (n < r.min_bytes || n > r.max_bytes) continue;
            if (!r.needs_site) return r.tier;
            if (!have_sites) {
                const detail::SiteMemo& m = detail::t_site_memo;
                const auto addr = reinterpret_cast<uintptr_t>(ret);
                sites = m.ret == addr && m.owner == id_ ? m.matches : site_matches(addr);
                have_sites = true;
            }
            if ((sites >> i) & 1) return r.tier;
        }
        return -1;
    }

    int default_tier() const noexcept { return default_tier_; }
    int tier_count() const noexcept { return tier_count_; }
    // The index of the tier with this name, or -1. Never allocates.
    int tier_named(const char* name) const noexcept;
    // The tier's name (static storage for the life of this object), or nullptr.
    const char* tier_name(int tier) const noexcept;
    bool has_site_rules() const noexcept { return site_rules_; }
    // Every rule has a function or library pattern and no size bounds: the tier depends on the
    // call site alone.
    bool sites_only() const noexcept { return sites_only_; }

    // Cache statistics, for tests and benchmarks.
    uint64_t resolutions() const noexcept { return resolutions_.load(std::memory_order_relaxed); }
    uint64_t backtraces() const noexcept { return backtraces_.load(std::memory_order_relaxed); }

private:
    struct Rule {
        uint64_t min_bytes;
        uint64_t max_bytes;
        int tier;
        bool needs_site;
    };
    // One cache slot. `key` is published last (release), so a reader that sees it sees the rest.
    struct Entry {
        std::atomic<uintptr_t> key;
        std::atomic<uint64_t> matches;  // bit i: rule i's function/library patterns match
        std::atomic<bool> runtime;      // the address is in the runtime: walk further out
    };
    static constexpr size_t kCacheEntries = size_t(1) << 15;
    static constexpr int kProbes = 16;
    static constexpr int kMaxFrames = 24;

    // Bit mask of the rules whose patterns match the call site of an allocation returning to ret.
    uint64_t site_matches(uintptr_t ret) noexcept;
    // What the cache knows of code address `addr`, resolving (and caching) it on a miss.
    void lookup(uintptr_t addr, uint64_t* matches, bool* runtime) noexcept;
    void resolve(uintptr_t addr, uint64_t* matches, bool* runtime) noexcept;

    Rule rules_[kMaxPlacementRules] = {};
    uint64_t id_ = 0;  // unique per instance, never 0
    int rule_count_ = 0;
    bool site_rules_ = false;
    bool sites_only_ = false;  // every rule has a site pattern and no size bounds
    int default_tier_ = 0;
    int tier_count_ = 0;
    char names_[kMaxTiers][kMaxTierName + 1] = {};
    std::vector<std::string> function_patterns_;  // per rule; "" = any
    std::vector<std::string> library_patterns_;
    MetaArray<Entry> cache_;
    std::atomic<uint64_t> resolutions_{0};
    std::atomic<uint64_t> backtraces_{0};
};

}  // namespace dime
