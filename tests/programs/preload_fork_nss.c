/* preload_fork_nss.c — fork() under libdime.so after getpwuid(): glibc keeps its NSS state in
 * malloc'd (so emulated) memory and reads it inside fork() after the atfork prepare handlers
 * (__nss_database_fork_prepare_parent). That state is evicted first by a walk over 4000 fresh
 * pages; the fork must not hang, the child must see the state and the walked pages intact and
 * exit 0, and the parent must still see its pages. A watchdog alarm turns a hang into a failure.
 * Usage: preload_fork_nss [PAGES]  (default 4000) */
#define _GNU_SOURCE
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"

enum { kWatchdogSeconds = 45, kSeed = 4242 };

static int check_root(const char* who) {
    struct passwd* pw = getpwuid(0);
    if (!pw || strcmp(pw->pw_name, "root") != 0) {
        fprintf(stderr, "FAIL %s: getpwuid(0) gave %s\n", who, pw ? pw->pw_name : "NULL");
        return 0;
    }
    return 1;
}

int main(int argc, char** argv) {
    alarm(kWatchdogSeconds); /* a deadlocked fork ends in SIGALRM, not in a hung test */
    const size_t pages = (size_t)(argc > 1 ? atol(argv[1]) : 4000);
    const size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    if (!check_root("parent before the walk")) return 1;

    /* Fresh pages, many times the pool: everything touched before (the NSS state) is evicted. */
    unsigned char* walk = malloc(pages * ps);
    if (!walk) {
        fprintf(stderr, "FAIL: malloc of %zu pages\n", pages);
        return 1;
    }
    pattern_fill(walk, pages * ps, kSeed);

    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        int ok = pattern_verify("child: walked pages", walk, pages * ps, kSeed);
        ok &= check_root("child");
        _exit(ok ? 0 : 3);
    }
    int failures = 0;
    if (!pattern_verify("parent after fork", walk, pages * ps, kSeed)) ++failures;
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return 1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "FAIL: child ended with status 0x%x\n", status);
        ++failures;
    }
    if (!check_root("parent after the child")) ++failures;
    free(walk);
    printf("fork after getpwuid: %zu pages checked on both sides, failures %d\n", pages, failures);
    return failures == 0 ? 0 : 1;
}
