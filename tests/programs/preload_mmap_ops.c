/* preload_mmap_ops.c — munmap, mremap, madvise and mprotect of emulated memory under libdime.so,
 * each followed by reuse: zeros after MADV_DONTNEED (also on malloc'd memory), data kept across
 * mremap (grow, move, shrink, MREMAP_FIXED) while pages are evicted, SIGSEGV after munmap (caught
 * with a handler), a new mapping in the freed space reads as zeros, mprotect to read-only keeps
 * the data. Every region is several times the tests' local pool. Exit 0 only if all held. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
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

static sigjmp_buf jump;
static void on_segv(int sig) {
    (void)sig;
    siglongjmp(jump, 1);
}

/* 1 if reading p raises SIGSEGV. */
static int segfaults(const volatile unsigned char* p) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old);
    int segv = 0;
    if (sigsetjmp(jump, 1) == 0)
        (void)*p;
    else
        segv = 1;
    sigaction(SIGSEGV, &old, NULL);
    return segv;
}

static size_t first_nonzero(const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (p[i]) return i;
    return (size_t)-1;
}

/* 1 if base[from, from + len) still holds the pattern that pattern_fill(base, ..., seed) wrote. */
static int range_intact(const char* what, const unsigned char* base, size_t from, size_t len, uint64_t seed) {
    for (size_t i = from; i < from + len; ++i)
        if (base[i] != pattern_byte(seed, i)) {
            fprintf(stderr, "FAIL %s: byte %zu is 0x%02x, expected 0x%02x\n", what, i, base[i], pattern_byte(seed, i));
            return 0;
        }
    return 1;
}

