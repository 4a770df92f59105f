/* lifecycle.h — helpers shared by the life-cycle test programs: a heap of pattern-filled blocks,
 * counting DiME's descriptors in /proc/self/fd, and announcing processes whose reports the test
 * script must check ("DIME-ROOT-PID <pid>", "DIME-CHILD-REPORT <pid> emulated|none"). */
#ifndef DIME_TEST_LIFECYCLE_H
#define DIME_TEST_LIFECYCLE_H

#include <dirent.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pattern.h"

enum { kBlock = 20 * 1024 + 77 }; /* odd size: blocks straddle pages */

struct heap {
    unsigned char** blocks;
    size_t count;
    uint64_t salt;
};

static inline struct heap heap_make(size_t bytes, uint64_t salt) {
    struct heap h;
    h.count = bytes / kBlock + 1;
    h.salt = salt;
    h.blocks = malloc(h.count * sizeof *h.blocks);
    if (!h.blocks) {
        fprintf(stderr, "FAIL: malloc\n");
        exit(1);
    }
    for (size_t i = 0; i < h.count; ++i) {
        h.blocks[i] = malloc(kBlock);
        if (!h.blocks[i]) {
            fprintf(stderr, "FAIL: malloc\n");
            exit(1);
        }
        pattern_fill(h.blocks[i], kBlock, salt + i);
    }
    return h;
}

static inline int heap_verify(const struct heap* h, const char* who) {
    for (size_t i = 0; i < h->count; ++i)
        if (!pattern_verify(who, h->blocks[i], kBlock, h->salt + i)) return 0;
    return 1;
}

static inline void heap_rewrite(struct heap* h, uint64_t salt) {
    h->salt = salt;
    for (size_t i = 0; i < h->count; ++i) pattern_fill(h->blocks[i], kBlock, salt + i);
}

static inline void heap_free(struct heap* h) {
    for (size_t i = 0; i < h->count; ++i) free(h->blocks[i]);
    free(h->blocks);
    h->count = 0;
}

/* The userfaultfds (and handler eventfds) one engine holds: 1, or 0 with the mprotect backend, whose
 * faults come as SIGSEGV (the tests pass backend=mprotect in DIME_OPTIONS, which children inherit). */
static inline int uffds_per_engine(void) {
    const char* options = getenv("DIME_OPTIONS");
    return options && strstr(options, "backend=mprotect") ? 0 : 1;
}

/* Descriptors above 2 in /proc/self/fd, by kind: userfaultfds, eventfds, listening Unix sockets
 * (DiME's control socket), /dev/cpu_dma_latency (DiME's PM QoS request, held as root: setting
 * cpu_latency_us), and any other (the directory stream's own descriptor excluded).
 * Returns 0 if /proc cannot be read. */
struct fd_counts {
    int uffd, eventfd, listening, qos, other;
    int uffd_fd; /* the last userfaultfd seen */
};

static inline int is_listening_unix_socket(int fd) {
    int listening = 0, domain = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) return 0;
    len = sizeof domain;
    return listening && getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX;
}

static inline int count_fds(struct fd_counts* c, int verbose) {
    memset(c, 0, sizeof *c);
    c->uffd_fd = -1;
    DIR* d = opendir("/proc/self/fd");
    if (!d) return 0;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd <= 2 || fd == dirfd(d)) continue;
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        target[n > 0 ? n : 0] = '\0';
        if (strstr(target, "userfaultfd")) {
            c->uffd++;
            c->uffd_fd = fd;
        } else if (strstr(target, "eventfd")) {
            c->eventfd++;
        } else if (strstr(target, "socket:") && is_listening_unix_socket(fd)) {
            c->listening++;
        } else if (strstr(target, "/dev/cpu_dma_latency")) {
            c->qos++;
        } else {
            c->other++;
        }
        if (verbose) fprintf(stderr, "  fd %d -> %s\n", fd, target);
    }
    closedir(d);
    return 1;
}

static inline void announce(const char* what, int pid, const char* mode) {
    printf("%s %d%s%s\n", what, pid, mode ? " " : "", mode ? mode : "");
    fflush(stdout);
}

#endif
