// overcommit.h — the kernel's first answer to one request for private writable memory: with
// vm.overcommit_memory 0 (the default) it refuses, with ENOMEM, any single request larger than RAM
// plus swap. DiME's emulated memory comes from address space it reserved without accounting, so it
// must say that no itself, or a malloc(30 GiB) on a 23 GiB machine would succeed under DiME and
// fail natively. Read once at start-up; the check is one load and a compare (allocation paths).
#pragma once

#include <atomic>
#include <cstddef>

namespace dime::overcommit {

namespace detail {
inline std::atomic<size_t> g_largest{~size_t(0)};  // largest request the kernel would grant
inline std::atomic<bool> g_noreserve_counts{false};  // vm.overcommit_memory 2: MAP_NORESERVE is ignored
}  // namespace detail

// Reads vm.overcommit_memory and RAM + swap (sysinfo). Idempotent; call before the hooks run.
void init();

// Whether the kernel would refuse a private writable request of `bytes` outright. MAP_NORESERVE
// mappings skip the check unless overcommit is strict (mode 2). In mode 2 the kernel refuses more
// (whatever exceeds the commit limit); DiME refuses only what exceeds RAM + swap.
inline bool refuses(size_t bytes, bool noreserve = false) {
    if (noreserve && !detail::g_noreserve_counts.load(std::memory_order_relaxed)) return false;
    return bytes > detail::g_largest.load(std::memory_order_relaxed);
}

}  // namespace dime::overcommit
