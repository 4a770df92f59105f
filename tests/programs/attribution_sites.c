// attribution_sites.c — two allocation sites for the attribution test: hot_block() allocates a
// block the program then walks again and again (remote-heavy), cold_block() one it touches once.
// Built with -O0 -g, so each site keeps its own frame and addr2line knows its line. The lines of
// the two malloc calls are marked for tests/scripts/check_attribution.cmake.
#include <stdio.h>
#include <stdlib.h>

enum { kPage = 4096, kPages = 2048, kHotWalks = 4 };

static unsigned char* hot_block(size_t n) {
    unsigned char* p = malloc(n);  // ATTRIBUTION-HOT-SITE
    return p;
}

static unsigned char* cold_block(size_t n) {
    unsigned char* p = malloc(n);  // ATTRIBUTION-COLD-SITE
    return p;
}

int main(void) {
    unsigned char* cold = cold_block((size_t)kPages * kPage);
    unsigned char* hot = hot_block((size_t)kPages * kPage);
    if (!cold || !hot) {
        fprintf(stderr, "attribution_sites: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < kPages; ++i) cold[i * kPage] = (unsigned char)(i * 7 + 1);
    for (int walk = 0; walk < kHotWalks; ++walk)
        for (size_t i = 0; i < kPages; ++i) hot[i * kPage] = (unsigned char)(hot[i * kPage] + i + 1);
    size_t wrong = 0;
    for (size_t i = 0; i < kPages; ++i) {
        wrong += hot[i * kPage] != (unsigned char)(kHotWalks * (i + 1));
        wrong += cold[i * kPage] != (unsigned char)(i * 7 + 1);
    }
    if (wrong) {
        fprintf(stderr, "attribution_sites: %zu wrong bytes\n", wrong);
        return 1;
    }
    free(hot);
    free(cold);
    puts("attribution_sites: ok");
    return 0;
}
