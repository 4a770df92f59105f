// test_mmap.cpp — the mmap family over emulated memory, driven through the Engine API without
// preload: the span's free-range allocator, partial munmap, MADV_DONTNEED, mremap (grow in place,
// move, shrink, MREMAP_FIXED, MREMAP_DONTUNMAP) and mprotect of regions whose pages are partly
// evicted, and address-space reuse over many map/unmap cycles. Runs on the test thread.
#include <catch2/catch.hpp>

#include <csetjmp>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "address_space.h"
#include "config.h"
#include "engine.h"
#include "uffd.h"
#include "engine_support.h"
#include "segv_chain.h"

namespace {

constexpr size_t kPage = 4096;
constexpr uint64_t kPool = 32;  // pages: every test below uses several times more

using dime::test::uffd_required;

// A quick engine: small pool, no delay, no calibration. nullptr only where userfaultfd is forbidden.
std::unique_ptr<dime::Engine> start(const std::string& backend, uint64_t pool = kPool) {
    dime::Config cfg;
    cfg.backend = backend;
    cfg.summary = false;
    cfg.local_npages = pool;
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;
    cfg.heap_bytes = 1 << 20;
    return dime::test::start_engine_or_skip(cfg);
}

unsigned char* map(dime::Engine& e, size_t pages, void* hint = nullptr) {
    const auto c = e.map_memory(hint, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(c.handled);
    INFO("errno " << c.err);
    REQUIRE(c.err == 0);
    return reinterpret_cast<unsigned char*>(c.value);
}

void unmap(dime::Engine& e, void* p, size_t pages) {
    const auto c = e.unmap_memory(p, pages * kPage);
    REQUIRE(c.handled);
    REQUIRE(c.err == 0);
}

uint64_t word(uint64_t tag, size_t page, size_t i) {
    uint64_t x = tag * 0x9e3779b97f4a7c15ull + page * 0x100000001b3ull + i;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}

void fill(unsigned char* base, size_t first, size_t count, uint64_t tag) {
    for (size_t p = first; p < first + count; ++p) {
        auto* w = reinterpret_cast<uint64_t*>(base + p * kPage);
        for (size_t i = 0; i < kPage / 8; ++i) w[i] = word(tag, p, i);
    }
}

// The pages of [first, first + count) that do not hold their pattern (tag 0: zeros), as text.
std::string wrong_pages(const unsigned char* base, size_t first, size_t count, uint64_t tag) {
    std::string out;
    for (size_t p = first; p < first + count; ++p) {
        const auto* w = reinterpret_cast<const uint64_t*>(base + p * kPage);
        for (size_t i = 0; i < kPage / 8; ++i)
            if (w[i] != (tag ? word(tag, p, i) : 0)) {
                out += ' ';
                out += std::to_string(p);
                break;
            }
    }
    return out;
}

// Whether reading `p` raises SIGSEGV (the page is not accessible), tested in this thread. With
// the mprotect backend the handler goes behind DiME's, as the preload's sigaction hook puts a
// program's: DiME's serves the faults on emulated memory, and only the others reach it.
sigjmp_buf g_jump;
void on_segv(int) { siglongjmp(g_jump, 1); }
bool faults_with_sigsegv(const dime::Engine& e, const void* p) {
    struct sigaction sa {}, old{};
    sa.sa_handler = on_segv;
    sigemptyset(&sa.sa_mask);
    const bool behind = dime::test::uses_mprotect(e);
    if (behind)
        dime::segv::program_action(&sa, &old);
    else
        sigaction(SIGSEGV, &sa, &old);
    bool segv = false;
    if (sigsetjmp(g_jump, 1) == 0) {
        (void)*static_cast<const volatile unsigned char*>(p);
    } else {
        segv = true;
    }
    if (behind)
        dime::segv::program_action(&old, nullptr);
    else
        sigaction(SIGSEGV, &old, nullptr);
    return segv;
}

}  // namespace

// ---- the free-range allocator, no kernel involved ------------------------------------------------

TEST_CASE("AddressSpace: best fit, hints, coalescing, and the partition returns to one free range", "[mmap]") {
    using dime::PieceKind;
    dime::AddressSpace s;
    constexpr uintptr_t base = 0x100000000, P = kPage;
    s.init(base, 1024 * P);
    REQUIRE(s.ranges() == 1);
    REQUIRE(s.free_ranges() == 1);

    const uintptr_t a = s.find_free(10 * P, 0);
    CHECK(a == base);
    s.assign(a, a + 10 * P, PieceKind::kEmulated);
    const uintptr_t b = s.find_free(4 * P, 0);
    CHECK(b == base + 10 * P);
    s.assign(b, b + 4 * P, PieceKind::kHeap);
    const uintptr_t c = s.find_free(20 * P, 0);
    s.assign(c, c + 20 * P, PieceKind::kEmulated);
    CHECK(s.used_bytes() == 34 * P);

    // A hole of 10 pages at the start: a 6-page request takes it (best fit) rather than the tail.
    s.assign(a, a + 10 * P, PieceKind::kFree);
    CHECK(s.find_free(6 * P, 0) == a);
    CHECK(s.find_free(11 * P, 0) == c + 20 * P);
    // A free hint is honoured; a hint that is not free, or outside the span, is not.
    CHECK(s.find_free(2 * P, a + 3 * P) == a + 3 * P);
    CHECK(s.find_free(2 * P, b) == a);
    CHECK(s.find_free(2 * P, 0x1000) == a);
    CHECK(s.is_free(a, a + 10 * P));
    CHECK_FALSE(s.is_free(a, a + 11 * P));

    // Pieces are clipped to the question, in order, free ones included.
    const auto parts = s.pieces(a + 5 * P, c + 2 * P);
    REQUIRE(parts.size() == 3);
    CHECK((parts[0].start == a + 5 * P && parts[0].end == b && parts[0].kind == PieceKind::kFree));
    CHECK((parts[1].start == b && parts[1].end == c && parts[1].kind == PieceKind::kHeap));
    CHECK((parts[2].start == c && parts[2].end == c + 2 * P && parts[2].kind == PieceKind::kEmulated));

    // Splitting in the middle and giving everything back coalesces to the initial state.
    s.assign(c + 5 * P, c + 7 * P, PieceKind::kPlain);
    CHECK(s.ranges() == 6);
    s.assign(b, b + 4 * P, PieceKind::kFree);
    s.assign(c, c + 20 * P, PieceKind::kFree);
    CHECK(s.ranges() == 1);
    CHECK(s.free_ranges() == 1);
    CHECK(s.used_bytes() == 0);
    CHECK(s.find_free(1024 * P, 0) == base);
    CHECK(s.find_free(1025 * P, 0) == 0);
}

// ---- the engine ---------------------------------------------------------------------------------------

TEST_CASE("munmap of part of an emulated mapping: the rest keeps its data, the hole faults, space is reused",
          "[mmap][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto e = start(backend);
    if (!e) return;
    const auto before = e->span_usage();
    constexpr size_t kN = 8 * kPool;
    unsigned char* m = map(*e, kN);
    fill(m, 0, kN, 1);
    REQUIRE(e->totals().evictions > 0);  // most of it is remote now

    unmap(*e, m + 100 * kPage, 50);  // a hole in the middle, mostly evicted pages
    unmap(*e, m, 10);                // the head
    CHECK(wrong_pages(m, 10, 90, 1).empty());
    CHECK(wrong_pages(m, 150, kN - 150, 1).empty());
    CHECK(faults_with_sigsegv(*e, m + 120 * kPage));
    CHECK(faults_with_sigsegv(*e, m));
    // The pool forgot the unmapped pages: everything it holds is within the pool's capacity.
    CHECK(e->totals().resident_pages <= kPool);

    // unmap of nothing mapped, and of a range crossing the hole, behave like the kernel.
    CHECK(e->unmap_memory(m + 100 * kPage, 50 * kPage).err == 0);
    CHECK(e->unmap_memory(m + 1, kPage).err == EINVAL);

    // The hole is reused by the next mapping of its size (best fit), and reads as zeros.
    unsigned char* again = map(*e, 50);
    CHECK(again == m + 100 * kPage);
    CHECK(wrong_pages(again, 0, 50, 0).empty());
    unmap(*e, again, 50);
    unmap(*e, m + 10 * kPage, kN - 10);

    const auto after = e->span_usage();
    CHECK(after.used_bytes == before.used_bytes);
    CHECK(after.ranges == before.ranges);
    CHECK(e->totals().resident_pages == 0);
}

TEST_CASE("MADV_DONTNEED on emulated memory: zeros afterwards, remote copies dropped, first touch again",
          "[mmap][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto e = start(backend);
    if (!e) return;
    constexpr size_t kN = 6 * kPool;
    unsigned char* m = map(*e, kN);
    fill(m, 0, kN, 2);
    // Pages 0..63 are certainly evicted by now (FIFO, pool of 32), the last ones local.
    const uint64_t first_touch_before = e->totals().first_touch_faults;
    const auto c = e->advise_memory(m + 20 * kPage, 40 * kPage, MADV_DONTNEED);
    REQUIRE(c.handled);
    CHECK(c.err == 0);
    const auto f = e->advise_memory(m + (kN - 8) * kPage, 8 * kPage, MADV_FREE);  // local ones
    CHECK(f.err == 0);
    CHECK(wrong_pages(m, 20, 40, 0).empty());
    CHECK(wrong_pages(m, kN - 8, 8, 0).empty());
    // Reading them again was a first touch each, not a fetch of stale data.
    CHECK(e->totals().first_touch_faults >= first_touch_before + 48);
    CHECK(wrong_pages(m, 0, 20, 2).empty());
    CHECK(wrong_pages(m, 60, kN - 68, 2).empty());
    // Advice that only concerns the kernel's own management is accepted; unmapped parts: ENOMEM.
    CHECK(e->advise_memory(m, kN * kPage, MADV_HUGEPAGE).err == 0);
    CHECK(e->advise_memory(m, kN * kPage, MADV_WILLNEED).err == 0);
    unmap(*e, m + 10 * kPage, 1);
    CHECK(e->advise_memory(m, 20 * kPage, MADV_DONTNEED).err == ENOMEM);
    CHECK(wrong_pages(m, 0, 10, 0).empty());  // the mapped parts were advised anyway
    unmap(*e, m, kN);
    CHECK(e->totals().resident_pages == 0);
}

TEST_CASE("mremap of emulated memory with evicted pages: grow in place, move, shrink, fixed, dontunmap",
          "[mmap][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto e = start(backend);
    if (!e) return;
    const auto before = e->span_usage();
    constexpr size_t kN = 4 * kPool;
    const int rw = PROT_READ | PROT_WRITE, anon = MAP_PRIVATE | MAP_ANONYMOUS;

    SECTION("grow in place, then shrink") {
        unsigned char* m = map(*e, kN);
        fill(m, 0, kN, 3);
        auto c = e->remap_memory(m, kN * kPage, 2 * kN * kPage, 0, nullptr);
        REQUIRE(c.err == 0);
        CHECK(c.value == reinterpret_cast<uintptr_t>(m));
        CHECK(wrong_pages(m, 0, kN, 3).empty());
        CHECK(wrong_pages(m, kN, kN, 0).empty());
        c = e->remap_memory(m, 2 * kN * kPage, kN / 2 * kPage, 0, nullptr);
        REQUIRE(c.err == 0);
        CHECK(c.value == reinterpret_cast<uintptr_t>(m));
        CHECK(faults_with_sigsegv(*e, m + kN / 2 * kPage));
        CHECK(wrong_pages(m, 0, kN / 2, 3).empty());
        unmap(*e, m, kN / 2);
    }
    SECTION("grow blocked by a neighbour: moves with MREMAP_MAYMOVE, ENOMEM without") {
        unsigned char* m = map(*e, kN);
        unsigned char* next = map(*e, 16, m + kN * kPage);
        REQUIRE(next == m + kN * kPage);
        fill(m, 0, kN, 4);
        fill(next, 0, 16, 5);
        CHECK(e->remap_memory(m, kN * kPage, 2 * kN * kPage, 0, nullptr).err == ENOMEM);
        auto c = e->remap_memory(m, kN * kPage, 2 * kN * kPage, MREMAP_MAYMOVE, nullptr);
        REQUIRE(c.err == 0);
        auto* moved = reinterpret_cast<unsigned char*>(c.value);
        CHECK(moved != m);
        CHECK(faults_with_sigsegv(*e, m));
        CHECK(wrong_pages(moved, 0, kN, 4).empty());
        CHECK(wrong_pages(moved, kN, kN, 0).empty());
        CHECK(wrong_pages(next, 0, 16, 5).empty());
        fill(moved, 0, 2 * kN, 6);  // evict and fetch at the new place
        CHECK(wrong_pages(moved, 0, 2 * kN, 6).empty());
        unmap(*e, moved, 2 * kN);
        unmap(*e, next, 16);
    }
    SECTION("MREMAP_FIXED onto another emulated mapping replaces it") {
        unsigned char* m = map(*e, kN);
        unsigned char* target = map(*e, kN);
        fill(m, 0, kN, 7);
        fill(target, 0, kN, 8);
        auto c = e->remap_memory(m, kN * kPage, kN * kPage, MREMAP_MAYMOVE | MREMAP_FIXED, target);
        REQUIRE(c.err == 0);
        CHECK(c.value == reinterpret_cast<uintptr_t>(target));
        CHECK(wrong_pages(target, 0, kN, 7).empty());
        CHECK(faults_with_sigsegv(*e, m));
        // The kernel's argument checks.
        CHECK(e->remap_memory(target, kPage, kPage, MREMAP_FIXED, m).err == EINVAL);
        CHECK(e->remap_memory(target, kN * kPage, kN * kPage, MREMAP_MAYMOVE | MREMAP_FIXED, target + kPage).err ==
              EINVAL);
        CHECK(e->remap_memory(m, kPage, 2 * kPage, MREMAP_MAYMOVE, nullptr).err == EFAULT);  // not mapped
        unmap(*e, target, kN);
    }
    SECTION("MREMAP_DONTUNMAP: data moves, the old range stays mapped and reads as zeros") {
        unsigned char* m = map(*e, kN);
        fill(m, 0, kN, 9);
        auto c = e->remap_memory(m, kN * kPage, kN * kPage, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, nullptr);
        REQUIRE(c.err == 0);
        auto* moved = reinterpret_cast<unsigned char*>(c.value);
        CHECK(moved != m);
        CHECK(wrong_pages(moved, 0, kN, 9).empty());
        CHECK(wrong_pages(m, 0, kN, 0) == "");
        unmap(*e, m, kN);
        unmap(*e, moved, kN);
    }
    SECTION("a fixed destination outside the span: the memory becomes plain and keeps its data") {
        unsigned char* m = map(*e, kN);
        fill(m, 0, kN, 10);
        void* outside = mmap(nullptr, kN * kPage, PROT_NONE, anon, -1, 0);
        REQUIRE(outside != MAP_FAILED);
        REQUIRE_FALSE(e->touches_span(outside, kN * kPage));
        auto c = e->remap_memory(m, kN * kPage, kN * kPage, MREMAP_MAYMOVE | MREMAP_FIXED, outside);
        REQUIRE(c.err == 0);
        CHECK(c.value == reinterpret_cast<uintptr_t>(outside));
        CHECK(wrong_pages(static_cast<unsigned char*>(outside), 0, kN, 10).empty());
        CHECK(faults_with_sigsegv(*e, m));
        munmap(outside, kN * kPage);
        // The hole it left in the span is reserved again and reusable.
        unsigned char* again = map(*e, kN, m);
        CHECK(again == m);
        fill(again, 0, kN, 11);
        CHECK(wrong_pages(again, 0, kN, 11).empty());
        unmap(*e, again, kN);
    }
    (void)rw;
    const auto after = e->span_usage();
    CHECK(after.used_bytes == before.used_bytes);
    CHECK(after.ranges == before.ranges);
    CHECK(e->totals().resident_pages == 0);
}

TEST_CASE("mprotect to read-only turns emulated pages into plain memory with their data", "[mmap][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto e = start(backend);
    if (!e) return;
    const auto before = e->span_usage();
    constexpr size_t kN = 4 * kPool;
    unsigned char* m = map(*e, kN);
    fill(m, 0, kN, 12);
    REQUIRE(e->protect_memory(m, 16 * kPage, PROT_READ).err == 0);  // pages 0..15: evicted before
    CHECK(wrong_pages(m, 0, 16, 12).empty());
    REQUIRE(e->protect_memory(m, 16 * kPage, PROT_READ | PROT_WRITE).err == 0);
    fill(m, 0, 16, 13);
    fill(m, 16, kN - 16, 14);  // the rest is still emulated: evicts and re-fetches
    CHECK(wrong_pages(m, 0, 16, 13).empty());
    CHECK(wrong_pages(m, 16, kN - 16, 14).empty());
    CHECK(e->span_usage().detaches == 1);
    unmap(*e, m, kN);
    CHECK(faults_with_sigsegv(*e, m));
    const auto after = e->span_usage();
    CHECK(after.used_bytes == before.used_bytes);
    CHECK(after.ranges == before.ranges);
    CHECK(e->totals().resident_pages == 0);
}

TEST_CASE("MAP_FIXED of a mapping DiME does not emulate over emulated memory, then munmap", "[mmap][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto e = start(backend);
    if (!e) return;
    const auto before = e->span_usage();
    unsigned char* m = map(*e, 64);
    fill(m, 0, 64, 15);
    // A shared mapping in the middle: the program's own (plain), zero-filled, works as shared memory.
    auto c = e->map_memory(m + 8 * kPage, 8 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
                           -1, 0);
    REQUIRE(c.err == 0);
    CHECK(c.value == reinterpret_cast<uintptr_t>(m + 8 * kPage));
    CHECK(wrong_pages(m, 8, 8, 0).empty());
    fill(m, 8, 8, 16);
    CHECK(wrong_pages(m, 0, 8, 15).empty());
    CHECK(wrong_pages(m, 16, 48, 15).empty());
    // MAP_FIXED_NOREPLACE over it: EEXIST; an emulated MAP_FIXED over part of it: emulated again.
    CHECK(e->map_memory(m, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0)
              .err == EEXIST);
    c = e->map_memory(m + 12 * kPage, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
                      0);
    REQUIRE(c.err == 0);
    CHECK(wrong_pages(m, 12, 4, 0).empty());
    CHECK(wrong_pages(m, 8, 4, 16).empty());
    unmap(*e, m, 64);
    CHECK(faults_with_sigsegv(*e, m + 8 * kPage));
    const auto after = e->span_usage();
    CHECK(after.used_bytes == before.used_bytes);
    CHECK(after.ranges == before.ranges);
}

TEST_CASE("many map/unmap cycles reuse the same space: no leak of span, ranges, page numbers or pool",
          "[mmap][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto e = start(backend, 16);
    if (!e) return;
    const auto before = e->span_usage();
    std::vector<std::pair<unsigned char*, size_t>> live;
    uint64_t seed = 1;
    for (int cycle = 0; cycle < 20000; ++cycle) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const size_t pages = 16 + (seed >> 33) % 48;
        unsigned char* m = map(*e, pages);
        m[0] = 1;
        m[(pages - 1) * kPage] = 2;  // two faults; with a pool of 16, evictions too
        live.emplace_back(m, pages);
        if (live.size() > 8) {  // unmap any of them, not always the oldest: holes of mixed sizes
            const size_t victim = (seed >> 40) % live.size();
            auto [v, n] = live[victim];
            CHECK(v[0] == 1);
            CHECK(v[(n - 1) * kPage] == 2);
            live.erase(live.begin() + static_cast<long>(victim));
            unmap(*e, v, n);
        }
    }
    for (auto [m, n] : live) unmap(*e, m, n);
    const auto after = e->span_usage();
    CHECK(after.maps - before.maps == 20000);
    CHECK(after.used_bytes == before.used_bytes);
    CHECK(after.ranges == before.ranges);
    // At most 9 mappings of at most 63 pages were alive at once; with reuse, page numbers stay
    // within a small multiple of that (without it they would reach ~800000).
    CHECK(after.touched_pages - before.touched_pages <= 4 * 9 * 64);
    CHECK(e->totals().resident_pages == 0);
    CHECK(e->totals().evictions > 0);
}

