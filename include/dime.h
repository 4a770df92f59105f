/* dime.h — DiME's C API: explicit placement (allocate in a named tier, ask where a block lives,
 * whether emulation is on) and run-time control of the local pool (evict a range, resize the
 * pool). Usable from C and C++. Link with libdime_api (static or
 * shared); under LD_PRELOAD=libdime.so the calls reach the emulator, without it they fall back to
 * plain malloc/calloc/free and the pool controls do nothing. Reference: docs/api.md. */
#ifndef DIME_H
#define DIME_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocates `size` bytes in tier `tier` (a name from the configuration's tiers:, or "remote").
 * tier == NULL: where the placement rules (or default_tier) put a malloc() from the same call
 * site. Returns NULL with errno = EINVAL for a tier name the configuration does not declare, or
 * NULL with errno = ENOMEM when the tier's heap is full. Without emulation: malloc(size), and
 * every tier name is accepted. Free the block with dime_free() or free(). */
void* dime_malloc(size_t size, const char* tier);

/* As dime_malloc for count * size zeroed bytes; NULL with errno = ENOMEM if the product overflows. */
void* dime_calloc(size_t count, size_t size, const char* tier);

/* Frees a block from dime_malloc, dime_calloc or the malloc family (NULL is ignored); the same as free(). */
void dime_free(void* p);

/* The name of the tier whose memory holds `p` (any address inside a block), or NULL if `p` is
 * not in emulated memory (glibc's heap, stack, static data) or emulation is off. The string is
 * owned by DiME and lives as long as the process. */
const char* dime_tier_of(const void* p);

/* 1 if this process runs under DiME's emulation (libdime.so preloaded and started), else 0. */
int dime_active(void);

/* Evicts now every local page of emulated memory that [addr, addr + len) touches (DiME's "flush
 * a range"): the next access to each faults and fetches it back. With writeback, a dirty page
 * costs its transmission on the link, a clean one is dropped for free. Memory outside emulated
 * memory is ignored. Returns the number of pages evicted; 0 without emulation. */
long dime_evict(const void* addr, size_t len);

/* Sets the local pool's capacity to `pages` pages at run time. Shrinking evicts down to the new
 * capacity before the call returns; growing lets later faults keep more pages. Returns 0, or -1
 * with errno = EINVAL for 0 or more than 2^34 pages (local_npages' bounds). Without emulation: 0,
 * nothing done. */
int dime_set_local_pages(size_t pages);

/* A hint: start fetching the pages of [addr, addr + len) that are remote (evicted) or never used
 * now, asynchronously; each is mapped when it arrives, so a later access does not fault. The
 * fetches use the link like faults do (docs/policies.md#prefetching) and take pool slots, at most
 * half the pool per call. Returns how many fetches were started; 0 for memory that is not
 * emulated, and always 0 without the preload (a no-op). Never fails. */
int dime_prefetch(const void* addr, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* DIME_H */
