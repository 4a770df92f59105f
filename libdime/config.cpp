// config.cpp — parses, checks and prints DiME's settings (the table in options.def); runs once on the starting thread, before any emulation.
#include "config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "instance.h"
#include "output_path.h"
#include "policies/plugin.h"

namespace dime {
namespace {

using i128 = __int128;

enum class Kind { count, bytes, nanoseconds, bandwidth, boolean, choice, text, cpu, output };

// Kinds whose value is a string as given (an output is a path DiME writes).
bool is_text(Kind kind) { return kind == Kind::text || kind == Kind::output; }

// One parsed value, before it is stored into its typed Config field.
struct Value {
    i128 number = 0;
    bool flag = false;
    std::string text;
};

template <class T>
void store(T& field, const Value& v) {
    if constexpr (std::is_same_v<T, std::string>)
        field = v.text;
    else if constexpr (std::is_same_v<T, bool>)
        field = v.flag;
    else
        field = static_cast<T>(v.number);
}

template <class T>
Value load(const T& field) {
    Value v;
    if constexpr (std::is_same_v<T, std::string>)
        v.text = field;
    else if constexpr (std::is_same_v<T, bool>)
        v.flag = field;
    else
        v.number = static_cast<i128>(field);
    return v;
}

struct Option {
    std::string_view key;
    Kind kind;
    i128 min;
    i128 max;
    std::string_view help;
    void (*set)(Config&, const Value&);
    Value (*get)(const Config&);
};

constexpr Option kOptions[] = {
#define DIME_OPTION(key, kind, c_type, def, lo, hi, help)                               \
    Option{#key, Kind::kind, static_cast<i128>(lo), static_cast<i128>(hi), help,         \
           [](Config& c, const Value& v) { store(c.key, v); },                          \
           [](const Config& c) { return load(c.key); }},
#include "options.def"
#undef DIME_OPTION
};

const Option* find_option(std::string_view key) {
    for (const Option& o : kOptions)
        if (o.key == key) return &o;
    return nullptr;
}

ConfigResult failure(std::string message) { return ConfigResult{false, std::move(message)}; }

// `s` with control characters escaped, so that a message quoting it stays on one line.
std::string escaped(std::string_view s) { return escape_control_characters(s); }

// A user-supplied string inside single quotes, control characters escaped.
std::string quoted(std::string_view s) { return "'" + escaped(s) + "'"; }

std::string to_text(i128 v) {
    if (v >= 0 && v > static_cast<i128>(INT64_MAX)) return fmt::format("{}", static_cast<uint64_t>(v));
    return fmt::format("{}", static_cast<int64_t>(v));
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_nocase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t above = row[j];
            size_t substitute = diagonal + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1);
            row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// The closest candidate if it is close enough to be a plausible typo, else empty.
template <class Range>
std::string_view nearest(std::string_view word, const Range& candidates) {
    std::string_view best;
    size_t best_distance = SIZE_MAX;
    for (std::string_view c : candidates) {
        size_t d = edit_distance(word, c);
        if (d < best_distance) best = c, best_distance = d;
    }
    size_t allowed = std::max<size_t>(2, best.size() / 3);
    return best_distance <= allowed ? best : std::string_view{};
}

std::vector<std::string_view> choice_words(const Option& o) {
    std::vector<std::string_view> words;
    size_t open = o.help.find('['), close = o.help.find(']', open);
    if (open == std::string_view::npos || close == std::string_view::npos) return words;
    std::string_view list = o.help.substr(open + 1, close - open - 1);
    while (!list.empty()) {
        size_t bar = list.find('|');
        words.push_back(list.substr(0, bar));
        if (bar == std::string_view::npos) break;
        list.remove_prefix(bar + 1);
    }
    return words;
}

std::string unknown_key_message(std::string_view where, std::string_view key) {
    std::string msg = fmt::format("{}: unknown key {}", where, quoted(key));
    if (key == "instance_id" || key == "pid") {
        msg += " (instance_id and pid belong to DiME's /proc/dime_config; here the settings apply "
               "to the program they are given to, and processes given the same instance share them)";
        return msg;
    }
    std::vector<std::string_view> keys = {"tiers", "placement"};
    for (const Option& o : kOptions) keys.push_back(o.key);
    std::string_view guess = nearest(key, keys);
    if (!guess.empty()) msg += fmt::format(" (did you mean '{}'?)", guess);
    return msg;
}

// ---- numbers with units ------------------------------------------------------------------

struct Unit {
    std::string_view name;
    uint64_t factor;
};

constexpr uint64_t KiB = 1024;
constexpr Unit kByteUnits[] = {  // matched without regard to case; K, KB and KiB all mean 1024
    {"B", 1},           {"K", KiB},         {"KB", KiB},        {"KiB", KiB},
    {"M", KiB * KiB},   {"MB", KiB * KiB},  {"MiB", KiB * KiB}, {"G", KiB * KiB * KiB},
    {"GB", KiB * KiB * KiB},               {"GiB", KiB * KiB * KiB},
    {"T", KiB * KiB * KiB * KiB},          {"TB", KiB * KiB * KiB * KiB},
    {"TiB", KiB * KiB * KiB * KiB},
};
constexpr Unit kTimeUnits[] = {  // matched exactly
    {"ns", 1}, {"us", 1000}, {"\xc2\xb5s", 1000}, {"\xce\xbcs", 1000}, {"ms", 1000000},
    {"s", 1000000000},
};
constexpr Unit kRateMultipliers[] = {  // decimal, as links are rated
    {"k", 1000}, {"K", 1000}, {"M", 1000000}, {"G", 1000000000}, {"T", 1000000000000},
};
constexpr std::string_view kRateSuffixes[] = {"bit", "bps", "bit/s"};

// The grammar shared by the numeric kinds: [-]digits, '_' allowed between digits, then an
// optional single space and a unit. Leaves the meaning of the unit to the kind.
struct Number {
    bool negative = false;
    bool overflow = false;
    uint64_t magnitude = 0;
    std::string_view unit;
};

std::optional<Number> split_number(std::string_view s) {
    Number n;
    size_t i = 0;
    if (i < s.size() && s[i] == '-') n.negative = true, ++i;
    size_t digits = 0;
    for (; i < s.size(); ++i) {
        char c = s[i];
        if (c == '_' && digits > 0 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9')
            continue;
        if (c < '0' || c > '9') break;
        ++digits;
        if (__builtin_mul_overflow(n.magnitude, 10u, &n.magnitude) ||
            __builtin_add_overflow(n.magnitude, static_cast<uint64_t>(c - '0'), &n.magnitude))
            n.overflow = true;
    }
    if (digits == 0) return std::nullopt;
    if (i < s.size() && s[i] == ' ') {
        ++i;
        if (i == s.size()) return std::nullopt;
    }
    n.unit = s.substr(i);
    return n;
}

const char* expectation(Kind kind) {
    switch (kind) {
        case Kind::count: return "expected a whole number such as 1000";
        case Kind::bytes: return "expected a size such as 4096, 64KiB or 2GiB";
        case Kind::nanoseconds: return "expected a duration such as 20000 (ns), 20us or 1ms";
        case Kind::bandwidth: return "expected bits per second such as 1000000000, 10Gbit or 25Gbps";
        case Kind::boolean: return "expected true or false (also yes/no, on/off, 1/0)";
        case Kind::cpu: return "expected a CPU number, or -1 for none";
        case Kind::choice:
        case Kind::text:
        case Kind::output: break;
    }
    return "";
}

const char* unit_list(Kind kind) {
    switch (kind) {
        case Kind::bytes: return "B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB (all 1024-based)";
        case Kind::nanoseconds: return "ns, us, ms, s";
        case Kind::bandwidth: return "bit, bps or bit/s, optionally after k, M, G, T (1000-based)";
        default: return "none; a plain number";
    }
}

// How the bounds of an option read in messages.
std::string amount(Kind kind, i128 v) {
    std::string raw = to_text(v);
    if (kind == Kind::bytes && v > 0) {
        static constexpr Unit binary[] = {{"TiB", KiB * KiB * KiB * KiB},
                                          {"GiB", KiB * KiB * KiB},
                                          {"MiB", KiB * KiB},
                                          {"KiB", KiB}};
        for (const Unit& u : binary)
            if (v % u.factor == 0) return fmt::format("{} ({}{})", raw, to_text(v / u.factor), u.name);
    }
    if (kind == Kind::nanoseconds && v > 0) {
        if (v % 1000000000 == 0) return fmt::format("{} ns ({}s)", raw, to_text(v / 1000000000));
        if (v % 1000000 == 0) return fmt::format("{} ns ({}ms)", raw, to_text(v / 1000000));
        if (v % 1000 == 0) return fmt::format("{} ns ({}us)", raw, to_text(v / 1000));
    }
    if (kind == Kind::nanoseconds) return raw + " ns";
    if (kind == Kind::bandwidth) return raw + " bit/s";
    return raw;
}

std::string allowed_range(const Option& o) {
    if (o.min == o.max) return fmt::format("the only value supported is {}", amount(o.kind, o.min));
    return fmt::format("allowed {} to {}", amount(o.kind, o.min), amount(o.kind, o.max));
}

// Parses `text` as option `o`. On failure returns the problem (without where/key prefix).
std::optional<std::string> parse_value(const Option& o, std::string_view text, Value& out) {
    switch (o.kind) {
        case Kind::text:
            out.text = std::string(text);
            return std::nullopt;
        case Kind::output: {
            // Checked now, not at exit: a report that cannot be written would be lost after the run.
            out.text = std::string(text);
            std::string problem = output_path_problem(out.text);
            if (problem.empty()) return std::nullopt;
            return problem;
        }
        case Kind::boolean: {
            static constexpr std::string_view yes[] = {"true", "yes", "on", "1"};
            static constexpr std::string_view no[] = {"false", "no", "off", "0"};
            for (auto w : yes)
                if (equals_nocase(text, w)) {
                    out.flag = true;
                    return std::nullopt;
                }
            for (auto w : no)
                if (equals_nocase(text, w)) {
                    out.flag = false;
                    return std::nullopt;
                }
            return fmt::format("{} is not a boolean; {}", quoted(text), expectation(o.kind));
        }
        case Kind::choice: {
            auto words = choice_words(o);
            for (auto w : words)
                if (equals_nocase(text, w)) {
                    out.text = std::string(w);
                    return std::nullopt;
                }
            std::string msg = fmt::format("{} is not one of: {}", quoted(text), fmt::join(words, ", "));
            std::string_view guess = nearest(text, words);
            if (!guess.empty() && words.size() > 1) msg += fmt::format(" (did you mean '{}'?)", guess);
            return msg;
        }
        case Kind::count:
        case Kind::bytes:
        case Kind::nanoseconds:
        case Kind::bandwidth:
        case Kind::cpu: break;
    }

    std::optional<Number> n = split_number(text);
    if (!n) {
        if (text.empty()) return fmt::format("no value given; {}", expectation(o.kind));
        return fmt::format("{} is not a number; {}", quoted(text), expectation(o.kind));
    }
    uint64_t factor = 1;
    if (!n->unit.empty()) {
        std::string_view u = n->unit;
        bool found = false;
        if (o.kind == Kind::bytes) {
            for (const Unit& unit : kByteUnits)
                if (equals_nocase(u, unit.name)) factor = unit.factor, found = true;
        } else if (o.kind == Kind::nanoseconds) {
            for (const Unit& unit : kTimeUnits)
                if (u == unit.name) factor = unit.factor, found = true;
        } else if (o.kind == Kind::bandwidth) {
            std::string_view rest = u;
            for (const Unit& m : kRateMultipliers)
                if (rest.substr(0, 1) == m.name) {
                    factor = m.factor;
                    rest.remove_prefix(1);
                    break;
                }
            for (auto s : kRateSuffixes)
                if (rest == s) found = true;
        }
        if (!found) {
            if (u[0] == '.' || u[0] == ',')
                return fmt::format("{}: fractions are not accepted; {}", quoted(text), expectation(o.kind));
            if ((u[0] == 'e' || u[0] == 'E') && u.size() > 1 &&
                ((u[1] >= '0' && u[1] <= '9') || u[1] == '+' || u[1] == '-'))
                return fmt::format("{}: exponent notation is not accepted; {}", quoted(text),
                                   expectation(o.kind));
            if (o.kind == Kind::count || o.kind == Kind::cpu)
                return fmt::format("{} is not a whole number; {}", quoted(text), expectation(o.kind));
            return fmt::format("unknown unit {} in {}; units: {}", quoted(u), quoted(text),
                               unit_list(o.kind));
        }
    }
    bool overflow = n->overflow || __builtin_mul_overflow(n->magnitude, factor, &n->magnitude);
    if (overflow) return fmt::format("{} is too large; {}", quoted(text), allowed_range(o));
    i128 value = n->negative ? -static_cast<i128>(n->magnitude) : static_cast<i128>(n->magnitude);
    if (value < 0 && o.min >= 0)
        return fmt::format("{} is negative; {}", quoted(text), allowed_range(o));
    if (value < o.min || value > o.max)
        return fmt::format("{} is out of range; {}", quoted(text), allowed_range(o));
    out.number = value;
    return std::nullopt;
}

// Parses and stores one setting; `where` is "file:line" or the variable's name.
ConfigResult apply_one(Config& cfg, const Option& o, std::string_view text, std::string_view where) {
    Value v;
    if (auto problem = parse_value(o, text, v))
        return failure(fmt::format("{}: {}: {}", where, o.key, *problem));
    o.set(cfg, v);
    return {};
}

std::string at(const std::string& origin, const YAML::Mark& mark) {
    if (mark.is_null() || mark.line < 0) return origin;
    return fmt::format("{}:{}", origin, mark.line + 1);
}

const char* node_kind(const YAML::Node& n) {
    if (n.IsSequence()) return "a list";
    if (n.IsMap()) return "a mapping";
    if (n.IsNull()) return "nothing";
    return "a scalar";
}

// Where the first quoted scalar under `node` opens whose closing quote is missing. yaml-cpp
// accepts a string left open at the end of the file and swallows the lines after it into it;
// a scalar's mark is at its opening quote, so the closing one is looked for in `text` from there.
std::optional<YAML::Mark> unclosed_quote(const YAML::Node& node, const std::string& text) {
    if (node.IsScalar()) {
        const YAML::Mark m = node.Mark();
        if (node.Tag() != "!" || m.pos < 0 || static_cast<size_t>(m.pos) >= text.size()) return std::nullopt;
        const char quote = text[static_cast<size_t>(m.pos)];
        if (quote != '"' && quote != '\'') return std::nullopt;  // plain or block scalar
        for (size_t i = static_cast<size_t>(m.pos) + 1; i < text.size(); ++i) {
            if (quote == '"' && text[i] == '\\')
                ++i;  // an escape: the next character belongs to the string
            else if (quote == '\'' && text[i] == '\'' && i + 1 < text.size() && text[i + 1] == '\'')
                ++i;  // '' inside single quotes is one quote
            else if (text[i] == quote)
                return std::nullopt;
        }
        return m;
    }
    for (const auto& child : node) {
        // A mapping's entries are key/value pairs; a sequence's are the items themselves.
        for (const YAML::Node& part : node.IsMap() ? std::vector<YAML::Node>{child.first, child.second}
                                                   : std::vector<YAML::Node>{child})
            if (auto bad = unclosed_quote(part, text)) return bad;
    }
    return std::nullopt;
}

// Appends `s` to `out` as a JSON string (UTF-8 kept, invalid bytes replaced by U+FFFD).
void json_string(fmt::memory_buffer& out, std::string_view s) {
    auto put = [&](std::string_view t) { out.append(t.data(), t.data() + t.size()); };
    put("\"");
    for (size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"') put("\\\""), ++i;
        else if (c == '\\') put("\\\\"), ++i;
        else if (c == '\n') put("\\n"), ++i;
        else if (c == '\r') put("\\r"), ++i;
        else if (c == '\t') put("\\t"), ++i;
        else if (c < 0x20 || c == 0x7f) fmt::format_to(std::back_inserter(out), "\\u{:04x}", c), ++i;
        else if (c < 0x80) out.push_back(static_cast<char>(c)), ++i;
        else {
            // A well-formed UTF-8 sequence (no overlongs, no surrogates) passes through.
            size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
            bool good = len > 0 && c <= 0xf4 && i + len <= s.size();
            for (size_t k = 1; good && k < len; ++k)
                good = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
            if (good && len == 3) {
                unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
                good = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);
            }
            if (good && len == 4) {
                unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
                good = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
            }
            if (good) put(s.substr(i, len)), i += len;
            else put("\\ufffd"), ++i;
        }
    }
    put("\"");
}

constexpr size_t kMaxConfigFile = 1 << 20;

// ---- tiers and placement (YAML only: they are structured) --------------------------------

using Seen = std::vector<std::pair<std::string, std::string>>;  // key, where it was first given

std::string tier_names(const Config& cfg) {
    std::string names;
    for (const TierConfig& t : cfg.tiers()) names += (names.empty() ? "" : ", ") + t.name;
    return names;
}

bool valid_tier_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxTierName) return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.'))
            return false;
    return true;
}

