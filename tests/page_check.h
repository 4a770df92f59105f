// page_check.h — what the engine tests share to check data: regions from the engine, and page
// contents that name their page and version, so that a verifier can tell zeros, stale versions,
// misplaced pages and torn writes apart. Runs on test threads.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include <fmt/core.h>

#include "engine.h"

namespace dime::test {

inline constexpr size_t kPage = 4096;
inline constexpr size_t kWords = kPage / sizeof(uint64_t);
inline constexpr uint64_t kZeroVersion = ~0ull;  // "never written": the page must read as zeros

// A registered region that is unmapped (through the engine) when the test leaves scope.
struct Region {
    dime::Engine& engine;
    unsigned char* base;
    size_t pages;
    Region(dime::Engine& e, size_t npages) : engine(e), pages(npages) {
        std::string error;
        base = static_cast<unsigned char*>(e.map_region(npages * kPage, &error));
        INFO("map_region(" << npages << " pages) failed: " << error);
        REQUIRE(base != nullptr);
    }
    ~Region() { engine.unmap_region(base); }
    unsigned char* page(size_t i) const { return base + i * kPage; }
};

inline uint64_t mix(uint64_t x) {  // splitmix64 finaliser
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Page contents for (page, version): a header naming both, a body derived from them and a
// checksum word, so a verifier can tell zeros, stale versions, misplaced pages and torn writes.
inline void make_page(unsigned char* dst, uint64_t page, uint64_t version) {
    if (version == kZeroVersion) {
        std::memset(dst, 0, kPage);
        return;
    }
    uint64_t words[kWords];
    words[0] = page;
    words[1] = version;
    uint64_t sum = 0;
    for (size_t w = 2; w + 1 < kWords; ++w) {
        words[w] = mix((page << 24) ^ (version << 12) ^ w);
        sum = mix(sum ^ words[w]);
    }
    words[kWords - 1] = sum ^ page ^ version;
    std::memcpy(dst, words, kPage);
}

// "" when `got` holds (page, version); otherwise one line saying what it holds instead.
inline std::string diagnose(const unsigned char* got, uint64_t page, uint64_t version) {
    unsigned char want[kPage];
    make_page(want, page, version);
    if (std::memcmp(got, want, kPage) == 0) return {};
    unsigned char copy[kPage];
    std::memcpy(copy, got, kPage);
    const std::string expected =
        version == kZeroVersion ? std::string("zeros") : fmt::format("version {}", version);
    if (std::all_of(copy, copy + kPage, [](unsigned char c) { return c == 0; }))
        return fmt::format("page {}: reads as zeros, expected {} (data lost)", page, expected);
    uint64_t header[2];
    std::memcpy(header, copy, sizeof header);
    if (header[0] < (1u << 24) && header[1] < (1u << 20)) {
        unsigned char other[kPage];
        make_page(other, header[0], header[1]);
        if (std::memcmp(copy, other, kPage) == 0)
            return fmt::format("page {}: holds intact page {} version {}, expected {} ({})", page,
                               header[0], header[1], expected,
                               header[0] == page ? "stale data" : "misplaced page");
    }
    size_t off = 0;
    while (off < kPage && copy[off] == want[off]) ++off;
    return fmt::format("page {}: torn or corrupt from byte {} (got 0x{:02x}, want 0x{:02x}), expected {}",
                       page, off, copy[off], want[off], expected);
}

}  // namespace dime::test
