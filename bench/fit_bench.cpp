// fit_bench.cpp — issue 3 benchmark (b): a working set that fits the local pool, after warm-up,
// under libdime.so (emulation on) against the same program natively, side by side in one run;
// target ≤ 1.02× native. Prints figures, asserts nothing (docs/performance.md).
//
// Two workloads, each first warmed up (every page touched, so under DiME every first-touch
// fault is paid before the clock starts), then timed:
//   array   — one malloc'ed array of `mib` MiB; random read-modify-write of 8-byte words;
//   objects — a std::unordered_map<uint64_t, uint64_t> of ~`mib` MiB of nodes; random lookups
//             and updates (pointer chasing through many small malloc'ed blocks).
// The DiME run's pool holds twice the working set; its report must show faults (emulation on)
// and no eviction (the set really fit), or the benchmark stops.
//
// Usage: fit_bench [--mib M] [--runs R] [--preload PATH]
//        fit_bench --worker array|objects M   (one timed run in this process; prints "elapsed_ns X")
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "child_runs.h"

namespace {

using namespace dime::bench;
using Clock = std::chrono::steady_clock;

uint64_t next(uint64_t& x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

long long ns_since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

constexpr long kOps = 20000000;  // timed operations per run

int array_worker(size_t mib) {
    const size_t words = mib * 1024 * 1024 / sizeof(uint64_t);
    auto* a = static_cast<uint64_t*>(std::malloc(words * sizeof(uint64_t)));
    if (a == nullptr) return 1;
    for (size_t i = 0; i < words; ++i) a[i] = i;  // warm-up: every page touched
    uint64_t x = 88172645463325252ull, sum = 0;
    const auto start = Clock::now();
    for (long i = 0; i < kOps; ++i) {
        uint64_t& w = a[next(x) % words];
        sum += w;
        w += 1;
    }
    const long long elapsed = ns_since(start);
    std::free(a);
    std::printf("checksum %llu\nelapsed_ns %lld\n", static_cast<unsigned long long>(sum), elapsed);
    return 0;
}

int objects_worker(size_t mib) {
    // A node of unordered_map<uint64_t, uint64_t> is 24 bytes of payload in a 32-byte block,
    // plus 8 bytes of bucket array per element.
    const size_t n = mib * 1024 * 1024 / 40;
    std::unordered_map<uint64_t, uint64_t> map;
    map.reserve(n);
    for (uint64_t i = 0; i < n; ++i) map.emplace(i * 2654435761u, i);
    uint64_t warm = 0;
    for (uint64_t i = 0; i < n; ++i) warm += map.find(i * 2654435761u)->second;  // warm-up
    uint64_t x = 88172645463325252ull, sum = warm;
    const long ops = kOps / 4;
    const auto start = Clock::now();
    for (long i = 0; i < ops; ++i) {
        auto it = map.find((next(x) % n) * 2654435761u);
        sum += it->second;
        it->second += 1;
    }
    const long long elapsed = ns_since(start);
    std::printf("checksum %llu\nelapsed_ns %lld\n", static_cast<unsigned long long>(sum), elapsed);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == "--worker") {
        const std::string kind = argv[2];
        const size_t mib = std::strtoul(argv[3], nullptr, 10);
        if (kind == "array") return array_worker(mib);
        if (kind == "objects") return objects_worker(mib);
        return 2;
    }
    size_t mib = 64;
    int runs = 7;
    std::string preload;
    for (int i = 1; i < argc; ++i) {
        const std::string f = argv[i];
        if (i + 1 >= argc) {
            std::fprintf(stderr, "fit_bench: %s needs a value\n", f.c_str());
            return 2;
        }
        const char* v = argv[++i];
        if (f == "--mib") mib = std::strtoul(v, nullptr, 10);
        else if (f == "--runs") runs = std::atoi(v);
        else if (f == "--preload") preload = v;
        else {
            std::fprintf(stderr, "fit_bench: unknown option %s\n", f.c_str());
            return 2;
        }
    }
    if (mib < 1 || runs < 1) {
        std::fprintf(stderr, "fit_bench: --mib and --runs must be positive\n");
        return 2;
    }
    preload = find_preload(preload);
    const std::string tmp = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    const std::string report = tmp + "/fit_bench." + std::to_string(getpid()) + ".json";
    const size_t pool = 2 * mib * 256 + 8192;  // pages: twice the working set, plus room for the rest
    const std::vector<Variant> variants = {
        {"native", {}, ""},
        {"dime", {"LD_PRELOAD=" + preload, "DIME_OPTIONS=summary=false local_npages=" + std::to_string(pool)}, report},
    };
    std::printf("fit_bench: working set %zu MiB, pool %zu pages (%zu MiB), %d alternating runs, libdime.so = %s\n",
                mib, pool, pool / 256, runs, preload.c_str());
    std::printf("%-8s %14s %14s %10s %10s %14s\n", "workload", "native ms", "dime ms", "ratio", "min ratio",
                "dime faults");
    for (const std::string kind : {"array", "objects"}) {
        std::vector<double> times[2];
        long long faults = 0;
        const std::vector<std::string> args{"--worker", kind, std::to_string(mib)};
        for (int r = 0; r < runs; ++r) {
            for (size_t k = 0; k < 2; ++k) {
                const size_t i = (r % 2 == 0) ? k : 1 - k;
                times[i].push_back(run_worker(variants[i], args));
                if (i == 1) {
                    const std::string json = read_report(variants[1]);
                    faults = report_number(json, "faults");
                    const long long evictions = report_number(json, "evictions");
                    if (faults <= 0 || evictions != 0) {
                        std::fprintf(stderr,
                                     "fit_bench: the DiME run shows %lld faults and %lld evictions: emulation off, or "
                                     "the working set did not fit\n",
                                     faults, evictions);
                        return 1;
                    }
                }
            }
        }
        const double native = median(times[0]), dime = median(times[1]);
        const double best = *std::min_element(times[1].begin(), times[1].end()) /
                            *std::min_element(times[0].begin(), times[0].end());
        std::printf("%-8s %14.1f %14.1f %10.3f %10.3f %14lld\n", kind.c_str(), native / 1e6, dime / 1e6, dime / native,
                    best, faults);
    }
    std::remove(report.c_str());
    std::printf("target (issue 3 b): dime <= 1.02 x native (median of each side)\n");
    return 0;
}
