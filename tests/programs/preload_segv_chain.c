/* preload_segv_chain.c — a program with SIGSEGV handlers of its own under libdime.so, with most of
 * its heap evicted. It keeps guard pages (PROT_NONE, its own mapping) and probes them, catching each
 * SIGSEGV with siglongjmp, and its handler reads evicted heap memory before it jumps. With the
 * mprotect backend DiME's handler sits in front of the program's, so this checks the chaining:
 *   - every probe reaches the program's handler, with si_addr the guard page's address, while the
 *     faults on emulated memory (also the one inside the handler) never do;
 *   - sigaction(SIGSEGV, NULL, &old) and signal() return the program's own handler;
 *   - SIG_DFL still kills with SIGSEGV, SA_RESETHAND handles one fault and the next kills, a raised
 *     SIGSEGV reaches the handler, and an ignored raised one is ignored (each in a fork child);
 *   - every heap byte stays intact.
 * The same must hold with the userfaultfd backend, where the kernel delivers to the program's handler
 * itself. Exit 0 only if everything held. Usage: preload_segv_chain [ROUNDS]  (default 200) */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"

enum { kBlocks = 16, kBlockBytes = 1 << 20, kGuardPages = 4 };

static unsigned char* blocks[kBlocks];
static sigjmp_buf jump;
static void* volatile fault_addr;
static volatile int faults_seen;
static const unsigned char* volatile check_block; /* read by the handler: evicted heap memory */
static volatile uint64_t check_seed;
static volatile int handler_heap_ok;
static int failures;

static void fail(const char* what) {
    fprintf(stderr, "FAIL: %s\n", what);
    ++failures;
}

static void on_segv(int sig, siginfo_t* si, void* uc) {
    (void)sig;
    (void)uc;
    fault_addr = si->si_addr;
    ++faults_seen;
    if (check_block) handler_heap_ok = pattern_check((const void*)check_block, kBlockBytes, check_seed) == (size_t)-1;
    siglongjmp(jump, 1);
}

static void on_segv_plain(int sig) {
    (void)sig;
    ++faults_seen;
    siglongjmp(jump, 1);
}

/* Reads `p`; 1 if that raised SIGSEGV and the handler jumped back. */
static int probe(const void* p) {
    if (sigsetjmp(jump, 1) == 0) {
        (void)*(const volatile unsigned char*)p;
        return 0;
    }
    return 1;
}

static int install(void (*handler)(int, siginfo_t*, void*), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, NULL);
}

/* Runs `child` in a fork child; returns its wait status. */
static int in_child(void (*child)(unsigned char*), unsigned char* guard) {
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        alarm(60);
        child(guard);
        _exit(0);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
    return status;
}

static void child_default(unsigned char* guard) {
    signal(SIGSEGV, SIG_DFL);
    (void)*(volatile unsigned char*)guard; /* dies here */
    _exit(3);
}

static void child_resethand(unsigned char* guard) {
    install(on_segv, SA_RESETHAND);
    if (!probe(guard)) _exit(4); /* the first fault is the handler's */
    (void)*(volatile unsigned char*)guard; /* the second is the default action's */
    _exit(5);
}

static void child_raise(unsigned char* guard) {
    (void)guard;
    install(on_segv, 0);
    check_block = NULL;
    if (sigsetjmp(jump, 1) == 0) {
        raise(SIGSEGV);
        _exit(6); /* not delivered */
    }
    signal(SIGSEGV, SIG_IGN);
    raise(SIGSEGV); /* ignored */
}

int main(int argc, char** argv) {
    const int rounds = argc > 1 ? atoi(argv[1]) : 200;
    for (int b = 0; b < kBlocks; ++b) {
        blocks[b] = malloc(kBlockBytes);
        if (!blocks[b]) {
            fail("malloc");
            return 1;
        }
        pattern_fill(blocks[b], kBlockBytes, 100 + (uint64_t)b);
    }
    unsigned char* guard = mmap(NULL, kGuardPages * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (guard == MAP_FAILED) {
        fail("mmap of the guard pages");
        return 1;
    }
    if (install(on_segv, 0) != 0) fail("sigaction");
    struct sigaction seen;
    if (sigaction(SIGSEGV, NULL, &seen) != 0 || !(seen.sa_flags & SA_SIGINFO) || seen.sa_sigaction != on_segv)
        fail("sigaction(SIGSEGV, NULL, &old) does not return the program's handler");

    uint64_t version[kBlocks];
    for (int b = 0; b < kBlocks; ++b) version[b] = 100 + (uint64_t)b;
    for (int r = 0; r < rounds; ++r) {
        /* The block the handler reads was written longest ago: evicted, with a pool of 1 MiB. */
        const int old = r % kBlocks;
        check_block = blocks[old];
        check_seed = version[old];
        handler_heap_ok = 0;
        const unsigned char* target = guard + (r % kGuardPages) * 4096 + (size_t)(r * 8) % 4096;
        const int before = faults_seen;
        if (!probe(target) || faults_seen != before + 1) {
            fail("a probe of a guard page did not reach the program's handler");
            break;
        }
        if (fault_addr != (const void*)target) fail("the handler's si_addr is not the guard page's address");
        if (!handler_heap_ok) fail("the handler read wrong heap data");
        /* Rewrite the block just checked: it is the newest now, and the others get evicted. */
        version[old] += kBlocks;
        pattern_fill(blocks[old], kBlockBytes, version[old]);
        if (failures) break;
    }
    check_block = NULL;

    /* signal(): the program's handler again, and the previous one returned. */
    /* The handler comes back as the sa_handler member of one union: compare the addresses. */
    if ((uintptr_t)signal(SIGSEGV, on_segv_plain) != (uintptr_t)on_segv)
        fail("signal() did not return the previous handler");
    const int before = faults_seen;
    if (!probe(guard) || faults_seen != before + 1) fail("a probe after signal() did not reach its handler");
    install(on_segv, 0);

    int status = in_child(child_default, guard);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV) fail("SIG_DFL: the child was not killed by SIGSEGV");
    status = in_child(child_resethand, guard);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
        fail("SA_RESETHAND: the child's second fault did not kill it with SIGSEGV");
    status = in_child(child_raise, guard);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("raise(SIGSEGV): not handled, or not ignored");

    for (int b = 0; b < kBlocks; ++b)
        if (!pattern_verify("heap block", blocks[b], kBlockBytes, version[b])) ++failures;
    printf("%d probes of guard pages caught by the program's handler, heap %d MiB checked, failures %d\n",
           faults_seen, kBlocks, failures);
    return failures == 0 ? 0 : 1;
}
