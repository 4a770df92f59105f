/* preload_close_all.c — a program that closes every descriptor above 2 the way daemons do, with
 * part of its heap evicted, then keeps using 10x the local pool. DiME's descriptors must survive
 * (the process still has one userfaultfd), every byte written before and after must read back.
 * Modes: loop (close 3..OPEN_MAX), proc (close each entry of /proc/self/fd), close_range,
 * closefrom, dup2 (dup2/dup3 onto DiME's descriptors must fail with EBADF), daemonize (fork,
 * setsid, close_range in the child, which does the work; its report is checked).
 * Usage: preload_close_all MODE [UFFDS]  (userfaultfds expected: 1, or 0 under DIME_DISABLE=1) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "lifecycle.h"

static void close_proc_entries(void) {
    int fds[4096], n = 0;
    DIR* d = opendir("/proc/self/fd");
    if (!d) return;
    struct dirent* e;
    while ((e = readdir(d)) != NULL && n < 4096)
        if (e->d_name[0] != '.') fds[n++] = atoi(e->d_name);
    closedir(d);
    for (int i = 0; i < n; ++i)
        if (fds[i] > 2) close(fds[i]);
}

static int check_dup_refused(void) {
    struct fd_counts c;
    if (!count_fds(&c, 0) || c.uffd_fd < 0) {
        fprintf(stderr, "FAIL: no userfaultfd to aim at\n");
        return 0;
    }
    errno = 0;
    if (dup2(0, c.uffd_fd) != -1 || errno != EBADF) {
        fprintf(stderr, "FAIL: dup2 onto DiME's descriptor %d was not refused with EBADF\n", c.uffd_fd);
        return 0;
    }
    errno = 0;
    if (dup3(0, c.uffd_fd, O_CLOEXEC) != -1 || errno != EBADF) {
        fprintf(stderr, "FAIL: dup3 onto DiME's descriptor %d was not refused with EBADF\n", c.uffd_fd);
        return 0;
    }
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* an ordinary dup2 still works */
    if (fd < 0 || dup2(fd, 100) != 100) {
        fprintf(stderr, "FAIL: an ordinary dup2 failed\n");
        return 0;
    }
    close(100);
    close(fd);
    return 1;
}

/* The work after the descriptors are gone: old data intact, 10x the pool of new data. */
static int expected_uffds = 1;

static int work(struct heap* before, size_t pool_bytes) {
    int ok = 1;
    struct fd_counts c;
    if (!count_fds(&c, 1) || c.uffd != expected_uffds) {
        fprintf(stderr, "FAIL: %d userfaultfds after closing everything, expected %d\n", c.uffd, expected_uffds);
        ok = 0;
    }
    ok &= heap_verify(before, "data written before the close");
    struct heap after = heap_make(10 * pool_bytes, 500000);
    ok &= heap_verify(&after, "10x the pool, first pass");
    ok &= heap_verify(before, "data written before the close, again");
    ok &= heap_verify(&after, "10x the pool, second pass");
    heap_free(&after);
    return ok;
}

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: preload_close_all loop|proc|close_range|closefrom|dup2|daemonize [UFFDS]\n");
        return 2;
    }
    alarm(90);
    const char* mode = argv[1];
    if (argc > 2) expected_uffds = atoi(argv[2]);
    const size_t pool_bytes = 256 * 4096; /* the tests' local_npages */
    announce("DIME-ROOT-PID", getpid(), NULL);
    struct heap before = heap_make(4 * pool_bytes, 1000); /* most of it evicted by now */

    int ok = 1;
    if (strcmp(mode, "loop") == 0) {
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 65536) max = 65536;
        for (int fd = 3; fd < max; ++fd) close(fd);
    } else if (strcmp(mode, "proc") == 0) {
        close_proc_entries();
    } else if (strcmp(mode, "close_range") == 0) {
        if (close_range(3, ~0U, 0) != 0) {
            perror("close_range");
            ok = 0;
        }
    } else if (strcmp(mode, "closefrom") == 0) {
        closefrom(3);
    } else if (strcmp(mode, "dup2") == 0) {
        ok = check_dup_refused();
    } else if (strcmp(mode, "daemonize") == 0) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            setsid();
            announce("DIME-CHILD-REPORT", getpid(), "emulated");
            if (close_range(3, ~0U, 0) != 0) _exit(4);
            exit(work(&before, pool_bytes) ? 0 : 3);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "FAIL: the daemonized child ended with status 0x%x\n", status);
            return 1;
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    ok &= work(&before, pool_bytes);
    printf("%s: descriptors closed, %zu old blocks and 10x the pool checked: %s\n", mode, before.count,
           ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
