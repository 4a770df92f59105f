/* hostile_mmap.c — mprotect, munmap and mremap of emulated memory in every direction, under
 * libdime.so with a small pool (most pages evicted when each call comes) and natively
 * (tests/hostile.cmake): the checks are the kernel's semantics. Contents must survive wherever the
 * kernel keeps them, read as zeros where it gives new memory, and fault (SIGSEGV) where nothing is
 * mapped any more or the protection forbids the access:
 *   1. mprotect read-only, then a write: SIGSEGV; the handler makes it writable and returns, the
 *      write is retried and lands; PROT_NONE and back; PROT_READ|PROT_EXEC.
 *   2. munmap of a piece in the middle, of pieces spanning two mappings and the gap between them;
 *      MAP_FIXED into the hole (a file mapping, then anonymous memory again).
 *   3. mremap: grow in place, grow by a move, shrink, shrink then grow (zeros), MREMAP_FIXED onto
 *      another emulated mapping, onto memory outside emulation, a piece from the middle of a
 *      mapping, a mapping DiME does not emulate moved into emulated memory, MREMAP_DONTUNMAP.
 *   4. mprotect and mremap of a range that is partly unmapped: ENOMEM / EFAULT as the kernel says.
 * Usage: hostile_mmap [UNIT]  (UNIT: DiME's page_size when above 4096)   Exit 0 = every check held. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pattern.h"

#define MIB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

static int failures;
static size_t g_unit = PAGE; /* DiME's page_size when it is larger (the optional argument) */

#define CHECK(cond, ...)                                 \
    do {                                                 \
        if (!(cond)) {                                   \
            fprintf(stderr, "FAIL line %d: ", __LINE__); \
            fprintf(stderr, __VA_ARGS__);                \
            fputc('\n', stderr);                         \
            ++failures;                                  \
        }                                                \
    } while (0)

static unsigned char* map_rw(size_t n) {
    void* p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

/* Bytes [from, from + len) of base hold pattern_fill(base, ..., seed)'s bytes (offsets from base). */
static int intact(const char* what, const unsigned char* base, size_t from, size_t len, uint64_t seed) {
    for (size_t i = from; i < from + len; ++i)
        if (base[i] != pattern_byte(seed, i)) {
            fprintf(stderr, "FAIL %s: byte %zu is 0x%02x, expected 0x%02x\n", what, i, base[i], pattern_byte(seed, i));
            return 0;
        }
    return 1;
}

static int zeros(const char* what, const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (p[i]) {
            fprintf(stderr, "FAIL %s: byte %zu is 0x%02x, expected 0\n", what, i, p[i]);
            return 0;
        }
    return 1;
}

/* ---- faults: what an access does ---------------------------------------------------------------- */

static sigjmp_buf g_jump;
static volatile int g_expecting;  /* inside faults(): g_jump is live */
static volatile void* g_fault_addr;
static volatile int g_fault_code;
/* With a fix-up range set, a fault inside it is repaired (made writable) and the access retried. */
static unsigned char* volatile g_fix_base;
static volatile size_t g_fix_len;
static volatile int g_fixes;

static void on_segv(int sig, siginfo_t* si, void* ctx) {
    (void)sig;
    (void)ctx;
    g_fault_addr = si->si_addr;
    g_fault_code = si->si_code;
    unsigned char* a = si->si_addr;
    if (g_fix_base && a >= g_fix_base && a < g_fix_base + g_fix_len) {
        /* The classic write barrier: make the page writable and return, the write is retried. */
        if (mprotect((void*)((uintptr_t)a & ~(PAGE - 1)), PAGE, PROT_READ | PROT_WRITE) == 0) {
            ++g_fixes;
            return;
        }
    }
    if (!g_expecting) {
        static const char msg[] = "FAIL: an access that must work raised SIGSEGV\n";
        ssize_t ignored = write(2, msg, sizeof msg - 1);
        (void)ignored;
        _exit(3);
    }
    siglongjmp(g_jump, 1);
}

static void install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
}

