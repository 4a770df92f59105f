/* pattern.h — deterministic byte patterns and a reporting helper shared by the preload test
 * programs (C and C++): every byte of a block is a function of (seed, offset), so any lost,
 * stale or misplaced page shows up as a mismatch at a precise address. */
#ifndef DIME_TEST_PATTERN_H
#define DIME_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

static inline uint64_t pattern_mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ull;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dull;
    x ^= x >> 33;
    return x;
}

static inline uint8_t pattern_byte(uint64_t seed, size_t offset) {
    return (uint8_t)(pattern_mix(seed * 0x9e3779b97f4a7c15ull + (offset >> 3)) >> ((offset & 7) * 8));
}

static inline void pattern_fill(void* p, size_t n, uint64_t seed) {
    uint8_t* b = (uint8_t*)p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pattern_mix(seed * 0x9e3779b97f4a7c15ull + (i >> 3));
        for (int k = 0; k < 8; ++k) b[i + k] = (uint8_t)(w >> (k * 8));
    }
    for (; i < n; ++i) b[i] = pattern_byte(seed, i);
}

/* Returns the index of the first wrong byte, or (size_t)-1 if all n bytes match. */
static inline size_t pattern_check(const void* p, size_t n, uint64_t seed) {
    const uint8_t* b = (const uint8_t*)p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = pattern_mix(seed * 0x9e3779b97f4a7c15ull + (i >> 3));
        for (int k = 0; k < 8; ++k)
            if (b[i + k] != (uint8_t)(w >> (k * 8))) return i + k;
    }
    for (; i < n; ++i)
        if (b[i] != pattern_byte(seed, i)) return i;
    return (size_t)-1;
}

/* Checks a block; on a mismatch prints where and returns 0. */
static inline int pattern_verify(const char* what, const void* p, size_t n, uint64_t seed) {
    size_t bad = pattern_check(p, n, seed);
    if (bad == (size_t)-1) return 1;
    fprintf(stderr, "FAIL %s: block %p (%zu bytes, seed %llu): byte %zu is 0x%02x, expected 0x%02x\n", what, p, n,
            (unsigned long long)seed, bad, ((const uint8_t*)p)[bad], pattern_byte(seed, bad));
    return 0;
}

/* A small deterministic generator for sizes and choices. */
static inline uint64_t rng_next(uint64_t* state) {
    *state += 0x9e3779b97f4a7c15ull;
    return pattern_mix(*state);
}

#endif