// `tiers:` — a mapping from tier name to {latency_ns, bandwidth_bps}. "remote" sets the top-level
// keys (so giving one both ways is "given twice"); "local" takes no keys.
ConfigResult apply_tiers(Config& cfg, const YAML::Node& node, const std::string& origin, Seen& seen) {
    const std::string where = at(origin, node.Mark());
    if (node.IsNull()) {
        cfg.extra_tiers.clear();
        return {};
    }
    if (!node.IsMap())
        return failure(fmt::format("{}: tiers: expected a mapping of tier names to their settings, got {}", where,
                                   node_kind(node)));
    std::vector<TierConfig> extra;
    Seen names;
    static constexpr std::string_view tier_keys[] = {"latency_ns", "bandwidth_bps"};
    for (const auto& entry : node) {
        const YAML::Node& name_node = entry.first;
        const YAML::Node& body = entry.second;
        const std::string here = at(origin, name_node.Mark());
        if (!name_node.IsScalar())
            return failure(fmt::format("{}: tiers: a tier name must be a plain word, not {}", here,
                                       node_kind(name_node)));
        const std::string& name = name_node.Scalar();
        if (!valid_tier_name(name))
            return failure(fmt::format("{}: tiers: {} is not a valid tier name (1 to {} of A-Z a-z 0-9 _ - .)", here,
                                       quoted(name), kMaxTierName));
        for (const auto& [n, first] : names)
            if (n == name) return failure(fmt::format("{}: tiers: {}: given twice (first at {})", here, name, first));
        names.emplace_back(name, here);
        if (!body.IsNull() && !body.IsMap())
            return failure(fmt::format("{}: tiers: {}: expected a mapping of latency_ns and bandwidth_bps, got {}",
                                       here, name, node_kind(body)));
        TierConfig tier;
        tier.name = name;
        tier.local = name == "local";
        Config values;  // a tier's unset keys take the top-level defaults
        Seen tier_seen;
        for (const auto& kv : body.IsMap() ? body : YAML::Node(YAML::NodeType::Map)) {
            const std::string kwhere = at(origin, kv.first.Mark());
            if (!kv.first.IsScalar())
                return failure(fmt::format("{}: tiers: {}: a key must be a plain word, not {}", kwhere, name,
                                           node_kind(kv.first)));
            const std::string& key = kv.first.Scalar();
            if (std::find(std::begin(tier_keys), std::end(tier_keys), key) == std::end(tier_keys)) {
                std::string msg = fmt::format("{}: tiers: {}: unknown key {}", kwhere, name, quoted(key));
                std::string_view guess = nearest(key, tier_keys);
                if (!guess.empty()) msg += fmt::format(" (did you mean '{}'?)", guess);
                return failure(msg + "; a tier takes latency_ns and bandwidth_bps");
            }
            if (tier.local)
                return failure(fmt::format("{}: tiers: local: {}: the local tier is plain memory and takes no "
                                           "settings",
                                           kwhere, key));
            const Option* o = find_option(key);
            const std::string label = fmt::format("tiers: {}: {}", name, key);
            for (const auto& [k, first] : tier_seen)
                if (k == key) return failure(fmt::format("{}: {}: given twice (first at {})", kwhere, label, first));
            tier_seen.emplace_back(key, kwhere);
            for (const auto& [k, first] : seen)
                if (name == "remote" && k == key)
                    return failure(fmt::format("{}: {}: given twice (first at {})", kwhere, key, first));
            if (!kv.second.IsScalar())
                return failure(fmt::format("{}: {}: expected a single value, got {}", kwhere, label,
                                           node_kind(kv.second)));
            Value v;
            if (auto problem = parse_value(*o, kv.second.Scalar(), v))
                return failure(fmt::format("{}: {}: {}", kwhere, label, *problem));
            if (name == "remote") {
                o->set(cfg, v);
                seen.emplace_back(key, kwhere);
            } else {
                o->set(values, v);
            }
        }
        if (name == "remote") continue;
        tier.latency_ns = tier.local ? 0 : values.latency_ns;
        tier.bandwidth_bps = tier.local ? 0 : values.bandwidth_bps;
        extra.push_back(std::move(tier));
        if (extra.size() + 1 > static_cast<size_t>(kMaxTiers))
            return failure(fmt::format("{}: tiers: {}: more than {} tiers (remote included)", here, name, kMaxTiers));
    }
    cfg.extra_tiers = std::move(extra);
    return {};
}

