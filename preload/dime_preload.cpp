// dime_preload.cpp — libdime.so's interposition layer: the malloc family, each hook forwarding to
// the emulated heap or to glibc, and the start-up / exit glue. Hooks run on every thread of the
// host program; the constructor runs on the main thread before main().
//
// Routing (the whole policy of this file):
// - allocations go to glibc while the engine is not up, on DiME's own threads (t_internal), inside
//   DiME entry points (InternalScope), on a thread that has begun to exit, and for alignments the
//   arena cannot serve; everything else goes to the emulated heap;
// - free, realloc and malloc_usable_size dispatch by address: a glibc pointer stays glibc's.
#include <dlfcn.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "config.h"
#include "emulated_heap.h"
#include "engine.h"
#include "lifecycle.h"
#include "log.h"
#include "preload.h"
#include "thread_role.h"

// glibc's own allocator under its exported internal names (interposing malloc does not hide them).
extern "C" {
void* __libc_malloc(size_t n);
void __libc_free(void* p);
void* __libc_calloc(size_t count, size_t n);
void* __libc_realloc(void* p, size_t n);
void* __libc_memalign(size_t alignment, size_t n);
void* __libc_valloc(size_t n);
void* __libc_pvalloc(size_t n);
}

#define DIME_HOOK extern "C" __attribute__((visibility("default")))

namespace {

std::atomic<dime::EmulatedHeap*> g_heap{nullptr};  // set once by the constructor, never cleared
dime::Engine* g_engine = nullptr;  // never destroyed: threads may still fault after exit() starts
std::atomic<size_t (*)(void*)> g_libc_usable_size{nullptr};

// The heap for an allocation on this thread now, or nullptr for glibc.
inline dime::EmulatedHeap* heap_for_allocation() {
    dime::EmulatedHeap* h = g_heap.load(std::memory_order_acquire);
    if (h == nullptr || dime::t_internal || !dime::EmulatedHeap::thread_can_allocate()) return nullptr;
    return h;
}

// The heap that owns `p`, or nullptr when glibc does.
inline dime::EmulatedHeap* heap_owning(const void* p) {
    dime::EmulatedHeap* h = g_heap.load(std::memory_order_acquire);
    return h != nullptr && h->owns(p) ? h : nullptr;
}

inline bool valid_posix_alignment(size_t a) { return a != 0 && (a & (a - 1)) == 0 && a % sizeof(void*) == 0; }

// glibc's malloc_usable_size, looked up in libc itself (RTLD_NEXT could find another allocator).
size_t libc_usable_size(void* p) {
    auto fn = g_libc_usable_size.load(std::memory_order_acquire);
    if (fn == nullptr) {
        dime::InternalScope internal;
        if (void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD)) {
            fn = reinterpret_cast<size_t (*)(void*)>(dlsym(libc, "malloc_usable_size"));
            dlclose(libc);
        }
        if (fn == nullptr) return 0;
        g_libc_usable_size.store(fn, std::memory_order_release);
    }
    return fn(p);
}

void* realloc_impl(void* p, size_t n) {
    if (p == nullptr) {
        if (dime::EmulatedHeap* h = heap_for_allocation()) return h->malloc(n);
        return __libc_malloc(n);
    }
    dime::EmulatedHeap* owner = heap_owning(p);
    if (owner == nullptr) return __libc_realloc(p, n);
    if (heap_for_allocation() != nullptr || n == 0) return owner->realloc(p, n);
    // An emulated block grown by a thread that may no longer allocate there: move it to glibc.
    void* q = __libc_malloc(n);
    if (q == nullptr) return nullptr;
    size_t keep = owner->usable_size(p);
    std::memcpy(q, p, keep < n ? keep : n);
    owner->free(p);
    return q;
}

// Once per process: a fork child inherits this flag from its parent, so it holds the pid that
// reported (the engine itself skips a vfork child, which shares the parent's memory).
void write_reports_once() {
    static std::atomic<pid_t> reported_by{0};
    const pid_t me = getpid();
    if (reported_by.exchange(me) == me) return;
    dime::InternalScope internal;
    try {
        g_engine->write_reports();
    } catch (...) {
        // An exception leaving an exit handler would abort the program: the report is lost instead.
    }
}

[[noreturn]] void exit_start_failure(const std::string& error) {
    std::string line = "dime: " + error + "\n";
    if (write(STDERR_FILENO, line.data(), line.size()) < 0) {
        // nothing more to do: the exit status still says it failed
    }
    std::exit(1);
}

