// sys_memory.h — the memory system calls (mmap, munmap, mremap, mprotect, madvise) made directly
// with syscall(2), so that they never pass through the preload's interposed libc symbols. Any
// thread; nothing here allocates, locks or logs. Each returns the kernel's answer: an address or
// 0, else a negative errno (errno itself is left as syscall(2) set it).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace dime::sys {

// The kernel's page on x86-64: the granularity of mmap, munmap, madvise and mprotect arguments,
// and of mincore's answer. DiME's unit (page_size) is a power-of-two multiple of it.
inline constexpr size_t kBasePage = 4096;

// A kernel return value: >= 0 success, < 0 a negative errno.
inline long result(long rc) { return rc == -1 ? -long(errno) : rc; }

// Returns the address, or a negative errno cast to an address (check with is_error).
inline uintptr_t mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    return static_cast<uintptr_t>(result(syscall(SYS_mmap, addr, len, prot, flags, fd, off)));
}
inline bool is_error(uintptr_t addr_or_error) { return addr_or_error > uintptr_t(-4096); }
inline int error_of(uintptr_t addr_or_error) { return -static_cast<int>(static_cast<intptr_t>(addr_or_error)); }

inline int munmap(void* addr, size_t len) { return static_cast<int>(result(syscall(SYS_munmap, addr, len))); }
inline int mprotect(void* addr, size_t len, int prot) {
    return static_cast<int>(result(syscall(SYS_mprotect, addr, len, prot)));
}
inline int madvise(void* addr, size_t len, int advice) {
    return static_cast<int>(result(syscall(SYS_madvise, addr, len, advice)));
}
// True if every base page of [addr, addr + len) is resident (mincore). Used before reading a
// registered range with UFFDIO_COPY: a hole there would raise a fault only the handler can serve.
inline bool all_resident(uintptr_t addr, size_t len) {
    unsigned char vec[512];  // one 2 MiB unit per call
    for (size_t done = 0; done < len;) {
        const size_t chunk = len - done < sizeof vec * kBasePage ? len - done : sizeof vec * kBasePage;
        if (syscall(SYS_mincore, addr + done, chunk, vec) != 0) return false;
        for (size_t i = 0; i < (chunk + kBasePage - 1) / kBasePage; ++i)
            if (!(vec[i] & 1)) return false;
        done += chunk;
    }
    return true;
}
// The address, or a negative errno cast to an address (check with is_error).
inline uintptr_t mremap(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr) {
    return static_cast<uintptr_t>(result(syscall(SYS_mremap, old_addr, old_len, new_len, flags, new_addr)));
}

}  // namespace dime::sys
