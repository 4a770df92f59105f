/* hostile_fork.c — fork() from four threads at the same moment, four times, while two more threads
 * keep faulting, under libdime.so with a small pool (tests/hostile.cmake) and natively. Each forking
 * thread owns a heap it rewrites between forks; every child checks that heap as it was at its fork
 * and a shared heap, holds exactly the descriptors its parent held (its own userfaultfd and eventfds
 * in place of the parent's), rewrites and allocates, and the first child of each thread forks a
 * grandchild that checks the same. The parent checks its own copies after all. A watchdog (alarm)
 * turns a hang (a fork that never returns, a child that never ends) into a failure naming it, and
 * kills the children, so that none is left behind.
 * Usage: hostile_fork   Exit 0 = every check held. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "lifecycle.h"

enum { kForkers = 4, kBusy = 2, kRounds = 4 };

static struct heap g_shared;           /* written once, read by everyone */
static struct heap g_own[kForkers];    /* each forker's, rewritten between its forks */
static pthread_barrier_t g_barrier;
static atomic_int g_stop, g_failed;
static struct fd_counts g_fds;         /* the parent's descriptors, as every child must find them */
static atomic_int g_child[kForkers];   /* each forker's child while it runs (for the watchdog) */
static atomic_int g_round[kForkers];
static atomic_int g_grandchild;        /* in a child: its grandchild while it runs */

/* The watchdog (SIGALRM): a hang fails the test, names what hung, and leaves no process behind. */
static void say(const char* text) {
    ssize_t ignored = write(2, text, strlen(text));
    (void)ignored;
}
static void on_parent_alarm(int sig) {
    (void)sig;
    char line[160];
    say("FAIL: hostile_fork: WATCHDOG: the forks did not finish in 100 s\n");
    for (int i = 0; i < kForkers; ++i) {
        const int pid = atomic_load(&g_child[i]);
        if (pid > 0)
            snprintf(line, sizeof line, "  forker %d in round %d, waiting for child %d (killed)\n", i,
                     atomic_load(&g_round[i]), pid);
        else
            snprintf(line, sizeof line, "  forker %d in round %d, not waiting for a child (in fork or at the barrier)\n",
                     i, atomic_load(&g_round[i]));
        say(line);
        if (pid > 0) kill(pid, SIGKILL);
    }
    _exit(3);
}
static void on_child_alarm(int sig) {
    (void)sig;
    const int pid = atomic_load(&g_grandchild);
    say(pid > 0 ? "FAIL: hostile_fork: WATCHDOG: a child waited 60 s for its grandchild (killed)\n"
                : "FAIL: hostile_fork: WATCHDOG: a child (or grandchild) hung for 60 s\n");
    if (pid > 0) kill(pid, SIGKILL);
    _exit(4);
}

static int same_fds(const char* who) {
    struct fd_counts c;
    if (!count_fds(&c, 0)) return 0;
    if (c.uffd == g_fds.uffd && c.eventfd == g_fds.eventfd && c.listening == g_fds.listening && c.qos <= g_fds.qos && c.other == g_fds.other)
        return 1;
    fprintf(stderr, "FAIL: %s %d holds %d userfaultfds, %d eventfds, %d listening sockets, %d others; its parent "
                    "%d, %d, %d, %d\n", who, (int)getpid(), c.uffd, c.eventfd, c.listening, c.other, g_fds.uffd,
            g_fds.eventfd, g_fds.listening, g_fds.other);
    count_fds(&c, 1);
    return 0;
}

/* In a child (or grandchild): the state at the fork, then work of its own. Exit status 0 or 1. */
static int check_child(int id, uint64_t salt, int grandchild) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  /* a parent killed by its watchdog takes its children along */
    signal(SIGALRM, on_child_alarm);
    alarm(60);
    const char* who = grandchild ? "grandchild" : "child";
    int ok = heap_verify(&g_own[id], who) && heap_verify(&g_shared, who) && same_fds(who);
    heap_rewrite(&g_own[id], salt + 7777);
    struct heap extra = heap_make(1u << 20, salt + 9999);
    ok = ok && heap_verify(&g_own[id], who) && heap_verify(&extra, who);
    heap_free(&extra);
    return ok ? 0 : 1;
}

static int wait_ok(pid_t pid, const char* what) {
    int status = 0;
    if (pid <= 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL: %s %d ended with status 0x%x\n", what, (int)pid, status);
        return 0;
    }
    return 1;
}

static void* forker(void* arg) {
    const int id = (int)(intptr_t)arg;
    for (int round = 0; round < kRounds; ++round) {
        const uint64_t salt = g_own[id].salt;
        pthread_barrier_wait(&g_barrier);  /* all four fork at once */
        const pid_t pid = fork();
        if (pid == 0) {
            int status = check_child(id, salt, 0);
            if (status == 0 && round == 0) {
                const pid_t grandchild = fork();
                if (grandchild == 0) _exit(check_child(id, salt + 7777, 1));
                atomic_store(&g_grandchild, grandchild);
                status = wait_ok(grandchild, "grandchild") ? 0 : 1;
            }
            _exit(status);
        }
        if (pid < 0) {
            perror("fork");
            atomic_store(&g_failed, 1);
            continue;
        }
        atomic_store(&g_child[id], pid);
        heap_rewrite(&g_own[id], salt + 1000);  /* while the child checks its copy */
        if (!heap_verify(&g_own[id], "parent after its rewrite")) atomic_store(&g_failed, 1);
        if (!wait_ok(pid, "child")) atomic_store(&g_failed, 1);
        atomic_store(&g_child[id], 0);
        atomic_store(&g_round[id], round + 1);
    }
    return NULL;
}

static void* busy(void* arg) {
    (void)arg;
    while (!atomic_load(&g_stop))
        if (!heap_verify(&g_shared, "busy thread")) atomic_store(&g_failed, 1);
    return NULL;
}

int main(void) {
    signal(SIGALRM, on_parent_alarm);
    alarm(100);
    g_shared = heap_make(2u << 20, 1);
    for (int i = 0; i < kForkers; ++i) g_own[i] = heap_make(3u << 19, 100000u * (unsigned)(i + 1));
    if (!count_fds(&g_fds, 0)) return 1;
    pthread_barrier_init(&g_barrier, NULL, kForkers);
    pthread_t b[kBusy], f[kForkers];
    for (int i = 0; i < kBusy; ++i) pthread_create(&b[i], NULL, busy, NULL);
    for (int i = 0; i < kForkers; ++i) pthread_create(&f[i], NULL, forker, (void*)(intptr_t)i);
    for (int i = 0; i < kForkers; ++i) pthread_join(f[i], NULL);
    atomic_store(&g_stop, 1);
    for (int i = 0; i < kBusy; ++i) pthread_join(b[i], NULL);
    int ok = !atomic_load(&g_failed) && heap_verify(&g_shared, "parent at the end");
    for (int i = 0; i < kForkers; ++i) ok = ok && heap_verify(&g_own[i], "parent at the end");
    printf("%d threads forked %d times each (%d children, %d grandchildren): %s\n", kForkers, kRounds,
           kForkers * kRounds, kForkers, ok ? "all checks held" : "FAILED");
    return ok ? 0 : 1;
}
