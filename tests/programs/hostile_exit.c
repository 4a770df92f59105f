/* hostile_exit.c — a program that ends while its other threads are asleep in remote faults, with
 * a fetch that takes 2 s (latency_ns=1s). Run natively as the harness, it starts itself under
 * libdime.so (tests/hostile.cmake) in one of three ways and measures how long the end takes:
 *   exit         main calls exit(7) while four threads wait for evicted pages and a fifth is in
 *                read(/dev/zero) into an evicted buffer (a fault inside the kernel);
 *   _exit        the same with _exit(9);
 *   exit-thread  a worker calls exit(5) while the main thread, too, waits for an evicted page.
 * The end must take well under one fetch (nobody waits for the pending ones), come with the status
 * given, and, for exit(), write the report; _exit writes none.
 * Usage: hostile_exit LIBDIME.SO REPORT MODE   (harness)
 *        hostile_exit --child MODE FD          (the program that ends; reports on FD) */
#define _GNU_SOURCE
#include <dime.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

extern char** environ;

enum { kWorkers = 4, kBuffer = 64 * 1024 };

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the child: threads asleep in faults, then the end ------------------------------------------- */

static atomic_int g_tid[kWorkers + 2];  /* the workers, the kernel reader, and main (exit-thread) */
static const char* g_mode;
static int g_report_fd;

/* Fills a buffer, evicts it, then touches it: the touch waits a whole fetch. */
static unsigned char* evicted_buffer(uint64_t seed) {
    unsigned char* b = malloc(kBuffer);
    pattern_fill(b, kBuffer, seed);
    dime_evict(b, kBuffer);
    return b;
}

static int wait_until_asleep(int threads, int skip);
static void announce_and_end(void);

static void* worker(void* arg) {
    const int id = (int)(intptr_t)arg;
    unsigned char* b = evicted_buffer(100 + id);
    if (id == 0 && strcmp(g_mode, "exit-thread") == 0) {
        /* This worker ends the process, once main and the others sleep in their faults. */
        if (!wait_until_asleep(kWorkers + 2, 1)) _exit(1);
        announce_and_end();
    }
    atomic_store(&g_tid[id], (int)syscall(SYS_gettid));
    for (;;) {  /* each pass waits one fetch per page, about 2 s each */
        if (!pattern_verify("worker", b, kBuffer, 100 + id)) _exit(1);
        dime_evict(b, kBuffer);
    }
    return NULL;
}

static void* kernel_reader(void* arg) {
    (void)arg;
    unsigned char* b = evicted_buffer(200);
    const int fd = open("/dev/zero", O_RDONLY);
    atomic_store(&g_tid[kWorkers], (int)syscall(SYS_gettid));
    for (;;) {
        if (read(fd, b, kBuffer) != kBuffer) _exit(1);  /* writes evicted pages from inside the kernel */
        dime_evict(b, kBuffer);
    }
    return NULL;
}

/* A thread that has published its id and now sleeps (state S): in its fault, or about to be. */
static int asleep(int tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    const int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    const char* paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && paren[2] == 'S';
}

/* Until the threads of g_tid[skip..threads) all sleep, twice in a row 1 ms apart (not just passing
 * through a sleep). 0 after 20 s. */
