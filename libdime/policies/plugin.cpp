// plugin.cpp — loads a policy plugin (dlopen, the dime_policy_plugin_v1 entry, version and
// callback checks) and forwards the ReplacementPolicy calls to its C callbacks. Loading runs at
// start-up on an application thread; the forwarding runs on the handler thread and adds one
// indirect call per event.
#include "policies/plugin.h"

#include <dlfcn.h>

#include <string_view>

#include "dime_policy.h"

namespace dime {

static_assert(sizeof(dime_page_t) == sizeof(PageId) && DIME_NO_PAGE == kNoPage, "page numbers cross the ABI unchanged");

namespace {

// dlopen searches the library path for a name without '/': a plugin path never does.
std::string as_file_path(const std::string& path) {
    return path.find('/') == std::string::npos ? "./" + path : path;
}

// dlerror() usually starts with the file name, which the message already shows.
std::string loader_reason(const std::string& file) {
    const char* why = dlerror();
    std::string_view text = why ? why : "unknown error";
    if (text.substr(0, file.size() + 2) == file + ": ") text.remove_prefix(file.size() + 2);
    return std::string(text);
}

// Opens and checks; on success returns the handle and sets *ops, else sets *error.
void* open_plugin(const std::string& path, const dime_policy** ops, std::string* error) {
    const std::string quoted = "'" + path + "'";
    if (path.empty()) {
        *error = "policy_plugin: no path given (policy: plugin needs the path of a shared object)";
        return nullptr;
    }
    const std::string file = as_file_path(path);
    void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        *error = "policy_plugin: cannot load " + quoted + ": " + loader_reason(file);
        return nullptr;
    }
    auto fail = [&](const std::string& why) -> void* {
        *error = "policy_plugin: " + quoted + " " + why;
        dlclose(handle);
        return nullptr;
    };
    auto entry = reinterpret_cast<dime_policy_entry_fn>(dlsym(handle, DIME_POLICY_ENTRY));
    if (!entry) return fail("has no " DIME_POLICY_ENTRY " symbol (not a DiME policy plugin?)");
    const dime_policy* p = entry();
    if (!p) return fail(DIME_POLICY_ENTRY "() returned NULL");
    if (p->abi_version != DIME_POLICY_ABI_VERSION)
        return fail("was built for policy ABI version " + std::to_string(p->abi_version) +
                    "; this DiME has version " + std::to_string(DIME_POLICY_ABI_VERSION));
    if (p->struct_size < sizeof(dime_policy))
        return fail("declares a struct dime_policy of " + std::to_string(p->struct_size) + " bytes; version " +
                    std::to_string(DIME_POLICY_ABI_VERSION) + " has " + std::to_string(sizeof(dime_policy)));
    const char* missing = !p->create        ? "create"
                          : !p->on_admit    ? "on_admit"
                          : !p->on_forget   ? "on_forget"
                          : !p->pick_victim ? "pick_victim"
                                            : nullptr;
    if (missing) return fail(std::string("lacks the required callback ") + missing);
    *ops = p;
    return handle;
}

}  // namespace

std::unique_ptr<PluginPolicy> PluginPolicy::load(const std::string& path, std::string* error) {
    const dime_policy* ops = nullptr;
    std::string why;
    void* handle = open_plugin(path, &ops, &why);
    if (!handle) {
        if (error) *error = why;
        return nullptr;
    }
    return std::unique_ptr<PluginPolicy>(new PluginPolicy(handle, ops));
}

std::string check_policy_plugin(const std::string& path) {
    const dime_policy* ops = nullptr;
    std::string why;
    if (void* handle = open_plugin(path, &ops, &why)) dlclose(handle);
    return why;
}

PluginPolicy::PluginPolicy(void* handle, const dime_policy* ops)
    : handle_(handle), ops_(ops), name_(ops->name && *ops->name ? ops->name : "plugin") {}

PluginPolicy::~PluginPolicy() {
    if (state_ && ops_->destroy) ops_->destroy(state_);
    dlclose(handle_);
}

bool PluginPolicy::init(size_t max_pages) {
    state_ = ops_->create(max_pages);
    return state_ != nullptr;
}

void PluginPolicy::on_admit(PageId p) { ops_->on_admit(state_, p); }
void PluginPolicy::on_forget(PageId p) { ops_->on_forget(state_, p); }
PageId PluginPolicy::pick_victim() { return ops_->pick_victim(state_); }
bool PluginPolicy::wants_access() const { return ops_->on_access != nullptr; }
void PluginPolicy::on_access(PageId p) {
    if (ops_->on_access) ops_->on_access(state_, p);
}
void PluginPolicy::on_capacity(uint64_t pages) {
    if (ops_->on_capacity) ops_->on_capacity(state_, pages);
}

}  // namespace dime
