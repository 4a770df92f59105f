// access_walk.cpp — a plain program (run under libdime.so, links nothing of DiME) that walks a
// malloc'd region with T threads and times every access: the workload of bench/run's fault
// resolution, accuracy and scaling experiments (docs/experiments.md).
//
// The region is `--pages` 4 KiB pages. `--warm write` stamps page i with i first (one thread,
// in order), so that the timed phase re-fetches pages that exist on the blade and every read can
// be checked; `--warm read` only reads each page once (the kernel's zero page: little memory
// even for millions of pages); `--warm none` leaves the region untouched. Each thread then walks
// its own slice of the region:
//   seq      `--passes` passes over the slice in order;
//   walk     a forward random walk in bytes: each step reads the 8-byte word 8 to 1024 bytes
//            (uniformly, in words) past the previous one, wrapping round the slice, from a random
//            start, `--steps` steps (default: one pass over the slice, about 8 reads per page);
//   uniform  `--steps` pages chosen uniformly at random in the slice, one read each.
// Only a read that enters another page than the read before it can fault: those are the timed
// visits (seq and uniform: every read). Prints one JSON object: wall time of the timed phase,
// reads, visits, and the distribution of the visits' times (mean, p50, p90, p99 in ns).
//
// Per-access samples live in a shared anonymous mapping, which DiME leaves as plain memory, so
// recording them costs no fault.
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "workload_args.h"

namespace {

using dime::bench::parse_count;
using dime::bench::splitmix;
using dime::bench::usage_error;

constexpr size_t kPage = 4096;

enum class Pattern { seq, walk, uniform };
enum class Warm { none, read, write };

struct Args {
    uint64_t pages = 0;
    int threads = 1;
    Pattern pattern = Pattern::seq;
    uint64_t steps = 0;  // per thread, walk and uniform; 0 = about one pass over the slice
    uint64_t passes = 1;
    Warm warm = Warm::write;
    uint64_t seed = 1;
};

Args parse(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        const std::string_view f = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage_error(std::string(f) + " needs a value");
            return argv[++i];
        };
        if (f == "--pages") {
            a.pages = parse_count(f, value(), 1, 1ull << 32);
        } else if (f == "--threads") {
            a.threads = static_cast<int>(parse_count(f, value(), 1, 256));
        } else if (f == "--steps") {
            a.steps = parse_count(f, value(), 1, 1ull << 32);
        } else if (f == "--passes") {
            a.passes = parse_count(f, value(), 1, 1u << 20);
        } else if (f == "--seed") {
            a.seed = parse_count(f, value(), 0, UINT64_MAX);
        } else if (f == "--pattern") {
            const std::string_view v = value();
            if (v == "seq") a.pattern = Pattern::seq;
            else if (v == "walk") a.pattern = Pattern::walk;
            else if (v == "uniform") a.pattern = Pattern::uniform;
            else usage_error("--pattern takes seq, walk or uniform, got '" + std::string(v) + "'");
        } else if (f == "--warm") {
            const std::string_view v = value();
            if (v == "none") a.warm = Warm::none;
            else if (v == "read") a.warm = Warm::read;
            else if (v == "write") a.warm = Warm::write;
            else usage_error("--warm takes none, read or write, got '" + std::string(v) + "'");
        } else if (f == "--help" || f == "-h") {
            std::printf("usage: access_walk --pages N [--threads T] [--pattern seq|walk|uniform] [--steps S]\n"
                        "                   [--passes P] [--warm none|read|write] [--seed X]\n");
            std::exit(0);
        } else {
            usage_error("unknown argument '" + std::string(f) + "'");
        }
    }
    if (a.pages == 0) usage_error("--pages is required");
    if (a.pages < static_cast<uint64_t>(a.threads)) usage_error("--pages must be at least --threads");
    return a;
}

uint64_t now_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

// Plain memory for the samples: a shared anonymous mapping is never emulated.
uint32_t* plain_buffer(size_t count) {
    void* p = mmap(nullptr, std::max<size_t>(count, 1) * sizeof(uint32_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        std::perror("access_walk: mmap");
        std::exit(1);
    }
    std::memset(p, 0, count * sizeof(uint32_t));  // faulted in now, not while timing
    return static_cast<uint32_t*>(p);
}

struct Slice {
    uint64_t first = 0, count = 0;
};

constexpr uint64_t kWalkMaxStepWords = 128;  // 1024 bytes: a mean step of 516 bytes

// Reads per thread: seq and uniform read once per visit; the walk takes --steps steps, by
// default as many as one pass over the slice needs.
uint64_t reads_per_thread(const Args& a, const Slice& s) {
    if (a.pattern == Pattern::seq) return s.count * a.passes;
    if (a.steps != 0) return a.steps;
    if (a.pattern == Pattern::uniform) return s.count;
    return std::max<uint64_t>(1, s.count * kPage / (8 * (kWalkMaxStepWords + 1) / 2));
}

struct ThreadOut {
    uint64_t reads = 0, visits = 0, mismatches = 0, sum = 0;
    uint32_t* samples = nullptr;  // one per visit, at most `reads`
};

// The word at `byte_offset` after --warm write: a page's first word is its number, the rest 0.
uint64_t expected_word(uint64_t byte_offset) { return byte_offset % kPage == 0 ? byte_offset / kPage : 0; }

void walk_slice(const Args& a, const volatile unsigned char* region, const Slice& s, uint64_t seed, ThreadOut& out) {
    uint64_t rng = seed;
    const uint64_t slice_words = s.count * kPage / 8;
    uint64_t word_at = splitmix(rng) % slice_words;  // the walk's position, in words of the slice
    uint64_t last_page = UINT64_MAX;
    for (uint64_t r = 0; r < out.reads; ++r) {
        uint64_t offset;  // bytes from the region's start
        switch (a.pattern) {
            case Pattern::seq: offset = (s.first + r % s.count) * kPage; break;
            case Pattern::walk:
                offset = s.first * kPage + word_at * 8;
                word_at = (word_at + 1 + splitmix(rng) % kWalkMaxStepWords) % slice_words;
                break;
            default: offset = (s.first + splitmix(rng) % s.count) * kPage; break;
        }
        const auto* word = reinterpret_cast<const volatile uint64_t*>(region + offset);
        uint64_t value;
        if (a.pattern != Pattern::walk || offset / kPage != last_page) {
            const uint64_t t0 = now_ns();
            value = *word;
            const uint64_t t1 = now_ns();
            out.samples[out.visits++] = static_cast<uint32_t>(std::min<uint64_t>(t1 - t0, UINT32_MAX));
            out.sum += t1 - t0;
            last_page = offset / kPage;
        } else {
            value = *word;  // the page is local already: not timed
        }
        if (a.warm == Warm::write && value != expected_word(offset)) ++out.mismatches;
    }
}

}  // namespace

