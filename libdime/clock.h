// clock.h — time sources for the fault path: now_ns() (CLOCK_MONOTONIC through the vDSO, about
// 20 ns) for due times and latencies, and cpu_relax() for spin loops. No syscalls, no locks.
#pragma once

#include <cstdint>
#include <ctime>

namespace dime {

inline uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

}  // namespace dime
