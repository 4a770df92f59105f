/* lifecycle_setuid.c — run set-user-ID (so the kernel sets AT_SECURE), loads libdime.so with
 * dlopen (the loader ignores LD_PRELOAD paths in such a process, dlopen does not) and checks that
 * DiME left it alone: DIME_OPTIONS (set to garbage by the test) did not stop it, no userfaultfd
 * was opened, malloc works. Prints "SETUID-NOT-SECURE" and exits 0 when AT_SECURE is not set
 * (a nosuid mount), so the test can skip.
 * Usage: lifecycle_setuid /path/to/libdime.so */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/auxv.h>

#include "lifecycle.h"

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    if (getauxval(AT_SECURE) == 0) {
        printf("SETUID-NOT-SECURE\n");
        return 0;
    }
    void* lib = dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
        fprintf(stderr, "FAIL: dlopen %s: %s\n", argv[1], dlerror());
        return 1;
    }
    struct fd_counts c;
    if (!count_fds(&c, 1) || c.uffd != 0) {
        fprintf(stderr, "FAIL: a set-user-ID process has %d userfaultfds\n", c.uffd);
        return 1;
    }
    struct heap h = heap_make(1u << 20, 5);
    int ok = heap_verify(&h, "setuid heap");
    printf("set-user-ID run left alone: %s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
