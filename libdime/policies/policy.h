// policy.h — the replacement-policy interface: which local page leaves when the pool is full.
//
// The counterpart of DiME's page_replacement_policy_struct. Only the handler thread calls a
// policy, so implementations need no locking; they must not allocate after init() and must
// run in O(1) (amortised) per call, because every call is on the fault path.
//
// How the engine (and the offline simulator, tools/sim) drives a policy:
//   on_capacity(c)    once before the first page, and again whenever the pool's capacity changes
//   miss on page p:   pick_victim() while the pool is over capacity, then on_admit(p)
//   hit on page p:    on_access(p), only if wants_access(); a sampled "hit fault" in the engine
//   unmap:            on_forget(p) for each local page of the region
// A page is "local" from on_admit until pick_victim returns it or on_forget names it. The
// policy may keep remembering evicted pages (ghost entries) in its per-page metadata.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "page_table.h"

namespace dime {

class ReplacementPolicy {
public:
    virtual ~ReplacementPolicy() = default;
    virtual const char* name() const = 0;
    // Called once before use with the largest page number that will ever be seen + 1;
    // the place to allocate per-page metadata (use MetaArray). False on failure.
    virtual bool init(size_t max_pages) = 0;
    // Page p just became local (fetched or first touched).
    virtual void on_admit(PageId p) = 0;
    // Page p left the pool other than by eviction (its region was unmapped).
    virtual void on_forget(PageId p) = 0;
    // Chooses a local page to evict and stops tracking it as local; kNoPage if it tracks none.
    virtual PageId pick_victim() = 0;

    // Recency (optional; the defaults keep FIFO-like policies unchanged).
    // True if the policy uses on_access: the engine then samples accesses to local pages.
    virtual bool wants_access() const { return false; }
    // Local page p was referenced (a hit). Never called for a page that is not local.
    virtual void on_access(PageId) {}
    // The pool now holds at most `pages` pages (called before the first admit and after every
    // change, e.g. LocalPool::set_capacity at run time). Sizes ghost lists and targets.
    virtual void on_capacity(uint64_t) {}
};

// Creates the policy registered under `name`, or nullptr if there is none ("plugin" is not a
// registered name: see make_policy_for below).
std::unique_ptr<ReplacementPolicy> make_policy(std::string_view name);
// The registered names, separated by '|' (for messages and docs).
std::string policy_names();
// `name` as make_policy, or, for name "plugin", the shared object at `plugin_path` (see
// plugin.h). Returns nullptr and sets *error to one line naming the culprit on failure.
std::unique_ptr<ReplacementPolicy> make_policy_for(std::string_view name, const std::string& plugin_path,
                                                   std::string* error);

}  // namespace dime
