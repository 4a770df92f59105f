// engine_support.h — what the engine's unit tests share: starting an engine, or skipping the
// test where this machine forbids userfaultfd (unless CI demands it with DIME_REQUIRE_UFFD=1);
// and what differs between the backends: which pages are evicted, and the kernel-mode accesses
// the mprotect backend needs made resident first.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "config.h"
#include "engine.h"
#include "uffd.h"

namespace dime::test {

// True when CI demands userfaultfd: then a skip is a failure.
inline bool uffd_required() {
    const char* v = std::getenv("DIME_REQUIRE_UFFD");
    return v && std::strcmp(v, "1") == 0;
}

// Fails the test unless userfaultfd really is unusable here, in which case it warns: the
// caller then returns (a skip). `error` is what Engine::start (or the like) said.
inline void skip_or_fail_without_uffd(const std::string& error) {
    uffd::Capabilities caps;
    const char* why = nullptr;
    const int fd = uffd::open_descriptor(&caps, &why);
    if (fd >= 0) {
        close(fd);
        FAIL("the engine failed although userfaultfd is available: " << error);
    }
    if (uffd_required()) FAIL("userfaultfd is not usable here but DIME_REQUIRE_UFFD=1: " << error);
    WARN("SKIPPED: userfaultfd is not usable on this machine: " << error);
}

// Starts an engine; nullptr only where userfaultfd is forbidden (the caller returns: a skip).
// The mprotect backend needs no permission: its failure to start always fails the test.
inline std::unique_ptr<Engine> start_engine_or_skip(const Config& cfg) {
    std::string error;
    auto engine = Engine::start(cfg, &error);
    if (!engine && cfg.backend == "mprotect") FAIL("the engine with backend mprotect failed to start: " << error);
    if (!engine) skip_or_fail_without_uffd(error);
    return engine;
}

inline bool uses_mprotect(const Engine& e) { return std::strcmp(e.backend_name(), "mprotect") == 0; }

// Per page of [base, base + pages * page_size): whether it is evicted now. With userfaultfd an
// evicted page is not mapped (its data went to the backing span: mincore); with the mprotect
// backend its data stays in place and its protection is PROT_NONE (/proc/self/maps).
inline std::vector<bool> evicted_map(const Engine& e, const void* base, size_t pages, size_t page_size = 4096) {
    std::vector<bool> out(pages, false);
    const auto lo = reinterpret_cast<uintptr_t>(base), hi = lo + pages * page_size;
    if (!uses_mprotect(e)) {
        std::vector<unsigned char> vec(pages * (page_size / 4096));
        REQUIRE(mincore(const_cast<void*>(base), pages * page_size, vec.data()) == 0);
        for (size_t i = 0; i < pages; ++i)
            for (size_t k = 0; k < page_size / 4096; ++k) out[i] = out[i] || !(vec[i * (page_size / 4096) + k] & 1);
        return out;
    }
    FILE* maps = std::fopen("/proc/self/maps", "re");
    REQUIRE(maps != nullptr);
    char line[512];
    while (std::fgets(line, sizeof line, maps)) {
        unsigned long start = 0, end = 0;
        char perms[8] = {};
        if (std::sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 || perms[0] != '-' || perms[1] != '-') continue;
        for (uintptr_t a = std::max<uintptr_t>(start, lo); a < std::min<uintptr_t>(end, hi); a += page_size)
            out[(a - lo) / page_size] = true;
    }
    std::fclose(maps);
    return out;
}

// The evicted pages' indices (see evicted_map), and how many pages are local.
inline std::vector<size_t> evicted_pages(const Engine& e, const void* base, size_t pages) {
    const std::vector<bool> m = evicted_map(e, base, pages);
    std::vector<size_t> out;
    for (size_t i = 0; i < pages; ++i)
        if (m[i]) out.push_back(i);
    return out;
}
inline size_t local_pages_in(const Engine& e, const void* base, size_t pages) {
    return pages - evicted_pages(e, base, pages).size();
}

// What the preload's I/O hooks do around a system call (the mprotect backend; a no-op with
// userfaultfd, where the kernel's own access faults and is served): the buffer is made local,
// and kept so until the call has returned.
class KernelAccess {
public:
    KernelAccess(Engine& e, const void* buf, size_t len, bool write)
        : e_(e), hold_(e.hold_resident(reinterpret_cast<uintptr_t>(buf), len, write)) {}
    ~KernelAccess() { e_.release_resident(hold_); }
    KernelAccess(const KernelAccess&) = delete;
    KernelAccess& operator=(const KernelAccess&) = delete;

private:
    Engine& e_;
    int hold_;
};

// The same for a configuration the test built itself: validate() must accept it (a test's own
// mistake fails the test rather than skipping it).
inline std::unique_ptr<Engine> start_valid_engine_or_skip(const Config& cfg) {
    const auto valid = validate(cfg);
    INFO("test configuration rejected: " << valid.error);
    REQUIRE(valid.ok);
    return start_engine_or_skip(cfg);
}

}  // namespace dime::test