TEST_CASE("threads map, fill, discard, remap and unmap at once while others fault and evict", "[mmap][uffd]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    auto e = start(backend, 24);
    if (!e) return;
    const auto before = e->span_usage();
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t)
        threads.emplace_back([&, t] {
            uint64_t seed = 1000 + t;
            for (int round = 0; round < 150; ++round) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                const size_t n = 16 + (seed >> 35) % 48;
                const uint64_t tag = (uint64_t(t) << 32) | uint64_t(round + 1);
                auto c = e->map_memory(nullptr, n * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (!c.handled || c.err) { ++bad; return; }
                auto* m = reinterpret_cast<unsigned char*>(c.value);
                if (!wrong_pages(m, 0, n, 0).empty()) ++bad;  // fresh memory: zeros, whoever had it before
                fill(m, 0, n, tag);
                if (e->advise_memory(m + kPage, (n / 2) * kPage, MADV_DONTNEED).err) ++bad;
                if (!wrong_pages(m, 1, n / 2, 0).empty()) ++bad;
                fill(m, 1, n / 2, tag);
                c = e->remap_memory(m, n * kPage, 2 * n * kPage, MREMAP_MAYMOVE, nullptr);
                if (c.err) { ++bad; return; }
                m = reinterpret_cast<unsigned char*>(c.value);
                if (!wrong_pages(m, 0, n, tag).empty() || !wrong_pages(m, n, n, 0).empty()) ++bad;
                if (e->unmap_memory(m, 2 * n * kPage).err) ++bad;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(bad.load() == 0);
    const auto after = e->span_usage();
    CHECK(after.used_bytes == before.used_bytes);
    CHECK(after.ranges == before.ranges);
    CHECK(e->totals().resident_pages == 0);
    CHECK(e->totals().evictions > 0);
}

TEST_CASE("with tiers: mmap'd memory in tier 0, regions per tier reused, a local tier stays plain",
          "[mmap][uffd][tiers]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    INFO("backend=" << backend);
    dime::Config cfg;
    cfg.backend = backend;
    cfg.summary = false;
    cfg.local_npages = kPool;
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;
    cfg.extra_tiers.push_back({"far", 0, 1000000000000000ull, false});
    cfg.extra_tiers.push_back({"local", 0, 0, true});
    std::string error;
    auto e = dime::Engine::start(cfg, &error);
    if (!e) {
        INFO(error);
        REQUIRE(backend != "mprotect");
        dime::uffd::Capabilities caps;
        const int fd = dime::uffd::open_descriptor(&caps, nullptr);
        if (fd >= 0) close(fd);
        REQUIRE((fd < 0 && !uffd_required()));
        WARN("SKIPPED: userfaultfd is not usable on this machine: " << error);
        return;
    }
    const auto before = e->span_usage();
    unsigned char* m = map(*e, 4 * kPool);
    CHECK(e->tier_of(m) == 0);
    auto* far = static_cast<unsigned char*>(e->map_region_in_tier(4 * kPool * kPage, 1, &error));
    auto* local = static_cast<unsigned char*>(e->map_region_in_tier(4 * kPool * kPage, 2, &error));
    REQUIRE(far != nullptr);
    REQUIRE(local != nullptr);
    CHECK(e->tier_of(far) == 1);
    CHECK(e->tier_of(local) == 2);
    const uint64_t faults0 = e->totals().faults;
    fill(local, 0, 4 * kPool, 20);  // plain memory: no fault at all
    CHECK(e->totals().faults == faults0);
    fill(m, 0, 4 * kPool, 21);
    fill(far, 0, 4 * kPool, 22);
    CHECK(e->totals().faults >= faults0 + 8 * kPool);
    CHECK(wrong_pages(m, 0, 4 * kPool, 21).empty());
    CHECK(wrong_pages(far, 0, 4 * kPool, 22).empty());
    CHECK(wrong_pages(local, 0, 4 * kPool, 20).empty());
    // madvise and munmap on the local tier's memory behave as on plain memory.
    CHECK(e->advise_memory(local, kPool * kPage, MADV_DONTNEED).err == 0);
    CHECK(wrong_pages(local, 0, kPool, 0).empty());
    CHECK(wrong_pages(local, kPool, 3 * kPool, 20).empty());
    // mremap of the far tier's memory keeps it in its tier, with its data.
    auto c = e->remap_memory(far, 4 * kPool * kPage, 8 * kPool * kPage, MREMAP_MAYMOVE, nullptr);
    REQUIRE(c.err == 0);
    auto* far2 = reinterpret_cast<unsigned char*>(c.value);
    CHECK(e->tier_of(far2) == 1);
    CHECK(wrong_pages(far2, 0, 4 * kPool, 22).empty());
    unmap(*e, m, 4 * kPool);
    unmap(*e, far2, 8 * kPool);
    e->unmap_region(far);
    e->unmap_region(local);
    const auto after = e->span_usage();
    CHECK(after.used_bytes == before.used_bytes);
    CHECK(after.ranges == before.ranges);
    CHECK(e->totals().resident_pages == 0);
}

TEST_CASE("munmap while another thread faults: no victim meets the unmapped range, MOVE stays on",
          "[mmap][uffd]") {
    // Discarding a range makes it PROT_NONE first; a fault read while the discard is served may
    // evict, and a victim from that range is a page UFFDIO_MOVE refuses (EINVAL): the handler then
    // took MOVE for broken and copied every eviction from then on. FIFO with a full pool makes the
    // unmapped pages the next victims: they were touched before the walker's latest pages.
    dime::Config cfg;
    cfg.summary = false;
    cfg.local_npages = 64;
    cfg.evict_batch = 1;
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;
    auto e = dime::test::start_engine_or_skip(cfg);
    if (!e) return;
    if (!e->capabilities().move) {
        WARN("SKIPPED: this kernel has no UFFDIO_MOVE");
        return;
    }
    unsigned char* walked = map(*e, 256);
    fill(walked, 0, 256, 1);
    std::atomic<bool> stop{false};
    std::thread walker([&] {
        while (!stop.load())
            for (size_t p = 0; p < 256; ++p) (void)*static_cast<volatile unsigned char*>(walked + p * kPage);
    });
    for (int round = 0; round < 200; ++round) {
        unsigned char* b = map(*e, 16);
        fill(b, 0, 16, 2);
        // Until the walker has pushed the pool past the fresh pages: they are at the FIFO's head.
        const uint64_t f0 = e->totals().faults;
        while (e->totals().faults < f0 + 48) {
        }
        unmap(*e, b, 16);
    }
    stop.store(true);
    walker.join();
    CHECK(wrong_pages(walked, 0, 256, 1).empty());
    INFO("evictions " << e->totals().evictions);
    CHECK(e->totals().evictions > 0);
    CHECK(e->totals().eviction_fallbacks == 0);  // no fork here: every eviction by MOVE
    unmap(*e, walked, 256);
}
