// plugin.h — a replacement policy loaded from a shared object through the C ABI of
// include/dime_policy.h, wrapped as a ReplacementPolicy. Loaded at start-up (application
// thread); its callbacks then run on the handler thread like any built-in policy.
#pragma once

#include <memory>
#include <string>

#include "policies/policy.h"

struct dime_policy;

namespace dime {

class PluginPolicy final : public ReplacementPolicy {
public:
    // Opens `path` and checks the plugin (entry symbol, ABI version, required callbacks).
    // Returns nullptr and sets *error to one line naming the file on failure.
    static std::unique_ptr<PluginPolicy> load(const std::string& path, std::string* error);
    ~PluginPolicy() override;

    const char* name() const override { return name_; }
    bool init(size_t max_pages) override;
    void on_admit(PageId p) override;
    void on_forget(PageId p) override;
    PageId pick_victim() override;
    bool wants_access() const override;
    void on_access(PageId p) override;
    void on_capacity(uint64_t pages) override;

private:
    PluginPolicy(void* handle, const dime_policy* ops);
    void* handle_;
    const dime_policy* ops_;
    const char* name_;
    void* state_ = nullptr;
};

// Loads and checks the plugin at `path` without creating a policy, then unloads it: empty if it
// would load, else the one-line problem (what config validation reports).
std::string check_policy_plugin(const std::string& path);

}  // namespace dime