/* 1 if reading (write = 0) or writing p raises SIGSEGV at p. */
static int faults(volatile unsigned char* p, int write) {
    g_fault_addr = NULL;
    g_expecting = 1;
    if (sigsetjmp(g_jump, 1) == 0) {
        if (write)
            *p = 0x5a;
        else
            (void)*p;
        g_expecting = 0;
        return 0;
    }
    g_expecting = 0;
    return g_fault_addr == (void*)p;
}

/* ---- 1. mprotect ------------------------------------------------------------------------------------ */

static void protections(void) {
    const size_t n = 4 * MIB;
    unsigned char* m = map_rw(n);
    pattern_fill(m, n, 1);
    /* Read-only: reads see the data, a write faults; the handler unprotects and the write lands. */
    CHECK(mprotect(m + MIB, MIB, PROT_READ) == 0, "mprotect(PROT_READ): %s", strerror(errno));
    CHECK(intact("read-only range", m, MIB, MIB, 1), "data lost by mprotect(PROT_READ)");
    CHECK(faults(m + MIB + 123, 1), "a write to read-only emulated memory did not fault");
    CHECK(g_fault_code == SEGV_ACCERR, "write to read-only memory: si_code %d, expected SEGV_ACCERR", g_fault_code);
    g_fix_base = m + MIB;
    g_fix_len = MIB;
    g_fixes = 0;
    for (size_t i = MIB; i < 2 * MIB; i += PAGE) m[i + 7] = pattern_byte(2, i + 7);  /* each one faults once */
    g_fix_base = NULL;
    CHECK(g_fixes == (int)(MIB / PAGE), "%d write faults repaired, expected %zu", g_fixes, MIB / PAGE);
    for (size_t i = MIB; i < 2 * MIB; i += PAGE) {
        CHECK(m[i + 7] == pattern_byte(2, i + 7), "the retried write at %zu did not land", i + 7);
        m[i + 7] = pattern_byte(1, i + 7);
    }
    CHECK(intact("after the write barrier", m, 0, n, 1), "data lost around the write barrier");
    /* PROT_NONE: every access faults; back to read-write: all there. */
    CHECK(mprotect(m + 2 * MIB, MIB, PROT_NONE) == 0, "mprotect(PROT_NONE): %s", strerror(errno));
    CHECK(faults(m + 2 * MIB + 5 * PAGE, 0), "a read of PROT_NONE memory did not fault");
    CHECK(intact("next to the PROT_NONE range", m, 3 * MIB, MIB, 1), "data after PROT_NONE lost");
    CHECK(mprotect(m + 2 * MIB, MIB, PROT_READ | PROT_WRITE) == 0, "mprotect back: %s", strerror(errno));
    CHECK(intact("after PROT_NONE and back", m, 2 * MIB, MIB, 1), "data lost by PROT_NONE and back");
    /* Read + exec, then a page-granular mix: every other page read-only. */
    CHECK(mprotect(m, MIB, PROT_READ | PROT_EXEC) == 0, "mprotect(PROT_READ|PROT_EXEC): %s", strerror(errno));
    CHECK(intact("read+exec", m, 0, MIB, 1), "data lost by PROT_EXEC");
    for (size_t i = 3 * MIB; i < 4 * MIB; i += 2 * PAGE) CHECK(mprotect(m + i, PAGE, PROT_READ) == 0, "mprotect page");
    CHECK(faults(m + 3 * MIB + 2 * PAGE, 1), "a write to a read-only page among writable ones did not fault");
    m[3 * MIB + PAGE] = pattern_byte(1, 3 * MIB + PAGE);  /* a writable one between */
    CHECK(intact("checkerboard", m, 3 * MIB, MIB, 1), "data lost by the checkerboard");
    /* Pages evicted before all this come back through their new protection: read them all again. */
    CHECK(mprotect(m, n, PROT_READ | PROT_WRITE) == 0, "mprotect all back: %s", strerror(errno));
    pattern_fill(m, n, 3);
    CHECK(intact("rewritten after mprotect", m, 0, n, 3), "data lost after the protections");
    CHECK(munmap(m, n) == 0, "munmap");
}

