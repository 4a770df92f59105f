// policy.h — the replacement-policy interface: which local page leaves when the pool is full.
//
// The counterpart of DiME's page_replacement_policy_struct. Only the handler thread calls a
// policy, so implementations need no locking; they must not allocate after init() and must
// run in O(1) (amortised) per call, because every call is on the fault path.
#pragma once

#include <cstddef>
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
    // Chooses a local page to evict and stops tracking it; kNoPage if it tracks none.
    virtual PageId pick_victim() = 0;
};

// Creates the policy registered under `name`, or nullptr if there is none.
std::unique_ptr<ReplacementPolicy> make_policy(std::string_view name);
// The registered names, separated by '|' (for messages and docs).
std::string policy_names();

}  // namespace dime
