// registry.cpp — replacement policies by name. Add a policy: one line in kPolicies.
#include <string>

#include "policies/fifo.h"
#include "policies/policy.h"

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

}  // namespace dime
