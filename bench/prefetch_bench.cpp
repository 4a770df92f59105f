// prefetch_bench.cpp — a sequential scan at 25 us per remote page (latency_ns=12500, negligible
// transmission) with prefetch off, a fixed window and auto, side by side: time per page of the
// first-touch pass and of re-fetch passes, faults per page, prefetch hit ratio. Medians of
// alternating runs; DiME's own cost is not subtracted (overhead_ns=0), so that every variant is
// delayed alike whatever the load. Prints figures; asserts nothing (see docs/policies.md#prefetching).
// Drives the engine directly (no preload), on the main thread.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config.h"
#include "engine.h"

namespace {

struct Args {
    int runs = 5;
    size_t pool = 1024;
    size_t pages = 4096;  // the scanned region
    int passes = 3;       // re-fetch passes per run
    uint64_t latency_ns = 12500;
    std::vector<std::string> windows = {"0", "8", "auto"};
    std::string options;  // extra DiME key=value settings (--set)
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string f = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "prefetch_bench: %s needs a value\n", f.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (f == "--runs") {
            a.runs = std::max(1, std::atoi(value().c_str()));
        } else if (f == "--pool") {
            a.pool = std::strtoull(value().c_str(), nullptr, 10);
        } else if (f == "--pages") {
            a.pages = std::strtoull(value().c_str(), nullptr, 10);
        } else if (f == "--latency") {
            a.latency_ns = std::strtoull(value().c_str(), nullptr, 10);
        } else if (f == "--windows") {  // comma-separated prefetch settings
            a.windows.clear();
            const std::string list = value();
            for (size_t at = 0; at <= list.size();) {
                const size_t comma = std::min(list.find(',', at), list.size());
                if (comma > at) a.windows.push_back(list.substr(at, comma - at));
                at = comma + 1;
            }
        } else if (f == "--set") {
            a.options.push_back(' ');
            a.options.append(value());
        } else if (f == "--quick") {
            a.runs = 3;
            a.passes = 2;
        } else {
            std::printf("usage: prefetch_bench [--quick] [--runs N] [--pool PAGES] [--pages N] [--latency NS]\n"
                        "                      [--windows 0,8,auto] [--set key=value]...\n");
            std::exit(f == "--help" || f == "-h" ? 0 : 2);
        }
    }
    if (a.pages < 2 * a.pool) {
        std::fprintf(stderr, "prefetch_bench: --pages must be at least twice --pool (every pass must re-fetch)\n");
        std::exit(2);
    }
    return a;
}

struct Sample {
    double first_ns = 0;    // per page, first-touch pass
    double refetch_ns = 0;  // per page, mean of the re-fetch passes
    double faults_per_page = 0;
    double hit_ratio = 0;
    double hit_faults_per_page = 0;  // probes touched (and sampled pages, with access tracking)
    double ns_per_hit_fault = 0;     // handler time per hit fault (tracking_ns / hit_faults)
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

double ns_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
}

Sample run_once(const Args& a, const std::string& window) {
    dime::Config cfg;
    cfg.summary = false;
    cfg.latency_ns = a.latency_ns;
    cfg.bandwidth_bps = 1000000000000000ull;
    cfg.local_npages = a.pool;
    cfg.prefetch = window;
    // No calibration: on a loaded machine each engine would calibrate a different own cost and
    // the variants would be injected different delays. With 0 every fault costs at least the
    // full 25 us, plus DiME's own cost, in every variant alike (--set overhead_ns=-1 calibrates).
    cfg.overhead_ns = 0;
    if (!a.options.empty()) {
        const auto r = dime::apply_options_string(cfg, a.options, "--set");
        if (!r.ok) dime::exit_bad_config(r.error);
    }
    if (const auto r = dime::validate(cfg); !r.ok) dime::exit_bad_config(r.error);
    std::string error;
    auto engine = dime::Engine::start(cfg, &error);
    if (!engine) {
        std::fprintf(stderr, "prefetch_bench: %s\n", error.c_str());
        std::exit(1);
    }
    auto* base = static_cast<volatile unsigned char*>(engine->map_region(a.pages * cfg.page_size, &error));
    if (!base) {
        std::fprintf(stderr, "prefetch_bench: %s\n", error.c_str());
        std::exit(1);
    }
    Sample s;
    auto t0 = std::chrono::steady_clock::now();
    for (size_t p = 0; p < a.pages; ++p) base[p * cfg.page_size] = static_cast<unsigned char>(p);
    s.first_ns = ns_since(t0) / double(a.pages);
    const dime::Totals before = engine->totals();
    t0 = std::chrono::steady_clock::now();
    unsigned sum = 0;
    for (int pass = 0; pass < a.passes; ++pass)
        for (size_t p = 0; p < a.pages; ++p) sum += base[p * cfg.page_size];
    s.refetch_ns = ns_since(t0) / double(a.pages * a.passes);
    const dime::Totals after = engine->totals();
    s.faults_per_page = double(after.refetch_faults - before.refetch_faults) / double(a.pages * a.passes);
    s.hit_ratio = after.prefetch_hit_ratio;
    s.hit_faults_per_page = double(after.hit_faults - before.hit_faults) / double(a.pages * a.passes);
    s.ns_per_hit_fault = after.hit_faults ? double(after.tracking_ns) / double(after.hit_faults) : 0;
    if (sum == 0xffffffffu) std::printf("(unlikely sum)\n");  // keeps the reads
    engine->unmap_region(const_cast<unsigned char*>(base));
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    const Args a = parse(argc, argv);
    std::printf("prefetch_bench: sequential scan of %zu pages, pool %zu pages, %.1f us per remote page "
                "(latency_ns=%llu, bandwidth 1e15 bit/s), %d runs x (1 first-touch + %d re-fetch passes)%s%s\n",
                a.pages, a.pool, 2 * a.latency_ns / 1000.0, static_cast<unsigned long long>(a.latency_ns), a.runs,
                a.passes, a.options.empty() ? "" : ", settings:", a.options.c_str());
    std::vector<std::vector<Sample>> samples(a.windows.size());
    for (int r = 0; r < a.runs; ++r)  // alternate the variants so that load hits them alike
        for (size_t w = 0; w < a.windows.size(); ++w) samples[w].push_back(run_once(a, a.windows[w]));
    auto field = [](const std::vector<Sample>& v, double Sample::*f) {
        std::vector<double> out;
        for (const Sample& s : v) out.push_back(s.*f);
        return median(out);
    };
    const double base_first = field(samples[0], &Sample::first_ns);
    const double base_refetch = field(samples[0], &Sample::refetch_ns);
    std::printf("\n%-10s %14s %9s %16s %9s %13s %10s %15s %13s\n", "prefetch", "first ns/page", "speedup",
                "re-fetch ns/page", "speedup", "faults/page", "hit ratio", "hit faults/page", "ns/hit fault");
    for (size_t w = 0; w < a.windows.size(); ++w) {
        const double first = field(samples[w], &Sample::first_ns);
        const double refetch = field(samples[w], &Sample::refetch_ns);
        std::printf("%-10s %14.0f %8.2fx %16.0f %8.2fx %13.3f %10.2f %15.3f %13.0f\n", a.windows[w].c_str(), first,
                    base_first / first, refetch, base_refetch / refetch, field(samples[w], &Sample::faults_per_page),
                    field(samples[w], &Sample::hit_ratio), field(samples[w], &Sample::hit_faults_per_page),
                    field(samples[w], &Sample::ns_per_hit_fault));
    }
    std::printf("\n(speedup: against the first variant, %s; medians of %d runs)\n", a.windows[0].c_str(), a.runs);
    return 0;
}
