// fit_bench.cpp — issue 3 benchmark (b): a working set that fits the local pool, after warm-up,
// under libdime.so (emulation on) against the same program natively, side by side in one run;
// target ≤ 1.02× native. Prints figures, asserts nothing (docs/performance.md).
//
// Two workloads, each first warmed up (every page touched, so under DiME every first-touch
// fault is paid before the clock starts), then timed in `passes` passes of the same work:
//   array   — one malloc'ed array of `mib` MiB; random read-modify-write of 8-byte words;
//   objects — a std::unordered_map<uint64_t, uint64_t> of ~`mib` MiB of nodes; random lookups
//             and updates (pointer chasing through many small malloc'ed blocks).
// The DiME run's pool holds twice the working set; its report must show faults (emulation on)
// and no eviction (the set really fit), or the benchmark stops.
//
// Why passes, and why a second native variant: on a virtual machine a vCPU's speed at this
// memory-bound loop switches between a few levels for seconds at a time (up to 1.9x apart here,
// independently on each vCPU: the host's other work), which swamps a 2 % target in any single
// timing. A worker therefore times `passes` short passes and reports the fastest (the pass least
// disturbed by the host), and the parent rotates four variants — native, DiME, native again, and
// Debian's mimalloc preloaded alone — and prints the median and the best of each variant's
// per-run figures. "native again" against "native" is the resolution of the run: a DiME ratio
// within that spread of 1.0 is indistinguishable from native. mimalloc alone (the allocator inside
// libdime.so) splits a difference into the allocator's share (its block layout) and emulation's.
//
// Usage: fit_bench [--mib M] [--runs R] [--passes P] [--preload PATH]
//        fit_bench --worker array|objects M P   (one run in this process; prints "elapsed_ns X",
//                                                the fastest of P timed passes)
#include <algorithm>
#include <chrono>
#include <cmath>
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

constexpr long kOps = 5000000;  // timed operations per pass (array; objects does half: each is slower)

// Runs `pass` `passes` times and returns the fastest, in ns.
template <class Pass>
long long fastest_of(int passes, Pass pass) {
    long long best = -1;
    for (int p = 0; p < passes; ++p) {
        const auto start = Clock::now();
        pass();
        const long long elapsed = ns_since(start);
        if (best < 0 || elapsed < best) best = elapsed;
    }
    return best;
}

int array_worker(size_t mib, int passes) {
    const size_t words = mib * 1024 * 1024 / sizeof(uint64_t);
    auto* a = static_cast<uint64_t*>(std::malloc(words * sizeof(uint64_t)));
    if (a == nullptr) return 1;
    for (size_t i = 0; i < words; ++i) a[i] = i;  // warm-up: every page touched
    uint64_t x = 88172645463325252ull, sum = 0;
    const long long elapsed = fastest_of(passes, [&] {
        for (long i = 0; i < kOps; ++i) {
            uint64_t& w = a[next(x) % words];
            sum += w;
            w += 1;
        }
    });
    std::free(a);
    std::printf("checksum %llu\nelapsed_ns %lld\n", static_cast<unsigned long long>(sum), elapsed);
    return 0;
}

int objects_worker(size_t mib, int passes) {
    // A node of unordered_map<uint64_t, uint64_t> is 24 bytes of payload in a 32-byte block,
    // plus 8 bytes of bucket array per element.
    const size_t n = mib * 1024 * 1024 / 40;
    std::unordered_map<uint64_t, uint64_t> map;
    map.reserve(n);
    for (uint64_t i = 0; i < n; ++i) map.emplace(i * 2654435761u, i);
    uint64_t warm = 0;
    for (uint64_t i = 0; i < n; ++i) warm += map.find(i * 2654435761u)->second;  // warm-up
    uint64_t x = 88172645463325252ull, sum = warm;
    const long ops = kOps / 2;
    const long long elapsed = fastest_of(passes, [&] {
        for (long i = 0; i < ops; ++i) {
            auto it = map.find((next(x) % n) * 2654435761u);
            sum += it->second;
            it->second += 1;
        }
    });
    std::printf("checksum %llu\nelapsed_ns %lld\n", static_cast<unsigned long long>(sum), elapsed);
    return 0;
}

