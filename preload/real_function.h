// real_function.h — the next definition of a libc function after libdime.so (normally glibc's),
// for the hooks that forward to it: found with dlsym(RTLD_NEXT) on first use, or ahead of time
// with resolve() for hooks that may first run in a signal handler (dlsym is not safe there).
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace dime::preload {

template <typename Signature>
class Real;

template <typename R, typename... Args>
class Real<R(Args...)> {
public:
    using Function = R (*)(Args...);

    explicit constexpr Real(const char* name) : name_(name) {}
    Function get() {
        auto fn = fn_.load(std::memory_order_acquire);
        if (__builtin_expect(fn == nullptr, 0)) {
            fn = reinterpret_cast<Function>(dlsym(RTLD_NEXT, name_));
            if (fn == nullptr) missing();
            fn_.store(fn, std::memory_order_release);
        }
        return fn;
    }
    // Looks the function up now if this C library has it (one that lacks it cannot have been
    // called by the program either; get() would abort then).
    void resolve() {
        if (fn_.load(std::memory_order_acquire) == nullptr)
            if (auto fn = reinterpret_cast<Function>(dlsym(RTLD_NEXT, name_))) fn_.store(fn, std::memory_order_release);
    }

private:
    [[noreturn]] void missing() const {
        char line[128];
        const int n = std::snprintf(line, sizeof line, "dime: %s not found after libdime.so\n", name_);
        if (n > 0 && write(STDERR_FILENO, line, static_cast<size_t>(n)) < 0) {
            // nothing more to do
        }
        std::abort();
    }
    const char* name_;
    std::atomic<Function> fn_{nullptr};
};

}  // namespace dime::preload
