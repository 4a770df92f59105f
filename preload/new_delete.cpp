// new_delete.cpp — libdime.so's C++ operator new/delete: every form forwards to the malloc-family
// hooks, so new and delete always agree with malloc and free. Runs on every thread of the program.
//
// Why libdime.so defines them: a program may load another allocator that exports operator new
// (Debian's libjemalloc.so.2 does, and redis-server links it). Without these, new resolved to
// jemalloc's own allocator while jemalloc's delete called the interposed free(), which handed the
// jemalloc block to glibc: "free(): invalid pointer". Being preloaded, these definitions come first.
#include <cstdlib>
#include <new>

#define DIME_HOOK_CXX __attribute__((visibility("default")))

namespace {

// One allocation, retried through the new-handler as the standard requires.
void* allocate(std::size_t n, std::size_t alignment, bool nothrow) {
    if (n == 0) n = 1;
    for (;;) {
        void* p = nullptr;
        if (alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
            p = std::malloc(n);
        } else if (posix_memalign(&p, alignment, n) != 0) {
            p = nullptr;
        }
        if (p != nullptr) return p;
        std::new_handler handler = std::get_new_handler();
        if (handler == nullptr) {
            if (nothrow) return nullptr;
            throw std::bad_alloc();
        }
        if (!nothrow) {
            handler();
            continue;
        }
        try {
            handler();
        } catch (...) {
            return nullptr;
        }
    }
}

constexpr std::size_t kPlain = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

}  // namespace

DIME_HOOK_CXX void* operator new(std::size_t n) { return allocate(n, kPlain, false); }
DIME_HOOK_CXX void* operator new[](std::size_t n) { return allocate(n, kPlain, false); }
DIME_HOOK_CXX void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, kPlain, true); }
DIME_HOOK_CXX void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n, kPlain, true); }
DIME_HOOK_CXX void* operator new(std::size_t n, std::align_val_t a) {
    return allocate(n, static_cast<std::size_t>(a), false);
}
DIME_HOOK_CXX void* operator new[](std::size_t n, std::align_val_t a) {
    return allocate(n, static_cast<std::size_t>(a), false);
}
DIME_HOOK_CXX void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return allocate(n, static_cast<std::size_t>(a), true);
}
DIME_HOOK_CXX void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return allocate(n, static_cast<std::size_t>(a), true);
}

DIME_HOOK_CXX void operator delete(void* p) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete[](void* p) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete(void* p, std::size_t) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
DIME_HOOK_CXX void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
