/* api_pool.c — include/dime.h's pool controls from C: dime_evict and dime_set_local_pages, checked
 * with mincore() (which pages are mapped) and byte patterns (nothing lost), also while four
 * threads rewrite and check their buffers and the main thread resizes the pool in a loop. Run as `api_pool
 * emulated` under libdime.so with local_npages=4096 (tests/pool_control.cmake), and as `api_pool
 * plain` without the preload, where both calls do nothing and return 0. Exit 0 = all checks held. */
#define _GNU_SOURCE
#include <dime.h>

#include <errno.h>
#include <pthread.h>
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

/* Resizing under load: each worker rewrites and checks its own buffer, round after round. */
enum { kWorkers = 4, kRounds = 12 };
static const size_t kWorkerBytes = (size_t)1 << 20;
static unsigned char* g_buffers[kWorkers];
static int g_lost[kWorkers];
static int g_finished; /* workers done (atomic) */

static void* worker(void* arg) {
    const int w = (int)(intptr_t)arg;
    for (int r = 1; r <= kRounds && !g_lost[w]; ++r) {
        const uint64_t seed = 100 + (uint64_t)w * 1000 + (uint64_t)r;
        pattern_fill(g_buffers[w], kWorkerBytes, seed);
        if (pattern_check(g_buffers[w], kWorkerBytes, seed) != (size_t)-1) g_lost[w] = r;
    }
    __atomic_add_fetch(&g_finished, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Four workers run while the main thread resizes the pool in a loop; after each call returns the
 * workers' buffers (emulated: they are in the pool) must not hold more pages than it allows. */
static void resize_under_load(int emulated) {
    for (int w = 0; w < kWorkers; ++w) {
        g_buffers[w] = malloc(kWorkerBytes);
        EXPECT(g_buffers[w] != NULL);
        if (!g_buffers[w]) return;
    }
    pthread_t threads[kWorkers];
    for (int w = 0; w < kWorkers; ++w) EXPECT(pthread_create(&threads[w], NULL, worker, (void*)(intptr_t)w) == 0);
    static const size_t sizes[] = {64, 900, 100, 3000, 80, 400};
    int over = 0, calls = 0, under_load = 0;
    for (int i = 0; i < 300; ++i) {
        const size_t n = sizes[i % 6];
        const int running = __atomic_load_n(&g_finished, __ATOMIC_ACQUIRE) < kWorkers;
        EXPECT(dime_set_local_pages(n) == 0);
        ++calls;
        under_load += running;
        size_t mapped = 0;
        for (int w = 0; w < kWorkers; ++w) mapped += mapped_pages(g_buffers[w], kWorkerBytes);
        if (emulated && mapped > n) {
            if (over++ == 0) fprintf(stderr, "api_pool: %zu pages mapped after shrinking to %zu\n", mapped, n);
        }
    }
    for (int w = 0; w < kWorkers; ++w) pthread_join(threads[w], NULL);
    EXPECT(calls == 300);
    EXPECT(over == 0);
    printf("api_pool: %d of %d resizes while the workers ran\n", under_load, calls);
    if (emulated) EXPECT(under_load >= 10); /* otherwise the load did not overlap the resizes */
    for (int w = 0; w < kWorkers; ++w) {
        if (g_lost[w]) fprintf(stderr, "api_pool: worker %d: buffer wrong in round %d\n", w, g_lost[w]);
        EXPECT(g_lost[w] == 0);
        free(g_buffers[w]);
    }
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

    resize_under_load(emulated);

    if (failures) {
        fprintf(stderr, "api_pool: %d check(s) failed\n", failures);
        return 1;
    }
    printf("api_pool (%s): all checks passed\n", argv[1]);
    return 0;
}
