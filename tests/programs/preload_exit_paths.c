/* preload_exit_paths.c — ways a program under libdime.so ends while threads are faulting. Three
 * worker threads verify and rewrite heaps larger than the pool without pause; then:
 *   thread-exit     a non-main thread calls exit(0) while main waits in pthread_join
 *   signal-exit     a SIGTERM handler calls exit(0) (the signal comes from a worker)
 *   atexit          main returns; an atexit handler of the program (it runs before DiME's report)
 *                   and a destructor (after it) both read and free evicted heap data
 *   _exit           a worker calls _exit(0): no atexit handler runs, so no report
 *   sigterm-default SIGTERM with its default action ends the process: no report
 * Whatever the way, nothing may hang (an alarm turns a hang into SIGALRM) and a report, when there
 * is one, is written once (the test script counts the summary lines).
 * Usage: preload_exit_paths MODE */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "lifecycle.h"

enum { kWorkers = 3 };

static atomic_long rounds[kWorkers];
static atomic_int signalled;
static const char* mode;
static struct heap late; /* read by the program's own exit handlers */

static long min_rounds(void) {
    long m = atomic_load(&rounds[0]);
    for (int i = 1; i < kWorkers; ++i)
        if (atomic_load(&rounds[i]) < m) m = atomic_load(&rounds[i]);
    return m;
}

static void* worker(void* arg) {
    const int id = (int)(intptr_t)arg;
    struct heap h = heap_make(1u << 20, 100000 * (id + 1));
    for (long r = 0;; ++r) {
        if (!heap_verify(&h, "worker")) _exit(1);
        heap_rewrite(&h, 100000 * (id + 1) + r + 1);
        atomic_store(&rounds[id], r + 1);
        if (id == kWorkers - 1 && min_rounds() >= 2) {
            if (strcmp(mode, "thread-exit") == 0) exit(0);
            if (strcmp(mode, "_exit") == 0) _exit(0);
            /* Once: a second SIGTERM would call exit() again, from another thread, while the
             * first exit() runs the exit handlers (undefined behaviour, which cut DiME's report
             * short whenever the second call came in the middle of it). */
            if ((strcmp(mode, "signal-exit") == 0 || strcmp(mode, "sigterm-default") == 0) &&
                !atomic_exchange(&signalled, 1))
                kill(getpid(), SIGTERM);
        }
    }
    return NULL;
}

static void on_sigterm(int sig) {
    (void)sig;
    exit(0);
}

static void program_atexit(void) {
    if (!heap_verify(&late, "program's atexit handler")) _exit(1);
}

__attribute__((destructor)) static void program_destructor(void) {
    if (late.count && !heap_verify(&late, "program's destructor")) _exit(1);
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: preload_exit_paths thread-exit|signal-exit|atexit|_exit|sigterm-default\n");
        return 2;
    }
    mode = argv[1];
    alarm(60);
    announce("DIME-ROOT-PID", getpid(), NULL);
    late = heap_make(2u << 20, 777);
    if (strcmp(mode, "signal-exit") == 0) signal(SIGTERM, on_sigterm);
    if (strcmp(mode, "atexit") == 0) atexit(program_atexit);
    pthread_t t[kWorkers];
    for (int i = 0; i < kWorkers; ++i) pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i);
    if (strcmp(mode, "atexit") == 0) {
        while (min_rounds() < 2) heap_verify(&late, "main");
        return 0; /* the workers are still faulting */
    }
    pthread_join(t[0], NULL); /* never returns: the process ends from elsewhere */
    fprintf(stderr, "FAIL: worker 0 returned\n");
    return 1;
}
