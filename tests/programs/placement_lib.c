/* placement_lib.c — libplacement_lib.so, the placement tests' helper library: its allocations
 * must match `library: libplacement_lib*` whatever function calls it. */
#include <stdlib.h>

__attribute__((noinline)) void* placement_lib_alloc(size_t n) {
    void* p = malloc(n);
    if (p) *(volatile char*)p = 1; /* not a tail call: the return address stays in this library */
    return p;
}

__attribute__((noinline)) void* placement_lib_calloc(size_t count, size_t n) {
    void* p = calloc(count, n);
    if (p) *(volatile char*)p = 0;
    return p;
}
