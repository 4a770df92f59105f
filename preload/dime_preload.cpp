// dime_preload.cpp — libdime.so's interposition layer: the malloc family, each hook forwarding to
// the emulated heap of a tier or to glibc, the dime_preload_* entry points behind include/dime.h,
// and the start-up / exit glue. Hooks run on every thread of the host program; the constructor
// runs on the main thread before main().
//
// Routing (the whole policy of this file):
// - allocations go to glibc while the engine is not up, on DiME's own threads (t_internal), inside
//   DiME entry points (InternalScope), on a thread that has begun to exit, for alignments the
//   arena cannot serve, and, with the mprotect backend, when glibc itself allocates (its stdio
//   buffers, directory streams and the like, which it hands to the kernel in calls the preload
//   cannot see); everything else goes to the emulated heap of the tier the placement rules
//   choose (one heap per tier; with no rules, the default tier's, without looking further);
// - free, realloc and malloc_usable_size dispatch by address: a glibc pointer stays glibc's, an
//   emulated one goes to the heap of the tier whose range holds it;
// - realloc keeps a block in its tier unless a placement rule matches the new size and call site
//   and names another tier: then the block moves (new block there, copy, free the old one).
#include <dlfcn.h>
#include <link.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "attribution.h"
#include "config.h"
#include "emulated_heap.h"
#include "engine.h"
#include "lifecycle.h"
#include "log.h"
#include "preload.h"
#include "placement.h"
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

// The default tier's heap; set once by the constructor after everything below, never cleared.
std::atomic<dime::EmulatedHeap*> g_heap{nullptr};
dime::EmulatedHeap* g_heaps[dime::kMaxTiers] = {};  // by tier index; written before g_heap
int g_tier_count = 0;
// The placement rules, in static storage so the hooks reach their fields without a pointer load;
// built once by the constructor, never destroyed (like the engine).
alignas(dime::Placement) unsigned char g_placement_store[sizeof(dime::Placement)];
dime::Placement* g_placement = nullptr;  // points into g_placement_store once built
bool g_has_rules = false;                // any placement rule: ask the placement
// How the hooks decide, set once at start-up: no rules, site rules only (per-thread memo), a few
// size-only rules (flat table below), or anything else (the placement decides).
enum class Mode : unsigned char { none, sites_only, sizes_only, general };
Mode g_mode = Mode::none;
// The route an allocation takes, published by the constructor last (glibc until then): the mode
// above, except that the mprotect backend's test for glibc's own allocations sends every mode
// through heap_by_rules(). allocate() decides the common cases of the first four inline.
enum class Route : unsigned char { glibc, default_heap, site_memo, size_table, rules };
std::atomic<Route> g_route{Route::glibc};
// The default tier's heap as a plain range, for free()'s ownership test without loading the heap
// object: 0 bytes until the constructor publishes it (bytes last), so every pointer is glibc's.
std::atomic<uintptr_t> g_default_base{0};
std::atomic<uintptr_t> g_default_bytes{0};
// sizes_only: rule i matches n when n - g_size_lo[i] <= g_size_span[i] (unsigned); its heap.
constexpr int kInlineSizeRules = 8;
int g_size_rules = 0;
uint64_t g_size_floor = 0;  // the smallest min_bytes of them: smaller blocks match no rule
uint64_t g_size_lo[kInlineSizeRules];
uint64_t g_size_span[kInlineSizeRules];
dime::EmulatedHeap* g_size_heap[kInlineSizeRules];
dime::EmulatedHeap* g_default_heap = nullptr;

inline dime::Placement& placement() { return *std::launder(reinterpret_cast<dime::Placement*>(g_placement_store)); }

// With site-only rules, the heap chosen for this thread's last direct call site (one outside the
// runtime: its decision depends on nothing else), and its index into the per-thread table of
// mimalloc heaps (EmulatedHeap::thread_heap_index). Index 0, the initial value, is the default
// tier's heap (the constructor creates it first), which the quick path below relies on.
struct SiteHeap {
    const void* caller;
    dime::EmulatedHeap* heap;
    long index;
};
thread_local SiteHeap t_site_heap __attribute__((tls_model("initial-exec"))) = {nullptr, nullptr, 0};