// `placement:` — an ordered list of rules {tier, min_bytes, max_bytes, function, library}.
ConfigResult apply_placement(Config& cfg, const YAML::Node& node, const std::string& origin) {
    const std::string where = at(origin, node.Mark());
    if (node.IsNull()) {
        cfg.placement.clear();
        return {};
    }
    if (!node.IsSequence())
        return failure(fmt::format("{}: placement: expected a list of rules (- tier: NAME ...), got {}", where,
                                   node_kind(node)));
    static constexpr std::string_view rule_keys[] = {"tier", "min_bytes", "max_bytes", "function", "library"};
    constexpr Option size_option{"", Kind::bytes, 0, static_cast<i128>(INT64_MAX), "", nullptr, nullptr};
    std::vector<PlacementRule> rules;
    for (const YAML::Node& item : node) {
        const std::string here = at(origin, item.Mark());
        if (!item.IsMap())
            return failure(fmt::format("{}: placement: a rule must be a mapping (tier: NAME, ...), not {}", here,
                                       node_kind(item)));
        if (rules.size() == kMaxPlacementRules)
            return failure(fmt::format("{}: placement: more than {} rules", here, kMaxPlacementRules));
        PlacementRule rule;
        rule.where = here;
        Seen keys;
        bool has_min = false, has_max = false;
        for (const auto& kv : item) {
            const std::string kwhere = at(origin, kv.first.Mark());
            if (!kv.first.IsScalar())
                return failure(fmt::format("{}: placement: a key must be a plain word, not {}", kwhere,
                                           node_kind(kv.first)));
            const std::string& key = kv.first.Scalar();
            if (std::find(std::begin(rule_keys), std::end(rule_keys), key) == std::end(rule_keys)) {
                std::string msg = fmt::format("{}: placement: unknown key {}", kwhere, quoted(key));
                std::string_view guess = nearest(key, rule_keys);
                if (!guess.empty()) msg += fmt::format(" (did you mean '{}'?)", guess);
                return failure(msg + "; a rule takes tier, min_bytes, max_bytes, function, library");
            }
            for (const auto& [k, first] : keys)
                if (k == key)
                    return failure(fmt::format("{}: placement: {}: given twice (first at {})", kwhere, key, first));
            keys.emplace_back(key, kwhere);
            if (!kv.second.IsScalar() || kv.second.Scalar().empty())
                return failure(fmt::format("{}: placement: {}: expected a single value, got {}", kwhere, key,
                                           kv.second.IsScalar() ? "nothing" : node_kind(kv.second)));
            const std::string& text = kv.second.Scalar();
            if (key == "tier") {
                rule.tier = text;
            } else if (key == "min_bytes" || key == "max_bytes") {
                Value v;
                if (auto problem = parse_value(size_option, text, v))
                    return failure(fmt::format("{}: placement: {}: {}", kwhere, key, *problem));
                (key == "min_bytes" ? rule.min_bytes : rule.max_bytes) = static_cast<uint64_t>(v.number);
                (key == "min_bytes" ? has_min : has_max) = true;
            } else {
                std::string why;
                if (!valid_glob(text, &why))
                    return failure(fmt::format("{}: placement: {}: {} is not a valid pattern: {}", kwhere, key,
                                               quoted(text), why));
                (key == "function" ? rule.function : rule.library) = text;
            }
        }
        if (rule.tier.empty()) return failure(fmt::format("{}: placement: a rule needs a tier", here));
        if (has_min && has_max && rule.min_bytes > rule.max_bytes)
            return failure(fmt::format("{}: placement: min_bytes ({}) is larger than max_bytes ({})", here,
                                       rule.min_bytes, rule.max_bytes));
        rules.push_back(std::move(rule));
    }
    cfg.placement = std::move(rules);
    return {};
}

}  // namespace

