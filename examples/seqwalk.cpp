// seqwalk.cpp — DiME's verification program (DiME report, section 4): touch each page of an
// emulated region once, in order, and print pages, faults, expected and actual delay per page.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "config.h"
#include "engine.h"

namespace {

constexpr uint64_t kDefaultPages = 10000;
constexpr uint64_t kMaxPages = 1ull << 28;  // 1 TiB of 4 KiB pages: beyond that it is a typo

constexpr const char* kUsage =
    "usage: seqwalk [--pages N] [--help]\n"
    "  Touches each of N pages (default 10000) of an emulated region once, in order, and prints\n"
    "  pages, page faults, expected and actual delay per page (DiME report, Table 4.2).\n"
    "  Settings come from DIME_CONFIG / DIME_OPTIONS, e.g.\n"
    "    DIME_OPTIONS=\"latency_ns=20000 bandwidth_bps=1000000000000000 local_npages=1000\" seqwalk\n";

[[noreturn]] void bad_argument(const std::string& message) {
    std::fprintf(stderr, "seqwalk: %s (see seqwalk --help)\n", message.c_str());
    std::exit(2);
}

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "seqwalk: %s\n", message.c_str());
    std::exit(1);
}

uint64_t parse_pages(std::string_view text) {
    const std::string shown(text);
    uint64_t value = 0;
    bool ok = !text.empty() && text.size() <= 12;
    for (char c : text) {
        if (c < '0' || c > '9') {
            ok = false;
            break;
        }
        value = value * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok || value == 0 || value > kMaxPages)
        bad_argument(fmt::format("--pages expects a whole number from 1 to {}, got '{}'", kMaxPages,
                                 shown));
    return value;
}

struct Options {
    uint64_t pages = kDefaultPages;
};

Options parse_command_line(int argc, char** argv) {
    Options opts;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (arg == "--pages") {
            if (i + 1 >= argc) bad_argument("--pages needs a value");
            opts.pages = parse_pages(argv[++i]);
        } else if (arg.starts_with("--pages=")) {
            opts.pages = parse_pages(arg.substr(std::strlen("--pages=")));
        } else {
            bad_argument(fmt::format("unknown argument '{}'", arg));
        }
    }
    return opts;
}

}  // namespace

int main(int argc, char** argv) {
    // Bad DIME_CONFIG / DIME_OPTIONS: one line and exit 2, before anything runs.
    dime::Config cfg;
    auto loaded = dime::load_from_environment(cfg);
    if (!loaded.ok) dime::exit_bad_config(loaded.error);

    const Options opts = parse_command_line(argc, argv);

    std::string error;
    auto engine = dime::Engine::start(cfg, &error);
    if (!engine) fail(error);

    const uint64_t page = cfg.page_size;
    auto* base = static_cast<unsigned char*>(engine->map_region(opts.pages * page, &error));
    if (!base) fail(error);

    // The region is fresh: no page of it has been touched, so every access below is DiME's.
    volatile unsigned char* walk = base;
    const dime::Totals before = engine->totals();
    const auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < opts.pages; ++i) walk[i * page] = static_cast<unsigned char>(i | 1);
    const auto t1 = std::chrono::steady_clock::now();
    const dime::Totals after = engine->totals();

    const double walk_ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
    const uint64_t faults = after.faults - before.faults;
    const double expected_us = static_cast<double>(cfg.fetch_cost_ns()) / 1000.0;
    const double actual_us = walk_ns / static_cast<double>(opts.pages) / 1000.0;
    const std::string error_pct =
        cfg.fetch_cost_ns() == 0
            ? std::string("-")
            : fmt::format("{:+.1f}%", (actual_us - expected_us) / expected_us * 100.0);

    fmt::print("seqwalk: latency_ns={} bandwidth_bps={} local_npages={} page_size={} first_touch={}\n",
               cfg.latency_ns, cfg.bandwidth_bps, cfg.pool_pages(), cfg.page_size, cfg.first_touch);
    fmt::print("{:>12}  {:>12}  {:>22}  {:>20}  {:>8}\n", "pages", "page faults",
               "expected delay/page", "actual delay/page", "error");
    fmt::print("{:>12}  {:>12}  {:>19.2f} us  {:>17.2f} us  {:>8}\n", opts.pages, faults,
               expected_us, actual_us, error_pct);
    std::fflush(stdout);

    engine->write_reports();
    engine->unmap_region(base);
    return 0;
}