// The quick path of malloc and calloc, one straight line for every route that decides without a
// call (a taken branch costs as much as the compares here): a block of fewer than g_quick_below
// bytes whose call site matches the memo under g_caller_mask comes from this thread's heap at
// the memo's index. No rule: below = SIZE_MAX, mask 0 (any site; the index stays 0, the default
// heap). Size rules only: below = the smallest min_bytes. Site rules only: below = SIZE_MAX,
// mask all ones (the memo's site only). Otherwise, and until the constructor publishes it
// (release, last), below = 0: every allocation goes the routed way.
std::atomic<size_t> g_quick_below{0};
uintptr_t g_caller_mask = 0;
dime::Engine* g_engine = nullptr;  // never destroyed: threads may still fault after exit() starts
dime::Attribution* g_attribution = nullptr;  // the engine's, when attribution is on; set at start

// An emulated block just allocated for `caller`: offered to attribution's sampler (a subtraction
// and a compare unless sampled). Returns p.
inline void* noted(void* p, size_t n, const void* caller) {
    if (dime::Attribution* a = g_attribution; a != nullptr && p != nullptr) a->on_allocation(p, n, caller);
    return p;
}
std::atomic<size_t (*)(void*)> g_libc_usable_size{nullptr};

inline size_t total_size(size_t count, size_t n) {
    size_t total;
    return __builtin_mul_overflow(count, n, &total) ? SIZE_MAX : total;
}

inline bool thread_may_allocate() { return !dime::t_internal && dime::EmulatedHeap::thread_can_allocate(); }

// With the mprotect backend: glibc's executable code, whose own allocations go to glibc (see the
// routing above). Empty (length 0) otherwise.
uintptr_t g_glibc_code = 0;
uintptr_t g_glibc_code_bytes = 0;

inline bool allocated_by_glibc(const void* caller) {
    return reinterpret_cast<uintptr_t>(caller) - g_glibc_code < g_glibc_code_bytes;
}

// Finds libc.so.6's executable segment (the loader's list of objects; start-up only).
void find_glibc_code() {
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void*) -> int {
            const char* slash = info->dlpi_name ? std::strrchr(info->dlpi_name, '/') : nullptr;
            const char* base = slash ? slash + 1 : info->dlpi_name;
            if (base == nullptr || std::strncmp(base, "libc.so", 7) != 0) return 0;
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const ElfW(Phdr)& ph = info->dlpi_phdr[i];
                if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
                g_glibc_code = info->dlpi_addr + ph.p_vaddr;
                g_glibc_code_bytes = ph.p_memsz;
            }
            return 1;
        },
        nullptr);
}

// Out of line, so the hooks' common path (no rules) stays a few instructions. With the mprotect
// backend every mode comes here; otherwise the general one and the site memo's misses.
__attribute__((noinline)) dime::EmulatedHeap* heap_by_site(size_t n, const void* caller) {
    if (!dime::EmulatedHeap::thread_can_allocate()) return nullptr;  // no placement work on the way out
    dime::EmulatedHeap* h = g_heaps[placement().choose(n, caller)];
    // The placement's own memo holds `caller` only if it is a direct site (not a wrapper in libc).
    if (dime::detail::t_site_memo.ret == reinterpret_cast<uintptr_t>(caller))
        t_site_heap = {caller, h, h->thread_heap_index()};
    return h;
}