bool valid_glob(const std::string& pattern, std::string* why) {
    auto fail = [&](const char* w) {
        if (why) *why = w;
        return false;
    };
    if (pattern.empty()) return fail("it is empty");
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (static_cast<unsigned char>(c) < 0x20) return fail("it contains a control character");
        if (c == '\\') {
            if (++i == pattern.size()) return fail("it ends with a lone '\\'");
        } else if (c == '[') {
            size_t j = i + 1;
            if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) ++j;
            if (j < pattern.size() && pattern[j] == ']') ++j;  // a leading ']' is a member
            while (j < pattern.size() && pattern[j] != ']') ++j;
            if (j == pattern.size()) return fail("a '[' is never closed");
            i = j;
        }
    }
    return true;
}

bool glob_match(const char* p, const char* t) {
    const char* star_p = nullptr;  // pattern just after the last '*'
    const char* star_t = nullptr;  // where in the text that '*' resumes
    while (*t) {
        bool advance = false;
        if (*p == '*') {
            star_p = ++p;
            star_t = t;
            continue;
        }
        if (*p == '?') {
            advance = true;
        } else if (*p == '[') {
            const char* q = p + 1;
            bool negate = *q == '!' || *q == '^';
            if (negate) ++q;
            bool member = false;
            bool first = true;
            for (; *q && (first || *q != ']'); first = false) {
                char lo = *q++;
                if (lo == '\\' && *q) lo = *q++;
                char hi = lo;
                if (*q == '-' && q[1] && q[1] != ']') {
                    hi = q[1];
                    q += 2;
                    if (hi == '\\' && *q) hi = *q++;
                }
                if (*t >= lo && *t <= hi) member = true;
            }
            if (*q == ']' && member != negate) {
                advance = true;
                p = q;  // at the ']'; the common step below passes it
            }
        } else if (*p == '\\' && p[1]) {
            if (p[1] == *t) advance = true, ++p;
        } else if (*p && *p == *t) {
            advance = true;
        }
        if (advance) {
            ++p;
            ++t;
        } else if (star_p) {
            p = star_p;
            t = ++star_t;
        } else {
            return false;
        }
    }
    while (*p == '*') ++p;
    return *p == '\0';
}

