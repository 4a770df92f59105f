/* preload_fork.c — fork() under libdime.so: a heap several times the local pool (most of it
 * evicted) is forked while another thread keeps faulting; the child checks every byte, rewrites
 * its copy and allocates more; the parent checks that its own copy is untouched and still
 * emulated. Exit 0 only if both sides saw every byte intact.
 * Usage: preload_fork [MIB]  (default 6) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"

enum { kBlock = 48 * 1024 + 123 }; /* odd size: blocks straddle pages */

struct heap {
    unsigned char** blocks;
    size_t count;
};

static atomic_int stop_busy;
static atomic_long busy_rounds;
static atomic_int busy_failed;

static int verify_heap(const struct heap* h, uint64_t salt, const char* who) {
    for (size_t i = 0; i < h->count; ++i)
        if (!pattern_verify(who, h->blocks[i], kBlock, salt + i)) return 0;
    return 1;
}

/* Keeps faulting on its own blocks (bigger than the pool) while main forks. */
static void* busy(void* arg) {
    struct heap* h = arg;
    while (!atomic_load(&stop_busy)) {
        if (!verify_heap(h, 500000, "busy thread")) atomic_store(&busy_failed, 1);
        atomic_fetch_add(&busy_rounds, 1);
    }
    return NULL;
}

static struct heap make_heap(size_t bytes, uint64_t salt) {
    struct heap h;
    h.count = bytes / kBlock + 1;
    h.blocks = malloc(h.count * sizeof *h.blocks);
    for (size_t i = 0; i < h.count; ++i) {
        h.blocks[i] = malloc(kBlock);
        if (!h.blocks[i]) {
            fprintf(stderr, "FAIL: malloc\n");
            exit(1);
        }
        pattern_fill(h.blocks[i], kBlock, salt + i);
    }
    return h;
}

static int child(struct heap* main_heap, struct heap* busy_heap) {
    int ok = 1;
    /* Every byte, evicted pages included, as they were at fork time. */
    ok &= verify_heap(main_heap, 1000, "child: main heap");
    ok &= verify_heap(busy_heap, 500000, "child: busy heap");
    /* The child's copy is its own: rewrite it, allocate more, check again. */
    for (size_t i = 0; i < main_heap->count; ++i) pattern_fill(main_heap->blocks[i], kBlock, 7000 + i);
    struct heap extra = make_heap(2u << 20, 900000);
    ok &= verify_heap(main_heap, 7000, "child: rewritten heap");
    ok &= verify_heap(&extra, 900000, "child: new heap");
    for (size_t i = 0; i < extra.count; ++i) free(extra.blocks[i]);
    free(extra.blocks);
    return ok ? 0 : 3;
}

int main(int argc, char** argv) {
    const size_t bytes = (size_t)(argc > 1 ? atol(argv[1]) : 6) << 20;
    struct heap main_heap = make_heap(bytes, 1000);
    struct heap busy_heap = make_heap(bytes / 2, 500000);
    pthread_t t;
    pthread_create(&t, NULL, busy, &busy_heap);
    while (atomic_load(&busy_rounds) < 1) /* make sure the busy thread is faulting at fork time */
        if (!verify_heap(&main_heap, 1000, "parent before fork")) return 1;

    int failures = 0;
    for (int round = 0; round < 3; ++round) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) exit(child(&main_heap, &busy_heap)); /* exit(), not _exit(): atexit handlers run in the child too */
        /* The parent goes on faulting while the child runs. */
        if (!verify_heap(&main_heap, 1000, "parent while the child runs")) ++failures;
        int status = 0;
        if (waitpid(pid, &status, 0) != pid) {
            perror("waitpid");
            return 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "FAIL: child %d ended with status 0x%x\n", round, status);
            ++failures;
        }
    }
    atomic_store(&stop_busy, 1);
    pthread_join(t, NULL);
    /* The children's rewrites never reach the parent. */
    if (!verify_heap(&main_heap, 1000, "parent after the children")) ++failures;
    if (atomic_load(&busy_failed)) {
        fprintf(stderr, "FAIL: the busy thread saw a wrong byte\n");
        ++failures;
    }
    printf("3 forks, %zu + %zu blocks checked on both sides, busy rounds %ld, failures %d\n", main_heap.count,
           busy_heap.count, atomic_load(&busy_rounds), failures);
    return failures == 0 ? 0 : 1;
}