__attribute__((noinline)) dime::EmulatedHeap* heap_by_rules(size_t n, const void* caller) {
    if (!dime::EmulatedHeap::thread_can_allocate()) return nullptr;
    if (g_glibc_code_bytes != 0 && allocated_by_glibc(caller)) return nullptr;
    switch (g_mode) {
        case Mode::none: return g_default_heap;
        case Mode::sites_only: {
            const SiteHeap& last = t_site_heap;
            return last.caller == caller ? last.heap : heap_by_site(n, caller);
        }
        case Mode::sizes_only:
            for (int i = 0; i < g_size_rules; ++i)
                if (n - g_size_lo[i] <= g_size_span[i]) return g_size_heap[i];
            return g_default_heap;
        case Mode::general: break;
    }
    return g_heaps[placement().choose(n, caller)];
}

// The heap the routing picks for an allocation of `n` bytes on this thread now, returning to
// `caller`, or nullptr for glibc. On a thread that has begun to exit it may still name a heap;
// its ready_thread_heap() is null there, which sends the caller to allocate_slowly().
inline dime::EmulatedHeap* chosen_heap(size_t n, const void* caller) {
    const Route route = g_route.load(std::memory_order_acquire);
    if (dime::t_internal) return nullptr;
    if (route == Route::glibc) return nullptr;
    if (__builtin_expect(route == Route::default_heap, 1)) return g_default_heap;
    if (route == Route::site_memo) {
        const SiteHeap& last = t_site_heap;
        return last.caller == caller ? last.heap : heap_by_site(n, caller);
    }
    if (route == Route::size_table) {
        if (n < g_size_floor) return g_default_heap;  // one compare for the many small blocks
        for (int i = 0; i < g_size_rules; ++i)
            if (n - g_size_lo[i] <= g_size_span[i]) return g_size_heap[i];
        return g_default_heap;
    }
    return heap_by_rules(n, caller);
}

// As chosen_heap(), and nullptr on a thread that has begun to exit: for the paths that call the
// heap's own functions (aligned allocation, realloc).
inline dime::EmulatedHeap* heap_for_allocation(size_t n, const void* caller) {
    dime::EmulatedHeap* h = chosen_heap(n, caller);
    return h != nullptr && dime::EmulatedHeap::thread_can_allocate() ? h : nullptr;
}

// malloc() and calloc(), the hooks' hot path: the chosen heap, on the thread's ready mimalloc heap
// (two TLS loads and a few compares before mimalloc), else allocate_slowly().
__attribute__((noinline)) void* allocate_slowly(dime::EmulatedHeap* h, size_t n, const void* caller) {
    if (h != nullptr && dime::EmulatedHeap::thread_can_allocate()) return noted(h->malloc(n), n, caller);
    return __libc_malloc(n);  // not up, DiME's own work, or the thread is exiting
}

// Every route but the plain one.
__attribute__((noinline)) void* allocate_routed(size_t n, const void* caller) {
    dime::EmulatedHeap* h = chosen_heap(n, caller);
    if (__builtin_expect(h != nullptr, 1))
        if (mi_heap_t* mh = h->ready_thread_heap(); __builtin_expect(mh != nullptr, 1))
            return noted(dime::EmulatedHeap::malloc_on(mh, n), n, caller);
    return allocate_slowly(h, n, caller);
}

// The quick path (see g_quick_below), inline and without a stack frame: it ends in a jump into
// mimalloc. With attribution on, its sampler's counter is taken before the block exists; an
// allocation it samples (one in megabytes), a thread without a heap yet, or one that has begun
// to exit (its table entry is null) goes the routed way, which samples after the block.
__attribute__((always_inline)) inline mi_heap_t* quick_thread_heap(size_t n, const void* caller) {
    const SiteHeap& memo = t_site_heap;
    if (__builtin_expect(n >= g_quick_below.load(std::memory_order_acquire), 0)) return nullptr;
    const uintptr_t other_site = reinterpret_cast<uintptr_t>(caller) ^ reinterpret_cast<uintptr_t>(memo.caller);
    if (__builtin_expect((other_site & g_caller_mask) != 0, 0)) return nullptr;
    if (__builtin_expect(dime::t_internal, 0)) return nullptr;
    return dime::detail::t_heaps[memo.index];
}

