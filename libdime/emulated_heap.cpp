// emulated_heap.cpp — the malloc family served by mimalloc from an exclusive arena in emulated
// memory. Runs on application threads; the per-thread heap is created on a thread's first
// allocation and torn down by mimalloc when the thread exits.
#include "emulated_heap.h"

#include <mimalloc.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <unistd.h>

#include "engine.h"
#include "overcommit.h"
#include "thread_role.h"

// glibc: runs `fn(obj)` when the calling thread exits, before any pthread key destructor (and at
// exit() for the main thread). mimalloc tears its thread state down from a pthread key destructor,
// so this is early enough to stop using the thread's heaps before they disappear.
extern "C" int __cxa_thread_atexit_impl(void (*fn)(void*), void* obj, void* dso_symbol);
extern "C" void* __dso_handle;

namespace dime {
namespace {

static_assert(EmulatedHeap::kMaxAlignment == (size_t(32) << 20) / 2,
              "mimalloc 2.0.x serves alignments up to half a segment from arenas");

using detail::t_exiting;
using detail::t_heaps;
// Whether this thread's exit hook is installed (initial-exec TLS, as the state in the header).
thread_local bool t_exit_hook __attribute__((tls_model("initial-exec"))) = false;

std::atomic<int> g_instances{0};
size_t g_page_size = 4096;

void on_thread_exit(void*) {
    // From here on this thread allocates elsewhere (the preload sends it to libc); mimalloc's own
    // thread-exit handler runs next and moves the pages of our heaps to its abandoned list, where
    // other threads can still free (and reuse) them.
    t_exiting = true;
    for (mi_heap_t*& h : t_heaps) h = nullptr;
}

void on_mimalloc_error(int err, void*) {
    // A null result from mimalloc comes with ENOMEM (out of memory) or EOVERFLOW (a request too
    // large). mimalloc sets errno itself when an exclusive arena is full, not on every path; the
    // malloc family's callers expect ENOMEM, as from glibc, and EmulatedHeap::malloc_on() leaves
    // errno to mimalloc and this handler. EINVAL is reported as a null result too; EFAULT means
    // mimalloc's metadata is corrupt (a wild write by the program), where going on is unsafe.
    if (err == ENOMEM || err == EOVERFLOW) errno = ENOMEM;
    if (err == EFAULT) abort();
}

// mimalloc options that could return arena memory to the OS (MADV_DONTNEED/MADV_FREE/mprotect)
// behind the engine's back. The arena is registered as committed, which already marks its
// segments pinned (no decommit, no page reset); switching these off keeps that true whatever
// MIMALLOC_* variables the program runs with.
void configure_mimalloc() {
    mi_option_set(mi_option_allow_decommit, 0);           // segment / span decommit
    mi_option_set(mi_option_page_reset, 0);               // MADV_FREE of freed pages
    mi_option_set(mi_option_abandoned_page_decommit, 0);  // decommit when a thread exits
    mi_option_set(mi_option_deprecated_segment_reset, 0);
    mi_option_set(mi_option_deprecated_reset_decommits, 0);
    mi_option_set(mi_option_eager_commit_delay, 0);       // arena memory counts as committed anyway
    mi_option_set(mi_option_large_os_pages, 0);           // never ask for huge pages
    mi_option_set(mi_option_destroy_on_exit, 0);          // other threads may run past exit()
    mi_register_error(&on_mimalloc_error, nullptr);
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }
bool is_power_of_two(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

}  // namespace

std::unique_ptr<EmulatedHeap> EmulatedHeap::create(Engine& engine, size_t bytes, std::string* error, int tier) {
    auto fail = [&](std::string why) {
        if (error) *error = std::move(why);
        return std::unique_ptr<EmulatedHeap>();
    };
    const int index = g_instances.fetch_add(1);
    if (index >= kMaxInstances) return fail("too many emulated heaps");
    if (index == 0) {
        long ps = sysconf(_SC_PAGESIZE);
        if (ps > 0) g_page_size = static_cast<size_t>(ps);
        configure_mimalloc();
    }

    const size_t len = round_up(bytes ? bytes : 1, kArenaGranule);
    // map_region only page-aligns; reserve one granule more and use the aligned part. The slack
    // stays registered but is never touched, so it costs address space only.
    std::string why;
    void* region = engine.map_region_in_tier(len + kArenaGranule, tier, &why);
    if (!region) return fail("cannot reserve the emulated heap (" + std::to_string(len >> 20) + " MiB): " + why);
    const uintptr_t start = round_up(reinterpret_cast<uintptr_t>(region), kArenaGranule);

    mi_arena_id_t id = 0;
    if (!mi_manage_os_memory_ex(reinterpret_cast<void*>(start), len, /*is_committed=*/true, /*is_large=*/false,
                                /*is_zero=*/true, /*numa_node=*/-1, /*exclusive=*/true, &id)) {
        engine.unmap_region(region);
        return fail("mimalloc refused the emulated heap as an arena");
    }

    std::unique_ptr<EmulatedHeap> heap(new EmulatedHeap());
    heap->base_ = start;
    heap->size_ = len;
    heap->arena_id_ = id;
    heap->index_ = index;
    heap->tier_ = tier;
    return heap;
}

mi_heap_t* EmulatedHeap::thread_heap() noexcept {
    mi_heap_t* h = t_heaps[index_];
    return __builtin_expect(h != nullptr, 1) ? h : create_thread_heap();
}

mi_heap_t* EmulatedHeap::create_thread_heap() noexcept {
    // Setting up mimalloc's thread state and glibc's exit bookkeeping may allocate through the
    // hooks; that memory is DiME's, so it goes to libc.
    InternalScope internal;
    if (t_exiting) return nullptr;
    if (!t_exit_hook) {
        if (__cxa_thread_atexit_impl(&on_thread_exit, nullptr, &__dso_handle) != 0) return nullptr;
        t_exit_hook = true;
    }
    mi_heap_t* h = mi_heap_new_in_arena(arena_id_);
    t_heaps[index_] = h;
    return h;
}

// mimalloc 2.0.9's mi_heap_malloc_aligned takes a fast path for power-of-two sizes up to 1 KiB
// that ignores alignments of 256..1024 (upstream issue #700, fixed after 2.0.9); the _at variant
// checks the alignment of the block it hands out.
static inline void* aligned_block(mi_heap_t* h, size_t n, size_t alignment) {
    return h ? mi_heap_malloc_aligned_at(h, n, alignment, 0) : nullptr;
}

// Each allocation path sets errno only on failure, as glibc does.
static inline void* check(void* p) {
    if (__builtin_expect(p == nullptr, 0)) errno = ENOMEM;
    return p;
}

// A request the kernel would refuse outright (larger than RAM + swap, overcommit.h) fails here as
// it does natively, although the arena's address space could hold it.
static inline bool refused(size_t n) {
    if (__builtin_expect(!overcommit::refuses(n), 1)) return false;
    errno = ENOMEM;
    return true;
}

void* EmulatedHeap::malloc(size_t n) noexcept {
    mi_heap_t* h = thread_heap();
    return h ? malloc_on(h, n) : check(nullptr);
}

void* EmulatedHeap::calloc(size_t count, size_t n) noexcept {
    mi_heap_t* h = thread_heap();
    return h ? calloc_on(h, count, n) : check(nullptr);
}

void* EmulatedHeap::realloc(void* p, size_t n) noexcept {
    if (p != nullptr && n == 0) {
        mi_free(p);
        return nullptr;
    }
    if (refused(n)) return nullptr;  // p stays as it was
    mi_heap_t* h = thread_heap();
    return check(h ? mi_heap_realloc(h, p, n) : nullptr);
}

void* EmulatedHeap::reallocarray(void* p, size_t count, size_t n) noexcept {
    size_t total;
    if (__builtin_mul_overflow(count, n, &total)) {
        errno = ENOMEM;
        return nullptr;
    }
    return realloc(p, total);
}

int EmulatedHeap::posix_memalign(void** out, size_t alignment, size_t n) noexcept {
    if (!is_power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
    if (overcommit::refuses(n)) return ENOMEM;
    mi_heap_t* h = thread_heap();
    void* p = aligned_block(h, n, alignment);
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
}

// glibc 2.36 (Debian 12) makes aligned_alloc an alias of memalign; do the same.
void* EmulatedHeap::aligned_alloc(size_t alignment, size_t n) noexcept { return memalign(alignment, n); }

void* EmulatedHeap::memalign(size_t alignment, size_t n) noexcept {
    if (alignment <= sizeof(void*)) return malloc(n);  // every block is at least pointer-aligned
    if (!is_power_of_two(alignment)) {
        if (alignment > (SIZE_MAX >> 1) + 1) {
            errno = EINVAL;
            return nullptr;
        }
        alignment = size_t(1) << (64 - __builtin_clzll(alignment));
    }
    if (refused(n)) return nullptr;
    mi_heap_t* h = thread_heap();
    return check(aligned_block(h, n, alignment));
}

void* EmulatedHeap::valloc(size_t n) noexcept { return memalign(g_page_size, n); }

void* EmulatedHeap::pvalloc(size_t n) noexcept {
    if (n > SIZE_MAX - g_page_size) {
        errno = ENOMEM;
        return nullptr;
    }
    return memalign(g_page_size, n == 0 ? g_page_size : round_up(n, g_page_size));
}

size_t EmulatedHeap::usable_size(const void* p) const noexcept { return p ? mi_usable_size(p) : 0; }

}  // namespace dime
