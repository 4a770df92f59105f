// qsort_bench.cpp — a plain program (run under libdime.so, links nothing of DiME): a parallel
// quicksort of `--mib` MiB of random 64-bit keys with `--threads` threads, the workload of
// bench/run's quicksort experiment (Hecatonchire's "parallel quick sort over 2 GB", see
// docs/experiments.md).
//
// The keys are generated in one malloc'd array (untimed), then sorted in place (timed): a
// quicksort whose partitions are handed to new threads until `--threads` run at once, each
// thread finishing its part with the same quicksort, insertion sort below 32 keys. The result
// is checked (ascending, and the same sum as before). Prints one JSON object.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include "workload_args.h"

namespace {

using dime::bench::parse_count;
using dime::bench::splitmix;
using dime::bench::usage_error;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

constexpr size_t kInsertionBelow = 32;

void insertion_sort(uint64_t* a, size_t n) {
    for (size_t i = 1; i < n; ++i) {
        const uint64_t v = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > v; --j) a[j] = a[j - 1];
        a[j] = v;
    }
}

// Hoare partition around the median of three; returns the size of the left part (both parts
// are non-empty).
size_t partition(uint64_t* a, size_t n) {
    uint64_t x = a[0], y = a[n / 2], z = a[n - 1];
    if (x > y) std::swap(x, y);
    if (y > z) std::swap(y, z);
    if (x > y) std::swap(x, y);
    const uint64_t pivot = y;
    size_t i = 0, j = n - 1;
    for (;;) {
        while (a[i] < pivot) ++i;
        while (a[j] > pivot) --j;
        if (i >= j) return j + 1;
        std::swap(a[i], a[j]);
        ++i;
        --j;
    }
}

// `spare` threads may still be started below this call.
void quicksort(uint64_t* a, size_t n, int spare) {
    while (n > kInsertionBelow) {
        const size_t left = partition(a, n);
        if (spare > 0) {
            const int give = spare / 2 + spare % 2 - 1;  // the new thread's own spares
            std::thread other(quicksort, a, left, give);
            quicksort(a + left, n - left, spare - 1 - give);
            other.join();
            return;
        }
        // Recurse into the smaller part, loop on the larger: stack depth stays O(log n).
        if (left < n - left) {
            quicksort(a, left, 0);
            a += left;
            n -= left;
        } else {
            quicksort(a + left, n - left, 0);
            n = left;
        }
    }
    insertion_sort(a, n);
}

}  // namespace

int main(int argc, char** argv) {
    dime::bench::workload_name = "qsort_bench";
    uint64_t mib = 64, threads = 2, seed = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string_view f = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage_error(std::string(f) + " needs a value");
            return argv[++i];
        };
        if (f == "--mib") mib = parse_count(f, value(), 1, 1u << 20);
        else if (f == "--threads") threads = parse_count(f, value(), 1, 64);
        else if (f == "--seed") seed = parse_count(f, value(), 0, UINT64_MAX);
        else if (f == "--help" || f == "-h") {
            std::printf("usage: qsort_bench [--mib M] [--threads T] [--seed X]\n");
            return 0;
        } else usage_error("unknown argument '" + std::string(f) + "'");
    }
    const size_t n = static_cast<size_t>(mib) * (1u << 20) / sizeof(uint64_t);
    auto* keys = static_cast<uint64_t*>(std::malloc(n * sizeof(uint64_t)));
    if (keys == nullptr) {
        std::fprintf(stderr, "qsort_bench: cannot allocate %llu MiB\n", static_cast<unsigned long long>(mib));
        return 1;
    }
    auto t0 = std::chrono::steady_clock::now();
    uint64_t state = seed, sum_before = 0;
    for (size_t i = 0; i < n; ++i) sum_before += keys[i] = splitmix(state);
    const double generate_s = seconds_since(t0);

    t0 = std::chrono::steady_clock::now();
    quicksort(keys, n, static_cast<int>(threads) - 1);
    const double sort_s = seconds_since(t0);

    uint64_t sum_after = keys[0];
    bool ascending = true;
    for (size_t i = 1; i < n; ++i) {
        ascending &= keys[i - 1] <= keys[i];
        sum_after += keys[i];
    }
    const bool ok = ascending && sum_after == sum_before;
    std::printf("{\"mib\":%llu,\"keys\":%zu,\"threads\":%llu,\"generate_s\":%.6f,\"sort_s\":%.6f,\"sorted\":%s}\n",
                static_cast<unsigned long long>(mib), n, static_cast<unsigned long long>(threads), generate_s, sort_s,
                ok ? "true" : "false");
    std::free(keys);
    if (!ok) std::fprintf(stderr, "qsort_bench: the keys are not sorted (or not the same keys)\n");
    return ok ? 0 : 1;
}