__attribute__((always_inline)) inline void* allocate(size_t n, const void* caller) {
    if (mi_heap_t* mh = quick_thread_heap(n, caller); __builtin_expect(mh != nullptr, 1))
        if (dime::Attribution* a = g_attribution; a == nullptr || a->count_unsampled(n))
            return dime::EmulatedHeap::malloc_on(mh, n);
    return allocate_routed(n, caller);
}

__attribute__((noinline)) void* allocate_zeroed_slowly(dime::EmulatedHeap* h, size_t count, size_t n,
                                                       const void* caller) {
    if (h != nullptr && dime::EmulatedHeap::thread_can_allocate())
        return noted(h->calloc(count, n), total_size(count, n), caller);
    return __libc_calloc(count, n);
}

__attribute__((noinline)) void* allocate_zeroed_routed(size_t count, size_t n, const void* caller) {
    const size_t total = total_size(count, n);
    dime::EmulatedHeap* h = chosen_heap(total, caller);
    if (__builtin_expect(h != nullptr, 1))
        if (mi_heap_t* mh = h->ready_thread_heap(); __builtin_expect(mh != nullptr, 1))
            return noted(dime::EmulatedHeap::calloc_on(mh, count, n), total, caller);
    return allocate_zeroed_slowly(h, count, n, caller);
}

// As allocate(), for calloc.
__attribute__((always_inline)) inline void* allocate_zeroed(size_t count, size_t n, const void* caller) {
    const size_t total = total_size(count, n);
    if (mi_heap_t* mh = quick_thread_heap(total, caller); __builtin_expect(mh != nullptr, 1))
        if (dime::Attribution* a = g_attribution; a == nullptr || a->count_unsampled(total))
            return dime::EmulatedHeap::calloc_on(mh, count, n);
    return allocate_zeroed_routed(count, n, caller);
}

// The heap that owns `p`, or nullptr when glibc does.
inline dime::EmulatedHeap* heap_owning(const void* p) {
    dime::EmulatedHeap* h = g_heap.load(std::memory_order_acquire);
    if (h == nullptr) return nullptr;
    if (h->owns(p)) return h;
    for (int i = 0; i < g_tier_count; ++i)
        if (g_heaps[i]->owns(p)) return g_heaps[i];
    return nullptr;
}

// free(): a block of the default tier's heap goes straight to mimalloc (a subtraction and a
// compare against plain globals); anything else to release_elsewhere().
__attribute__((noinline)) void release_elsewhere(void* p) {
    if (dime::EmulatedHeap* h = heap_owning(p))
        h->free(p);
    else
        __libc_free(p);
}