static unsigned char* map_rw(size_t n) {
    void* p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

int main(void) {
    /* 1. MADV_DONTNEED: zeros afterwards, the rest intact, the range usable again. */
    {
        const size_t n = 4 * MIB;
        unsigned char* m = map_rw(n);
        pattern_fill(m, n, 1);
        CHECK(madvise(m + MIB, MIB, MADV_DONTNEED) == 0, "madvise(MADV_DONTNEED) failed");
        CHECK(first_nonzero(m + MIB, MIB) == (size_t)-1, "DONTNEED range not zero at %zu", first_nonzero(m + MIB, MIB));
        CHECK(pattern_verify("before DONTNEED range", m, MIB, 1), "data before the DONTNEED range lost");
        CHECK(range_intact("after DONTNEED range", m, 2 * MIB, 2 * MIB, 1), "data after the DONTNEED range lost");
        pattern_fill(m + MIB, MIB, 2);
        CHECK(pattern_verify("rewritten", m + MIB, MIB, 2), "rewritten range lost");
        /* MADV_FREE: each page reads as before or as zeros (DiME drops them: zeros). */
        pattern_fill(m, n, 14);
        CHECK(madvise(m, n, MADV_FREE) == 0, "madvise(MADV_FREE) failed");
        for (size_t pg = 0; pg < n; pg += PAGE)
            if (first_nonzero(m + pg, PAGE) != (size_t)-1 && !range_intact("after MADV_FREE", m, pg, PAGE, 14)) {
                CHECK(0, "page at %zu after MADV_FREE is neither zero nor its old contents", pg);
                break;
            }
        CHECK(madvise(m, n, MADV_WILLNEED) == 0, "madvise(MADV_WILLNEED) failed");
        CHECK(munmap(m, n) == 0, "munmap failed");
    }
    /* 2. munmap of a part: the rest intact, the hole faults, the space is mapped again as zeros. */
    {
        const size_t n = 4 * MIB;
        unsigned char* m = map_rw(n);
        pattern_fill(m, n, 3);
        CHECK(munmap(m + MIB, MIB) == 0, "partial munmap failed");
        CHECK(segfaults(m + MIB + 5 * PAGE), "no SIGSEGV in the unmapped hole");
        CHECK(pattern_verify("head after munmap", m, MIB, 3), "head lost");
        CHECK(range_intact("tail after munmap", m, 2 * MIB, 2 * MIB, 3), "tail lost");
        /* MAP_FIXED_NOREPLACE into the hole works (it is free as far as the program knows). */
        void* h = mmap(m + MIB, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        CHECK(h == m + MIB, "MAP_FIXED_NOREPLACE into the hole returned %p, wanted %p", h, (void*)(m + MIB));
        if (h == m + MIB) {
            CHECK(first_nonzero(h, MIB) == (size_t)-1, "remapped hole not zero");
            pattern_fill(h, MIB, 4);
            CHECK(pattern_verify("refilled hole", h, MIB, 4), "refilled hole lost");
        }
        CHECK(munmap(m, n) == 0, "munmap failed");
        CHECK(segfaults(m), "no SIGSEGV after munmap");
        /* The next mapping of that size may well land there: it must read as zeros. */
        unsigned char* again = map_rw(n);
        CHECK(first_nonzero(again, n) == (size_t)-1, "new mapping not zero at %zu", first_nonzero(again, n));
        CHECK(munmap(again, n) == 0, "munmap failed");
    }
    /* 3. mremap: grow (in place or moved), shrink, move to a fixed address; data survives eviction. */
    {
        size_t n = 2 * MIB;
        unsigned char* m = map_rw(n);
        pattern_fill(m, n, 5);
        unsigned char* blocker = map_rw(MIB); /* often right after m: forces a move sometimes */
        pattern_fill(blocker, MIB, 6);
        unsigned char* g = mremap(m, n, 3 * n, MREMAP_MAYMOVE);
        CHECK(g != MAP_FAILED, "mremap grow failed");
        CHECK(pattern_verify("grown", g, n, 5), "data lost when growing");
        CHECK(first_nonzero(g + n, 2 * n) == (size_t)-1, "grown part not zero");
        pattern_fill(g, 3 * n, 7);
        unsigned char* s = mremap(g, 3 * n, n, 0);
        CHECK(s == g, "shrinking moved the mapping");
        CHECK(segfaults(g + 2 * n), "no SIGSEGV beyond the shrunk end");
        CHECK(pattern_verify("shrunk", s, n, 7), "data lost when shrinking");
        unsigned char* target = map_rw(n);
        unsigned char* f = mremap(s, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, target);
        CHECK(f == target, "MREMAP_FIXED returned %p, wanted %p", (void*)f, (void*)target);
        CHECK(pattern_verify("moved to fixed", target, n, 7), "data lost by MREMAP_FIXED");
        CHECK(segfaults(s), "no SIGSEGV at the old place");
        CHECK(pattern_verify("blocker", blocker, MIB, 6), "a neighbouring mapping lost data");
        munmap(target, n);
        munmap(blocker, MIB);
    }
    /* 4. MADV_DONTNEED on memory from malloc (the emulated heap); the heap keeps working. */
    {
        const size_t n = 4 * MIB;
        unsigned char* b = malloc(n);
        CHECK(b != NULL, "malloc failed");
        if (b) {
            pattern_fill(b, n, 8);
            unsigned char* aligned = (unsigned char*)(((uintptr_t)b + PAGE - 1) & ~(PAGE - 1));
            CHECK(madvise(aligned, MIB, MADV_DONTNEED) == 0, "madvise on malloc'd memory failed");
            CHECK(first_nonzero(aligned, MIB) == (size_t)-1, "malloc'd memory not zero after DONTNEED");
            CHECK(range_intact("heap after DONTNEED", b, (size_t)(aligned - b) + MIB, n - (size_t)(aligned - b) - MIB, 8),
                  "the rest of the malloc'd block lost");
            CHECK(range_intact("heap before DONTNEED", b, 0, (size_t)(aligned - b), 8), "the block's head lost");
            pattern_fill(b, n, 9);
            unsigned char* c = malloc(n);
            CHECK(c != NULL, "malloc after DONTNEED failed");
            if (c) pattern_fill(c, n, 10);
            CHECK(pattern_verify("heap block", b, n, 9), "heap block lost");
            CHECK(c && pattern_verify("second heap block", c, n, 10), "second heap block lost");
            free(c);
            free(b);
        }
    }
    /* 5. mprotect to read-only keeps the data; back to read-write keeps working. */
    {
        const size_t n = 2 * MIB;
        unsigned char* m = map_rw(n);
        pattern_fill(m, n, 11);
        CHECK(mprotect(m, MIB, PROT_READ) == 0, "mprotect(PROT_READ) failed");
        CHECK(pattern_verify("read-only", m, MIB, 11), "data lost by mprotect");
        CHECK(mprotect(m, MIB, PROT_READ | PROT_WRITE) == 0, "mprotect back failed");
        pattern_fill(m, n, 12);
        CHECK(pattern_verify("after mprotect", m, n, 12), "data lost after mprotect");
        munmap(m, n);
    }
    /* 6. A child sees emulated mmap'd memory intact, evicted pages included. */
    {
        const size_t n = 4 * MIB;
        unsigned char* m = map_rw(n);
        pattern_fill(m, n, 13);
        pid_t pid = fork();
        if (pid == 0) _exit(pattern_verify("child", m, n, 13) ? 0 : 1);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw different data (status %d)", status);
        CHECK(pattern_verify("parent after fork", m, n, 13), "parent lost data across fork");
        munmap(m, n);
    }
    printf("failures %d\n", failures);
    return failures == 0 ? 0 : 1;
}
