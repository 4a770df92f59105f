/* gen_lines.c — writes the input of tests/realprogs/sort.sh to stdout: N deterministic text lines
 * of 113 to 512 bytes (about 220 MB for N = 700000). Lines start with a 12-digit key that is in
 * order globally but shuffled within each block of 1024 lines; one line in 256 starts with 12
 * random letters instead. So sort really reorders everything, yet touches memory mostly in runs:
 * a pool of 1/8 of the data thrashes only at the top levels of its merge. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state = 88172645463325252ull;

static uint64_t next(void) { /* xorshift64 */
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

int main(int argc, char** argv) {
    char* end = NULL;
    unsigned long long n = argc == 2 ? strtoull(argv[1], &end, 10) : 0;
    if (argc != 2 || *end != '\0' || n == 0) {
        fprintf(stderr, "usage: gen_lines N (N > 0 lines)\n");
        return 2;
    }
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    char line[600];
    for (unsigned long long i = 0; i < n; i++) {
        int len = 0;
        uint64_t key = (i / 1024) * 1024 + ((i % 1024) * 617) % 1024; /* 617 is odd: a permutation */
        uint64_t r = next();
        if (r % 256 == 0) {
            while (len < 12) line[len++] = alphabet[next() % 52];
        } else {
            len = snprintf(line, sizeof line, "%012llu", (unsigned long long)key);
        }
        int width = 100 + (int)(r % 400);
        for (int k = 0; k < width; k++) line[len++] = alphabet[next() % 62];
        line[len++] = '\n';
        if (fwrite(line, 1, (size_t)len, stdout) != (size_t)len) return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