// "array +3.1 %": how far a ratio is from 1, for the unresolved-run message.
std::string percent_note(const std::string& kind, double ratio) {
    char text[96];
    std::snprintf(text, sizeof text, "%s %+.1f %%", kind.c_str(), (ratio - 1) * 100);
    return text;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::string(argv[1]) == "--worker") {
        const std::string kind = argv[2];
        const size_t mib = std::strtoul(argv[3], nullptr, 10);
        const int passes = std::atoi(argv[4]);
        if (mib < 1 || passes < 1) return 2;
        if (kind == "array") return array_worker(mib, passes);
        if (kind == "objects") return objects_worker(mib, passes);
        return 2;
    }
    size_t mib = 64;
    int runs = 9;
    int passes = 12;
    std::string preload;
    const bool parsed = parse_option_pairs("fit_bench", argc, argv, [&](const std::string& f, const char* v) {
        if (f == "--mib") mib = std::strtoul(v, nullptr, 10);
        else if (f == "--runs") runs = std::atoi(v);
        else if (f == "--passes") passes = std::atoi(v);
        else if (f == "--preload") preload = v;
        else return false;
        return true;
    });
    if (!parsed) return 2;
    if (mib < 1 || runs < 1 || passes < 1) {
        std::fprintf(stderr, "fit_bench: --mib, --runs and --passes must be positive\n");
        return 2;
    }
    preload = find_preload(preload);
    const std::string report = report_path("fit_bench");
    const size_t pool = 2 * mib * 256 + 8192;  // pages: twice the working set, plus room for the rest
    // Index 0 and 2 are the same native program: their ratio is what this machine cannot resolve.
    const std::vector<Variant> variants = {
        {"native", {}, ""},
        {"dime", {"LD_PRELOAD=" + preload, "DIME_OPTIONS=summary=false local_npages=" + std::to_string(pool)}, report},
        {"native again", {}, ""},
        {"mimalloc", {"LD_PRELOAD=" + kDebianMimalloc}, ""},
    };
    constexpr size_t kVariants = 4;
    std::printf("fit_bench: working set %zu MiB, pool %zu pages (%zu MiB), %d alternating runs of 4 variants, "
                "fastest of %d passes each, libdime.so = %s\n",
                mib, pool, pool / 256, runs, passes, preload.c_str());
    std::printf("%-8s %-7s %10s %10s %10s %11s %7s %8s %9s %12s\n", "workload", "of runs", "native ms", "dime ms",
                "native2 ms", "mimalloc ms", "dime", "native2", "mimalloc", "dime faults");
    std::string unresolved;  // workloads whose two native variants differ by more than the target
    for (const std::string kind : {"array", "objects"}) {
        std::vector<double> times[kVariants];
        long long faults = 0;
        const std::vector<std::string> args{"--worker", kind, std::to_string(mib), std::to_string(passes)};
        for (int r = 0; r < runs; ++r) {
            for (size_t k = 0; k < kVariants; ++k) {
                const size_t i = (k + static_cast<size_t>(r)) % kVariants;  // rotate who goes first
                times[i].push_back(run_worker(variants[i], args));
                if (i != 1) continue;
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
        // The median of the runs, and the best run: the host's noise only ever slows a run down,
        // so the best of many is the figure least disturbed by it.
        for (const bool best : {false, true}) {
            double t[kVariants];
            for (size_t i = 0; i < kVariants; ++i)
                t[i] = best ? *std::min_element(times[i].begin(), times[i].end()) : median(times[i]);
            std::printf("%-8s %-7s %10.2f %10.2f %10.2f %11.2f %7.3f %8.3f %9.3f %12lld\n", kind.c_str(),
                        best ? "best" : "median", t[0] / 1e6, t[1] / 1e6, t[2] / 1e6, t[3] / 1e6, t[1] / t[0],
                        t[2] / t[0], t[3] / t[0], faults);
            if (best && std::abs(t[2] / t[0] - 1) > 0.02)
                unresolved += (unresolved.empty() ? "" : ", ") + percent_note(kind, t[2] / t[0]);
        }
    }
    std::remove(report.c_str());
    if (!unresolved.empty())
        std::printf("fit_bench: this run cannot resolve 2 %%: the best native runs differ from each other (%s); "
                    "run it again\n",
                    unresolved.c_str());
    std::printf("target (issue 3 b): dime <= 1.02 x native; ratios to native; native2: this run's own "
                "resolution; mimalloc: the allocator's share\n");
    return 0;
}
