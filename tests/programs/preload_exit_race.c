/* preload_exit_race.c — main() returns while 4 threads are still allocating, freeing and faulting
 * under libdime.so: the exit handlers (the report among them) run beside them and the process must
 * still end with main's status. Each thread checks every block before freeing it; a wrong byte
 * exits the process with status 1 at once. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pattern.h"

enum { kThreads = 4, kKeep = 64 };

static atomic_long rounds;

static void* churn(void* arg) {
    const uint64_t id = (uint64_t)(uintptr_t)arg;
    unsigned char* keep[kKeep] = {0};
    size_t size[kKeep] = {0};
    for (uint64_t i = 0;; ++i) {
        const unsigned k = (unsigned)(i % kKeep);
        if (keep[k] && pattern_check(keep[k], size[k], (id << 40) | (i - kKeep)) != (size_t)-1) {
            fprintf(stderr, "FAIL: thread %llu: block lost data\n", (unsigned long long)id);
            _exit(1);
        }
        free(keep[k]);
        size[k] = 4096 + (i % 7) * 1000;
        keep[k] = malloc(size[k]);
        if (!keep[k]) _exit(1);
        pattern_fill(keep[k], size[k], (id << 40) | i);
        atomic_fetch_add(&rounds, 1);
    }
    return NULL;
}

int main(void) {
    for (uintptr_t i = 0; i < kThreads; ++i) {
        pthread_t t;
        if (pthread_create(&t, NULL, churn, (void*)i) != 0) return 1;
    }
    /* Let the threads get well into their churn (well past the pool) before exiting under them. */
    while (atomic_load(&rounds) < 20000) {
        unsigned char* p = malloc(100000);
        pattern_fill(p, 100000, 7);
        if (!pattern_verify("main", p, 100000, 7)) return 1;
        free(p);
    }
    printf("main returns with %d threads still running\n", kThreads);
    return 0;
}
