/* policy_plugin_lifo.c — an example replacement-policy plugin: LIFO (the page admitted last
 * leaves first). Built as policy_plugin_lifo.so; use it with
 *   policy: plugin
 *   policy_plugin: /path/to/policy_plugin_lifo.so
 * Its callbacks run on DiME's handler thread: no allocation, no locks, O(1) each. The state is
 * a doubly linked stack over page numbers, in two arrays mapped once in create(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "dime_policy.h"

struct lifo {
    dime_page_t *below, *above; /* neighbours on the stack, per page */
    dime_page_t top;            /* the page admitted last, or DIME_NO_PAGE */
    uint64_t bytes;             /* size of each array mapping */
};

/* Zero-filled memory that costs only the pages touched (MAP_NORESERVE). */
static void *map_array(uint64_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void lifo_destroy(void *state) {
    struct lifo *s = state;
    if (s->below) munmap(s->below, s->bytes);
    if (s->above) munmap(s->above, s->bytes);
    munmap(s, sizeof *s);
}

static void *lifo_create(uint64_t max_pages) {
    struct lifo *s = map_array(sizeof *s);
    if (!s) return NULL;
    s->bytes = max_pages * sizeof(dime_page_t);
    s->below = map_array(s->bytes);
    s->above = map_array(s->bytes);
    s->top = DIME_NO_PAGE;
    if (!s->below || !s->above) {
        lifo_destroy(s);
        return NULL;
    }
    return s;
}

static void lifo_on_admit(void *state, dime_page_t page) {
    struct lifo *s = state;
    s->below[page] = s->top;
    s->above[page] = DIME_NO_PAGE;
    if (s->top != DIME_NO_PAGE) s->above[s->top] = page;
    s->top = page;
}

static void lifo_on_forget(void *state, dime_page_t page) {
    struct lifo *s = state;
    dime_page_t below = s->below[page], above = s->above[page];
    if (below != DIME_NO_PAGE) s->above[below] = above;
    if (above != DIME_NO_PAGE)
        s->below[above] = below;
    else
        s->top = below;
}

static dime_page_t lifo_pick_victim(void *state) {
    struct lifo *s = state;
    dime_page_t victim = s->top;
    if (victim != DIME_NO_PAGE) lifo_on_forget(s, victim);
    return victim;
}

static const struct dime_policy lifo_policy = {
    .abi_version = DIME_POLICY_ABI_VERSION,
    .struct_size = sizeof(struct dime_policy),
    .name = "lifo",
    .create = lifo_create,
    .destroy = lifo_destroy,
    .on_admit = lifo_on_admit,
    .on_forget = lifo_on_forget,
    .pick_victim = lifo_pick_victim,
    .on_access = NULL,   /* LIFO ignores accesses */
    .on_capacity = NULL, /* and the pool's size */
};

const struct dime_policy *dime_policy_plugin_v1(void) { return &lifo_policy; }
