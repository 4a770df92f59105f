// sim_main.cpp — the command line of the policy lab: parses `dime sim` options, reads the
// trace, runs the policy, OPT and LRU, and prints text or one JSON object. Offline.
#include "sim_main.h"

#include <charconv>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "policies/policy.h"
#include "simulate.h"
#include "trace.h"

namespace dime::lab {
namespace {

constexpr const char* kHelp =
    "usage: dime sim --trace FILE --policy NAME --local-pages N [--page-size S]\n"
    "                [--access-fraction F] [--evict-batch B] [--json]\n"
    "\n"
    "Replays a page-access trace through a replacement policy, driving it exactly as the\n"
    "engine does (on_admit on a miss, pick_victim while the pool is full, on_access on a hit),\n"
    "and prints its faults and hit ratio beside Belady's OPT and exact LRU.\n"
    "\n"
    "  --trace FILE         the trace: one access per line, a page number (decimal, 4 KiB pages)\n"
    "                       or a byte address (0x...); '#' comments; '-' reads stdin\n"
    "  --policy NAME        fifo, random, clock, lru2q, arc, or plugin (default fifo)\n"
    "  --policy-plugin PATH with --policy plugin: the plugin's shared object\n"
    "  --local-pages N      pages the local pool holds (required, at least 1)\n"
    "  --page-size S        the simulated page in bytes: 4096 (default) up to 2MiB, a power\n"
    "                       of two; K/KiB and M/MiB suffixes accepted\n"
    "  --access-fraction F  report each hit to the policy with probability F (0 to 1,\n"
    "                       default 1): a simple model of sampled access tracking; 0 is the\n"
    "                       engine without access tracking\n"
    "  --evict-batch B      the engine's evict_batch (default 1: exactly one page per miss);\n"
    "                       larger values evict as the engine does with idle time between\n"
    "                       faults: at least a batch when full, and a batch ahead of need\n"
    "  --json               print one JSON object: trace, policy, local_pages, page_size,\n"
    "                       access_fraction, evict_batch, accesses, distinct_pages, faults,\n"
    "                       hit_ratio, opt_faults, opt_hit_ratio, lru_faults, lru_hit_ratio\n"
    "  -h, --help           this text\n"
    "\n"
    "Faults include first accesses. Exit status: 0 done, 2 bad command line or trace,\n"
    "1 the policy misbehaved (e.g. named a victim that is not local). See docs/policies.md.\n";

int bad(const std::string& message) {
    std::fflush(stdout);
    std::fputs(("dime: " + message + "\n").c_str(), stderr);
    return 2;
}

bool parse_count(std::string_view text, uint64_t* out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

// Bytes with an optional binary suffix: 4096, 64K, 64KiB, 2M, 2MiB.
bool parse_bytes(std::string_view text, uint64_t* out) {
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    uint64_t n = 0;
    if (!parse_count(text.substr(0, digits), &n)) return false;
    std::string_view unit = text.substr(digits);
    int shift = 0;
    if (unit.empty() || unit == "B")
        shift = 0;
    else if (unit == "K" || unit == "KiB" || unit == "KB")
        shift = 10;
    else if (unit == "M" || unit == "MiB" || unit == "MB")
        shift = 20;
    else
        return false;
    if (n > (UINT64_MAX >> shift)) return false;
    *out = n << shift;
    return true;
}

}  // namespace

const char* sim_help() { return kHelp; }

int sim_main(int argc, char** argv) {
    std::string trace_path, policy_name = "fifo", plugin_path, local_pages_text, page_size_text = "4096",
                fraction_text = "1", batch_text = "1";
    bool json = false, have_pages = false;
    const std::string try_help = "; try 'dime sim --help'";
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::fputs(kHelp, stdout);
            return 0;
        }
        if (arg == "--json") {
            json = true;
            continue;
        }
        std::string* target = nullptr;
        std::string_view name = arg.substr(0, arg.find('='));
        if (name == "--trace") target = &trace_path;
        else if (name == "--policy") target = &policy_name;
        else if (name == "--policy-plugin") target = &plugin_path;
        else if (name == "--local-pages") target = &local_pages_text, have_pages = true;
        else if (name == "--page-size") target = &page_size_text;
        else if (name == "--access-fraction") target = &fraction_text;
        else if (name == "--evict-batch") target = &batch_text;
        else return bad("unknown option '" + std::string(arg) + "'" + try_help);
        if (name.size() < arg.size()) {
            *target = std::string(arg.substr(name.size() + 1));
        } else {
            if (i + 1 >= argc) return bad(std::string(name) + " needs a value" + try_help);
            *target = argv[++i];
        }
    }
    if (trace_path.empty()) return bad("--trace FILE is required" + try_help);
    if (!have_pages) return bad("--local-pages N is required" + try_help);
    uint64_t pages = 0, page_size = 0;
    if (!parse_count(local_pages_text, &pages) || pages == 0 || pages >= kNoPage)
        return bad("--local-pages: '" + local_pages_text + "' is not a page count from 1 to 4294967294");
    if (!parse_bytes(page_size_text, &page_size) || page_size < 4096 || page_size > (2u << 20) ||
        (page_size & (page_size - 1)) != 0)
        return bad("--page-size: '" + page_size_text + "' is not a power of two from 4096 to 2MiB");
    double fraction = 1;
    {
        char* end = nullptr;
        fraction = std::strtod(fraction_text.c_str(), &end);
        if (fraction_text.empty() || *end || !(fraction >= 0 && fraction <= 1))
            return bad("--access-fraction: '" + fraction_text + "' is not a number from 0 to 1");
    }
    uint64_t batch = 1;
    if (!parse_count(batch_text, &batch) || batch == 0 || batch > 256)
        return bad("--evict-batch: '" + batch_text + "' is not a count from 1 to 256");
    std::string error;
    auto policy = make_policy_for(policy_name, plugin_path, &error);
    if (!policy) return bad("--policy: " + error);

