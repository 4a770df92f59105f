/* hostile_signals.c — a program with its own SIGSEGV and SIGBUS handlers, guard pages and signals
 * flying, under libdime.so with a small pool and natively (tests/hostile.cmake):
 *   1. a PROT_NONE guard page in the middle of an emulated mapping, and one at the start of a
 *      malloc'd block: an access raises SIGSEGV at exactly that address (SEGV_ACCERR), on the
 *      program's alternate signal stack; it recovers with siglongjmp; everything around is intact;
 *   2. a PROT_NONE mapping of the program's own right after emulated memory, and a hole munmapped
 *      out of emulated memory: SIGSEGV there (natively SEGV_MAPERR for the hole; under DiME the
 *      hole is reserved address space, so SEGV_ACCERR: docs/reliability.md);
 *   3. SIGBUS from a file mapping past the end of its file (BUS_ADRERR);
 *   4. the SIGSEGV handler itself reads and checks 2 MiB of emulated memory, most of it evicted;
 *   5. four threads checking a heap 8x the pool while a fifth sends them SIGUSR1 without pause:
 *      a thread asleep in a remote fault leaves it for the handler and faults again (the handler
 *      reads evicted memory too); every byte must stay right and no thread may hang;
 *   6. a NULL dereference in one thread while the others fault: its handler recovers.
 * Usage: hostile_signals   Exit 0 = every check held. */
#define _GNU_SOURCE
#include <dime.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pattern.h"

#define MIB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

static int failures;

#define CHECK(cond, ...)                                 \
    do {                                                 \
        if (!(cond)) {                                   \
            fprintf(stderr, "FAIL line %d: ", __LINE__); \
            fprintf(stderr, __VA_ARGS__);                \
            fputc('\n', stderr);                         \
            ++failures;                                  \
        }                                                \
    } while (0)

/* ---- the program's own fault handling ---------------------------------------------------------- */

static __thread sigjmp_buf t_jump;
static __thread volatile int t_expecting;
static __thread volatile void* t_addr;
static __thread volatile int t_code, t_signo, t_on_altstack;
/* Emulated memory the SIGSEGV handler checks (case 4), NULL otherwise. */
static unsigned char* volatile g_handler_reads;
static volatile size_t g_handler_len;
static volatile int g_handler_read_ok = 1;

static void on_fault(int sig, siginfo_t* si, void* ctx) {
    (void)ctx;
    t_signo = sig;
    t_addr = si->si_addr;
    t_code = si->si_code;
    stack_t ss;
    t_on_altstack = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
    if (g_handler_reads && !pattern_verify("inside the SIGSEGV handler", g_handler_reads, g_handler_len, 4))
        g_handler_read_ok = 0;
    if (!t_expecting) {
        static const char msg[] = "FAIL: an unexpected SIGSEGV/SIGBUS\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(3);
    }
    siglongjmp(t_jump, 1);
}

/* Whether touching p raises a signal: returns the signal number (0 if none). */
static int touch(volatile unsigned char* p, int write) {
    t_addr = NULL;
    t_signo = 0;
    t_expecting = 1;
    if (sigsetjmp(t_jump, 1) == 0) {
        if (write)
            *p = 1;
        else
            (void)*p;
    }
    t_expecting = 0;
    return t_signo;
}