int main(int argc, char** argv) {
    dime::bench::workload_name = "access_walk";
    const Args a = parse(argc, argv);
    void* mem = nullptr;
    if (posix_memalign(&mem, kPage, a.pages * kPage) != 0) {
        std::fprintf(stderr, "access_walk: cannot allocate %llu pages\n", static_cast<unsigned long long>(a.pages));
        return 1;
    }
    auto* region = static_cast<volatile unsigned char*>(mem);

    const uint64_t w0 = now_ns();
    uint64_t warm_sum = 0;
    for (uint64_t p = 0; p < a.pages && a.warm != Warm::none; ++p) {
        auto* word = reinterpret_cast<volatile uint64_t*>(region + p * kPage);
        if (a.warm == Warm::write) *word = p;
        else warm_sum += *word;
    }
    const uint64_t warm_ns = now_ns() - w0;

    std::vector<Slice> slices(static_cast<size_t>(a.threads));
    std::vector<ThreadOut> outs(static_cast<size_t>(a.threads));
    for (int t = 0; t < a.threads; ++t) {
        Slice& s = slices[static_cast<size_t>(t)];
        s.first = a.pages * static_cast<uint64_t>(t) / static_cast<uint64_t>(a.threads);
        s.count = a.pages * static_cast<uint64_t>(t + 1) / static_cast<uint64_t>(a.threads) - s.first;
        ThreadOut& o = outs[static_cast<size_t>(t)];
        o.reads = reads_per_thread(a, s);
        o.samples = plain_buffer(o.reads);
    }

    // Every thread starts at once; the wall time runs from the release to the last thread's end.
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < a.threads; ++t) {
        threads.emplace_back([&, t] {
            ready.fetch_add(1);
            while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
            uint64_t seed = a.seed * 1000003ull + static_cast<uint64_t>(t);
            walk_slice(a, region, slices[static_cast<size_t>(t)], splitmix(seed), outs[static_cast<size_t>(t)]);
        });
    }
    while (ready.load() < a.threads) std::this_thread::yield();
    const uint64_t t0 = now_ns();
    go.store(true, std::memory_order_release);
    for (auto& th : threads) th.join();
    const uint64_t wall_ns = now_ns() - t0;

    uint64_t reads = 0, visits = 0, mismatches = 0, sum = 0;
    for (const ThreadOut& o : outs) {
        reads += o.reads;
        visits += o.visits;
        mismatches += o.mismatches;
        sum += o.sum;
    }
    // The percentiles over all threads' samples, in one plain buffer.
    uint32_t* all = plain_buffer(visits);
    size_t at = 0;
    for (const ThreadOut& o : outs) {
        std::memcpy(all + at, o.samples, o.visits * sizeof(uint32_t));
        at += o.visits;
    }
    auto pct = [&](double q) {
        const size_t k = std::min<size_t>(visits - 1, static_cast<size_t>(q * static_cast<double>(visits)));
        std::nth_element(all, all + k, all + visits);
        return all[k];
    };
    const uint32_t p50 = pct(0.50), p90 = pct(0.90), p99 = pct(0.99);
    static const char* const kPatterns[] = {"seq", "walk", "uniform"};
    static const char* const kWarm[] = {"none", "read", "write"};
    std::printf("{\"pages\":%llu,\"threads\":%d,\"pattern\":\"%s\",\"warm\":\"%s\",\"warm_ns\":%llu,"
                "\"reads\":%llu,\"visits\":%llu,\"wall_ns\":%llu,\"mean_ns\":%.1f,\"p50_ns\":%u,\"p90_ns\":%u,\"p99_ns\":%u,"
                "\"mismatches\":%llu,\"zero_check\":%llu}\n",
                static_cast<unsigned long long>(a.pages), a.threads, kPatterns[static_cast<int>(a.pattern)],
                kWarm[static_cast<int>(a.warm)], static_cast<unsigned long long>(warm_ns),
                static_cast<unsigned long long>(reads), static_cast<unsigned long long>(visits), static_cast<unsigned long long>(wall_ns),
                static_cast<double>(sum) / static_cast<double>(visits), p50, p90, p99,
                static_cast<unsigned long long>(mismatches), static_cast<unsigned long long>(warm_sum));
    std::free(mem);
    return mismatches == 0 ? 0 : 1;
}
