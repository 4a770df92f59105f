/* dime_api.c — libdime_api: include/dime.h's functions. Each finds libdime.so's dime_preload_*
 * entry point at run time (dlsym(RTLD_DEFAULT)); when the preload is absent it falls back to the
 * plain allocator (the pool controls do nothing). Runs on any application thread; lookups are
 * cached in atomics (races only repeat a lookup). */
#define _GNU_SOURCE
#include "dime.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

typedef void* (*malloc_fn)(size_t, const char*, const void*);
typedef void* (*calloc_fn)(size_t, size_t, const char*, const void*);
typedef void (*free_fn)(void*);
typedef const char* (*tier_of_fn)(const void*);
typedef int (*active_fn)(void);
typedef long (*evict_fn)(const void*, size_t);
typedef int (*set_local_pages_fn)(size_t);
typedef int (*prefetch_fn)(const void*, size_t);

/* One entry point: its name and, once looked up, its address or the "absent" marker. */
struct entry {
    const char* name;
    void* fn;
};

#define ABSENT ((void*)(uintptr_t)1)

static struct entry g_malloc = {"dime_preload_malloc", NULL};
static struct entry g_calloc = {"dime_preload_calloc", NULL};
static struct entry g_free = {"dime_preload_free", NULL};
static struct entry g_tier_of = {"dime_preload_tier_of", NULL};
static struct entry g_active = {"dime_preload_active", NULL};
static struct entry g_evict = {"dime_preload_evict", NULL};
static struct entry g_set_local_pages = {"dime_preload_set_local_pages", NULL};
static struct entry g_prefetch = {"dime_preload_prefetch", NULL};

/* The preload's function, or NULL when libdime.so is not loaded. */
static void* find(struct entry* e) {
    void* fn = __atomic_load_n(&e->fn, __ATOMIC_ACQUIRE);
    if (fn == NULL) {
        fn = dlsym(RTLD_DEFAULT, e->name);
        if (fn == NULL) fn = ABSENT;
        __atomic_store_n(&e->fn, fn, __ATOMIC_RELEASE);
    }
    return fn == ABSENT ? NULL : fn;
}

void* dime_malloc(size_t size, const char* tier) {
    malloc_fn fn = (malloc_fn)find(&g_malloc);
    if (fn) return fn(size, tier, __builtin_return_address(0));
    return malloc(size);
}

void* dime_calloc(size_t count, size_t size, const char* tier) {
    calloc_fn fn = (calloc_fn)find(&g_calloc);
    if (fn) return fn(count, size, tier, __builtin_return_address(0));
    return calloc(count, size);
}

void dime_free(void* p) {
    free_fn fn = (free_fn)find(&g_free);
    if (fn) {
        fn(p);
        return;
    }
    free(p);
}

const char* dime_tier_of(const void* p) {
    tier_of_fn fn = (tier_of_fn)find(&g_tier_of);
    return fn ? fn(p) : NULL;
}

int dime_active(void) {
    active_fn fn = (active_fn)find(&g_active);
    return fn ? fn() : 0;
}

long dime_evict(const void* addr, size_t len) {
    evict_fn fn = (evict_fn)find(&g_evict);
    return fn ? fn(addr, len) : 0;
}

int dime_set_local_pages(size_t pages) {
    set_local_pages_fn fn = (set_local_pages_fn)find(&g_set_local_pages);
    return fn ? fn(pages) : 0;
}
int dime_prefetch(const void* addr, size_t len) {
    prefetch_fn fn = (prefetch_fn)find(&g_prefetch);
    return fn ? fn(addr, len) : 0;
}
