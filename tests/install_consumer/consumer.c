// consumer.c — the install test's program: built against an installed DiME (find_package or pkg-config) or plain, it fills 8 MiB of heap, checks every byte and exits 0.
#if __has_include(<dime.h>)
#include <dime.h>  // the installed API header must compile as C
#endif
#include <stdio.h>
#include <stdlib.h>

enum { kBlocks = 8, kBlockBytes = 1 << 20 };

int main(void) {
    unsigned char* blocks[kBlocks];
    for (int b = 0; b < kBlocks; ++b) {
        blocks[b] = malloc(kBlockBytes);
        if (!blocks[b]) {
            fprintf(stderr, "consumer: malloc failed\n");
            return 1;
        }
        for (int i = 0; i < kBlockBytes; ++i) blocks[b][i] = (unsigned char)(b * 31 + i * 7);
    }
    for (int b = 0; b < kBlocks; ++b) {
        for (int i = 0; i < kBlockBytes; ++i)
            if (blocks[b][i] != (unsigned char)(b * 31 + i * 7)) {
                fprintf(stderr, "consumer: block %d byte %d is wrong\n", b, i);
                return 1;
            }
        free(blocks[b]);
    }
    printf("consumer: ok\n");
    return 0;
}