namespace {

}  // namespace

std::vector<TierConfig> Config::tiers() const {
    std::vector<TierConfig> all;
    all.push_back({"remote", latency_ns, bandwidth_bps, false});
    for (const TierConfig& t : extra_tiers) all.push_back(t);
    return all;
}

int Config::tier_index(const std::string& name) const {
    if (name == "remote") return 0;
    for (size_t i = 0; i < extra_tiers.size(); ++i)
        if (extra_tiers[i].name == name) return static_cast<int>(i) + 1;
    return -1;
}

// "auto" (any case), or a whole number of pages 0 to Prefetcher's 256; -2 for anything else.
int Config::prefetch_window() const {
    if (equals_nocase(prefetch, "auto")) return kPrefetchAuto;
    if (prefetch.empty() || prefetch.size() > 3) return -2;
    int n = 0;
    for (char c : prefetch) {
        if (c < '0' || c > '9') return -2;
        n = n * 10 + (c - '0');
    }
    return n <= 256 ? n : -2;
}

uint64_t Config::fetch_cost_ns() const {
    using u128 = unsigned __int128;
    u128 bits = static_cast<u128>(page_size) * 8u;
    u128 bps = bandwidth_bps ? bandwidth_bps : 1;
    u128 transmit = (bits * 1000000000u + bps / 2) / bps;
    return static_cast<uint64_t>(2 * static_cast<u128>(latency_ns) + transmit);
}