static int wait_until_asleep(int threads, int skip) {
    const uint64_t deadline = now_ns() + 20000000000ull;
    for (int calm = 0; calm < 2;) {
        int sleeping = 0;
        for (int i = skip; i < threads; ++i) {
            const int tid = atomic_load(&g_tid[i]);
            sleeping += tid && asleep(tid);
        }
        calm = sleeping == threads - skip ? calm + 1 : 0;
        if (now_ns() > deadline) {
            fprintf(stderr, "FAIL: the threads did not all fall asleep in their faults within 20 s\n");
            return 0;
        }
        const struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return 1;
}

/* Tells the harness when the end begins, then ends as the mode says. */
static void announce_and_end(void) {
    char line[64];
    const int len = snprintf(line, sizeof line, "ready %llu\n", (unsigned long long)now_ns());
    if (write(g_report_fd, line, (size_t)len) != len) _exit(1);
    if (strcmp(g_mode, "exit") == 0) exit(7);
    if (strcmp(g_mode, "_exit") == 0) _exit(9);
    exit(5);
}

static int child(const char* mode, int fd) {
    g_mode = mode;
    g_report_fd = fd;
    if (!dime_active()) {
        fprintf(stderr, "FAIL: the child must run under libdime.so\n");
        return 1;
    }
    const int from_thread = strcmp(mode, "exit-thread") == 0;
    unsigned char* mine = from_thread ? evicted_buffer(300) : NULL;
    pthread_t t;
    for (intptr_t i = 0; i < kWorkers; ++i) pthread_create(&t, NULL, worker, (void*)i);
    pthread_create(&t, NULL, kernel_reader, NULL);
    if (!from_thread) {
        if (!wait_until_asleep(kWorkers + 1, 0)) return 1;
        announce_and_end();
    }
    /* exit-thread: main sleeps in a fault of its own; worker 0 ends it all. */
    atomic_store(&g_tid[kWorkers + 1], (int)syscall(SYS_gettid));
    for (;;)
        if (!pattern_verify("main", mine, kBuffer, 300)) _exit(1);
}

/* ---- the harness ----------------------------------------------------------------------------------- */

static long report_counter(const char* path, const char* key) {
    FILE* f = fopen(path, "re");
    if (!f) return -1;
    static char json[1 << 16];
    const size_t n = fread(json, 1, sizeof json - 1, f);
    fclose(f);
    json[n] = '\0';
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    const char* at = strstr(json, pattern);
    return at ? atol(at + strlen(pattern)) : -1;
}

static int getenv_is(const char* name, const char* value) {
    const char* v = getenv(name);
    return v && strcmp(v, value) == 0;
}

/* Whether this process could open a userfaultfd that serves kernel-mode faults, as DiME needs. */
static int userfaultfd_usable(void) {
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd < 0) {
        const int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev < 0) return 0;
        close(dev);
        return 1;
    }
    close(fd);
    return 1;
}

static int harness(const char* preload, const char* report, const char* mode) {
    const int expected_status = strcmp(mode, "exit") == 0 ? 7 : strcmp(mode, "_exit") == 0 ? 9 : 5;
    unlink(report);
    int p[2];
    if (pipe(p) != 0) return 1;
    char self[4096];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 1;
    self[n] = '\0';
    char fd_arg[16], preload_var[4200], report_var[4200];
    snprintf(fd_arg, sizeof fd_arg, "%d", p[1]);
    snprintf(preload_var, sizeof preload_var, "LD_PRELOAD=%s", preload);
    snprintf(report_var, sizeof report_var, "DIME_REPORT=%s", report);
    putenv(preload_var);  /* for the child only: the harness itself was loaded without it */
    putenv(report_var);
    char* argv[] = {self, "--child", (char*)mode, fd_arg, NULL};
    pid_t pid;
    if (posix_spawn(&pid, self, NULL, NULL, argv, environ) != 0) {
        fprintf(stderr, "FAIL: posix_spawn\n");
        return 1;
    }
    close(p[1]);
    char line[64] = "";
    ssize_t got = 0, r;
    while (got < (ssize_t)sizeof line - 1 && (r = read(p[0], line + got, sizeof line - 1 - (size_t)got)) > 0) got += r;
    int status = 0;
    waitpid(pid, &status, 0);
    const uint64_t ended = now_ns();
    unsigned long long ready = 0;
    if (sscanf(line, "ready %llu", &ready) != 1) {
        if (!userfaultfd_usable() && !getenv_is("DIME_REQUIRE_UFFD", "1")) {
            printf("PRELOAD-SKIPPED: userfaultfd is not usable here\n");
            return 0;
        }
        fprintf(stderr, "FAIL: the child never got ready (status 0x%x)\n", status);
        return 1;
    }
    const double took = (double)(ended - ready) / 1e9;
    int failures = 0;
    printf("%s: the process ended %.3f s after it began to (a fetch takes 2 s), status 0x%x\n", mode, took, status);
    if (took > 1.0) {
        fprintf(stderr, "FAIL: %s took %.3f s: the end waited for pending fetches\n", mode, took);
        ++failures;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != expected_status) {
        fprintf(stderr, "FAIL: %s: status 0x%x, expected exit status %d\n", mode, status, expected_status);
        ++failures;
    }
    /* The pending fetches never completed, so count the first touches (first_touch: local). */
    const long faults = report_counter(report, "faults");
    if (strcmp(mode, "_exit") == 0 ? faults != -1 : faults <= 0) {
        fprintf(stderr, "FAIL: %s: report %s has faults %ld (-1: no report)\n", mode, report, faults);
        ++failures;
    }
    return failures ? 1 : 0;
}

int main(int argc, char** argv) {
    if (argc == 4 && strcmp(argv[1], "--child") == 0) return child(argv[2], atoi(argv[3]));
    if (argc != 4) {
        fprintf(stderr, "usage: hostile_exit LIBDIME.SO REPORT exit|_exit|exit-thread\n");
        return 2;
    }
    alarm(60);
    return harness(argv[1], argv[2], argv[3]);
}
