/* dime_policy.h — the C ABI of replacement-policy plugins: a shared object that DiME loads by
 * path (`policy: plugin` with `policy_plugin: /path/to/x.so`) and calls from its fault-handler
 * thread. The counterpart of DiME's page_replacement_policy_struct. See docs/policies.md.
 *
 * A plugin exports one function, dime_policy_plugin_v1, returning a pointer to a static
 * struct dime_policy. DiME checks abi_version and struct_size, calls create() once, then the
 * callbacks, all from one thread (the handler), never concurrently, so a plugin needs no locks.
 *
 * The callbacks run on the fault path: they must not allocate (malloc may hold a lock that a
 * faulting thread owns), block, log, or touch the emulated program's memory, and each should
 * take O(1) time. Allocate everything in create(): mmap(MAP_NORESERVE) per-page arrays of
 * max_pages entries cost memory only for the pages actually used.
 */
#ifndef DIME_POLICY_H
#define DIME_POLICY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this ABI. A plugin built against another version is refused. */
#define DIME_POLICY_ABI_VERSION 1u

/* A page number: 0 .. max_pages-1. DIME_NO_PAGE means "none". */
typedef uint32_t dime_page_t;
#define DIME_NO_PAGE ((dime_page_t)0xffffffffu)

struct dime_policy {
    uint32_t abi_version; /* DIME_POLICY_ABI_VERSION */
    uint32_t struct_size; /* sizeof(struct dime_policy) */
    const char *name;     /* shown in the report, e.g. "lifo" */

    /* Required. Called once before use: pages are numbered below max_pages. Returns the
     * plugin's state, passed to every callback, or NULL on failure (DiME then refuses to start). */
    void *(*create)(uint64_t max_pages);
    /* Optional (may be NULL). Releases the state when the engine is destroyed. */
    void (*destroy)(void *state);

    /* Required. `page` just became local (fetched or first touched). */
    void (*on_admit)(void *state, dime_page_t page);
    /* Required. A local `page` left other than by eviction (its region was unmapped). */
    void (*on_forget)(void *state, dime_page_t page);
    /* Required. Chooses a local page to evict and stops tracking it as local; DIME_NO_PAGE if
     * none is local. Must return a page that is local. */
    dime_page_t (*pick_victim)(void *state);

    /* Optional. A local `page` was accessed (a hit). If NULL, accesses are not reported. */
    void (*on_access)(void *state, dime_page_t page);
    /* Optional. The pool now holds at most `pages` pages: called before the first on_admit and
     * whenever the capacity changes at run time. */
    void (*on_capacity)(void *state, uint64_t pages);
};

/* The entry point DiME looks up (dlsym) in the shared object. It is declared here with default
 * visibility, so it is exported even from a plugin built with -fvisibility=hidden. */
#define DIME_POLICY_ENTRY "dime_policy_plugin_v1"
typedef const struct dime_policy *(*dime_policy_entry_fn)(void);
__attribute__((visibility("default"))) const struct dime_policy *dime_policy_plugin_v1(void);

#ifdef __cplusplus
}
#endif

#endif /* DIME_POLICY_H */
