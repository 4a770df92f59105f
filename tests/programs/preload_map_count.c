/* preload_map_count.c — vm.max_map_count nearly used up by the program itself, for the mprotect
 * backend: it splits a mapping of its own into single pages until only LEFT mappings are left to
 * the process, then walks a heap of 8x the pool in random order, so that the local pages are
 * scattered and each costs two mappings. The fetch whose mprotect the kernel refuses (ENOMEM) must
 * make room by evicting, not crash; every byte is checked. With the userfaultfd backend nothing of
 * this costs a mapping, and the program passes all the same.
 * Usage: preload_map_count [LEFT] [MIB]  (default 300 mappings, a 8 MiB heap) */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pattern.h"

static long read_long(const char* path) {
    FILE* f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

static long mappings(void) {
    FILE* f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    long lines = 0;
    for (int c; (c = fgetc(f)) != EOF;) lines += c == '\n';
    fclose(f);
    return lines;
}

int main(int argc, char** argv) {
    const long left = argc > 1 ? atol(argv[1]) : 300;
    const size_t n = (size_t)(argc > 2 ? atol(argv[2]) : 8) << 20;
    const long limit = read_long("/proc/sys/vm/max_map_count");
    long used = mappings();
    if (limit <= 0 || used <= 0) {
        fprintf(stderr, "FAIL: cannot read vm.max_map_count or /proc/self/maps\n");
        return 1;
    }
    /* The heap first (its allocation may need mappings of its own), then the program's pages. */
    enum { kBlock = 64 << 10 };
    const size_t blocks = n / kBlock;
    unsigned char** block = malloc(blocks * sizeof *block);
    if (!block) return 1;
    for (size_t i = 0; i < blocks; ++i) {
        block[i] = malloc(kBlock);
        if (!block[i]) {
            fprintf(stderr, "FAIL: malloc\n");
            return 1;
        }
        pattern_fill(block[i], kBlock, 1 + i);
    }
    used = mappings();
    /* Every second page of a mapping made read-only: two more mappings each. */
    const long splits = (limit - used - left) / 2;
    unsigned char* own = splits > 0 ? mmap(NULL, (size_t)(2 * splits + 1) * 4096, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                                     : NULL;
    if (own == MAP_FAILED) {
        fprintf(stderr, "FAIL: mmap of the program's own pages\n");
        return 1;
    }
    long made = 0;
    for (long i = 0; i < splits && mprotect(own + (size_t)(2 * i + 1) * 4096, 4096, PROT_READ) == 0; ++i) ++made;
    const long before = mappings();
    /* Random touches over the heap, checking each 64 KiB block's first and last words, then all. */
    uint64_t x = 12345;
    int failures = 0;
    long most = before;
    for (int step = 0; step < 20000; ++step) {
        if (step % 2500 == 0) { /* the mappings the process has, now and then: the limit must be met */
            const long now = mappings();
            if (now > most) most = now;
        }
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const size_t i = (size_t)(x >> 33) % blocks;
        const size_t off = (size_t)(x >> 13) % kBlock;
        if (block[i][off] != pattern_byte(1 + i, off)) {
            fprintf(stderr, "FAIL: block %zu byte %zu\n", i, off);
            ++failures;
            break;
        }
    }
    for (size_t i = 0; i < blocks; ++i)
        if (!pattern_verify("heap block", block[i], kBlock, 1 + i)) ++failures;
    /* With the mprotect backend the walk must have come within a few mappings of the limit, or the
     * case under test (a fetch the kernel refuses) did not happen. */
    const char* options = getenv("DIME_OPTIONS");
    if (options && strstr(options, "backend=mprotect") && most < limit - 8) {
        fprintf(stderr, "FAIL: at most %ld mappings during the walk, the limit %ld was never met\n", most, limit);
        ++failures;
    }
    printf("vm.max_map_count %ld: %ld mappings of the program's own, %ld in use before the walk, at most %ld during "
           "it; heap %zu MiB checked, failures %d\n",
           limit, 2 * made, before, most, n >> 20, failures);
    return failures == 0 ? 0 : 1;
}
