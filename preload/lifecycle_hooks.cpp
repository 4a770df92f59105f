// lifecycle_hooks.cpp — libdime.so's process life-cycle hooks: descriptor closing (close,
// close_range, closefrom, dup2, dup3) and dlopen. Each hook asks the engine one question
// (libdime/lifecycle.h, descriptors.h) and forwards to the real function. They run on any
// thread of the program, also in signal handlers and vfork children: no allocation, no lock
// (except dlsym's, once per hook, on first use).
#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "descriptors.h"
#include "lifecycle.h"
#include "real_function.h"

#define DIME_HOOK extern "C" __attribute__((visibility("default")))

namespace {

using dime::preload::Real;

Real<int(int)> real_close{"close"};
Real<int(unsigned, unsigned, int)> real_close_range{"close_range"};
Real<void(int)> real_closefrom{"closefrom"};
Real<int(int, int)> real_dup2{"dup2"};
Real<int(int, int, int)> real_dup3{"dup3"};
Real<void*(const char*, int)> real_dlopen{"dlopen"};

int close_range_fn(unsigned first, unsigned last, int flags) { return real_close_range.get()(first, last, flags); }

}  // namespace

DIME_HOOK int close(int fd) {
    if (!dime::lifecycle::may_close(fd)) return 0;
    return real_close.get()(fd);
}

DIME_HOOK int close_range(unsigned first, unsigned last, int flags) {
    return dime::descriptors::close_range_sparing(first, last, flags, &close_range_fn);
}

DIME_HOOK void closefrom(int lowfd) {
    if (lowfd < 0) lowfd = 0;
    const int saved = errno;
    if (dime::descriptors::close_range_sparing(static_cast<unsigned>(lowfd), ~0U, 0, &close_range_fn) == 0) {
        errno = saved;
        return;
    }
    // No close_range (Linux < 5.9): glibc's closefrom would fall back to scanning /proc; close
    // each number up to the limit instead, sparing DiME's.
    rlimit rl{};
    const rlim_t end = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? rl.rlim_cur : 65536;
    for (rlim_t fd = static_cast<rlim_t>(lowfd); fd < end; ++fd)
        if (dime::lifecycle::may_close(static_cast<int>(fd))) real_close.get()(static_cast<int>(fd));
    errno = saved;
}

DIME_HOOK int dup2(int oldfd, int newfd) {
    if (oldfd != newfd && !dime::lifecycle::may_replace(newfd)) {
        errno = EBADF;
        return -1;
    }
    return real_dup2.get()(oldfd, newfd);
}

DIME_HOOK int dup3(int oldfd, int newfd, int flags) {
    if (oldfd != newfd && !dime::lifecycle::may_replace(newfd)) {
        errno = EBADF;
        return -1;
    }
    return real_dup3.get()(oldfd, newfd, flags);
}

// Must end in a tail call: glibc's dlopen takes its caller from the return address (for the
// caller's RUNPATH and namespace), which a tail call leaves pointing into the program.
DIME_HOOK __attribute__((optimize("O2", "optimize-sibling-calls"))) void* dlopen(const char* file, int flags) {
    return real_dlopen.get()(file, dime::lifecycle::dlopen_flags(file, flags));
}
