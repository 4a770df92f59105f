/* api_c.c — include/dime.h from C: explicit placement, tier queries and data integrity. Run as
 * `api_c emulated` under libdime.so with tests/tiers/tiers.yaml (tiers remote, far, local), as
 * `api_c disabled` the same with DIME_DISABLE=1 (placed per tier on plain memory, not active), and
 * as `api_c plain` without the preload (every call falls back to malloc, dime_prefetch does nothing). Exit 0 = all checks held. */
#include <dime.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

static int failures = 0;

#define EXPECT(cond)                                                        \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "api_c: line %d: failed: %s\n", __LINE__, #cond); \
            ++failures;                                                     \
        }                                                                   \
    } while (0)

/* The tier dime_tier_of reports, "(none)" for NULL. */
static const char* tier(const void* p) {
    const char* t = dime_tier_of(p);
    return t ? t : "(none)";
}

/* Whether `p`'s tier is `want` under emulation, and no tier at all without it. */
static int in_tier(int emulated, const void* p, const char* want) {
    return strcmp(tier(p), emulated ? want : "(none)") == 0;
}

int main(int argc, char** argv) {
    if (argc != 2 || (strcmp(argv[1], "emulated") != 0 && strcmp(argv[1], "disabled") != 0 &&
                      strcmp(argv[1], "plain") != 0)) {
        fprintf(stderr, "usage: api_c emulated|disabled|plain\n");
        return 2;
    }
    /* `emulated` below: blocks are placed in tiers (under the preload, emulating or not). */
    const int emulated = strcmp(argv[1], "plain") != 0;
    EXPECT(dime_active() == (strcmp(argv[1], "emulated") == 0));

    /* 4 MiB in each tier: 16 times the local pool, so remote and far pages really are evicted. */
    const size_t big = (size_t)4 << 20;
    unsigned char* far = dime_malloc(big, "far");
    unsigned char* remote = dime_malloc(big, "remote");
    unsigned char* local = dime_calloc(big / 8, 8, "local");
    unsigned char* deflt = dime_malloc(1000, NULL);
    unsigned char* plain = malloc(1000);
    EXPECT(far && remote && local && deflt && plain);
    if (!far || !remote || !local || !deflt || !plain) return 1;
    for (size_t i = 0; i < big; i += 4096) EXPECT(local[i] == 0);
    pattern_fill(far, big, 1);
    pattern_fill(remote, big, 2);
    pattern_fill(local, big, 3);
    pattern_fill(deflt, 1000, 4);
    pattern_fill(plain, 1000, 5);

    EXPECT(in_tier(emulated, far, "far"));
    EXPECT(in_tier(emulated, far + big - 1, "far")); /* any address inside the block */
    EXPECT(in_tier(emulated, remote, "remote"));
    EXPECT(in_tier(emulated, local + 12345, "local"));
    EXPECT(in_tier(emulated, deflt, "remote")); /* default_tier */
    EXPECT(in_tier(emulated, plain, "remote")); /* malloc goes to the default tier too */
    int on_stack = 0;
    EXPECT(dime_tier_of(&on_stack) == NULL);
    EXPECT(dime_tier_of(NULL) == NULL);
    EXPECT(dime_tier_of(&failures) == NULL);

    /* An undeclared tier: EINVAL under emulation; without it every name is accepted. */
    errno = 0;
    void* nowhere = dime_malloc(64, "nowhere");
    if (emulated) {
        EXPECT(nowhere == NULL && errno == EINVAL);
        errno = 0;
        EXPECT(dime_calloc(4, 4, "nowhere") == NULL && errno == EINVAL);
    } else {
        EXPECT(nowhere != NULL);
        dime_free(nowhere);
    }
    errno = 0;
    EXPECT(dime_calloc(SIZE_MAX / 2, 4, "far") == NULL && errno == ENOMEM);

    /* realloc keeps a block in its tier when no placement rule says otherwise. */
    far = realloc(far, big * 2);
    EXPECT(far != NULL);
    if (!far) return 1;
    EXPECT(in_tier(emulated, far, "far"));
    pattern_fill(far + big, big, 6);

    /* dime_prefetch: under emulation the evicted pages of `remote` start their fetch (the pool
     * holds far fewer than its 1024 pages); the data stays intact. A no-op returning 0 otherwise. */
    const int started = dime_prefetch(remote, big);
    EXPECT(strcmp(argv[1], "emulated") == 0 ? started > 0 : started == 0);
    EXPECT(dime_prefetch(&on_stack, sizeof on_stack) == 0); /* not emulated memory */

    EXPECT(pattern_check(far, big, 1) == (size_t)-1);
    EXPECT(pattern_check(far + big, big, 6) == (size_t)-1);
    EXPECT(pattern_check(remote, big, 2) == (size_t)-1);
    EXPECT(pattern_check(local, big, 3) == (size_t)-1);
    EXPECT(pattern_check(deflt, 1000, 4) == (size_t)-1);
    EXPECT(pattern_check(plain, 1000, 5) == (size_t)-1);

    dime_free(far);
    dime_free(remote);
    free(local); /* free() and dime_free() are interchangeable */
    dime_free(deflt);
    dime_free(plain);
    dime_free(NULL);
    if (failures == 0) printf("api_c %s: all checks passed\n", argv[1]);
    return failures == 0 ? 0 : 1;
}