namespace {

// Where the first two documents of `text` start (fewer if it has fewer). Not YAML::LoadAll: on
// some malformed input (a ',' at the top level) yaml-cpp 0.7 yields empty documents forever
// without moving on, and the program would never start.
// A document "starts" at its first node (after any "---"), as YAML::Node::Mark() says.
class DocumentStarts : public YAML::EventHandler {
public:
    std::vector<YAML::Mark> starts;
    void OnDocumentStart(const YAML::Mark& mark) override {
        starts.push_back(mark);
        fresh_ = true;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { node(m); }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        node(m);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        node(m);
    }
    void OnMapEnd() override {}

private:
    void node(const YAML::Mark& m) {
        if (fresh_) starts.back() = m;
        fresh_ = false;
    }
    bool fresh_ = false;
};

std::vector<YAML::Mark> document_starts(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    DocumentStarts events;
    while (events.starts.size() < 2 && parser.HandleNextDocument(events)) {
    }
    return events.starts;
}

}  // namespace

ConfigResult apply_yaml_text(Config& cfg, const std::string& text, const std::string& origin) {
    std::vector<YAML::Mark> starts;
    YAML::Node root;
    try {
        starts = document_starts(text);
        if (!starts.empty()) root = YAML::Load(text);  // the first document
    } catch (const YAML::Exception& e) {
        return failure(fmt::format("{}: malformed YAML: {}", at(origin, e.mark), escaped(e.msg)));
    }
    if (!starts.empty())
        if (auto open = unclosed_quote(root, text))
            return failure(fmt::format("{}: malformed YAML: a quoted string opens here and is never closed",
                                       at(origin, *open)));
    if (starts.size() > 1 && starts[1].pos <= starts[0].pos)  // the parser could not move on
        return failure(fmt::format("{}: malformed YAML: nothing here can start a setting", at(origin, starts[1])));
    if (starts.empty() || (starts.size() == 1 && root.IsNull())) return {};  // no settings
    if (starts.size() > 1)
        return failure(fmt::format("{}: a second YAML document; the configuration is one mapping",
                                   at(origin, starts[1])));
    if (!root.IsMap())
        return failure(fmt::format("{}: the top level must be a mapping of settings (key: value), not {}",
                                   at(origin, root.Mark()), node_kind(root)));

    Config staged = cfg;
    std::vector<std::pair<std::string, std::string>> seen;  // key, where it was first given
    try {
        for (const auto& entry : root) {
            const YAML::Node& key_node = entry.first;
            const YAML::Node& value = entry.second;
            std::string where = at(origin, key_node.Mark());
            if (!key_node.IsScalar())
                return failure(fmt::format("{}: a key must be a plain word, not {}", where,
                                           node_kind(key_node)));
            const std::string& key = key_node.Scalar();
            const Option* o = find_option(key);
            if (!o && key != "tiers" && key != "placement") return failure(unknown_key_message(where, key));
            for (const auto& [k, first] : seen)
                if (k == key)
                    return failure(fmt::format("{}: {}: given twice (first at {})", where, key, first));
            seen.emplace_back(key, where);
            if (!o) {
                ConfigResult r = key == "tiers" ? apply_tiers(staged, value, origin, seen)
                                                : apply_placement(staged, value, origin);
                if (!r.ok) return r;
                continue;
            }
            if (value.IsNull()) {
                if (is_text(o->kind)) {
                    ConfigResult r = apply_one(staged, *o, "", where);
                    if (!r.ok) return r;
                    continue;
                }
                return failure(fmt::format("{}: {}: no value given; {}", where, key,
                                           o->kind == Kind::choice
                                               ? fmt::format("expected one of: {}",
                                                             fmt::join(choice_words(*o), ", "))
                                               : std::string(expectation(o->kind))));
            }
            if (!value.IsScalar())
                return failure(fmt::format("{}: {}: expected a single value, got {}", where, key,
                                           node_kind(value)));
            ConfigResult r = apply_one(staged, *o, value.Scalar(), where);
            if (!r.ok) return r;
        }
    } catch (const YAML::Exception& e) {
        return failure(fmt::format("{}: malformed YAML: {}", at(origin, e.mark), escaped(e.msg)));
    }
    cfg = std::move(staged);
    return {};
}

ConfigResult apply_yaml_file(Config& cfg, const std::string& path) {
    auto cannot_read = [&](int err) {
        return failure(fmt::format("cannot read {}: {}", quoted(path), std::strerror(err)));
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cannot_read(errno);
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ::close(fd);
        return cannot_read(EISDIR);
    }
    std::string text;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            ::close(fd);
            return cannot_read(err);
        }
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > kMaxConfigFile) {
            ::close(fd);
            return failure(fmt::format("cannot read {}: larger than {} KiB, not a DiME configuration",
                                       quoted(path), kMaxConfigFile / 1024));
        }
    }
    ::close(fd);
    return apply_yaml_text(cfg, text, path);
}