/* ---- 2. munmap ------------------------------------------------------------------------------------ */

static void unmaps(void) {
    /* A piece in the middle: both sides intact, the hole faults, MAP_FIXED into it. */
    const size_t n = 4 * MIB;
    unsigned char* m = map_rw(n);
    pattern_fill(m, n, 4);
    CHECK(munmap(m + MIB + 3 * PAGE, 5 * PAGE) == 0, "munmap in the middle: %s", strerror(errno));
    CHECK(faults(m + MIB + 4 * PAGE, 0), "no SIGSEGV in the hole");
    CHECK(intact("before the hole", m, 0, MIB + 3 * PAGE, 4), "lost before the hole");
    CHECK(intact("after the hole", m, MIB + 8 * PAGE, n - MIB - 8 * PAGE, 4), "lost after the hole");
    /* A file mapping into the hole (the program's own mapping among emulated memory), then anonymous. */
    char path[] = "/tmp/dime-hostile-mmap-XXXXXX";
    const int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) {
        unlink(path);
        unsigned char page[PAGE];
        memset(page, 0xf1, sizeof page);
        for (int i = 0; i < 5; ++i) CHECK(write(fd, page, PAGE) == (ssize_t)PAGE, "write");
        void* f = mmap(m + MIB + 3 * PAGE, 5 * PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
        CHECK(f == m + MIB + 3 * PAGE, "MAP_FIXED file mapping into the hole: %p", f);
        CHECK(m[MIB + 5 * PAGE] == 0xf1, "the file mapping does not show the file");
        CHECK(faults(m + MIB + 5 * PAGE, 1), "a write to the read-only file mapping did not fault");
        close(fd);
        void* a = mmap(m + MIB + 3 * PAGE, 5 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        CHECK(a == m + MIB + 3 * PAGE, "MAP_FIXED anonymous over the file mapping: %p", a);
        CHECK(zeros("anonymous memory over the file mapping", m + MIB + 3 * PAGE, 5 * PAGE), "not zero");
        pattern_fill(m + MIB + 3 * PAGE, 5 * PAGE, 5);
    }
    CHECK(intact("around the refilled hole", m, MIB + 8 * PAGE, n - MIB - 8 * PAGE, 4), "lost");
    /* Two mappings side by side (the second placed right after the first), and munmap across the
     * end of one, the start of the next. */
    unsigned char* b = mmap(m + n, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (b == MAP_FAILED) {
        fprintf(stderr, "note: no room right after the mapping (%s); the spanning munmap is skipped\n", strerror(errno));
    } else {
        pattern_fill(b, MIB, 6);
        CHECK(munmap(m + n - 2 * PAGE, 4 * PAGE) == 0, "munmap across two mappings: %s", strerror(errno));
        CHECK(faults(m + n - PAGE, 0) && faults(b + PAGE, 0), "no SIGSEGV where the spanning munmap went");
        CHECK(intact("first mapping's rest", m, 2 * MIB, n - 2 * MIB - 2 * PAGE, 4), "lost before the cut");
        CHECK(intact("second mapping's rest", b, 2 * PAGE, MIB - 2 * PAGE, 6), "lost after the cut");
        CHECK(munmap(b, MIB) == 0, "munmap of the second mapping (part of it unmapped already)");
    }
    CHECK(munmap(m, n) == 0, "munmap of what is left (with holes)");
    CHECK(faults(m + PAGE, 0), "no SIGSEGV after the last munmap");
}

/* ---- 3. mremap ------------------------------------------------------------------------------------ */

static void remaps(void) {
    const size_t n = 2 * MIB;
    /* Grow (in place or moved), shrink, then grow again: the regrown part reads zeros. */
    unsigned char* m = map_rw(n);
    pattern_fill(m, n, 7);
    unsigned char* g = mremap(m, n, 3 * n, MREMAP_MAYMOVE);
    CHECK(g != MAP_FAILED, "mremap grow: %s", strerror(errno));
    CHECK(intact("grown", g, 0, n, 7) && zeros("grown part", g + n, 2 * n), "grow");
    unsigned char* s = mremap(g, 3 * n, 3 * PAGE + 100, 0);
    CHECK(s == g, "shrink moved the mapping");
    CHECK(intact("shrunk", s, 0, 3 * PAGE + 100, 7), "data lost when shrinking");
    /* With DiME units larger than a page the rest of the last unit stays mapped (configuration.md,
     * large pages): the next unit must be gone. */
    CHECK(faults(s + (g_unit > 5 * PAGE ? g_unit : 5 * PAGE), 0), "no SIGSEGV past the shrunk end");
    unsigned char* r = mremap(s, 4 * PAGE, n, MREMAP_MAYMOVE);
    CHECK(r != MAP_FAILED, "mremap regrow: %s", strerror(errno));
    CHECK(intact("regrown head", r, 0, 3 * PAGE + 100, 7), "head lost");
    CHECK(zeros("regrown part", r + 4 * PAGE, n - 4 * PAGE), "the regrown part must read zeros");
    /* Grow with no room after it: a blocker right behind forces the move. */
    pattern_fill(r, n, 8);
    unsigned char* blocker = mmap(r + n, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (blocker != MAP_FAILED) pattern_fill(blocker, MIB, 9);
    CHECK((mremap(r, n, 2 * n, 0) == MAP_FAILED && errno == ENOMEM) || blocker == MAP_FAILED,
          "growing in place into a neighbour must fail with ENOMEM");
    unsigned char* moved = mremap(r, n, 2 * n, MREMAP_MAYMOVE);
    CHECK(moved != MAP_FAILED && (moved != r || blocker == MAP_FAILED), "grow with MAYMOVE past a neighbour: %p", (void*)moved);
    CHECK(intact("moved", moved, 0, n, 8) && zeros("moved's new part", moved + n, n), "data lost by the move");
    CHECK(faults(r, 0), "no SIGSEGV at the old place");
    if (blocker != MAP_FAILED) CHECK(intact("blocker", blocker, 0, MIB, 9), "the neighbour lost data");
    /* MREMAP_FIXED onto another emulated mapping: it replaces it. */
    unsigned char* target = map_rw(2 * n);
    pattern_fill(target, 2 * n, 10);
    unsigned char* f = mremap(moved, 2 * n, 2 * n, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    CHECK(f == target, "MREMAP_FIXED onto a mapping: %p, wanted %p", (void*)f, (void*)target);
    CHECK(intact("moved onto the target", target, 0, n, 8) && zeros("its zero part", target + n, n), "fixed move");
    /* A piece from the middle grows, so it must move out: a hole remains where it was. */
    unsigned char* piece = mremap(target + MIB, MIB, 2 * MIB, MREMAP_MAYMOVE);
    CHECK(piece != MAP_FAILED && piece != target + MIB, "mremap of a middle piece: %s", strerror(errno));
    if (piece != MAP_FAILED)
        CHECK(intact("the middle piece", piece - MIB, MIB, MIB, 8) && zeros("its new part", piece + MIB, MIB),
              "the piece's data");
    CHECK(faults(target + MIB + PAGE, 0), "no SIGSEGV where the piece was");
    CHECK(intact("head around the piece", target, 0, MIB, 8), "head lost");
    /* Onto memory outside emulation: a PROT_NONE reservation (the kernel's, not emulated). */
    unsigned char* outside = mmap(NULL, 2 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(outside != MAP_FAILED, "PROT_NONE reservation");
    unsigned char* out = mremap(target, MIB, MIB, MREMAP_MAYMOVE | MREMAP_FIXED, outside);
    CHECK(out == outside, "MREMAP_FIXED onto a PROT_NONE reservation: %p", (void*)out);
    CHECK(intact("moved outside", out, 0, MIB, 8), "data lost moving out of emulated memory");
    out[5] = 1;  /* writable, as the mapping it came from */
    /* And one DiME does not emulate (small, < 64 KiB) moved into emulated memory, replacing it. */
    unsigned char* small = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pattern_fill(small, 8 * PAGE, 11);
    unsigned char* dest = map_rw(MIB);
    pattern_fill(dest, MIB, 12);
    unsigned char* in = mremap(small, 8 * PAGE, 8 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, dest + 4 * PAGE);
    CHECK(in == dest + 4 * PAGE, "MREMAP_FIXED of a small mapping into emulated memory: %p", (void*)in);
    CHECK(intact("the small mapping moved in", in, 0, 8 * PAGE, 11), "small mapping's data");
    CHECK(intact("emulated memory before it", dest, 0, 4 * PAGE, 12) &&
              intact("emulated memory after it", dest, 12 * PAGE, MIB - 12 * PAGE, 12),
          "the emulated mapping around it lost data");
    /* MREMAP_DONTUNMAP: the data moves, the old range stays mapped and reads zeros. */
    unsigned char* keep = map_rw(MIB);
    pattern_fill(keep, MIB, 13);
    /* glibc reads the new address for MREMAP_DONTUNMAP too: it must be given. */
    unsigned char* dup = mremap(keep, MIB, MIB, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    CHECK(dup != MAP_FAILED, "MREMAP_DONTUNMAP: %s", strerror(errno));
    if (dup != MAP_FAILED) {
        CHECK(intact("moved by DONTUNMAP", dup, 0, MIB, 13), "DONTUNMAP lost data");
        CHECK(zeros("left by DONTUNMAP", keep, MIB), "the old range must read zeros");
        munmap(dup, MIB);
    }
    munmap(keep, MIB);
    munmap(dest, MIB);
    munmap(out, MIB);
    munmap(outside + MIB, MIB);
    if (piece != MAP_FAILED) munmap(piece, 2 * MIB);
    munmap(target, 2 * n);
    if (blocker != MAP_FAILED) munmap(blocker, MIB);
}

/* ---- 4. calls over holes ------------------------------------------------------------------------- */

static void over_holes(void) {
    unsigned char* m = map_rw(MIB);
    pattern_fill(m, MIB, 14);
    CHECK(munmap(m + 64 * PAGE, 16 * PAGE) == 0, "munmap");
    errno = 0;
    CHECK(mprotect(m, MIB, PROT_READ) != 0 && errno == ENOMEM, "mprotect over a hole must fail with ENOMEM (errno %d)", errno);
    /* The kernel changed the protection up to the hole and stopped there. */
    CHECK(faults(m + 10 * PAGE, 1), "before the hole, the failed mprotect must have made the memory read-only");
    if (faults(m + 100 * PAGE, 1)) {
        CHECK(0, "after the hole, the failed mprotect must have left the memory writable");
        mprotect(m + 80 * PAGE, MIB - 80 * PAGE, PROT_READ | PROT_WRITE);
    }
    m[100 * PAGE] = pattern_byte(14, 100 * PAGE);  /* what faults() wrote, put back */
    errno = 0;
    CHECK(mremap(m, MIB, 2 * MIB, MREMAP_MAYMOVE) == MAP_FAILED && errno == EFAULT,
          "mremap over a hole must fail with EFAULT (errno %d)", errno);
    errno = 0;
    CHECK(madvise(m, MIB, MADV_DONTNEED) != 0 && errno == ENOMEM, "madvise over a hole must fail with ENOMEM (errno %d)", errno);
    /* The parts before the hole that the kernel did change must show it: mprotect changed them (to
     * read-only) before it met the hole, and MADV_DONTNEED dropped them. */
    mprotect(m, 64 * PAGE, PROT_READ | PROT_WRITE);
    CHECK(zeros("dropped before the hole", m, 64 * PAGE), "MADV_DONTNEED before the hole");
    CHECK(munmap(m, MIB) == 0, "munmap with a hole");
}

int main(int argc, char** argv) {
    if (argc > 1) g_unit = (size_t)strtoul(argv[1], NULL, 0);
    install();
    protections();
    unmaps();
    remaps();
    over_holes();
    printf("failures %d\n", failures);
    return failures == 0 ? 0 : 1;
}
