/* preload_spawn.c — processes started from a program under libdime.so, with most of its heap
 * evicted: fork+exec, posix_spawn, vfork+exec (the vfork child first reads the parent's heap) and
 * system(). Each child is this program in --list-fds mode, which checks /proc/self/fd: with
 * LD_PRELOAD removed it must hold no descriptor above 2 at all (DiME's are O_CLOEXEC); with it
 * kept, exactly its own: a userfaultfd, the handler's eventfd (neither with the mprotect backend),
 * and the control socket with its eventfd; then it faults on a heap of its own and announces
 * its report (<report>.<pid>). The parent closes every inherited descriptor first, so anything
 * else in a child is a leak.
 * Usage: preload_spawn  |  preload_spawn --list-fds EXPECTED_ENGINES [close]
 * (close: first close every descriptor above 2 the caller left open; DiME's own survive that) */
#define _GNU_SOURCE
#include <spawn.h>
#include <sys/wait.h>

#include "lifecycle.h"

extern char** environ;

static int list_fds(int engines) {
    struct fd_counts c;
    if (!count_fds(&c, 1)) {
        fprintf(stderr, "FAIL: cannot read /proc/self/fd\n");
        return 1;
    }
    const int uffds = engines * uffds_per_engine(), eventfds = engines + uffds;  /* the control's, the handler's */
    if (c.uffd != uffds || c.eventfd != eventfds || c.listening != engines || c.qos > engines || c.other != 0) {
        fprintf(stderr, "FAIL: exec'd child %d has %d userfaultfds, %d eventfds, %d listening sockets and %d other "
                        "descriptors above 2; expected %d, %d, %d, 0\n", (int)getpid(), c.uffd, c.eventfd, c.listening,
                c.other, uffds, eventfds, engines);
        return 1;
    }
    if (engines == 0) return 0;
    struct heap h = heap_make(2u << 20, 4242); /* 2 MiB: faults, evictions, re-fetches */
    int ok = heap_verify(&h, "exec'd child");
    heap_free(&h);
    announce("DIME-CHILD-REPORT", getpid(), "emulated");
    return ok ? 0 : 1;
}

/* environ without LD_PRELOAD (a copy; environ itself is left alone). */
static char** env_without_preload(void) {
    size_t n = 0;
    while (environ[n]) ++n;
    char** env = calloc(n + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; ++i)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
    return env;
}

static int wait_ok(pid_t pid, const char* what) {
    int status = 0;
    if (pid <= 0 || waitpid(pid, &status, 0) != pid) {
        fprintf(stderr, "FAIL: %s: could not start or wait\n", what);
        return 0;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL: %s ended with status 0x%x\n", what, status);
        return 0;
    }
    return 1;
}

int main(int argc, char** argv) {
    if (argc >= 3 && strcmp(argv[1], "--list-fds") == 0) {
        if (argc == 4 && strcmp(argv[3], "close") == 0) close_range(3, ~0U, 0);
        return list_fds(atoi(argv[2]));
    }
    alarm(90);
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return 1;
    self[len] = '\0';
    announce("DIME-ROOT-PID", getpid(), NULL);
    close_range(3, ~0U, 0); /* whatever the caller left open; DiME's own stay */
    struct heap h = heap_make(4u << 20, 1000);
    char** plain_env = env_without_preload();
    char* with_engine[] = {self, "--list-fds", "1", NULL};
    char* without_engine[] = {self, "--list-fds", "0", NULL};
    int failures = 0;

    /* fork + exec, without and with the preload */
    for (int keep = 0; keep < 2; ++keep) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            execve(self, keep ? with_engine : without_engine, keep ? environ : plain_env);
            _exit(127);
        }
        failures += !wait_ok(pid, keep ? "fork+exec under libdime.so" : "fork+exec without libdime.so");
    }
    /* posix_spawn, without and with the preload */
    for (int keep = 0; keep < 2; ++keep) {
        pid_t pid = -1;
        if (posix_spawn(&pid, self, NULL, NULL, keep ? with_engine : without_engine, keep ? environ : plain_env) != 0)
            pid = -1;
        failures += !wait_ok(pid, keep ? "posix_spawn under libdime.so" : "posix_spawn without libdime.so");
    }
    /* vfork: the child reads every byte of the (evicted) heap through the parent's handler, then execs */
    volatile int vfork_ok = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        vfork_ok = heap_verify(&h, "vfork child");
        execve(self, with_engine, environ);
        _exit(127);
    }
    failures += !wait_ok(pid, "vfork+exec");
    failures += !vfork_ok;
    /* system(): /bin/sh runs under libdime.so too, then execs the child */
    char command[4200];
    snprintf(command, sizeof command, "exec '%s' --list-fds 1", self);
    int status = system(command);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL: system(%s) returned 0x%x\n", command, status);
        ++failures;
    }
    status = system("exit 7");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 7) {
        fprintf(stderr, "FAIL: system(\"exit 7\") returned 0x%x\n", status);
        ++failures;
    }
    failures += !heap_verify(&h, "parent after its children");
    printf("fork+exec, posix_spawn, vfork+exec, system(): failures %d\n", failures);
    return failures == 0 ? 0 : 1;
}
