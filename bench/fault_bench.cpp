// fault_bench.cpp — DiME's fault path beside the raw userfaultfd floor, in one run: overhead per
// fault at delay 0, fault throughput, per-access accuracy for delay targets, concurrent faults
// overlapping, and the two backends (userfaultfd, mprotect) side by side. Prints figures; asserts
// nothing (see docs/performance.md).
//
// Every comparison is side by side: the floor (bench/uffd_floor.h's bare pager) and DiME's
// engine are run alternately on the same access pattern, several times, and medians are kept.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "config.h"
#include "engine.h"
#include "uffd_floor.h"

namespace {

using namespace dime::bench;

struct Args {
    int runs = 5;
    size_t pool = 1024;
    size_t factor = 4;
    size_t sweeps = 8;
    bool quick = false;
    std::string only;     // one section, or all
    std::string options;  // DiME key=value settings applied to every engine run (--set)
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string f = argv[i];
        auto value = [&]() -> long {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "fault_bench: %s needs a value\n", f.c_str());
                std::exit(2);
            }
            return std::atol(argv[++i]);
        };
        if (f == "--quick") {
            a.quick = true;
            a.runs = 3;
            a.sweeps = 3;
        } else if (f == "--runs") {
            a.runs = static_cast<int>(value());
        } else if (f == "--sweeps") {
            a.sweeps = static_cast<size_t>(value());
        } else if (f == "--only" && i + 1 < argc) {
            a.only = argv[++i];
            if (a.only != "overhead" && a.only != "accuracy" && a.only != "concurrency" && a.only != "backends") {
                std::fprintf(stderr, "fault_bench: --only takes overhead, accuracy, concurrency or backends\n");
                std::exit(2);
            }
        } else if (f == "--set" && i + 1 < argc) {
            a.options += std::string(" ") + argv[++i];
        } else if (f == "--help" || f == "-h") {
            std::printf("usage: fault_bench [--quick] [--runs N] [--sweeps N]\n"
                        "                   [--only overhead|accuracy|concurrency|backends]\n"
                        "                   [--set key=value]...   (DiME settings for every engine run)\n");
            std::exit(0);
        } else {
            std::fprintf(stderr, "fault_bench: unknown argument '%s' (try --help)\n", f.c_str());
            std::exit(2);
        }
    }
    if (a.runs < 1 || a.sweeps < 1) {
        std::fprintf(stderr, "fault_bench: --runs and --sweeps must be at least 1\n");
        std::exit(2);
    }
    return a;
}

struct EngineRun {
    bool ok = false;
    SweepResult app;
    double faults_per_s = 0;
    uint64_t overhead_ns = 0;
    dime::Totals totals;
};

// A fresh engine with `latency_ns` (bandwidth so high that transmission is negligible, unless
// given), the region stamped (page i holds i), warm sweeps, then timed sweeps.
EngineRun run_engine(const Args& a, int threads, uint64_t latency_ns, uint64_t bandwidth_bps = 1000000000000000ull,
                     const std::string& backend = "") {
    EngineRun out;
    dime::Config cfg;
    cfg.latency_ns = latency_ns;
    cfg.bandwidth_bps = bandwidth_bps;
    cfg.local_npages = a.pool;
    cfg.summary = false;
    const std::string options = backend.empty() ? a.options : a.options + " backend=" + backend;
    if (!options.empty()) {
        const dime::ConfigResult r = dime::apply_options_string(cfg, options, "--set");
        if (!r.ok) {
            std::fprintf(stderr, "fault_bench: %s\n", r.error.c_str());
            std::exit(2);
        }
    }
    std::string err;
    auto engine = dime::Engine::start(cfg, &err);
    if (!engine) {
        std::fprintf(stderr, "fault_bench: %s\n", err.c_str());
        return out;
    }
    out.overhead_ns = engine->overhead_ns();
    const size_t pages = a.pool * a.factor;
    char* region = static_cast<char*>(engine->map_region(pages * kPage, &err));
    if (!region) {
        std::fprintf(stderr, "fault_bench: %s\n", err.c_str());
        return out;
    }
    for (size_t i = 0; i < pages; ++i) *reinterpret_cast<uint64_t*>(region + i * kPage) = i;
    SweepConfig sc;
    sc.threads = threads;
    sc.sweeps = a.sweeps;
    sc.verify_stamp = true;
    dime::Totals before, after;
    out.app = run_sweeps(region, pages, sc, [&] { before = engine->totals(); }, [&] { after = engine->totals(); });
    out.totals = after;
    const uint64_t faults = after.faults - before.faults;
    out.faults_per_s = out.app.seconds > 0 ? double(faults) / out.app.seconds : 0;
    out.ok = out.app.mismatches == 0;
    if (!out.ok) std::fprintf(stderr, "fault_bench: DiME returned %lu wrong pages\n", (unsigned long)out.app.mismatches);
    return out;
}

FloorResult run_floor_once(const Args& a, int threads) {
    FloorConfig fc;
    fc.pager.pool_pages = a.pool;
    fc.region_factor = a.factor;
    fc.sweep.threads = threads;
    fc.sweep.sweeps = a.sweeps;
    return run_floor(fc);
}

double median_of(std::vector<double> v) { return percentile(v, 0.5); }

