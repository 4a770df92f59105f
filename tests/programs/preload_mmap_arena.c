/* preload_mmap_arena.c — a program with its own allocator over mmap, run under libdime.so: a bump
 * arena of 1 MiB chunks from anonymous mmap (10 MiB in all, 10x the tests' local pool), objects
 * with checksummed patterns, chunks unmapped and mapped again, one chunk grown with mremap. Every
 * object is verified after the whole arena has been evicted. malloc is hardly used, so the faults
 * the report shows come from the mmap'd memory. Exit 0 only if nothing was lost.
 * Usage: preload_mmap_arena [CHUNKS]  (default 10) */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pattern.h"

#define CHUNK ((size_t)1 << 20)
#define MAX_CHUNKS 64
#define MAX_OBJECTS 65536

struct chunk {
    unsigned char* base;
    size_t size, used;
};
struct object {
    unsigned char* p;
    size_t n;
    uint64_t seed;
    int chunk;
};

static struct chunk chunks[MAX_CHUNKS];
static struct object objects[MAX_OBJECTS];
static size_t nobjects;
static int failures;

static int new_chunk(int i) {
    void* p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 0;
    }
    chunks[i] = (struct chunk){p, CHUNK, 0};
    return 1;
}

/* Fills chunk i with objects of 64 B .. 16 KiB. */
static void populate(int i, uint64_t* rng) {
    struct chunk* c = &chunks[i];
    while (nobjects < MAX_OBJECTS) {
        size_t n = 64 + rng_next(rng) % 16384;
        if (c->used + n > c->size) break;
        struct object* o = &objects[nobjects++];
        *o = (struct object){c->base + c->used, n, rng_next(rng), i};
        pattern_fill(o->p, n, o->seed);
        c->used += (n + 15) & ~(size_t)15;
    }
}

static void verify_all(const char* phase) {
    for (size_t k = 0; k < nobjects; ++k)
        if (objects[k].p && !pattern_verify(phase, objects[k].p, objects[k].n, objects[k].seed)) ++failures;
}

static uint64_t checksum(void) {
    uint64_t sum = 0;
    for (size_t k = 0; k < nobjects; ++k)
        if (objects[k].p)
            for (size_t j = 0; j < objects[k].n; j += 97) sum = sum * 31 + objects[k].p[j];
    return sum;
}

int main(int argc, char** argv) {
    int nchunks = argc > 1 ? atoi(argv[1]) : 10;
    if (nchunks < 4 || nchunks > MAX_CHUNKS / 2) nchunks = 10;
    uint64_t rng = 7;

    for (int i = 0; i < nchunks; ++i) {
        if (!new_chunk(i)) return 1;
        populate(i, &rng);
    }
    printf("%zu objects in %d chunks of %zu KiB\n", nobjects, nchunks, CHUNK >> 10);
    verify_all("after fill");
    const uint64_t sum1 = checksum();
    verify_all("second pass");
    if (checksum() != sum1) {
        fprintf(stderr, "FAIL checksum changed between two reads\n");
        ++failures;
    }

    /* Free every third chunk (munmap) and map new ones: the allocator reuses address space. */
    for (int i = 0; i < nchunks; i += 3) {
        for (size_t k = 0; k < nobjects; ++k)
            if (objects[k].chunk == i) objects[k].p = NULL;
        if (munmap(chunks[i].base, chunks[i].size) != 0) {
            perror("munmap");
            return 1;
        }
        if (!new_chunk(i)) return 1;
        /* a fresh anonymous mapping reads as zeros, even where old data was evicted */
        for (size_t j = 0; j < CHUNK; j += 4096)
            if (chunks[i].base[j] != 0) {
                fprintf(stderr, "FAIL new chunk %d: byte %zu is %d\n", i, j, chunks[i].base[j]);
                ++failures;
                break;
            }
        populate(i, &rng);
    }
    verify_all("after chunk reuse");

    /* Grow the last chunk with mremap, as an allocator's realloc of a huge block would. */
    {
        struct chunk* c = &chunks[nchunks - 1];
        void* q = mremap(c->base, c->size, 3 * CHUNK, MREMAP_MAYMOVE);
        if (q == MAP_FAILED) {
            perror("mremap");
            return 1;
        }
        ptrdiff_t delta = (unsigned char*)q - c->base;
        for (size_t k = 0; k < nobjects; ++k)
            if (objects[k].chunk == nchunks - 1 && objects[k].p) objects[k].p += delta;
        c->base = q;
        c->size = 3 * CHUNK;
        populate(nchunks - 1, &rng);
    }
    verify_all("after mremap");
    uint64_t sum2 = checksum();
    verify_all("final");
    if (checksum() != sum2) {
        fprintf(stderr, "FAIL final checksum changed\n");
        ++failures;
    }
    for (int i = 0; i < nchunks; ++i) munmap(chunks[i].base, chunks[i].size);
    printf("%zu objects, checksum %016llx, failures %d\n", nobjects, (unsigned long long)sum2, failures);
    return failures == 0 ? 0 : 1;
}
