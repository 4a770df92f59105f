// placement_sites.cpp — allocates from call sites whose names, libraries and sizes are known and
// prints one line "<case> <tier> <ok|CORRUPT>" per allocation (tier from dime_tier_of). Run under
// libdime.so with the configurations in tests/tiers/ by test_placement.cpp, which holds the
// expectations (the comments below give the tiers under placement.yaml).
// Every helper is noinline and uses its block after the call, so its frame is the call site.
#include <dime.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "pattern.h"

extern "C" {
void* placement_lib_alloc(size_t n);
void* placement_lib_calloc(size_t count, size_t n);
}

#define SITE extern "C" __attribute__((noinline))

SITE void* hot_alloc(size_t n) {
    void* p = std::malloc(n);
    if (p) *static_cast<volatile char*>(p) = 1;
    return p;
}

SITE void* hot_calloc(size_t count, size_t n) {
    void* p = std::calloc(count, n);
    if (p) *static_cast<volatile char*>(p) = 0;
    return p;
}

SITE void* hot_aligned(size_t n) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, n) != 0) return nullptr;
    *static_cast<volatile char*>(p) = 1;
    return p;
}

SITE char* hot_strdup(const char* s) {  // malloc is called by libc's strdup: the site is here
    char* p = strdup(s);
    if (p) *static_cast<volatile char*>(p) = p[0];
    return p;
}

SITE char* hot_new(size_t n) {  // malloc is called by libstdc++'s operator new[]
    char* p = new char[n];
    *static_cast<volatile char*>(p) = 1;
    return p;
}

SITE void* hot_realloc(void* p, size_t n) {
    void* q = std::realloc(p, n);
    if (q) *static_cast<volatile char*>(q) = *static_cast<char*>(q);
    return q;
}

SITE void* cold_alloc(size_t n) {
    void* p = std::malloc(n);
    if (p) *static_cast<volatile char*>(p) = 1;
    return p;
}

namespace app {
__attribute__((noinline)) void* parse_records(size_t n) {
    void* p = std::malloc(n);
    if (p) *static_cast<volatile char*>(p) = 1;
    return p;
}
}  // namespace app

namespace {

int corrupt = 0;

const char* tier(const void* p) {
    const char* t = dime_tier_of(p);
    return t ? t : "(none)";
}

// Fills the block, checks it, prints the case.
void report(const char* name, void* p, size_t n, uint64_t seed) {
    if (p == nullptr) {
        std::printf("%s (null) CORRUPT\n", name);
        ++corrupt;
        return;
    }
    pattern_fill(p, n, seed);
    const bool ok = pattern_check(p, n, seed) == static_cast<size_t>(-1);
    corrupt += !ok;
    std::printf("%s %s %s\n", name, tier(p), ok ? "ok" : "CORRUPT");
}

// realloc: fills the old block, reallocates, prints the new tier and whether the kept prefix survived.
template <class Realloc>
void report_realloc(const char* name, void* p, size_t old_n, size_t new_n, uint64_t seed, Realloc re) {
    pattern_fill(p, old_n, seed);
    void* q = re(p, new_n);
    const size_t keep = old_n < new_n ? old_n : new_n;
    const bool ok = q != nullptr && pattern_check(q, keep, seed) == static_cast<size_t>(-1);
    corrupt += !ok;
    std::printf("%s %s %s\n", name, q ? tier(q) : "(null)", ok ? "ok" : "CORRUPT");
    std::free(q);
}

}  // namespace

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::string text(200, 'x');
    report("main_small", std::malloc(32), 32, 1);                        // rule 0
    report("main_medium", std::malloc(4096), 4096, 2);                   // no rule: default
    report("main_large", std::malloc(2 << 20), 2 << 20, 3);              // rule 4
    report("hot_malloc", hot_alloc(4096), 4096, 4);                      // rule 1
    report("hot_small", hot_alloc(16), 16, 5);                           // rule 0 comes first
    report("hot_calloc", hot_calloc(100, 40), 4000, 6);                  // rule 1
    report("hot_aligned", hot_aligned(4096), 4096, 7);                   // rule 1
    report("hot_strdup", hot_strdup(text.c_str()), 201, 8);              // rule 1 through libc
    report("main_strdup", strdup(text.c_str()), 201, 24);                // same libc caller, other site
    char* from_new = hot_new(4096);
    report("hot_new", from_new, 4096, 9);                                // rule 1 through libstdc++
    delete[] from_new;
    char* main_new = new char[4096];
    report("main_new", main_new, 4096, 25);
    delete[] main_new;
    report("parse_cxx", app::parse_records(4096), 4096, 10);             // rule 2 (demangled)
    report("lib_alloc", placement_lib_alloc(4096), 4096, 11);            // rule 3
    report("lib_calloc", placement_lib_calloc(10, 400), 4000, 12);       // rule 3
    report("lib_small", placement_lib_alloc(8), 8, 13);                  // rule 0 comes first
    report("cold_medium", cold_alloc(4096), 4096, 14);                   // no rule: default
    report("cold_big", cold_alloc(600 << 10), 600 << 10, 15);            // rule 5
    report("cold_huge", cold_alloc(2 << 20), 2 << 20, 16);               // rule 4 comes first
    for (int i = 0; i < 1000; ++i) std::free(hot_alloc(4096 + i));       // the cache answers the same
    report("hot_again", hot_alloc(4096), 4096, 17);

    void* t = nullptr;
    std::thread([&] { t = hot_alloc(4096); }).join();                   // another thread, same site
    report("hot_thread", t, 4096, 18);

    auto main_realloc = [](void* p, size_t n) { return std::realloc(p, n); };
    report_realloc("realloc_grow_to_large", cold_alloc(4096), 4096, 2 << 20, 19, main_realloc);  // remote -> far
    report_realloc("realloc_keep_tier", hot_alloc(4096), 4096, 8192, 20, main_realloc);         // far stays far
    report_realloc("realloc_shrink_to_small", hot_alloc(4096), 4096, 48, 21, main_realloc);     // far -> local
    report_realloc("realloc_from_hot_site", std::malloc(100), 100, 4096, 22,
                   [](void* p, size_t n) { return hot_realloc(p, n); });                        // remote -> far
    report_realloc("realloc_local_grows", std::malloc(40), 40, 3000, 23, main_realloc);         // local stays local
    return corrupt == 0 ? 0 : 1;
}
