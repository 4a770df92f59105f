/* api_pool.c — include/dime.h's pool controls from C: dime_evict and dime_set_local_pages, checked
 * with mincore() (which pages are mapped) and byte patterns (nothing lost). Run as `api_pool
 * emulated` under libdime.so with local_npages=4096 (tests/pool_control.cmake), and as `api_pool
 * plain` without the preload, where both calls do nothing and return 0. Exit 0 = all checks held. */
#define _GNU_SOURCE
#include <dime.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pattern.h"

static int failures = 0;

#define EXPECT(cond)                                                             \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "api_pool: line %d: failed: %s\n", __LINE__, #cond); \
            ++failures;                                                          \
        }                                                                        \
    } while (0)

static size_t page_size;

/* Pages of the page-aligned hull of [p, p + n) mapped right now. */
static size_t mapped_pages(const void* p, size_t n) {
    const uintptr_t lo = (uintptr_t)p & ~(page_size - 1);
    const uintptr_t hi = ((uintptr_t)p + n + page_size - 1) & ~(page_size - 1);
    const size_t pages = (hi - lo) / page_size;
    unsigned char* vec = calloc(pages, 1);
    if (!vec || mincore((void*)lo, hi - lo, vec) != 0) {
        perror("api_pool: mincore");
        exit(1);
    }
    size_t mapped = 0;
    for (size_t i = 0; i < pages; ++i) mapped += vec[i] & 1;
    free(vec);
    return mapped;
}

int main(int argc, char** argv) {
    if (argc != 2 || (strcmp(argv[1], "emulated") != 0 && strcmp(argv[1], "plain") != 0)) {
        fprintf(stderr, "usage: api_pool emulated|plain\n");
        return 2;
    }
    const int emulated = strcmp(argv[1], "emulated") == 0;
    EXPECT(dime_active() == emulated);
    page_size = (size_t)sysconf(_SC_PAGESIZE);

    /* 2048 pages: half the configured pool of 4096, so all of it stays local at first. */
    const size_t n = 2048 * page_size;
    unsigned char* buf = malloc(n);
    EXPECT(buf != NULL);
    if (!buf) return 1;
    pattern_fill(buf, n, 7);
    const size_t hull = mapped_pages(buf, n);
    EXPECT(hull >= 2048);

    /* dime_evict: every page the range touches leaves now (the hull is what it touches). */
    const long evicted = dime_evict(buf, n);
    if (emulated) {
        EXPECT(evicted == (long)hull);
        EXPECT(mapped_pages(buf, n) == 0);
    } else {
        EXPECT(evicted == 0);
        EXPECT(mapped_pages(buf, n) == hull);
    }
    EXPECT(pattern_check(buf, n, 7) == (size_t)-1); /* each page comes back, intact */
    EXPECT(dime_evict(NULL, 0) == 0);

    /* dime_set_local_pages: a shrink holds when the call returns, a grow lets pages stay again. */
    EXPECT(dime_set_local_pages(100) == 0);
    if (emulated)
        EXPECT(mapped_pages(buf, n) <= 100);
    else
        EXPECT(mapped_pages(buf, n) == hull);
    EXPECT(pattern_check(buf, n, 7) == (size_t)-1);
    if (emulated) EXPECT(mapped_pages(buf, n) <= 100); /* the pool held while the walk faulted */
    EXPECT(dime_set_local_pages(8192) == 0);
    pattern_fill(buf, n, 8);
    EXPECT(mapped_pages(buf, n) >= 2048);
    EXPECT(pattern_check(buf, n, 8) == (size_t)-1);

    /* Bad sizes: EINVAL under emulation, nothing changes; without it, nothing to refuse. */
    errno = 0;
    const int zero = dime_set_local_pages(0);
    EXPECT(emulated ? zero == -1 && errno == EINVAL : zero == 0);
    EXPECT(mapped_pages(buf, n) >= 2048);
    free(buf);

    if (failures) {
        fprintf(stderr, "api_pool: %d check(s) failed\n", failures);
        return 1;
    }
    printf("api_pool (%s): all checks passed\n", argv[1]);
    return 0;
}
