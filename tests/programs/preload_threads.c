/* preload_threads.c — multi-threaded heap check under libdime.so: 4 threads allocate, write and
 * verify blocks (together at least 8x the local pool), then verify and free each other's blocks,
 * reallocate across threads, and exit leaving blocks that main verifies and frees afterwards. A
 * pthread key destructor allocates while its thread exits. Exit 0 only if every byte survived.
 * Usage: preload_threads [MIB_PER_THREAD]  (default 3) */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

enum { kThreads = 4, kMaxBlocks = 8192 };

struct block {
    unsigned char* p;
    size_t n;
    uint64_t seed;
};

struct worker {
    int id;
    size_t budget;
    size_t count;
    struct block blocks[kMaxBlocks];
};

static struct worker workers[kThreads];
static pthread_barrier_t barrier;
static atomic_int failures;
static atomic_int exit_destructors_ok;
static pthread_key_t exit_key;

static void fail(const char* what, int id) {
    fprintf(stderr, "FAIL thread %d: %s\n", id, what);
    atomic_fetch_add(&failures, 1);
}

static int verify_blocks(struct worker* w, const char* phase) {
    int ok = 1;
    for (size_t i = 0; i < w->count; ++i)
        if (w->blocks[i].p && !pattern_verify(phase, w->blocks[i].p, w->blocks[i].n, w->blocks[i].seed)) ok = 0;
    return ok;
}

/* Runs while the thread exits, after the thread's C++-style exit handlers: it must still be able
 * to allocate, free and free an emulated block. */
static void on_exit_key(void* arg) {
    struct block* b = arg;
    unsigned char* p = malloc(10000);
    if (p) {
        pattern_fill(p, 10000, 424242);
        if (pattern_check(p, 10000, 424242) == (size_t)-1) atomic_fetch_add(&exit_destructors_ok, 1);
        p = realloc(p, 50000);
        free(p);
    }
    if (pattern_verify("exit destructor", b->p, b->n, b->seed)) atomic_fetch_add(&exit_destructors_ok, 1);
    free(b->p);
    free(b);
}

static void* run(void* arg) {
    struct worker* w = arg;
    uint64_t rng = 1000 + (uint64_t)w->id;
    size_t bytes = 0;

    /* 1. Allocate and fill our blocks. */
    while (bytes < w->budget && w->count < kMaxBlocks) {
        uint64_t r = rng_next(&rng);
        size_t n = (r % 32 == 0) ? 65536 + r % 300000 : 8 + r % 8192;
        struct block* b = &w->blocks[w->count];
        b->p = malloc(n);
        if (!b->p) {
            fail("malloc returned NULL", w->id);
            break;
        }
        b->n = n;
        b->seed = ((uint64_t)w->id << 32) | w->count;
        pattern_fill(b->p, n, b->seed);
        bytes += n;
        ++w->count;
    }
    if (!verify_blocks(w, "own blocks")) fail("own blocks lost data", w->id);
    pthread_barrier_wait(&barrier);

    /* 2. Verify the neighbour's blocks, free every other one, grow the rest with realloc from
     *    this thread (a cross-thread realloc). */
    struct worker* other = &workers[(w->id + 1) % kThreads];
    if (!verify_blocks(other, "neighbour's blocks")) fail("neighbour's blocks lost data", w->id);
    pthread_barrier_wait(&barrier);
    for (size_t i = 0; i < other->count; ++i) {
        struct block* b = &other->blocks[i];
        if (i % 2 == 0) {
            free(b->p);
            b->p = NULL;
        } else if (i % 5 == 1) {
            unsigned char* q = realloc(b->p, b->n + 5000);
            if (!q) {
                fail("cross-thread realloc returned NULL", w->id);
                continue;
            }
            if (!pattern_verify("cross-thread realloc", q, b->n, b->seed)) fail("realloc lost data", w->id);
            b->p = q;
            b->n += 5000;
            b->seed ^= 0x5555;
            pattern_fill(q, b->n, b->seed);
        }
    }
    pthread_barrier_wait(&barrier);

    /* 3. Refill the freed slots of our own table (allocation reusing memory other threads freed). */
    for (size_t i = 0; i < w->count; ++i) {
        struct block* b = &w->blocks[i];
        if (b->p) continue;
        b->n = 1 + rng_next(&rng) % 6000;
        b->p = malloc(b->n);
        if (!b->p) {
            fail("malloc returned NULL on refill", w->id);
            continue;
        }
        b->seed = ((uint64_t)w->id << 32) | (1u << 31) | i;
        pattern_fill(b->p, b->n, b->seed);
    }
    if (!verify_blocks(w, "after refill")) fail("blocks lost data after refill", w->id);
    pthread_barrier_wait(&barrier);
    if (!verify_blocks(other, "neighbour after refill")) fail("neighbour's blocks lost data after refill", w->id);

    /* 4. Exit with all our blocks still allocated (main frees them), plus one block that our
     *    pthread key destructor frees while the thread is exiting. */
    struct block* last = malloc(sizeof *last);
    last->n = 30000;
    last->p = malloc(last->n);
    last->seed = 99000 + (uint64_t)w->id;
    pattern_fill(last->p, last->n, last->seed);
    pthread_setspecific(exit_key, last);
    return NULL;
}

int main(int argc, char** argv) {
    const size_t per_thread = (size_t)(argc > 1 ? atol(argv[1]) : 3) << 20;
    pthread_barrier_init(&barrier, NULL, kThreads);
    pthread_key_create(&exit_key, on_exit_key);
    pthread_t threads[kThreads];
    for (int i = 0; i < kThreads; ++i) {
        workers[i].id = i;
        workers[i].budget = per_thread;
        if (pthread_create(&threads[i], NULL, run, &workers[i]) != 0) {
            fprintf(stderr, "FAIL: pthread_create\n");
            return 1;
        }
    }
    for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);

    /* The threads are gone: their blocks must still be intact, and freeable from here. */
    size_t blocks = 0;
    for (int i = 0; i < kThreads; ++i) {
        if (!verify_blocks(&workers[i], "after the threads exited")) fail("blocks lost after thread exit", -1);
        for (size_t j = 0; j < workers[i].count; ++j) {
            free(workers[i].blocks[j].p);
            ++blocks;
        }
    }
    /* And the memory is reusable. */
    unsigned char* p = malloc(1 << 20);
    pattern_fill(p, 1 << 20, 5);
    if (!pattern_verify("after reuse", p, 1 << 20, 5)) fail("reused memory", -1);
    free(p);

    int destructors = atomic_load(&exit_destructors_ok);
    if (destructors != 2 * kThreads) {
        fprintf(stderr, "FAIL: %d of %d exit-destructor checks passed\n", destructors, 2 * kThreads);
        atomic_fetch_add(&failures, 1);
    }
    printf("%d threads, %zu blocks verified and freed by main, failures %d\n", kThreads, blocks,
           atomic_load(&failures));
    return atomic_load(&failures) == 0 ? 0 : 1;
}
