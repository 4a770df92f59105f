// mmap_hooks.cpp — libdime.so's interposition of the mmap family: mmap, mmap64, munmap, mremap,
// madvise and mprotect. Each hook offers the call to the engine, which handles it when it creates
// or concerns emulated memory (Engine::map_memory and friends, engine_memory.cpp); otherwise the
// hook makes the real system call, directly with syscall(2) (no dlsym bootstrap). Calls made by
// DiME itself (t_internal) and calls before start-up always go to the kernel. Runs on every thread
// of the host program.
#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdint>

#include "attribution.h"
#include "engine.h"
#include "preload.h"
#include "sys_memory.h"
#include "thread_role.h"

#define DIME_HOOK extern "C" __attribute__((visibility("default")))

namespace {

std::atomic<dime::Engine*> g_engine{nullptr};

// The engine to offer a call to, or nullptr for the kernel.
inline dime::Engine* engine_for_call() {
    if (dime::t_internal) return nullptr;
    return g_engine.load(std::memory_order_acquire);
}

inline void* map_result(uintptr_t r) {
    if (dime::sys::is_error(r)) {
        errno = dime::sys::error_of(r);
        return MAP_FAILED;
    }
    return reinterpret_cast<void*>(r);
}

inline int int_result(int rc) {
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}

inline void* finish_map(const dime::Engine::MemCall& c) {
    if (c.err) errno = c.err;
    return reinterpret_cast<void*>(c.value);
}

inline int finish_int(const dime::Engine::MemCall& c) {
    if (c.err) {
        errno = c.err;
        return -1;
    }
    return 0;
}

void* mmap_impl(void* addr, size_t len, int prot, int flags, int fd, off_t off, const void* caller) {
    if (dime::Engine* e = engine_for_call()) {
        const auto c = e->map_memory(addr, len, prot, flags, fd, off);
        if (c.handled) {
            void* p = finish_map(c);
            // An allocator's arena or a large block: offered to attribution like a malloc.
            if (p != MAP_FAILED)
                if (dime::Attribution* a = e->attribution()) a->on_allocation(p, len, caller);
            return p;
        }
    }
    return map_result(dime::sys::mmap(addr, len, prot, flags, fd, off));
}

}  // namespace

void dime::preload::enable_mmap_hooks(Engine* engine) { g_engine.store(engine, std::memory_order_release); }

DIME_HOOK void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap_impl(addr, len, prot, flags, fd, off, __builtin_return_address(0));
}

DIME_HOOK void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap_impl(addr, len, prot, flags, fd, off, __builtin_return_address(0));
}

DIME_HOOK int munmap(void* addr, size_t len) {
    if (dime::Engine* e = engine_for_call()) {
        const auto c = e->unmap_memory(addr, len);
        if (c.handled) return finish_int(c);
    }
    return int_result(dime::sys::munmap(addr, len));
}

DIME_HOOK void* mremap(void* old_addr, size_t old_len, size_t new_len, int flags, ...) {
    void* new_addr = nullptr;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        new_addr = va_arg(ap, void*);
        va_end(ap);
    }
    if (dime::Engine* e = engine_for_call()) {
        const auto c = e->remap_memory(old_addr, old_len, new_len, flags, new_addr);
        if (c.handled) return finish_map(c);
    }
    return map_result(dime::sys::mremap(old_addr, old_len, new_len, flags, new_addr));
}

DIME_HOOK int madvise(void* addr, size_t len, int advice) {
    if (dime::Engine* e = engine_for_call()) {
        const auto c = e->advise_memory(addr, len, advice);
        if (c.handled) return finish_int(c);
    }
    return int_result(dime::sys::madvise(addr, len, advice));
}

DIME_HOOK int mprotect(void* addr, size_t len, int prot) {
    if (dime::Engine* e = engine_for_call()) {
        const auto c = e->protect_memory(addr, len, prot);
        if (c.handled) return finish_int(c);
    }
    return int_result(dime::sys::mprotect(addr, len, prot));
}