ConfigResult apply_options_string(Config& cfg, const std::string& text, const std::string& origin) {
    Config staged = cfg;
    std::vector<std::string_view> seen;
    std::string_view rest = text;
    constexpr std::string_view separators = " \t\r\n,";
    while (true) {
        size_t begin = rest.find_first_not_of(separators);
        if (begin == std::string_view::npos) break;
        rest.remove_prefix(begin);
        size_t end = rest.find_first_of(separators);
        std::string_view token = rest.substr(0, end);
        rest.remove_prefix(token.size());

        size_t eq = token.find('=');
        if (eq == std::string_view::npos) {
            if (find_option(token))
                return failure(fmt::format("{}: {}: no value; write {}=VALUE with no spaces around '='",
                                           origin, token, token));
            return failure(fmt::format("{}: {} is not key=value (settings are separated by spaces or "
                                       "commas, so a value cannot contain them)",
                                       origin, quoted(token)));
        }
        std::string_view key = token.substr(0, eq), value = token.substr(eq + 1);
        if (key.empty())
            return failure(fmt::format("{}: {} has no key; write key=value with no spaces around '='",
                                       origin, quoted(token)));
        const Option* o = find_option(key);
        // A second '=' belongs to the value only where a value may be any string (a path).
        if ((!o || !is_text(o->kind)) && value.find('=') != std::string_view::npos)
            return failure(fmt::format("{}: {} has more than one '='; write key=value, settings separated by "
                                       "spaces or commas",
                                       origin, quoted(token)));
        if (!o) return failure(unknown_key_message(origin, key));
        for (auto k : seen)
            if (k == key) return failure(fmt::format("{}: {}: given twice", origin, key));
        seen.push_back(key);
        ConfigResult r = apply_one(staged, *o, value, origin);
        if (!r.ok) return r;
    }
    cfg = std::move(staged);
    return {};
}

ConfigResult validate(const Config& cfg) {
    // Every field against its own bounds, so a Config built in code is held to the same rules.
    for (const Option& o : kOptions) {
        Value v = o.get(cfg);
        if (o.kind == Kind::choice) {
            bool known = false;
            for (auto w : choice_words(o)) known = known || v.text == w;
            if (!known)
                return failure(fmt::format("{}: {} is not one of: {}", o.key, quoted(v.text),
                                           fmt::join(choice_words(o), ", ")));
        } else if (!is_text(o.kind) && o.kind != Kind::boolean) {
            if (v.number < o.min || v.number > o.max)
                return failure(fmt::format("{}: {} is out of range; {}", o.key, to_text(v.number),
                                           allowed_range(o)));
        }
    }
    if (cfg.page_size == 0 || (cfg.page_size & (cfg.page_size - 1)) != 0)
        return failure(fmt::format("page_size: {} is not a power of two (4096, 8192, ... 2MiB)", cfg.page_size));
    if (cfg.local_bytes % cfg.page_size != 0)
        return failure(fmt::format("local_bytes: {} is not a multiple of page_size ({})",
                                   cfg.local_bytes, cfg.page_size));
    if (cfg.heap_bytes % cfg.page_size != 0)
        return failure(fmt::format("heap_bytes: {} is not a multiple of page_size ({})", cfg.heap_bytes,
                                   cfg.page_size));
    if (cfg.pool_pages() == 0)
        return failure(fmt::format("{}: the local page pool would hold no page",
                                   cfg.local_bytes ? "local_bytes" : "local_npages"));
    // Tiers (also for a Config built in code): names valid and distinct, at most kMaxTiers.
    if (cfg.extra_tiers.size() + 1 > static_cast<size_t>(kMaxTiers))
        return failure(fmt::format("tiers: {} tiers, at most {} (remote included)", cfg.extra_tiers.size() + 1,
                                   kMaxTiers));
    for (size_t i = 0; i < cfg.extra_tiers.size(); ++i) {
        const TierConfig& t = cfg.extra_tiers[i];
        if (!valid_tier_name(t.name) || t.name == "remote")
            return failure(fmt::format("tiers: {} is not a valid tier name here", quoted(t.name)));
        for (size_t j = 0; j < i; ++j)
            if (cfg.extra_tiers[j].name == t.name) return failure(fmt::format("tiers: {}: given twice", t.name));
        if (t.local != (t.name == "local"))
            return failure(fmt::format("tiers: {}: only the tier named local is plain memory", t.name));
        if (!t.local && (t.latency_ns > 1000000000ull || t.bandwidth_bps < 1000))
            return failure(fmt::format("tiers: {}: latency_ns or bandwidth_bps out of range", t.name));
    }
    if (cfg.tier_index(cfg.default_tier) < 0)
        return failure(fmt::format("default_tier: no tier named {}; tiers: {}", quoted(cfg.default_tier),
                                   tier_names(cfg)));
    if (cfg.placement.size() > kMaxPlacementRules)
        return failure(fmt::format("placement: {} rules, at most {}", cfg.placement.size(), kMaxPlacementRules));
    for (const PlacementRule& rule : cfg.placement) {
        const std::string where = rule.where.empty() ? std::string("placement") : rule.where + ": placement";
        if (cfg.tier_index(rule.tier) < 0)
            return failure(fmt::format("{}: no tier named {}; tiers: {}", where, quoted(rule.tier), tier_names(cfg)));
        std::string why;
        for (const std::string* pattern : {&rule.function, &rule.library})
            if (!pattern->empty() && !valid_glob(*pattern, &why))
                return failure(fmt::format("{}: {} is not a valid pattern: {}", where, quoted(*pattern), why));
        if (rule.min_bytes > rule.max_bytes)
            return failure(fmt::format("{}: min_bytes ({}) is larger than max_bytes ({})", where, rule.min_bytes,
                                       rule.max_bytes));
    }
    if (!cfg.instance.empty() && !valid_instance_name(cfg.instance))
        return failure(fmt::format("instance: {} is not an instance name (1 to 64 characters from A-Z a-z 0-9 _ . -, "
                                   "not starting with '.')",
                                   quoted(cfg.instance)));
    if (cfg.prefetch_window() < Config::kPrefetchAuto)
        return failure(fmt::format("prefetch: {} is neither a window in pages (0 to 256) nor auto", quoted(cfg.prefetch)));
    // The mprotect backend serves each fault in the faulting thread: no thread of DiME's fetches
    // ahead or samples local pages in idle time.
    if (cfg.backend == "mprotect" && cfg.prefetch_window() != 0)
        return failure(fmt::format("prefetch: {} needs backend: userfaultfd (the mprotect backend fetches nothing ahead)",
                                   quoted(cfg.prefetch)));
    if (cfg.backend == "mprotect" && cfg.access_sample_percent > 0)
        return failure(fmt::format("access_sample_percent: {} needs backend: userfaultfd (the mprotect backend "
                                   "tracks no accesses; -1 or 0)",
                                   cfg.access_sample_percent));
    if (cfg.backend == "mprotect" && !cfg.instance.empty())
        return failure(fmt::format("instance: {} needs backend: userfaultfd (the mprotect backend shares no budget "
                                   "or link with other processes)",
                                   quoted(cfg.instance)));
    if (cfg.policy == "plugin") {
        if (cfg.policy_plugin.empty())
            return failure("policy: 'plugin' needs policy_plugin, the path of the policy's shared object");
        // Loads the plugin once to check it (entry symbol, ABI version), so that a bad plugin
        // stops the program here, with exit status 2, rather than in Engine::start.
        if (std::string why = check_policy_plugin(cfg.policy_plugin); !why.empty()) return failure(why);
    }
    if (cfg.handler_cpu >= 0) {
        long cpus = ::sysconf(_SC_NPROCESSORS_CONF);
        if (cpus > 0 && cfg.handler_cpu >= cpus)
            return failure(fmt::format("handler_cpu: {} does not exist; this machine has CPUs 0 to {} "
                                       "(or -1 for not pinned)",
                                       cfg.handler_cpu, cpus - 1));
    }
    return {};
}