    Trace trace;
    if (!read_trace_file(trace_path, page_size, &trace, &error)) return bad("--trace: " + error);

    SimResult result;
    SimOptions options;
    options.capacity = pages;
    options.access_fraction = fraction;
    options.evict_batch = batch;
    if (!simulate(*policy, trace, options, &result, &error)) {
        std::fflush(stdout);
        std::fputs(("dime: " + error + "\n").c_str(), stderr);
        return 1;
    }
    const uint64_t opt = opt_faults(trace, pages), lru = lru_faults(trace, pages);
    const uint64_t n = trace.accesses.size();
    auto ratio = [n](uint64_t faults) { return n ? double(n - faults) / double(n) : 0.0; };
    if (json) {
        std::string escaped;
        for (char c : trace_path) {
            if (c == '"' || c == '\\') escaped += '\\';
            if (static_cast<unsigned char>(c) < 0x20) {
                escaped += fmt::format("\\u{:04x}", c);
                continue;
            }
            escaped += c;
        }
        fmt::print(
            "{{\"trace\":\"{}\",\"policy\":\"{}\",\"local_pages\":{},\"page_size\":{},\"access_fraction\":{},\"evict_batch\":{},"
            "\"accesses\":{},"
            "\"distinct_pages\":{},\"faults\":{},\"hit_ratio\":{:.6f},\"opt_faults\":{},\"opt_hit_ratio\":{:.6f},"
            "\"lru_faults\":{},\"lru_hit_ratio\":{:.6f}}}\n",
            escaped, policy->name(), pages, page_size, fraction, engine_batch(batch, pages), n, trace.distinct_pages, result.faults, result.hit_ratio(), opt,
            ratio(opt), lru, ratio(lru));
        return 0;
    }
    auto times = [](uint64_t a, uint64_t b) { return b ? fmt::format("{:.3f}", double(a) / double(b)) : std::string("-"); };
    fmt::print("trace        {}: {} accesses, {} distinct pages of {} bytes\n", trace_path, n, trace.distinct_pages,
               page_size);
    fmt::print("local pages  {} ({:.1f}% of the footprint)\n", pages,
               trace.distinct_pages ? 100.0 * double(pages) / double(trace.distinct_pages) : 0.0);
    fmt::print("{:<12} {:>12} faults  hit ratio {:.4f}\n", policy->name(), result.faults, result.hit_ratio());
    fmt::print("{:<12} {:>12} faults  hit ratio {:.4f}  ({} x OPT)\n", "OPT", opt, ratio(opt), times(result.faults, opt));
    fmt::print("{:<12} {:>12} faults  hit ratio {:.4f}  ({} x LRU)\n", "LRU", lru, ratio(lru), times(result.faults, lru));
    return 0;
}

}  // namespace dime::lab
