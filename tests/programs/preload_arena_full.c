/* preload_arena_full.c — a full emulated heap under libdime.so (run with a small heap_bytes):
 * malloc, calloc, posix_memalign and a new thread's first malloc must fail with NULL / ENOMEM, never
 * crash and never fall back to other memory; after frees the memory is usable again.
 * Usage: preload_arena_full HEAP_MIB  (the heap_bytes the program runs with) */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

enum { kBlock = 1 << 20, kMax = 4096 };

static void* blocks[kMax];
static int failures = 0;

static void fail(const char* what) {
    fprintf(stderr, "FAIL: %s\n", what);
    ++failures;
}

static void* thread_malloc(void* arg) {
    (void)arg;
    errno = 0;
    void* p = malloc(1000);
    return p ? p : (void*)(intptr_t)(errno == ENOMEM ? 1 : 2);
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: preload_arena_full HEAP_MIB\n");
        return 2;
    }
    const size_t heap_mib = (size_t)atol(argv[1]);

    /* Fill the heap with 1 MiB blocks, each written so it really is memory. */
    size_t n = 0;
    errno = 0;
    while (n < kMax) {
        void* p = malloc(kBlock);
        if (!p) break;
        pattern_fill(p, kBlock, n);
        blocks[n++] = p;
    }
    int err = errno;
    printf("%zu blocks of 1 MiB before malloc failed (heap %zu MiB)\n", n, heap_mib);
    if (n == kMax || n > heap_mib) fail("more allocated than the emulated heap holds: fell back to other memory");
    if (n < heap_mib / 2) fail("the heap failed long before it was full");
    if (err != ENOMEM) fail("malloc failed without errno = ENOMEM");

    /* Every other way to allocate fails cleanly too. */
    errno = 0;
    void* volatile c = calloc(kBlock, 1);
    if (c != NULL || errno != ENOMEM) fail("calloc on a full heap");
    void* a = NULL;
    if (posix_memalign(&a, 4096, kBlock) != ENOMEM) fail("posix_memalign on a full heap must return ENOMEM");
    void* volatile r = realloc(blocks[0], 2 * kBlock);
    if (r != NULL) fail("realloc growing past a full heap");
    if (!pattern_verify("block kept by a failed realloc", blocks[0], kBlock, 0)) ++failures;

    /* A thread whose first allocation meets the full heap. */
    pthread_t t;
    void* result = NULL;
    pthread_create(&t, NULL, thread_malloc, NULL);
    pthread_join(t, &result);
    if ((intptr_t)result == 2) fail("a new thread's malloc failed without ENOMEM");
    else if ((intptr_t)result != 1) free(result); /* a small block may still fit in a partly used page */

    /* Nothing was lost, and freeing makes room again. */
    for (size_t i = 0; i < n; ++i)
        if (!pattern_verify("full heap", blocks[i], kBlock, i)) ++failures;
    for (size_t i = 0; i < n; i += 2) free(blocks[i]);
    size_t again = 0;
    for (size_t i = 0; i < n; i += 2) {
        blocks[i] = malloc(kBlock);
        if (!blocks[i]) break;
        pattern_fill(blocks[i], kBlock, 100000 + i);
        ++again;
    }
    if (again < n / 2) fail("freed memory could not be allocated again");
    for (size_t i = 0; i < n; ++i)
        if (blocks[i] && !pattern_verify("after refill", blocks[i], kBlock, (i % 2 == 0) ? 100000 + i : i)) ++failures;
    printf("refilled %zu blocks, failures %d\n", again, failures);
    return failures == 0 ? 0 : 1;
}