// Early constructor: before the program's own constructors and main().
__attribute__((constructor(101))) void dime_preload_start() {
    dime::InternalScope internal;
    // setuid/setgid programs run without emulation (and ignore DIME_* variables entirely).
    if (getauxval(AT_SECURE) != 0) return;

    dime::Config cfg;
    dime::ConfigResult loaded = dime::load_from_environment(cfg);
    if (!loaded.ok) dime::exit_bad_config(loaded.error);

    const bool descendant = dime::lifecycle::claim_report_root();

    std::string error;
    std::unique_ptr<dime::Engine> engine;
    std::unique_ptr<dime::EmulatedHeap> heap;
    try {
        engine = dime::Engine::start(cfg, &error);
        if (engine) heap = dime::EmulatedHeap::create(*engine, cfg.heap_bytes, &error);
    } catch (const std::exception& e) {  // e.g. the handler thread could not be created
        error = e.what();
    }
    if (!engine || !heap) exit_start_failure(error.empty() ? "cannot start the emulation" : error);
    engine->set_descendant(descendant);
    dime::logf(dime::LogLevel::kInfo, "pid {}: {}; pool {} pages, heap {} MiB at {}", getpid(),
               engine->emulating() ? "emulating" : "emulation off (disable), plain memory",
               cfg.pool_pages(), heap->size() >> 20, heap->base());

    libc_usable_size(nullptr);  // resolve now, while no hook depends on it
    g_engine = engine.release();
    std::atexit(&write_reports_once);
    g_heap.store(heap.release(), std::memory_order_release);
    dime::preload::enable_mmap_hooks(g_engine);
}

}  // namespace

DIME_HOOK void* malloc(size_t n) {
    if (dime::EmulatedHeap* h = heap_for_allocation()) return h->malloc(n);
    return __libc_malloc(n);
}

DIME_HOOK void free(void* p) {
    if (dime::EmulatedHeap* h = heap_owning(p))
        h->free(p);
    else
        __libc_free(p);
}

DIME_HOOK void* calloc(size_t count, size_t n) {
    if (dime::EmulatedHeap* h = heap_for_allocation()) return h->calloc(count, n);
    return __libc_calloc(count, n);
}

DIME_HOOK void* realloc(void* p, size_t n) { return realloc_impl(p, n); }

DIME_HOOK void* reallocarray(void* p, size_t count, size_t n) {
    size_t total;
    if (__builtin_mul_overflow(count, n, &total)) {
        errno = ENOMEM;
        return nullptr;
    }
    return realloc_impl(p, total);
}

DIME_HOOK int posix_memalign(void** out, size_t alignment, size_t n) {
    dime::EmulatedHeap* h = heap_for_allocation();
    if (h != nullptr && dime::EmulatedHeap::serves_alignment(alignment)) return h->posix_memalign(out, alignment, n);
    if (!valid_posix_alignment(alignment)) return EINVAL;
    void* p = __libc_memalign(alignment, n);
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
}

DIME_HOOK void* aligned_alloc(size_t alignment, size_t n) {
    dime::EmulatedHeap* h = heap_for_allocation();
    if (h != nullptr && dime::EmulatedHeap::serves_alignment(alignment)) return h->aligned_alloc(alignment, n);
    return __libc_memalign(alignment, n);  // glibc 2.36's aligned_alloc is memalign
}

DIME_HOOK void* memalign(size_t alignment, size_t n) {
    dime::EmulatedHeap* h = heap_for_allocation();
    if (h != nullptr && dime::EmulatedHeap::serves_alignment(alignment)) return h->memalign(alignment, n);
    return __libc_memalign(alignment, n);
}

DIME_HOOK void* valloc(size_t n) {
    if (dime::EmulatedHeap* h = heap_for_allocation()) return h->valloc(n);
    return __libc_valloc(n);
}

DIME_HOOK void* pvalloc(size_t n) {
    if (dime::EmulatedHeap* h = heap_for_allocation()) return h->pvalloc(n);
    return __libc_pvalloc(n);
}

DIME_HOOK size_t malloc_usable_size(void* p) {
    if (p == nullptr) return 0;
    if (dime::EmulatedHeap* h = heap_owning(p)) return h->usable_size(p);
    return libc_usable_size(p);
}
