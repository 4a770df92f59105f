/* preload_dlopen.c — dlopen under libdime.so. The plugin is found by its bare name through this
 * program's RUNPATH (so DiME's dlopen hook must keep the program as the caller), loaded with
 * RTLD_DEEPBIND, and must still allocate and free through DiME: a block malloc'ed here is freed by
 * the plugin and vice versa (with the flag kept, the plugin's free would be glibc's and abort on a
 * DiME block). The plugin's constructor and destructor allocate and free too; it is loaded, used
 * and unloaded three times.
 * Usage: preload_dlopen */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "lifecycle.h"

int main(void) {
    alarm(60);
    announce("DIME-ROOT-PID", getpid(), NULL);
    struct heap h = heap_make(4u << 20, 1000); /* evicted heap around the plugin's blocks */
    int failures = 0;
    for (int round = 0; round < 3; ++round) {
        const int flags = RTLD_NOW | (round < 2 ? RTLD_DEEPBIND : 0);
        void* lib = dlopen("libdime_test_plugin.so", flags);
        if (!lib) {
            fprintf(stderr, "FAIL: dlopen: %s\n", dlerror());
            return 1;
        }
        void* (*plugin_malloc)(size_t) = (void* (*)(size_t))dlsym(lib, "plugin_malloc");
        void (*plugin_free)(void*) = (void (*)(void*))dlsym(lib, "plugin_free");
        int (*plugin_check)(void) = (int (*)(void))dlsym(lib, "plugin_check");
        if (!plugin_malloc || !plugin_free || !plugin_check) {
            fprintf(stderr, "FAIL: plugin symbols missing\n");
            return 1;
        }
        for (int i = 0; i < 100; ++i) {
            unsigned char* mine = malloc(5000 + i);
            pattern_fill(mine, 5000 + i, round * 1000 + i);
            unsigned char* theirs = plugin_malloc(3000 + i);
            pattern_fill(theirs, 3000 + i, round * 2000 + i);
            failures += !pattern_verify("block from the plugin", theirs, 3000 + i, round * 2000 + i);
            failures += !pattern_verify("own block", mine, 5000 + i, round * 1000 + i);
            theirs = realloc(theirs, 9000 + i); /* grown here, from the plugin's allocation */
            failures += !pattern_verify("block from the plugin after realloc", theirs, 3000 + i, round * 2000 + i);
            plugin_free(mine); /* a DiME block freed by the plugin */
            free(theirs);
        }
        failures += !plugin_check();
        dlclose(lib);
    }
    failures += !heap_verify(&h, "heap around the plugin");
    printf("3 dlopen rounds (2 with RTLD_DEEPBIND), failures %d\n", failures);
    return failures == 0 ? 0 : 1;
}
