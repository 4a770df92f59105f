// registry.cpp — replacement policies by name. Add a policy: one line in kPolicies, and its
// name in the `policy` choice of options.def (plus docs/policies.md).
#include <string>

#include "policies/arc.h"
#include "policies/clock.h"
#include "policies/fifo.h"
#include "policies/lru2q.h"
#include "policies/plugin.h"
#include "policies/policy.h"
#include "policies/random.h"

namespace dime {
namespace {

struct PolicyEntry {
    const char* name;
    std::unique_ptr<ReplacementPolicy> (*make)();
};

template <typename P>
std::unique_ptr<ReplacementPolicy> make_one() {
    return std::make_unique<P>();
}

constexpr PolicyEntry kPolicies[] = {
    {"fifo", &make_one<FifoPolicy>},
    {"random", &make_one<RandomPolicy>},
    {"clock", &make_one<ClockPolicy>},
    {"lru2q", &make_one<Lru2qPolicy>},
    {"arc", &make_one<ArcPolicy>},
};

}  // namespace

std::unique_ptr<ReplacementPolicy> make_policy(std::string_view name) {
    for (const auto& entry : kPolicies)
        if (name == entry.name) return entry.make();
    return nullptr;
}

std::string policy_names() {
    std::string names;
    for (const auto& entry : kPolicies) {
        if (!names.empty()) names += '|';
        names += entry.name;
    }
    return names;
}

std::unique_ptr<ReplacementPolicy> make_policy_for(std::string_view name, const std::string& plugin_path,
                                                   std::string* error) {
    if (name == "plugin") return PluginPolicy::load(plugin_path, error);
    auto policy = make_policy(name);
    if (!policy && error)
        *error = "unknown policy '" + std::string(name) + "' (available: " + policy_names() + "|plugin)";
    return policy;
}

}  // namespace dime