void overhead_and_throughput(const Args& a) {
    std::printf("\n== Delay 0: DiME beside the raw floor (alternating, %d runs, pool %zu pages, region %zux) ==\n",
                a.runs, a.pool, a.factor);
    std::printf("%-8s %14s %14s %12s %14s %14s %12s %8s\n", "threads", "floor mean ns", "DiME mean ns", "ratio",
                "floor faults/s", "DiME faults/s", "ratio", "");
    for (int threads : {1, 2}) {
        std::vector<double> fm, dm, fr, dr, ratio_mean, ratio_rate;
        for (int r = 0; r < a.runs; ++r) {
            const FloorResult f = run_floor_once(a, threads);
            const EngineRun d = run_engine(a, threads, 0);
            if (!f.ok || !d.ok) {
                std::fprintf(stderr, "fault_bench: run failed: %s\n", f.ok ? "DiME" : f.error.c_str());
                continue;
            }
            fm.push_back(f.app.mean_ns);
            dm.push_back(d.app.mean_ns);
            fr.push_back(f.faults_per_s);
            dr.push_back(d.faults_per_s);
            ratio_mean.push_back(d.app.mean_ns / f.app.mean_ns);
            ratio_rate.push_back(d.faults_per_s / f.faults_per_s);
        }
        if (fm.empty()) continue;
        std::printf("%-8d %14.0f %14.0f %11.2fx %14.0f %14.0f %11.2fx\n", threads, median_of(fm), median_of(dm),
                    median_of(ratio_mean), median_of(fr), median_of(dr), median_of(ratio_rate));
    }
}

void accuracy(const Args& a) {
    std::printf("\n== Accuracy: per-access time for a target delay (1 thread, %d runs, medians of runs) ==\n", a.runs);
    std::printf("%-10s %12s %12s %9s %12s %9s %14s\n", "target us", "mean us", "median us", "err mean", "p99 us",
                "err p50", "calibrated ns");
    for (uint64_t target_us : {1, 2, 5, 10, 25, 50, 100}) {
        std::vector<double> means, medians, p99s, own;
        for (int r = 0; r < a.runs; ++r) {
            const EngineRun d = run_engine(a, 1, target_us * 1000 / 2);
            if (!d.ok) continue;
            means.push_back(d.app.mean_ns);
            medians.push_back(d.app.median_ns);
            p99s.push_back(d.app.p99_ns);
            own.push_back(double(d.overhead_ns));
        }
        if (means.empty()) continue;
        const double t = double(target_us) * 1000;
        const double m = median_of(means), md = median_of(medians);
        std::printf("%-10lu %12.2f %12.2f %+8.1f%% %12.1f %+8.1f%% %14.0f\n", (unsigned long)target_us, m / 1000,
                    md / 1000, (m - t) / t * 100, median_of(p99s) / 1000, (md - t) / t * 100, median_of(own));
    }
}

// The two backends on the same walk, alternating, several runs: DiME's own cost per fault (delay
// 0: the mean access time, and the calibrated overhead the engine subtracts), the fault rate with
// one and two threads, and the per-access accuracy for two delay targets.
void backends(const Args& a) {
    const char* const names[] = {"userfaultfd", "mprotect"};
    std::printf("\n== Backends side by side (alternating, %d runs, medians; pool %zu pages, region %zux) ==\n", a.runs,
                a.pool, a.factor);
    std::printf("%-12s %-8s %10s %14s %16s %14s %16s\n", "backend", "threads", "delay us", "mean ns/access",
                "median ns/access", "faults/s", "calibrated ns");
    for (uint64_t target_us : {0, 10, 50})
        for (int threads : {1, 2}) {
            if (target_us != 0 && threads != 1) continue;
            std::vector<double> mean[2], median[2], rate[2], own[2];
            for (int r = 0; r < a.runs; ++r)
                for (int b = 0; b < 2; ++b) {
                    const EngineRun d = run_engine(a, threads, target_us * 1000 / 2, 1000000000000000ull, names[b]);
                    if (!d.ok) continue;
                    mean[b].push_back(d.app.mean_ns);
                    median[b].push_back(d.app.median_ns);
                    rate[b].push_back(d.faults_per_s);
                    own[b].push_back(double(d.overhead_ns));
                }
            for (int b = 0; b < 2; ++b)
                if (!mean[b].empty())
                    std::printf("%-12s %-8d %10lu %14.0f %16.0f %14.0f %16.0f\n", names[b], threads,
                                (unsigned long)target_us, median_of(mean[b]), median_of(median[b]), median_of(rate[b]),
                                median_of(own[b]));
        }
}

void concurrency(const Args& a) {
    std::printf("\n== Concurrent faults overlap: 4 threads, 25 us per access (target >= 0.9 x 4 / 25 us = 144000/s) ==\n");
    std::vector<double> rates, means;
    for (int r = 0; r < a.runs; ++r) {
        const EngineRun d = run_engine(a, 4, 12500);
        if (!d.ok) continue;
        rates.push_back(d.faults_per_s);
        means.push_back(d.app.mean_ns);
    }
    if (rates.empty()) return;
    const double rate = median_of(rates);
    std::printf("faults/s %.0f (%.2f x the ideal 160000/s), mean per access %.1f us\n", rate, rate / 160000.0,
                median_of(means) / 1000);
}

}  // namespace

int main(int argc, char** argv) {
    const Args a = parse(argc, argv);
    std::printf("fault_bench: pool %zu pages, region %zu pages, %zu timed sweeps, %d runs%s\n", a.pool,
                a.pool * a.factor, a.sweeps, a.runs, a.quick ? " (--quick)" : "");
    if (!a.options.empty()) std::printf("DiME settings:%s\n", a.options.c_str());
    if (a.only.empty() || a.only == "overhead") overhead_and_throughput(a);
    if (a.only.empty() || a.only == "accuracy") accuracy(a);
    if (a.only.empty() || a.only == "concurrency") concurrency(a);
    if (a.only.empty() || a.only == "backends") backends(a);
    return 0;
}
