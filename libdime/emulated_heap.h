// emulated_heap.h — the program's heap inside one emulated region: a mimalloc exclusive arena over
// memory the engine registered, served by per-thread mimalloc heaps bound to that arena. Called on
// the application's threads (from the preload hooks); never on the fault handler thread.
//
// Invariants:
// - Every block handed out lies in [base(), base() + size()); owns() is a range check.
// - When the arena is full an allocation fails (nullptr / ENOMEM); it never falls back to OS memory.
// - mimalloc never decommits, resets or madvises arena memory (the arena is registered as committed
//   and pinned, and the options that could do so are switched off), so the engine alone decides
//   which pages are present.
// - A thread's heap lives until the thread exits; mimalloc then hands its pages to the thread's
//   backing heap and abandons them, so blocks stay valid and any thread may free them.
#pragma once

#include <mimalloc.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "overcommit.h"

namespace dime {

class Engine;

namespace detail {
constexpr int kMaxHeapInstances = 8;
// This thread's mimalloc heap in each EmulatedHeap instance (by index): created on the thread's
// first allocation there, cleared when the thread begins to exit. Initial-exec TLS, so the hooks
// read it with one load (and before the loader's TLS machinery can be used).
inline thread_local mi_heap_t* t_heaps[kMaxHeapInstances] __attribute__((tls_model("initial-exec"))) = {};
inline thread_local bool t_exiting __attribute__((tls_model("initial-exec"))) = false;
}  // namespace detail

class EmulatedHeap {
public:
    // mimalloc (2.0.x) hands arena memory out in segments of this size and finds a block's segment
    // by masking its address, so the arena's start and length are multiples of it.
    static constexpr size_t kArenaGranule = size_t(32) << 20;
    // The largest alignment the arena can serve: mimalloc satisfies larger ones only with OS memory.
    static constexpr size_t kMaxAlignment = kArenaGranule / 2;
    // How many EmulatedHeap instances (one per tier) may exist in a process.
    static constexpr int kMaxInstances = detail::kMaxHeapInstances;

    // Reserves an emulated region of at least `bytes` (rounded up to kArenaGranule) in tier `tier`
    // of `engine` and gives it to mimalloc as an exclusive arena. Returns nullptr and sets *error
    // on failure. Not thread-safe against other create() calls; call it at start-up.
    static std::unique_ptr<EmulatedHeap> create(Engine& engine, size_t bytes, std::string* error, int tier = 0);
    // The arena cannot be taken back from mimalloc, so destruction only forgets it: blocks stay
    // valid memory. Processes never destroy their heap at exit (other threads may still run).
    ~EmulatedHeap() = default;
    EmulatedHeap(const EmulatedHeap&) = delete;
    EmulatedHeap& operator=(const EmulatedHeap&) = delete;

    bool owns(const void* p) const noexcept { return reinterpret_cast<uintptr_t>(p) - base_ < size_; }
    void* base() const noexcept { return reinterpret_cast<void*>(base_); }
    size_t size() const noexcept { return size_; }
    int arena_id() const noexcept { return arena_id_; }
    int tier() const noexcept { return tier_; }

    // Whether the calling thread may allocate here. False once the thread has begun to exit (its
    // mimalloc heaps are about to be torn down); free() and usable_size() work on every thread.
    static bool thread_can_allocate() noexcept { return !detail::t_exiting; }
    // Whether aligned allocations with this alignment can be served from the arena.
    static bool serves_alignment(size_t alignment) noexcept { return alignment <= kMaxAlignment; }

    // The malloc family with glibc's semantics. Allocation failure returns nullptr (or ENOMEM for
    // posix_memalign) with errno = ENOMEM. `p` arguments must be owned by this heap (or null).
    void* malloc(size_t n) noexcept;
    void* calloc(size_t count, size_t n) noexcept;
    void* realloc(void* p, size_t n) noexcept;  // n == 0 frees p and returns nullptr (as glibc)
    void* reallocarray(void* p, size_t count, size_t n) noexcept;
    int posix_memalign(void** out, size_t alignment, size_t n) noexcept;  // returns 0/EINVAL/ENOMEM
    void* aligned_alloc(size_t alignment, size_t n) noexcept;  // as memalign (glibc 2.36 does the same)
    void* memalign(size_t alignment, size_t n) noexcept;       // alignment rounded up to a power of two
    void* valloc(size_t n) noexcept;
    void* pvalloc(size_t n) noexcept;
    static void free(void* p) noexcept { mi_free(p); }  // any instance's block, on any thread
    size_t usable_size(const void* p) const noexcept;

    // The hooks' fast path, in two steps: the calling thread's mimalloc heap here, or nullptr
    // when it has none yet or has begun to exit (then malloc() above creates it, or the caller
    // must go elsewhere); then malloc/calloc on that heap, as malloc() and calloc() would.
    // mimalloc reports a failure to the error handler this class registers, which makes errno
    // ENOMEM, so malloc_on() ends in a tail call.
    mi_heap_t* ready_thread_heap() const noexcept { return detail::t_heaps[index_]; }
    // The index of this instance in detail::t_heaps (instances are numbered as created, from 0).
    int thread_heap_index() const noexcept { return index_; }
    __attribute__((always_inline)) static void* malloc_on(mi_heap_t* h, size_t n) noexcept {
        if (__builtin_expect(granted(n), 1)) return mi_heap_malloc(h, n);
        return refuse();
    }
    __attribute__((always_inline)) static void* calloc_on(mi_heap_t* h, size_t count, size_t n) noexcept {
        size_t total;
        if (__builtin_expect(!__builtin_mul_overflow(count, n, &total) && granted(total), 1))
            return mi_heap_calloc(h, count, n);
        return refuse();
    }

private:
    EmulatedHeap() = default;
    mi_heap_t* thread_heap() noexcept;
    mi_heap_t* create_thread_heap() noexcept;
    // Whether the kernel would grant a request of n bytes (overcommit.h): one load and a compare.
    static bool granted(size_t n) noexcept { return !overcommit::refuses(n); }
    // errno = ENOMEM, nullptr: out of line, so that the fast paths above need no stack frame.
    __attribute__((noinline, cold)) static void* refuse() noexcept {
        errno = ENOMEM;
        return nullptr;
    }

    uintptr_t base_ = 0;
    size_t size_ = 0;
    int arena_id_ = 0;
    int index_ = 0;  // slot of this instance in the per-thread heap table
    int tier_ = 0;   // the engine tier its region lies in
};

}  // namespace dime