ConfigResult load_from_environment(Config& cfg) {
    Config staged = cfg;
    if (const char* path = std::getenv("DIME_CONFIG"); path && *path) {
        ConfigResult r = apply_yaml_file(staged, path);
        if (!r.ok) {
            if (r.error.rfind("cannot read ", 0) == 0) r.error = "DIME_CONFIG: " + r.error;
            return r;
        }
    }
    if (const char* options = std::getenv("DIME_OPTIONS"); options && *options) {
        ConfigResult r = apply_options_string(staged, options, "DIME_OPTIONS");
        if (!r.ok) return r;
    }
    // Set but empty means none (no report, no trace).
    for (auto [variable, key] : {std::pair{"DIME_REPORT", "report"}, std::pair{"DIME_TRACE", "trace"}}) {
        const char* path = std::getenv(variable);
        if (!path) continue;
        ConfigResult r = apply_one(staged, *find_option(key), path, variable);
        if (!r.ok) return r;
    }
    // The dedicated variables for one setting each; set but empty means unset.
    for (auto [variable, key] : {std::pair{"DIME_LOG", "log_level"}, std::pair{"DIME_DISABLE", "disable"}}) {
        const char* text = std::getenv(variable);
        if (!text || !*text) continue;
        ConfigResult r = apply_one(staged, *find_option(key), text, variable);
        if (!r.ok) return r;
    }
    ConfigResult r = validate(staged);
    if (!r.ok) return r;
    cfg = std::move(staged);
    return {};
}

std::string json_quoted(std::string_view s) {
    fmt::memory_buffer out;
    json_string(out, s);
    return fmt::to_string(out);
}

std::string to_json(const Config& cfg) {
    fmt::memory_buffer out;
    out.push_back('{');
    bool first = true;
    for (const Option& o : kOptions) {
        if (!first) out.push_back(',');
        first = false;
        json_string(out, o.key);
        out.push_back(':');
        Value v = o.get(cfg);
        switch (o.kind) {
            case Kind::text:
            case Kind::output:
            case Kind::choice: json_string(out, v.text); break;
            case Kind::boolean: fmt::format_to(std::back_inserter(out), "{}", v.flag); break;
            default: fmt::format_to(std::back_inserter(out), "{}", to_text(v.number)); break;
        }
    }
    // Every tier (remote first) and the placement rules, in their order.
    fmt::format_to(std::back_inserter(out), ",\"tiers\":[");
    first = true;
    for (const TierConfig& t : cfg.tiers()) {
        if (!first) out.push_back(',');
        first = false;
        out.append(std::string_view("{\"name\":"));
        json_string(out, t.name);
        fmt::format_to(std::back_inserter(out), ",\"latency_ns\":{},\"bandwidth_bps\":{},\"local\":{}}}",
                       t.latency_ns, t.bandwidth_bps, t.local);
    }
    fmt::format_to(std::back_inserter(out), "],\"placement\":[");
    first = true;
    for (const PlacementRule& r : cfg.placement) {
        if (!first) out.push_back(',');
        first = false;
        out.append(std::string_view("{\"tier\":"));
        json_string(out, r.tier);
        fmt::format_to(std::back_inserter(out), ",\"min_bytes\":{},\"max_bytes\":{},\"function\":", r.min_bytes,
                       r.max_bytes);
        json_string(out, r.function);
        out.append(std::string_view(",\"library\":"));
        json_string(out, r.library);
        out.push_back('}');
    }
    out.append(std::string_view("]}"));
    return fmt::to_string(out);
}

std::vector<SettingText> describe(const Config& cfg) {
    static constexpr std::string_view kKindNames[] = {"count",  "bytes", "nanoseconds", "bandwidth", "boolean",
                                                      "choice", "text",  "cpu",         "output"};
    std::vector<SettingText> out;
    for (const Option& o : kOptions) {
        Value v = o.get(cfg);
        std::string value = is_text(o.kind) || o.kind == Kind::choice ? v.text
                            : o.kind == Kind::boolean                     ? (v.flag ? "true" : "false")
                                                                          : to_text(v.number);
        out.push_back({o.key, kKindNames[static_cast<int>(o.kind)], std::move(value), o.help});
    }
    return out;
}

void exit_bad_config(const std::string& message) {
    std::string line = "dime: " + message;
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    line += '\n';
    const char* p = line.data();
    size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        p += n;
        left -= static_cast<size_t>(n);
    }
    ::_exit(2);
}

}  // namespace dime
