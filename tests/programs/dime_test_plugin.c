/* dime_test_plugin.c — a library preload_dlopen loads with dlopen: its calls to malloc and free
 * are its own bindings (with RTLD_DEEPBIND, looked up in its own dependencies first). Its
 * constructor allocates, its destructor frees. */
#include <stdlib.h>
#include <string.h>

static char* kept;

__attribute__((constructor)) static void plugin_init(void) {
    kept = malloc(100000);
    if (kept) memset(kept, 0x5a, 100000);
}

__attribute__((destructor)) static void plugin_fini(void) { free(kept); }

void* plugin_malloc(size_t n) { return malloc(n); }
void plugin_free(void* p) { free(p); }

int plugin_check(void) {
    if (!kept) return 0;
    for (size_t i = 0; i < 100000; ++i)
        if (kept[i] != 0x5a) return 0;
    return 1;
}
