// malloc_bench.cpp — issue 3 benchmark (a): a multi-threaded malloc/free-heavy workload under
// libdime.so with emulation off (DIME_DISABLE=1: DiME's allocator on plain memory) against glibc
// malloc, side by side in one run; target ≤ 1.0× glibc's time. For information it also runs with
// emulation on and a pool the heap fits in, and with Debian's mimalloc preloaded alone (the
// allocator inside libdime.so, without DiME's hooks). Prints figures, asserts nothing (docs/performance.md).
//
// The workload (each worker thread, `ops` operations): pick a random slot of a table shared by
// all threads, swap a fresh block into it and free the block that was there, which another
// thread allocated most of the time. Sizes: 70 % 16-128 B, 25 % 128 B-2 KiB, 5 % 2-32 KiB; every
// block is written at both ends. Only the workload is timed (not process start, not DiME's start).
//
// Usage: malloc_bench [--threads T] [--ops N] [--runs R] [--pattern shared|own] [--preload PATH]
//        malloc_bench --worker T N shared|own   (one timed run in this process; prints "elapsed_ns X")
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "child_runs.h"

namespace {

using namespace dime::bench;

constexpr size_t kSlotsPerThread = 4096;

uint64_t next(uint64_t& x) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
}

size_t block_size(uint64_t r) {
    const unsigned pick = r % 100;
    r >>= 8;
    if (pick < 70) return 16 + r % 113;
    if (pick < 95) return 128 + r % 1921;
    return 2048 + r % 30721;
}

// shared: every thread swaps blocks into slots of one table, so about half the frees are of
// blocks another thread allocated; own: each thread keeps to its own part of the table (no
// cross-thread frees), as most programs mostly free what they allocated.
int worker(int threads, long ops, bool shared) {
    std::vector<std::atomic<char*>> slots(kSlotsPerThread * static_cast<size_t>(threads));
    for (auto& s : slots) s.store(nullptr, std::memory_order_relaxed);
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::atomic<long> bad{0};
    auto body = [&](int id) {
        uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(id + 1);
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) {
        }
        long wrong = 0;
        for (long i = 0; i < ops; ++i) {
            const uint64_t r = next(x);
            const size_t n = block_size(r);
            char* p = static_cast<char*>(std::malloc(n));
            if (p == nullptr) std::abort();
            p[0] = static_cast<char>(n);
            p[n - 1] = static_cast<char>(n >> 8);
            std::memcpy(p + 1, &n, n > 9 ? sizeof n : 0);
            const size_t slot = shared ? (r >> 32) % slots.size()
                                       : static_cast<size_t>(id) * kSlotsPerThread + (r >> 32) % kSlotsPerThread;
            char* old = slots[slot].exchange(p, std::memory_order_acq_rel);
            if (old != nullptr) {
                size_t m = 0;
                std::memcpy(&m, old + 1, sizeof m);
                if (m > 9 && static_cast<char>(m) != old[0]) ++wrong;
                std::free(old);
            }
        }
        bad.fetch_add(wrong);
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(body, t);
    while (ready.load() != threads) {
    }
    const auto start = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    for (auto& t : pool) t.join();
    for (auto& s : slots) std::free(s.load(std::memory_order_relaxed));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    if (bad.load() != 0) {
        std::printf("corrupt blocks: %ld\n", bad.load());
        return 1;
    }
    std::printf("elapsed_ns %lld\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::string(argv[1]) == "--worker")
        return worker(std::atoi(argv[2]), std::atol(argv[3]), std::string(argv[4]) == "shared");

    int threads = 2, runs = 7;
    long ops = 3000000;
    std::string preload, pattern = "shared";
    const bool parsed = parse_option_pairs("malloc_bench", argc, argv, [&](const std::string& f, const char* v) {
        if (f == "--threads") threads = std::atoi(v);
        else if (f == "--ops") ops = std::atol(v);
        else if (f == "--runs") runs = std::atoi(v);
        else if (f == "--preload") preload = v;
        else if (f == "--pattern") pattern = v;
        else return false;
        return true;
    });
    if (!parsed) return 2;
    if (pattern != "shared" && pattern != "own") {
        std::fprintf(stderr, "malloc_bench: --pattern is shared or own, not %s\n", pattern.c_str());
        return 2;
    }
    if (threads < 1 || ops < 1 || runs < 1) {
        std::fprintf(stderr, "malloc_bench: --threads, --ops and --runs must be positive\n");
        return 2;
    }
    preload = find_preload(preload);
    const std::string report = report_path("malloc_bench");

    std::vector<Variant> variants = {
        {"glibc", {}, ""},
        {"mimalloc", {"LD_PRELOAD=" + kDebianMimalloc}, ""},
        {"dime-disabled", {"LD_PRELOAD=" + preload, "DIME_DISABLE=1", "DIME_OPTIONS=summary=false"}, report},
        {"dime-emulated", {"LD_PRELOAD=" + preload, "DIME_OPTIONS=summary=false local_npages=1048576 first_touch=local"},
         report},
    };
    std::printf("malloc_bench: %d threads x %ld malloc+free, pattern %s, %d alternating runs, libdime.so = %s\n",
                threads, ops, pattern.c_str(), runs, preload.c_str());
    std::vector<std::vector<double>> times(variants.size());
    const std::vector<std::string> args{"--worker", std::to_string(threads), std::to_string(ops), pattern};
    for (int r = 0; r < runs; ++r) {
        for (size_t k = 0; k < variants.size(); ++k) {
            const size_t i = (r % 2 == 0) ? k : variants.size() - 1 - k;  // alternate the order
            const Variant& v = variants[i];
            times[i].push_back(run_worker(v, args));
            if (!v.report.empty()) {
                const std::string json = read_report(v);
                const bool none = json.find("\"backend\": \"none\"") != std::string::npos;
                if (json.empty() || none != (v.name == "dime-disabled")) {
                    std::fprintf(stderr, "malloc_bench: the %s run's report does not show the expected backend:\n%s\n",
                                 v.name.c_str(), json.c_str());
                    return 1;
                }
                if (v.name == "dime-emulated" && report_number(json, "evictions") != 0) {
                    std::fprintf(stderr, "malloc_bench: the emulated run evicted pages: its heap did not fit\n");
                    return 1;
                }
            }
        }
    }
    std::remove(report.c_str());
    const double base = median(times[0]);
    std::printf("%-14s %12s %10s %12s %8s\n", "variant", "median ms", "min ms", "Mops/s", "ratio");
    for (size_t i = 0; i < variants.size(); ++i) {
        const double med = median(times[i]);
        const double lo = *std::min_element(times[i].begin(), times[i].end());
        std::printf("%-14s %12.1f %10.1f %12.2f %8.3f\n", variants[i].name.c_str(), med / 1e6, lo / 1e6,
                    threads * static_cast<double>(ops) / (med / 1e3), med / base);
    }
    std::printf("target (issue 3 a): dime-disabled <= 1.0 x glibc\n");
    return 0;
}
