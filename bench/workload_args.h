// workload_args.h — what bench/run's plain workload programs (access_walk, qsort_bench) share:
// the one-line usage error (exit status 2, naming the program and the flag) and its number
// parser, and the seeded generator their data and walks come from.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace dime::bench {

// The program's name in its messages; each program sets it first thing in main().
inline const char* workload_name = "workload";

[[noreturn]] inline void usage_error(const std::string& message) {
    std::fprintf(stderr, "%s: %s (see %s --help)\n", workload_name, message.c_str(), workload_name);
    std::exit(2);
}

// A whole number from min to max, or one usage line naming `flag`.
inline uint64_t parse_count(std::string_view flag, const char* text, uint64_t min, uint64_t max) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max)
        usage_error(std::string(flag) + " expects a whole number from " + std::to_string(min) + " to " +
                    std::to_string(max) + ", got '" + text + "'");
    return v;
}

// splitmix64: small, fast, and every seed (0 included) gives a full-period stream.
inline uint64_t splitmix(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

}  // namespace dime::bench
