// config.h — DiME's settings: defaults < YAML file (DIME_CONFIG) < DIME_OPTIONS key=value.
// Parsed once at start-up, before the program runs; read-only afterwards. Not for the fault path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dime {

// One tier of memory: where a page lives while it is not local. Tier 0 is always "remote",
// configured by the top-level latency_ns and bandwidth_bps; a tier named "local" is plain
// memory that never faults.
struct TierConfig {
    std::string name;
    uint64_t latency_ns = 0;
    uint64_t bandwidth_bps = 0;
    bool local = false;
};

// At most this many tiers (the emulated address span is divided among them).
inline constexpr int kMaxTiers = 8;
// Tier names: 1 to this many characters from [A-Za-z0-9_.-].
inline constexpr size_t kMaxTierName = 31;

// One placement rule (YAML `placement:`): an allocation whose size lies in [min_bytes, max_bytes]
// and whose call site matches `function` and `library` (glob patterns; empty = any) goes to
// `tier`. Rules are tried in order; the first match wins; no match means default_tier.
struct PlacementRule {
    std::string tier;
    uint64_t min_bytes = 0;
    uint64_t max_bytes = UINT64_MAX;
    std::string function;  // glob over the call site's function name (demangled or raw)
    std::string library;   // glob over the basename of the call site's object file
    std::string where;     // "file:line" of the rule, for messages
};
// At most this many placement rules.
inline constexpr size_t kMaxPlacementRules = 64;

struct Config {
#define DIME_OPTION(key, kind, c_type, def, min, max, help) c_type key = def;
#include "options.def"
#undef DIME_OPTION

    // Tiers declared besides "remote" (YAML `tiers:`), in declaration order.
    std::vector<TierConfig> extra_tiers;
    // Placement rules (YAML `placement:`), in the order given.
    std::vector<PlacementRule> placement;

    // Every tier in engine order: "remote" (index 0, from the flat keys), then extra_tiers.
    std::vector<TierConfig> tiers() const;
    // Index of the tier with this name in tiers(), or -1.
    int tier_index(const std::string& name) const;

    // Derived after validation: pages the local pool may hold (from local_bytes or local_npages).
    uint64_t pool_pages() const { return local_bytes ? local_bytes / page_size : local_npages; }
    // The prefetch setting, validated: the window in pages (0 = off), or kPrefetchAuto.
    static constexpr int kPrefetchAuto = -1;
    int prefetch_window() const;
    // The share of local pages access tracking samples, once the policy is known (-1 resolved).
    uint32_t access_sample_share(bool policy_wants_access) const {
        return access_sample_percent >= 0 ? static_cast<uint32_t>(access_sample_percent) : policy_wants_access ? 2 : 0;
    }
    // Cost of one remote fetch on an idle link, in nanoseconds.
    uint64_t fetch_cost_ns() const;
};

// A configuration problem, as one line naming the culprit, e.g.
// "dime.yaml:7: unknown key 'latency_nss' (did you mean 'latency_ns'?)".
struct ConfigResult {
    bool ok = true;
    std::string error;
};

// Applies a YAML document (top-level mapping of the keys in options.def) on top of `cfg`.
// `origin` names the file in messages.
ConfigResult apply_yaml_text(Config& cfg, const std::string& text, const std::string& origin);
ConfigResult apply_yaml_file(Config& cfg, const std::string& path);
// Applies DiME's key=value syntax ("latency_ns=20000 local_npages=1000", separated by spaces,
// tabs, commas or newlines) on top of `cfg`. `origin` names the source ("DIME_OPTIONS").
ConfigResult apply_options_string(Config& cfg, const std::string& text, const std::string& origin);
// Whether `pattern` is a glob DiME accepts: non-empty, every '[' closed, no trailing '\\'.
// On failure *why says what is wrong.
bool valid_glob(const std::string& pattern, std::string* why);
// Glob match of `text` against `pattern`: '*' any run, '?' one character, '[abc]', '[a-z]',
// '[!abc]' a set, '\\' escapes. Never allocates.
bool glob_match(const char* pattern, const char* text);

// Cross-key checks after every source was applied.
ConfigResult validate(const Config& cfg);
// defaults < $DIME_CONFIG < $DIME_OPTIONS < $DIME_REPORT, $DIME_LOG (log_level), $DIME_DISABLE
// (disable), then validate().
ConfigResult load_from_environment(Config& cfg);

// The effective settings as a JSON object (for the report's "config").
std::string to_json(const Config& cfg);
// `s` as a JSON string literal, quotes included (control characters and bad UTF-8 escaped).
std::string json_quoted(std::string_view s);

// One setting in text form, for listings (`dime --help`, `dime check-config`): numbers in their
// base unit (ns, bit/s, bytes), words and text as stored.
struct SettingText {
    std::string_view key;
    std::string_view kind;  // count, bytes, nanoseconds, bandwidth, boolean, choice, text, cpu
    std::string value;
    std::string_view help;
};
// Every setting of options.def, in its order, with its value in `cfg`.
std::vector<SettingText> describe(const Config& cfg);

// Prints "dime: <message>" on stderr and exits with status 2 (bad input, nothing started).
[[noreturn]] void exit_bad_config(const std::string& message);

}  // namespace dime