static void install_handlers(void) {
    static unsigned char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

static unsigned char* map_rw(size_t n) {
    void* p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static void expect_signal(volatile unsigned char* p, int write, int signo, int code, const char* what) {
    const int got = touch(p, write);
    CHECK(got == signo && t_addr == (void*)p && t_code == code,
          "%s: signal %d at %p code %d; expected signal %d at %p code %d", what, got, (void*)t_addr, t_code, signo,
          (void*)p, code);
}

/* ---- 1-4 -------------------------------------------------------------------------------------------- */

static void guard_pages(void) {
    /* 1a. A guard page in the middle of emulated memory. */
    const size_t n = 4 * MIB;
    unsigned char* m = map_rw(n);
    pattern_fill(m, n, 1);
    unsigned char* guard = m + 2 * MIB;
    CHECK(mprotect(guard, PAGE, PROT_NONE) == 0, "mprotect guard: %s", strerror(errno));
    expect_signal(guard + 100, 0, SIGSEGV, SEGV_ACCERR, "read of the guard page");
    CHECK(t_on_altstack, "the handler did not run on the alternate signal stack");
    expect_signal(guard + PAGE - 1, 1, SIGSEGV, SEGV_ACCERR, "write to the guard page's last byte");
    CHECK(pattern_verify("below the guard", m, 2 * MIB, 1), "data below the guard lost");
    for (size_t i = 2 * MIB + PAGE; i < n; ++i)
        if (m[i] != pattern_byte(1, i)) {
            CHECK(0, "data above the guard lost at %zu", i);
            break;
        }
    CHECK(mprotect(guard, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect guard back");
    for (size_t i = 2 * MIB; i < 2 * MIB + PAGE; ++i)
        if (m[i] != pattern_byte(1, i)) {
            CHECK(0, "the guard page's own data lost at %zu", i);
            break;
        }
    /* 1b. A guard page at the start of a malloc'd block (a coroutine stack, say). */
    unsigned char* block = NULL;
    CHECK(posix_memalign((void**)&block, PAGE, 2 * MIB) == 0, "posix_memalign");
    pattern_fill(block, 2 * MIB, 2);
    CHECK(mprotect(block, PAGE, PROT_NONE) == 0, "mprotect of a malloc'd page: %s", strerror(errno));
    expect_signal(block + 8, 1, SIGSEGV, SEGV_ACCERR, "write to the heap guard page");
    for (size_t i = PAGE; i < 2 * MIB; ++i)
        if (block[i] != pattern_byte(2, i)) {
            CHECK(0, "heap block above its guard lost at %zu", i);
            break;
        }
    CHECK(mprotect(block, PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect heap guard back");
    CHECK(pattern_verify("heap block with its guard back", block, 2 * MIB, 2), "heap block lost");
    free(block);
    void* more = malloc(3 * MIB);  /* the heap goes on working */
    CHECK(more != NULL, "malloc after freeing a guarded block");
    if (more) pattern_fill(more, 3 * MIB, 3);
    CHECK(more && pattern_verify("heap after the guard", more, 3 * MIB, 3), "heap after the guard");
    free(more);

    /* 2. A PROT_NONE mapping of the program's own right after emulated memory; a hole in it. */
    unsigned char* fence = mmap(m + n, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (fence != MAP_FAILED) expect_signal(fence + 1, 0, SIGSEGV, SEGV_ACCERR, "read of the fence after the mapping");
    CHECK(munmap(m + MIB, 4 * PAGE) == 0, "munmap of a hole");
    const int hole_code = dime_active() ? SEGV_ACCERR : SEGV_MAPERR;
    expect_signal(m + MIB + PAGE, 0, SIGSEGV, hole_code, "read of a munmapped hole");

    /* 4. The handler itself reads emulated memory, most of it evicted by now. */
    g_handler_len = 2 * MIB;
    g_handler_reads = malloc(g_handler_len);
    pattern_fill(g_handler_reads, g_handler_len, 4);
    pattern_fill(m + 2 * MIB, 2 * MIB, 5);  /* evicts the handler's buffer (pool 1 MiB) */
    expect_signal(m + MIB + PAGE, 1, SIGSEGV, hole_code, "a fault whose handler reads evicted memory");
    CHECK(g_handler_read_ok, "the handler read wrong bytes from emulated memory");
    free(g_handler_reads);
    g_handler_reads = NULL;
    if (fence != MAP_FAILED) munmap(fence, PAGE);
    munmap(m, n);

    /* 3. SIGBUS: a file mapping that reaches past the end of its file. */
    char path[] = "/tmp/dime-hostile-signals-XXXXXX";
    const int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        unlink(path);
        CHECK(ftruncate(fd, PAGE) == 0, "ftruncate");
        unsigned char* f = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHECK(f != MAP_FAILED, "file mmap");
        if (f != MAP_FAILED) {
            f[10] = 7;
            expect_signal(f + 2 * PAGE, 0, SIGBUS, BUS_ADRERR, "read past the end of the file");
            munmap(f, 4 * PAGE);
        }
        close(fd);
    }
}

/* ---- 5, 6: threads, signals, faults ----------------------------------------------------------------- */

enum { kWorkers = 4 };
static atomic_int g_stop;
static atomic_long g_signals_seen, g_rounds[kWorkers];
static unsigned char* g_sig_reads; /* the SIGUSR1 handler checks one page of it (emulated) */

static void on_usr1(int sig) {
    (void)sig;
    atomic_fetch_add(&g_signals_seen, 1);
    static atomic_uint k;
    const size_t page = atomic_fetch_add(&k, 1) % 256;
    if (pattern_check(g_sig_reads + page * PAGE, PAGE, (uint64_t)6 << 8 | page) != (size_t)-1) {
        static const char msg[] = "FAIL: the SIGUSR1 handler read wrong bytes\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(4);
    }
}

static void* worker(void* arg) {
    const int id = (int)(intptr_t)arg;
    const size_t n = 2 * MIB;
    unsigned char* h = malloc(n);
    for (long r = 0; !atomic_load(&g_stop); ++r) {
        pattern_fill(h, n, (uint64_t)id << 32 | (uint64_t)r);
        if (!pattern_verify("worker under signals", h, n, (uint64_t)id << 32 | (uint64_t)r)) {
            atomic_store(&g_stop, 1);
            ++failures;
        }
        atomic_store(&g_rounds[id], r + 1);
    }
    if (id == 0) {  /* 6. a NULL dereference while the others still fault */
        volatile unsigned char* null = NULL;
        const int got = touch(null + 16, 0);
        if (got != SIGSEGV || t_addr != (void*)16) {
            fprintf(stderr, "FAIL: NULL dereference: signal %d at %p\n", got, (void*)t_addr);
            ++failures;
        }
    }
    free(h);
    return NULL;
}

static void signals_during_faults(void) {
    g_sig_reads = malloc(256 * PAGE);
    for (size_t p = 0; p < 256; ++p) pattern_fill(g_sig_reads + p * PAGE, PAGE, (uint64_t)6 << 8 | p);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t[kWorkers];
    for (int i = 0; i < kWorkers; ++i) pthread_create(&t[i], NULL, worker, (void*)(intptr_t)i);
    /* Until every worker has done 10 rounds (each faults on every page of 2 MiB under DiME) and
     * 5000 signals went out. */
    long sent = 0;
    for (;;) {
        long done = 0;
        for (int i = 0; i < kWorkers; ++i) done += atomic_load(&g_rounds[i]) >= 10;
        if ((done == kWorkers && sent >= 5000) || atomic_load(&g_stop)) break;
        for (int i = 0; i < kWorkers; ++i, ++sent) pthread_kill(t[i], SIGUSR1);
        sched_yield();
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < kWorkers; ++i) pthread_join(t[i], NULL);
    printf("signals: %ld sent, %ld handled\n", sent, atomic_load(&g_signals_seen));
    CHECK(atomic_load(&g_signals_seen) > 100, "too few signals arrived to mean anything");
    free(g_sig_reads);
}

int main(void) {
    alarm(100);  /* a hang ends the test (SIGALRM) instead of stalling the suite */
    install_handlers();
    guard_pages();
    signals_during_faults();
    printf("failures %d\n", failures);
    return failures == 0 ? 0 : 1;
}
