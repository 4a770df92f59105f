/* preload_syscalls.c — kernel-mode access to emulated heap pages under libdime.so: write() from
 * evicted pages to a file and to a pipe, read() and pread() into evicted and never-touched pages,
 * writev() gathering from evicted blocks. The kernel's copy must fault and be served like a user
 * access (EFAULT or short transfers fail the test). Exit 0 only if every byte arrived.
 * Usage: preload_syscalls [MIB] [DIR]  (default 4, $TMPDIR or /tmp) */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pattern.h"

static int failures = 0;

static void fail(const char* what) {
    fprintf(stderr, "FAIL: %s (errno %d: %s)\n", what, errno, strerror(errno));
    ++failures;
}

/* One write()/read() call per chunk; a short or failed transfer is a failure, not retried,
 * except that pipes may legitimately transfer less than asked per call. */
static int write_all(int fd, const unsigned char* p, size_t n, int allow_partial) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0 || (!allow_partial && (size_t)w != n)) return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

static int read_all(int fd, unsigned char* p, size_t n, int allow_partial) {
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0 || (!allow_partial && (size_t)r != n)) return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

struct pipe_job {
    int fd;
    const unsigned char* src;
    size_t n;
    int ok;
};

static void* pipe_writer(void* arg) {
    struct pipe_job* job = arg;
    job->ok = write_all(job->fd, job->src, job->n, 1);
    close(job->fd);
    return NULL;
}

int main(int argc, char** argv) {
    const size_t n = (size_t)(argc > 1 ? atol(argv[1]) : 4) << 20;
    const char* dir = argc > 2 ? argv[2] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");

    unsigned char* a = malloc(n);
    unsigned char* b = malloc(n);
    unsigned char* c = malloc(n);
    if (!a || !b || !c) {
        fail("malloc");
        return 1;
    }
    pattern_fill(a, n, 1);
    pattern_fill(b, n, 2); /* a is evicted now (n is several times the pool) */

    char path[4096];
    snprintf(path, sizeof path, "%s/dime-preload-syscalls-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        fail("mkstemp");
        return 1;
    }
    unlink(path);

    /* 1. write() straight from evicted pages. */
    if (!write_all(fd, a, n, 0)) fail("write() from evicted pages");

    /* 2. read() back into evicted pages of b (b's first pages were evicted by the rest of b). */
    pattern_fill(c, n, 3); /* c is never used below before step 4; it pushes b out */
    if (lseek(fd, 0, SEEK_SET) != 0) fail("lseek");
    if (!read_all(fd, b, n, 0)) fail("read() into evicted pages");
    if (!pattern_verify("read() into evicted pages", b, n, 1)) ++failures;

    /* 3. pread() into never-touched heap memory. */
    unsigned char* fresh = malloc(n);
    if (!fresh) fail("malloc fresh");
    if (fresh && pread(fd, fresh, n, 0) != (ssize_t)n) fail("pread() into never-touched pages");
    if (fresh && !pattern_verify("pread() into never-touched pages", fresh, n, 1)) ++failures;

    /* 4. writev() gathering from evicted blocks, read back with one read(). */
    struct iovec iov[3] = {{a, n / 3}, {c, n / 3}, {a + n / 3, n - 2 * (n / 3)}};
    if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) fail("truncate");
    if (writev(fd, iov, 3) != (ssize_t)n) fail("writev() from evicted pages");
    unsigned char* back = malloc(n);
    if (lseek(fd, 0, SEEK_SET) != 0 || !read_all(fd, back, n, 0)) fail("read() after writev");
    if (memcmp(back, a, n / 3) != 0 || memcmp(back + n / 3, c, n / 3) != 0 ||
        memcmp(back + 2 * (n / 3), a + n / 3, n - 2 * (n / 3)) != 0)
        fail("writev() data differs");
    close(fd);

    /* 5. A pipe: another thread writes from evicted pages, this one reads into evicted pages. */
    int fds[2];
    if (pipe(fds) != 0) {
        fail("pipe");
        return 1;
    }
    pattern_fill(c, n, 4); /* evicts b */
    struct pipe_job job = {fds[1], a, n, 0};
    pthread_t t;
    pthread_create(&t, NULL, pipe_writer, &job);
    if (!read_all(fds[0], b, n, 1)) fail("read() from the pipe into evicted pages");
    pthread_join(t, NULL);
    if (!job.ok) fail("write() to the pipe from evicted pages");
    if (!pattern_verify("pipe transfer", b, n, 1)) ++failures;
    close(fds[0]);

    /* 6. The sources are still intact after all that. */
    if (!pattern_verify("source after the transfers", a, n, 1)) ++failures;
    if (!pattern_verify("c after the transfers", c, n, 4)) ++failures;

    free(a);
    free(b);
    free(c);
    free(fresh);
    free(back);
    printf("syscalls on evicted heap pages: %zu MiB moved 5 ways, failures %d\n", n >> 20, failures);
    return failures == 0 ? 0 : 1;
}
