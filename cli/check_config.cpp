// check_config.cpp — `dime check-config FILE [--set key=value]...`: validates a configuration with libdime's own parser and prints the effective settings as YAML, or the one-line problem (exit 2).
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/core.h>

#include "cli.h"
#include "config.h"

namespace dime::cli {
namespace {

constexpr std::string_view kHelp = "dime check-config --help";

// A text setting as a YAML double-quoted scalar; other kinds print as they are.
std::string yaml_value(const SettingText& s) {
    if (s.kind != "text" && s.kind != "output") return s.value;
    std::string out = "\"";
    for (unsigned char c : s.value) {
        if (c == '"' || c == '\\')
            out += '\\', out += static_cast<char>(c);
        else if (c < 0x20 || c == 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out += static_cast<char>(c);
    }
    return out + "\"";
}

// A pattern or name as a YAML double-quoted scalar.
std::string quoted(const std::string& text) { return yaml_value(SettingText{"", "text", text, ""}); }

// The tiers besides remote (which is the top-level keys) and the placement rules, as YAML that
// reads back to the same settings; nothing when there are none.
void print_tiers_and_placement(const Config& cfg) {
    if (!cfg.extra_tiers.empty()) {
        fmt::print("tiers:\n");
        for (const TierConfig& t : cfg.extra_tiers) {
            if (t.local)
                fmt::print("  {}: {{}}\n", t.name);
            else
                fmt::print("  {}: {{latency_ns: {}, bandwidth_bps: {}}}\n", t.name, t.latency_ns, t.bandwidth_bps);
        }
    }
    if (!cfg.placement.empty()) {
        fmt::print("placement:\n");
        for (const PlacementRule& r : cfg.placement) {
            std::string rule = "tier: " + quoted(r.tier);
            if (r.min_bytes != 0) rule += fmt::format(", min_bytes: {}", r.min_bytes);
            if (r.max_bytes != UINT64_MAX) rule += fmt::format(", max_bytes: {}", r.max_bytes);
            if (!r.function.empty()) rule += ", function: " + quoted(r.function);
            if (!r.library.empty()) rule += ", library: " + quoted(r.library);
            fmt::print("  - {{{}}}\n", rule);
        }
    }
}

}  // namespace

int check_config_main(int argc, char** argv) {
    std::optional<std::string> file;
    std::vector<std::string> sets;
    std::string value;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (!options_done && arg == "--") {
            options_done = true;
        } else if (!options_done && (arg == "-h" || arg == "--help")) {
            fmt::print("{}", check_config_help());
            return 0;
        } else if (!options_done && option_value(argc, argv, i, "", "--set", value, kHelp)) {
            sets.push_back(value);
        } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
            usage_error(fmt::format("check-config: unknown option '{}'", arg), kHelp);
        } else if (file) {
            usage_error(fmt::format("check-config: one FILE only, got '{}' and '{}'", *file, arg), kHelp);
        } else {
            file = std::string(arg);
        }
    }
    if (!file) usage_error("check-config: no FILE given", kHelp);

    // defaults < FILE < --set, in order; the environment plays no part.
    Config cfg;
    ConfigResult r = apply_yaml_file(cfg, *file);
    if (!r.ok) fail(2, r.error);
    for (const std::string& s : sets) {
        r = apply_options_string(cfg, s, "--set");
        if (!r.ok) fail(2, r.error);
    }
    r = validate(cfg);
    if (!r.ok) fail(2, r.error);

    fmt::print("# {}: ok; effective settings (defaults < file{}):\n", *file, sets.empty() ? "" : " < --set");
    for (const SettingText& s : describe(cfg)) fmt::print("{}: {}\n", s.key, yaml_value(s));
    print_tiers_and_placement(cfg);
    return 0;
}

}  // namespace dime::cli
