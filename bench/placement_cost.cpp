// placement_cost.cpp — the placement decision alone, in process: ns per Placement::choose() call
// from one call site with no rule, a size rule, a function rule and a library rule (none of which
// match), best of many short slices, so other processes' load hardly moves the figures. Pairs with
// placement_bench (the whole allocation under libdime.so) in docs/performance.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "config.h"
#include "placement.h"

namespace {

constexpr size_t kSizes[16] = {16, 24, 32, 48, 64, 96, 128, 160, 256, 320, 512, 640, 1024, 1536, 2048, 4096};

// As an allocation hook: the return address lies in the caller, the loop below.
__attribute__((noinline)) int decide(dime::Placement& p, size_t n) {
    const int t = p.choose(n, __builtin_return_address(0));
    __asm__ volatile("" ::: "memory");
    return t;
}

__attribute__((noinline)) double loop(dime::Placement& p, long calls) {
    int sum = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < calls; ++i) sum += decide(p, kSizes[i & 15]);
    const auto t1 = std::chrono::steady_clock::now();
    if (sum < 0) std::printf("impossible\n");
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / double(calls);
}

}  // namespace

int main() {
    struct Variant {
        const char* name;
        const char* yaml;
    };
    const Variant variants[] = {
        {"no rule", ""},
        {"size rule", "placement:\n  - {tier: far, min_bytes: 1GiB}\n"},
        {"function rule", "placement:\n  - {tier: far, function: 'no_function_is_called_this*'}\n"},
        {"library rule", "placement:\n  - {tier: far, library: 'libno_such_library*'}\n"},
        {"4 site rules", "placement:\n  - {tier: far, function: 'a*'}\n  - {tier: far, function: 'b*'}\n"
                         "  - {tier: far, library: 'c*'}\n  - {tier: far, min_bytes: 1GiB}\n"},
    };
    std::printf("placement_cost: ns per placement decision (best of 200 slices of 100000 calls)\n");
    for (const Variant& v : variants) {
        dime::Config cfg;
        const std::string text = std::string("tiers:\n  far: {latency_ns: 1us}\n") + v.yaml;
        dime::ConfigResult r = dime::apply_yaml_text(cfg, text, "bench");
        if (r.ok) r = dime::validate(cfg);
        if (!r.ok) {
            std::fprintf(stderr, "placement_cost: %s\n", r.error.c_str());
            return 1;
        }
        dime::Placement p(cfg);
        loop(p, 1000);  // resolve the site once
        double best = 1e30;
        for (int s = 0; s < 200; ++s) best = std::min(best, loop(p, 100000));
        std::printf("  %-14s %6.2f ns   (names resolved: %llu)\n", v.name, best,
                    static_cast<unsigned long long>(p.resolutions()));
    }
    return 0;
}
