/* preload_fork_file.c — fork() under libdime.so with a FILE open: fopen() puts the FILE (and its
 * lock) on the malloc'd, emulated heap, and glibc resets every FILE's lock in the child inside
 * fork(), before any atfork child handler (fresetlockfiles). The FILE is evicted first by a walk
 * over 4000 fresh pages; the child then writes through the FILE and closes it, and the parent
 * checks that the file holds both sides' lines and that its pages are intact. A watchdog alarm
 * turns a hang into a failure.
 * Usage: preload_fork_file DIR [PAGES]  (PAGES default 4000) */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"

enum { kWatchdogSeconds = 45, kSeed = 777 };

static const char kParentLine[] = "parent before fork\n";
static const char kChildLine[] = "child after fork\n";

int main(int argc, char** argv) {
    alarm(kWatchdogSeconds); /* a deadlocked fork ends in SIGALRM, not in a hung test */
    if (argc < 2) {
        fprintf(stderr, "usage: preload_fork_file DIR [PAGES]\n");
        return 2;
    }
    const size_t pages = (size_t)(argc > 2 ? atol(argv[2]) : 4000);
    const size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    char path[4096];
    snprintf(path, sizeof path, "%s/preload_fork_file.%d.txt", argv[1], (int)getpid());

    FILE* f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    /* Written and flushed, so the child's fclose() writes only its own line. */
    if (fputs(kParentLine, f) < 0 || fflush(f) != 0) {
        perror("write");
        return 1;
    }

    /* Fresh pages, many times the pool: the FILE and its buffer are evicted. */
    unsigned char* walk = malloc(pages * ps);
    if (!walk) {
        fprintf(stderr, "FAIL: malloc of %zu pages\n", pages);
        return 1;
    }
    pattern_fill(walk, pages * ps, kSeed);

    fflush(stdout); /* not fflush(NULL): that would touch our FILE again before the fork */
    fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        int ok = fputs(kChildLine, f) >= 0;
        ok &= fclose(f) == 0;
        if (!ok) perror("child: write");
        ok &= pattern_verify("child: walked pages", walk, pages * ps, kSeed);
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
    if (fclose(f) != 0) {
        perror("parent: fclose");
        ++failures;
    }

    char got[256] = {0};
    FILE* r = fopen(path, "r");
    const size_t n = r ? fread(got, 1, sizeof got - 1, r) : 0;
    if (r) fclose(r);
    unlink(path);
    char want[256];
    snprintf(want, sizeof want, "%s%s", kParentLine, kChildLine);
    if (n != strlen(want) || memcmp(got, want, n) != 0) {
        fprintf(stderr, "FAIL: the file holds \"%s\", expected \"%s\"\n", got, want);
        ++failures;
    }
    free(walk);
    printf("fork with an open FILE: %zu pages checked on both sides, file intact: %s, failures %d\n", pages,
           failures ? "no" : "yes", failures);
    return failures == 0 ? 0 : 1;
}
