/* preload_heap.c — single-threaded heap check under libdime.so: many malloc'd blocks totalling at
 * least 8x the local pool, realloc growth, calloc zeroing of reused memory, the aligned family,
 * a huge block, and every byte re-verified after eviction. Exit 0 only if nothing was lost.
 * Usage: preload_heap [TOTAL_MIB]  (default 10) */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pattern.h"

struct block {
    unsigned char* p;
    size_t n;
    uint64_t seed;
};

static int failures = 0;
static volatile size_t opaque_four = 4; /* keeps the compiler from judging overflowing sizes */

#define CHECK(cond, ...)                                     \
    do {                                                     \
        if (!(cond)) {                                       \
            fprintf(stderr, "FAIL line %d: ", __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                    \
            fputc('\n', stderr);                             \
            ++failures;                                      \
        }                                                    \
    } while (0)

static int verify_all(struct block* b, size_t count, const char* phase) {
    int ok = 1;
    for (size_t i = 0; i < count; ++i)
        if (b[i].p && !pattern_verify(phase, b[i].p, b[i].n, b[i].seed)) ok = 0;
    return ok;
}

static void check_aligned(void* p, size_t alignment, size_t n, const char* fn, uint64_t seed) {
    CHECK(p != NULL, "%s(%zu, %zu) returned NULL", fn, alignment, n);
    if (!p) return;
    CHECK(((uintptr_t)p & (alignment - 1)) == 0, "%s(%zu): %p is misaligned", fn, alignment, p);
    CHECK(malloc_usable_size(p) >= n, "%s: usable size %zu < %zu", fn, malloc_usable_size(p), n);
    pattern_fill(p, n, seed);
}

int main(int argc, char** argv) {
    const size_t total = (size_t)(argc > 1 ? atol(argv[1]) : 10) << 20;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t rng = 42;

    /* 1. Blocks of mixed sizes (16 B .. 64 KiB, a few up to 1 MiB) until `total` bytes. */
    size_t cap = 1 << 16, count = 0, bytes = 0;
    struct block* blocks = calloc(cap, sizeof *blocks);
    CHECK(blocks != NULL, "calloc of the block table");
    if (!blocks) return 1;
    while (bytes < total && count < cap) {
        uint64_t r = rng_next(&rng);
        size_t n = (r % 16 == 0) ? 65536 + r % (1 << 20) : 16 + r % 65536;
        struct block* b = &blocks[count];
        b->p = malloc(n);
        CHECK(b->p != NULL, "malloc(%zu)", n);
        if (!b->p) break;
        CHECK(malloc_usable_size(b->p) >= n, "usable size %zu < %zu", malloc_usable_size(b->p), n);
        b->n = n;
        b->seed = count + 1;
        pattern_fill(b->p, n, b->seed);
        bytes += n;
        ++count;
    }
    printf("allocated %zu blocks, %zu bytes\n", count, bytes);
    CHECK(verify_all(blocks, count, "after fill"), "pattern lost after fill");

    /* 2. realloc growth: every 7th block grows; its old contents must survive the move. */
    for (size_t i = 0; i < count; i += 7) {
        struct block* b = &blocks[i];
        size_t grown = b->n * 2 + 13;
        unsigned char* q = realloc(b->p, grown);
        CHECK(q != NULL, "realloc(%zu)", grown);
        if (!q) continue;
        b->p = q;
        CHECK(pattern_verify("realloc kept prefix", q, b->n, b->seed), "realloc lost the old contents");
        b->n = grown;
        b->seed += 1000000;
        pattern_fill(q, grown, b->seed);
    }
    /* ... and a block grown step by step, checking its prefix every time. */
    {
        size_t n = 1;
        unsigned char* p = malloc(n);
        pattern_fill(p, n, 777);
        while (n < (4u << 20)) {
            size_t m = n * 3 / 2 + 1;
            unsigned char* q = realloc(p, m);
            CHECK(q != NULL, "stepwise realloc(%zu)", m);
            if (!q) break;
            CHECK(pattern_verify("stepwise realloc", q, n, 777), "stepwise realloc lost data at %zu", n);
            pattern_fill(q, m, 777);
            p = q;
            n = m;
        }
        free(p);
    }

    /* 3. Free every 3rd block, then calloc into the reused memory: it must read as zero. */
    for (size_t i = 1; i < count; i += 3) {
        free(blocks[i].p);
        blocks[i].p = NULL;
    }
    size_t zero_checked = 0;
    for (size_t i = 1; i < count; i += 3) {
        uint64_t r = rng_next(&rng);
        size_t n = 1 + r % 32768, k = 1 + r % 3;
        unsigned char* p = calloc(k, n);
        CHECK(p != NULL, "calloc(%zu, %zu)", k, n);
        if (!p) continue;
        for (size_t j = 0; j < k * n; ++j)
            if (p[j] != 0) {
                CHECK(0, "calloc(%zu, %zu) byte %zu is 0x%02x", k, n, j, p[j]);
                break;
            }
        zero_checked += k * n;
        blocks[i].p = p;
        blocks[i].n = k * n;
        blocks[i].seed = 2000000 + i;
        pattern_fill(p, k * n, blocks[i].seed);
    }
    printf("calloc: %zu bytes checked zero\n", zero_checked);
    {
        errno = 0;
        void* volatile p = calloc(SIZE_MAX / 2, opaque_four);
        CHECK(p == NULL && errno == ENOMEM, "calloc overflow must fail with ENOMEM");
    }

    /* 4. The aligned family. */
    void* aligned[64];
    size_t naligned = 0;
    for (size_t a = sizeof(void*); a <= (2u << 20); a *= 4) {
        void* p = NULL;
        int rc = posix_memalign(&p, a, 3000 + a / 2);
        CHECK(rc == 0, "posix_memalign(%zu) returned %d", a, rc);
        if (rc == 0) {
            check_aligned(p, a, 3000 + a / 2, "posix_memalign", 3000000 + a);
            aligned[naligned++] = p;
        }
        p = aligned_alloc(a, a * 3);
        check_aligned(p, a, a * 3, "aligned_alloc", 4000000 + a);
        if (p) aligned[naligned++] = p;
        p = memalign(a, 100);
        check_aligned(p, a, 100, "memalign", 5000000 + a);
        if (p) aligned[naligned++] = p;
    }
    {
        void* p = valloc(5000);
        check_aligned(p, page, 5000, "valloc", 6000001);
        if (p) aligned[naligned++] = p;
        p = pvalloc(5000);
        check_aligned(p, page, 2 * page, "pvalloc", 6000002);
        if (p) aligned[naligned++] = p;
        /* larger than the arena can align: served elsewhere, but must still work */
        p = NULL;
        int rc = posix_memalign(&p, 64u << 20, 4096);
        CHECK(rc == 0, "posix_memalign(64 MiB) returned %d", rc);
        if (rc == 0) check_aligned(p, 64u << 20, 4096, "posix_memalign(64 MiB)", 6000003);
        free(p);
        CHECK(posix_memalign(&p, 24, 100) == EINVAL, "posix_memalign(24) must be EINVAL");
        /* glibc 2.36 treats aligned_alloc as memalign: a non-power-of-two is rounded up */
        p = aligned_alloc(24, 100);
        check_aligned(p, 32, 100, "aligned_alloc(24)", 6000004);
        free(p);
    }
    for (size_t i = 0; i < naligned; ++i) free(aligned[i]);
    /* every power-of-two alignment with sizes around it (small blocks take other paths than large) */
    for (size_t a = 8; a <= 8192; a *= 2) {
        for (size_t n = a / 2; n <= 4 * a; n += a / 2) {
            void* p = aligned_alloc(a, n);
            check_aligned(p, a, n, "aligned_alloc", 7000000 + a + n);
            void* q = NULL;
            CHECK(posix_memalign(&q, a, n) == 0, "posix_memalign(%zu, %zu)", a, n);
            check_aligned(q, a, n, "posix_memalign", 7100000 + a + n);
            void* r = memalign(a, n);
            check_aligned(r, a, n, "memalign", 7200000 + a + n);
            CHECK(p == NULL || pattern_verify("aligned_alloc block", p, n, 7000000 + a + n), "aligned block lost data");
            free(p);
            free(q);
            free(r);
        }
    }

    /* 5. reallocarray: overflow fails cleanly, a normal call works. */
    {
        errno = 0;
        void* volatile p = reallocarray(NULL, SIZE_MAX / 2, opaque_four);
        CHECK(p == NULL && errno == ENOMEM, "reallocarray overflow must be ENOMEM");
    }
    {
        unsigned char* p = reallocarray(NULL, 1000, 40);
        CHECK(p != NULL, "reallocarray(1000, 40)");
        if (p) {
            pattern_fill(p, 40000, 8000001);
            p = reallocarray(p, 2000, 40);
            CHECK(p && pattern_verify("reallocarray", p, 40000, 8000001), "reallocarray lost data");
            free(p);
        }
    }

    /* 6. A huge block (its own mimalloc segment), written and verified across eviction. */
    {
        size_t n = (size_t)20 << 20;
        unsigned char* p = malloc(n);
        CHECK(p != NULL, "malloc(20 MiB)");
        if (p) {
            pattern_fill(p, n, 9000001);
            CHECK(verify_all(blocks, count, "after huge block"), "pattern lost after huge block");
            CHECK(pattern_verify("huge block", p, n, 9000001), "huge block lost data");
            free(p);
        }
    }

    /* 7. Everything once more (all of it has been evicted since), checksum, free. */
    uint64_t sum = 0;
    for (size_t i = 0; i < count; ++i) {
        if (!blocks[i].p) continue;
        CHECK(pattern_verify("final", blocks[i].p, blocks[i].n, blocks[i].seed), "final check, block %zu", i);
        for (size_t j = 0; j < blocks[i].n; j += 61) sum = sum * 31 + blocks[i].p[j];
        free(blocks[i].p);
    }
    free(blocks);
    printf("checksum %016llx, failures %d\n", (unsigned long long)sum, failures);
    return failures == 0 ? 0 : 1;
}