inline void release(void* p) {
    const uintptr_t bytes = g_default_bytes.load(std::memory_order_acquire);
    if (__builtin_expect(reinterpret_cast<uintptr_t>(p) - g_default_base.load(std::memory_order_relaxed) < bytes, 1))
        return dime::EmulatedHeap::free(p);
    release_elsewhere(p);
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

// Moves block `p` of heap `from` to a new block of `n` bytes from `alloc`, copying what fits.
template <class Alloc>
void* move_block(dime::EmulatedHeap* from, void* p, size_t n, Alloc alloc) {
    void* q = alloc(n);
    if (q == nullptr) return nullptr;  // errno is ENOMEM; p is untouched, as realloc promises
    size_t keep = from->usable_size(p);
    std::memcpy(q, p, keep < n ? keep : n);
    from->free(p);
    return q;
}

void* realloc_impl(void* p, size_t n, const void* caller) {
    if (p == nullptr) return allocate(n, caller);
    dime::EmulatedHeap* owner = heap_owning(p);
    if (owner == nullptr) return __libc_realloc(p, n);
    if (n == 0) return owner->realloc(p, n);
    if (thread_may_allocate()) {
        // Stay in the block's tier unless a rule for the new size and this call site says otherwise.
        const int tier = g_has_rules ? g_placement->rule_tier(n, caller) : -1;
        if (tier < 0 || g_heaps[tier] == owner) return noted(owner->realloc(p, n), n, caller);
        dime::EmulatedHeap* to = g_heaps[tier];
        return noted(move_block(owner, p, n, [to](size_t size) { return to->malloc(size); }), n, caller);
    }
    // An emulated block grown by a thread that may no longer allocate there: move it to glibc.
    return move_block(owner, p, n, [](size_t size) { return __libc_malloc(size); });
}

// Once per process: a fork child inherits this flag from its parent, so it holds the pid that
// reported (the engine itself skips a vfork child, which shares the parent's memory).
void write_reports_once() {
    static std::atomic<pid_t> reported_by{0};
    const pid_t me = getpid();
    if (reported_by.exchange(me) == me) return;
    dime::InternalScope internal;
    try {
        g_engine->stop_series();  // its last sample first: the counters as the program ends
        g_engine->write_reports();
        g_engine->stop_control();  // its socket goes with the process
        g_engine->leave_instance();  // after the report, which shows the instance as the program ends
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
    std::unique_ptr<dime::EmulatedHeap> heaps[dime::kMaxTiers];
    bool ok = false;
    try {
        engine = dime::Engine::start(cfg, &error);
        if (engine) {
            ok = true;
            // One heap per tier, each in its tier's part of the span (a local tier's is plain memory).
            // The default tier's first, so its heap has index 0 (see SiteHeap).
            const int first = cfg.tier_index(cfg.default_tier);
            for (int k = 0; ok && k < engine->tier_count(); ++k) {
                const int t = k == 0 ? first : k <= first ? k - 1 : k;
                heaps[t] = dime::EmulatedHeap::create(*engine, cfg.heap_bytes, &error, t);
                if (!heaps[t]) {
                    error = "tier " + cfg.tiers()[t].name + ": " + error;
                    ok = false;
                }
            }
            if (ok) g_placement = new (g_placement_store) dime::Placement(cfg);
        }
    } catch (const std::exception& e) {  // e.g. the handler thread could not be created
        error = e.what();
        ok = false;
    }
    if (!ok) exit_start_failure(error.empty() ? "cannot start the emulation" : error);
    engine->set_descendant(descendant);
    dime::logf(dime::LogLevel::kInfo, "pid {}: {} ({}); pool {} pages, {} tier(s), heap {} MiB each, default tier {} at {}",
               getpid(), engine->emulating() ? "emulating" : "emulation off (disable), plain memory",
               engine->backend_name(),
               cfg.pool_pages(), engine->tier_count(), heaps[0]->size() >> 20, cfg.default_tier,
               heaps[cfg.tier_index(cfg.default_tier)]->base());

    libc_usable_size(nullptr);  // resolve now, while no hook depends on it
    g_engine = engine.release();
    g_tier_count = g_engine->tier_count();
    for (int t = 0; t < g_tier_count; ++t) g_heaps[t] = heaps[t].release();
    g_has_rules = !cfg.placement.empty();
    g_default_heap = g_heaps[g_placement->default_tier()];
    bool sizes_only = cfg.placement.size() <= static_cast<size_t>(kInlineSizeRules);
    for (const dime::PlacementRule& r : cfg.placement) {
        sizes_only = sizes_only && r.function.empty() && r.library.empty();
        if (!sizes_only) break;
        g_size_floor = g_size_rules == 0 ? r.min_bytes : std::min<uint64_t>(g_size_floor, r.min_bytes);
        g_size_lo[g_size_rules] = r.min_bytes;
        g_size_span[g_size_rules] = r.max_bytes - r.min_bytes;
        g_size_heap[g_size_rules] = g_heaps[cfg.tier_index(r.tier)];
        ++g_size_rules;
    }
    g_mode = !g_has_rules                   ? Mode::none
             : g_placement->sites_only()    ? Mode::sites_only
             : sizes_only                   ? Mode::sizes_only
                                            : Mode::general;
    std::atexit(&write_reports_once);
    g_attribution = g_engine->attribution();
    {
        std::string why;
        if (!g_engine->start_series(&why)) dime::exit_bad_config("series: " + why);
    }
    if (cfg.control) {
        std::string why;
        if (!g_engine->start_control(&why))
            dime::logf(dime::LogLevel::kWarn, "no control socket (dime ctl cannot reach pid {}): {}", getpid(), why);
    }
    if (g_engine->needs_resident_buffers()) find_glibc_code();
    dime::preload::resolve_signal_hooks();
    dime::preload::enable_kernel_access_hooks(g_engine);
    g_heap.store(g_heaps[g_placement->default_tier()], std::memory_order_release);
    g_default_base.store(reinterpret_cast<uintptr_t>(g_default_heap->base()), std::memory_order_relaxed);
    g_default_bytes.store(g_default_heap->size(), std::memory_order_release);
    const Route route = g_glibc_code_bytes != 0      ? Route::rules
                        : g_mode == Mode::none       ? Route::default_heap
                        : g_mode == Mode::sites_only ? Route::site_memo
                        : g_mode == Mode::sizes_only ? Route::size_table
                                                     : Route::rules;
    g_route.store(route, std::memory_order_release);
    // The quick path last: it needs no other route's data, only the default heap at index 0.
    if (g_default_heap->thread_heap_index() == 0 && route != Route::rules) {
        g_caller_mask = route == Route::site_memo ? ~uintptr_t(0) : 0;
        g_quick_below.store(route == Route::size_table ? g_size_floor : SIZE_MAX, std::memory_order_release);
    }
    dime::preload::enable_mmap_hooks(g_engine);
}

}  // namespace

#define DIME_CALLER __builtin_return_address(0)

DIME_HOOK void* malloc(size_t n) { return allocate(n, DIME_CALLER); }

DIME_HOOK void free(void* p) { release(p); }

DIME_HOOK void* calloc(size_t count, size_t n) { return allocate_zeroed(count, n, DIME_CALLER); }

DIME_HOOK void* realloc(void* p, size_t n) { return realloc_impl(p, n, DIME_CALLER); }

DIME_HOOK void* reallocarray(void* p, size_t count, size_t n) {
    size_t total;
    if (__builtin_mul_overflow(count, n, &total)) {
        errno = ENOMEM;
        return nullptr;
    }
    return realloc_impl(p, total, DIME_CALLER);
}

DIME_HOOK int posix_memalign(void** out, size_t alignment, size_t n) {
    dime::EmulatedHeap* h = heap_for_allocation(n, DIME_CALLER);
    if (h != nullptr && dime::EmulatedHeap::serves_alignment(alignment)) {
        const int rc = h->posix_memalign(out, alignment, n);
        if (rc == 0) noted(*out, n, DIME_CALLER);
        return rc;
    }
    if (!valid_posix_alignment(alignment)) return EINVAL;
    void* p = __libc_memalign(alignment, n);
    if (p == nullptr) return ENOMEM;
    *out = p;
    return 0;
}

DIME_HOOK void* aligned_alloc(size_t alignment, size_t n) {
    dime::EmulatedHeap* h = heap_for_allocation(n, DIME_CALLER);
    if (h != nullptr && dime::EmulatedHeap::serves_alignment(alignment))
        return noted(h->aligned_alloc(alignment, n), n, DIME_CALLER);
    return __libc_memalign(alignment, n);  // glibc 2.36's aligned_alloc is memalign
}

DIME_HOOK void* memalign(size_t alignment, size_t n) {
    dime::EmulatedHeap* h = heap_for_allocation(n, DIME_CALLER);
    if (h != nullptr && dime::EmulatedHeap::serves_alignment(alignment))
        return noted(h->memalign(alignment, n), n, DIME_CALLER);
    return __libc_memalign(alignment, n);
}

DIME_HOOK void* valloc(size_t n) {
    if (dime::EmulatedHeap* h = heap_for_allocation(n, DIME_CALLER)) return noted(h->valloc(n), n, DIME_CALLER);
    return __libc_valloc(n);
}

DIME_HOOK void* pvalloc(size_t n) {
    if (dime::EmulatedHeap* h = heap_for_allocation(n, DIME_CALLER)) return noted(h->pvalloc(n), n, DIME_CALLER);
    return __libc_pvalloc(n);
}

DIME_HOOK size_t malloc_usable_size(void* p) {
    if (p == nullptr) return 0;
    if (dime::EmulatedHeap* h = heap_owning(p)) return h->usable_size(p);
    return libc_usable_size(p);
}

// ---- C++ operator new/delete -------------------------------------------------------------------
// Interposed so that placement rules see the program's call site directly: through libstdc++'s own
// operator new, malloc's caller would be libstdc++ and every `new` would need a stack walk. Same
// routing as malloc; failure calls the new-handler, then throws std::bad_alloc (or returns nullptr
// for the nothrow forms). A program that defines its own operator new keeps it (it is found first).

namespace {

void* new_block(size_t n, size_t alignment, const void* caller) {
    for (;;) {
        void* p;
        if (alignment <= alignof(std::max_align_t)) {
            p = allocate(n, caller);
        } else {
            dime::EmulatedHeap* h = heap_for_allocation(n, caller);
            if (h != nullptr && dime::EmulatedHeap::serves_alignment(alignment))
                p = noted(h->memalign(alignment, n), n, caller);
            else
                p = __libc_memalign(alignment, n);
        }
        if (p != nullptr) return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr) return nullptr;
        handler();
    }
}

void* new_or_throw(size_t n, size_t alignment, const void* caller) {
    void* p = new_block(n, alignment, caller);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

void* new_or_null(size_t n, size_t alignment, const void* caller) noexcept {
    try {
        return new_block(n, alignment, caller);
    } catch (...) {  // a new-handler may throw
        return nullptr;
    }
}

}  // namespace

#define DIME_NEW_HOOK __attribute__((visibility("default")))
using align_t = std::align_val_t;
using nothrow_t = std::nothrow_t;
constexpr size_t kPlain = 0;

DIME_NEW_HOOK void* operator new(size_t n) { return new_or_throw(n, kPlain, DIME_CALLER); }
DIME_NEW_HOOK void* operator new[](size_t n) { return new_or_throw(n, kPlain, DIME_CALLER); }
DIME_NEW_HOOK void* operator new(size_t n, const nothrow_t&) noexcept { return new_or_null(n, kPlain, DIME_CALLER); }
DIME_NEW_HOOK void* operator new[](size_t n, const nothrow_t&) noexcept { return new_or_null(n, kPlain, DIME_CALLER); }
DIME_NEW_HOOK void* operator new(size_t n, align_t a) { return new_or_throw(n, size_t(a), DIME_CALLER); }
DIME_NEW_HOOK void* operator new[](size_t n, align_t a) { return new_or_throw(n, size_t(a), DIME_CALLER); }
DIME_NEW_HOOK void* operator new(size_t n, align_t a, const nothrow_t&) noexcept {
    return new_or_null(n, size_t(a), DIME_CALLER);
}
DIME_NEW_HOOK void* operator new[](size_t n, align_t a, const nothrow_t&) noexcept {
    return new_or_null(n, size_t(a), DIME_CALLER);
}
DIME_NEW_HOOK void operator delete(void* p) noexcept { release(p); }
DIME_NEW_HOOK void operator delete[](void* p) noexcept { release(p); }
DIME_NEW_HOOK void operator delete(void* p, size_t) noexcept { release(p); }
DIME_NEW_HOOK void operator delete[](void* p, size_t) noexcept { release(p); }
DIME_NEW_HOOK void operator delete(void* p, const nothrow_t&) noexcept { release(p); }
DIME_NEW_HOOK void operator delete[](void* p, const nothrow_t&) noexcept { release(p); }
DIME_NEW_HOOK void operator delete(void* p, align_t) noexcept { release(p); }
DIME_NEW_HOOK void operator delete[](void* p, align_t) noexcept { release(p); }
DIME_NEW_HOOK void operator delete(void* p, size_t, align_t) noexcept { release(p); }
DIME_NEW_HOOK void operator delete[](void* p, size_t, align_t) noexcept { release(p); }
DIME_NEW_HOOK void operator delete(void* p, align_t, const nothrow_t&) noexcept { release(p); }
DIME_NEW_HOOK void operator delete[](void* p, align_t, const nothrow_t&) noexcept { release(p); }

// ---- include/dime.h, behind libdime_api's dime_* functions (found with dlsym) ------------------
// `caller` is the return address of the program's call to dime_*, for placement rules.

namespace {

// Explicit placement: the heap of tier `tier` (nullptr = as the placement rules say), or nullptr
// for glibc (emulation off, or this thread may not allocate). *unknown is set for a bad name.
dime::EmulatedHeap* heap_for_tier(const char* tier, size_t n, const void* caller, bool* unknown) {
    *unknown = false;
    if (g_heap.load(std::memory_order_acquire) == nullptr) return nullptr;
    int t = -1;
    if (tier != nullptr) {
        t = g_placement->tier_named(tier);
        if (t < 0) {
            *unknown = true;
            return nullptr;
        }
    }
    if (!thread_may_allocate()) return nullptr;
    return t >= 0 ? g_heaps[t] : g_heaps[g_placement->choose(n, caller)];
}

}  // namespace

DIME_HOOK void* dime_preload_malloc(size_t n, const char* tier, const void* caller) {
    bool unknown = false;
    dime::EmulatedHeap* h = heap_for_tier(tier, n, caller, &unknown);
    if (unknown) {
        errno = EINVAL;
        return nullptr;
    }
    return h ? noted(h->malloc(n), n, caller) : __libc_malloc(n);
}

DIME_HOOK void* dime_preload_calloc(size_t count, size_t n, const char* tier, const void* caller) {
    bool unknown = false;
    dime::EmulatedHeap* h = heap_for_tier(tier, total_size(count, n), caller, &unknown);
    if (unknown) {
        errno = EINVAL;
        return nullptr;
    }
    return h ? noted(h->calloc(count, n), total_size(count, n), caller) : __libc_calloc(count, n);
}

DIME_HOOK void dime_preload_free(void* p) { release(p); }

DIME_HOOK const char* dime_preload_tier_of(const void* p) {
    if (p == nullptr || g_heap.load(std::memory_order_acquire) == nullptr) return nullptr;
    return g_placement->tier_name(g_engine->tier_of(p));  // nullptr for -1 (not in any tier)
}

// A hint: fetch the range's remote pages now (Engine::prefetch_memory); 0 without emulation.
DIME_HOOK int dime_preload_prefetch(const void* addr, size_t len) {
    if (g_heap.load(std::memory_order_acquire) == nullptr) return 0;
    return g_engine->prefetch_memory(addr, len);
}

// Emulation on: the heaps are up and the engine emulates (not DIME_DISABLE's plain memory).
DIME_HOOK int dime_preload_active(void) {
    return g_heap.load(std::memory_order_acquire) != nullptr && g_engine->emulating();
}

// ---- include/dime.h: run-time control of the local pool ------------------------------------------
// Without emulation (DIME_DISABLE, or a process DiME leaves alone) both are no-ops returning 0.

DIME_HOOK long dime_preload_evict(const void* addr, size_t len) {
    if (g_heap.load(std::memory_order_acquire) == nullptr || !g_engine->emulating()) return 0;
    return static_cast<long>(g_engine->evict_range(addr, len));
}

DIME_HOOK int dime_preload_set_local_pages(size_t pages) {
    if (g_heap.load(std::memory_order_acquire) == nullptr || !g_engine->emulating()) return 0;
    if (g_engine->set_local_pages(pages)) return 0;
    errno = EINVAL;
    return -1;
}
