/* preload_fork_child.c — fork() and vfork() with most of the heap evicted. The fork child checks
 * every byte, counts its userfaultfds (1 with fork_child=emulate: its own; 0 with plain or with the
 * mprotect backend), then keeps
 * working on 4x the pool (rewrite, allocate, verify twice) and exits; the test script checks its
 * report (<report>.<pid>, faults > 0) or its absence. A vfork child reads every byte of the
 * parent's heap (its faults are served by the parent's handler) and _exits. The parent checks its
 * own copy after each.
 * Usage: preload_fork_child emulate|plain [MIB]  (default 6) */
#define _GNU_SOURCE
#include <string.h>
#include <sys/wait.h>

#include "lifecycle.h"

static int wait_ok(pid_t pid, const char* what) {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return 0;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL: %s ended with status 0x%x\n", what, status);
        return 0;
    }
    return 1;
}

static int fork_child(struct heap* h, int emulate) {
    int ok = heap_verify(h, "fork child: inherited heap");
    struct fd_counts c;
    const int expected = emulate ? uffds_per_engine() : 0;
    if (!count_fds(&c, 0) || c.uffd != expected) {
        fprintf(stderr, "FAIL: fork child has %d userfaultfds, expected %d\n", c.uffd, expected);
        ok = 0;
    }
    for (int round = 0; round < 2; ++round) {
        heap_rewrite(h, 7000 + round);
        struct heap extra = heap_make(4u << 20, 900000 + round);
        ok &= heap_verify(h, "fork child: rewritten heap");
        ok &= heap_verify(&extra, "fork child: new blocks");
        heap_free(&extra);
    }
    announce("DIME-CHILD-REPORT", getpid(), emulate ? "emulated" : "none");
    return ok ? 0 : 3;
}

int main(int argc, char** argv) {
    if (argc < 2 || (strcmp(argv[1], "emulate") != 0 && strcmp(argv[1], "plain") != 0)) {
        fprintf(stderr, "usage: preload_fork_child emulate|plain [MIB]\n");
        return 2;
    }
    alarm(90); /* a hang fails instead of stalling the suite */
    const int emulate = strcmp(argv[1], "emulate") == 0;
    const size_t bytes = (size_t)(argc > 2 ? atol(argv[2]) : 6) << 20;
    announce("DIME-ROOT-PID", getpid(), NULL);
    struct heap h = heap_make(bytes, 1000);
    int failures = 0;

    for (int round = 0; round < 2; ++round) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) exit(fork_child(&h, emulate)); /* exit(): the child's atexit handlers write its report */
        failures += !heap_verify(&h, "parent while the fork child runs");
        failures += !wait_ok(pid, "fork child");
        failures += !heap_verify(&h, "parent after the fork child");
    }

    /* vfork: the child runs on the parent's memory (and registration) until it exits. */
    volatile int vfork_ok = 0;
    pid_t pid = vfork();
    if (pid < 0) {
        perror("vfork");
        return 1;
    }
    if (pid == 0) {
        vfork_ok = heap_verify(&h, "vfork child");
        _exit(vfork_ok ? 0 : 3);
    }
    failures += !wait_ok(pid, "vfork child");
    failures += !vfork_ok;
    failures += !heap_verify(&h, "parent after the vfork child");

    struct fd_counts c;
    if (!count_fds(&c, 1) || c.uffd != uffds_per_engine()) {
        fprintf(stderr, "FAIL: the parent has %d userfaultfds, expected %d\n", c.uffd, uffds_per_engine());
        ++failures;
    }
    printf("%zu blocks checked across 2 forks and a vfork, failures %d\n", h.count, failures);
    return failures == 0 ? 0 : 1;
}
