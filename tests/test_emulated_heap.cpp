// test_emulated_heap.cpp — EmulatedHeap driven directly (no preload): every block lies in the
// arena, the aligned family honours its alignment, a full arena fails with ENOMEM and recovers,
// blocks outlive the thread that allocated them, and touching the heap makes the engine fault.
// Runs on the test thread plus short-lived worker threads.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "emulated_heap.h"
#include "engine.h"
#include "uffd.h"

extern "C" void* __libc_malloc(size_t n);
extern "C" void __libc_free(void* p);

namespace {

// One engine with two heaps for the whole test process, never destroyed: mimalloc cannot give an
// arena back, so the memory behind it must stay mapped for as long as the process runs.
struct Fixture {
    std::unique_ptr<dime::Engine> engine;
    std::unique_ptr<dime::EmulatedHeap> big;    // 1 GiB
    std::unique_ptr<dime::EmulatedHeap> small;  // 64 MiB: two mimalloc segments
    std::string skip_reason;
};

Fixture& fixture() {
    static Fixture* f = [] {
        auto* fx = new Fixture;
        dime::Config cfg;
        cfg.summary = false;
        cfg.local_npages = 64;
        cfg.latency_ns = 0;
        std::string error;
        fx->engine = dime::Engine::start(cfg, &error);
        if (!fx->engine) {
            fx->skip_reason = error;
            return fx;
        }
        fx->big = dime::EmulatedHeap::create(*fx->engine, size_t(1) << 30, &error);
        if (fx->big) fx->small = dime::EmulatedHeap::create(*fx->engine, size_t(64) << 20, &error);
        if (!fx->big || !fx->small) fx->skip_reason = "EmulatedHeap::create failed: " + error;
        return fx;
    }();
    return *f;
}

// The fixture, or nullptr (a skip) when this machine forbids userfaultfd.
Fixture* heaps() {
    Fixture& f = fixture();
    if (f.big && f.small) return &f;
    dime::uffd::Capabilities caps;
    const char* why = nullptr;
    const int fd = dime::uffd::open_descriptor(&caps, &why);
    const char* required = std::getenv("DIME_REQUIRE_UFFD");
    if (fd >= 0 || (required && std::strcmp(required, "1") == 0)) FAIL("no emulated heap: " << f.skip_reason);
    WARN("SKIPPED: userfaultfd is not usable on this machine: " << f.skip_reason);
    return nullptr;
}

bool inside(const dime::EmulatedHeap& h, const void* p, size_t n) {
    auto a = reinterpret_cast<uintptr_t>(p), base = reinterpret_cast<uintptr_t>(h.base());
    return a >= base && a + n <= base + h.size();
}

}  // namespace

TEST_CASE("EmulatedHeap: the arena is aligned for mimalloc and owns() is its range", "[emulated_heap]") {
    Fixture* f = heaps();
    if (!f) return;
    dime::EmulatedHeap& h = *f->big;
    CHECK(reinterpret_cast<uintptr_t>(h.base()) % dime::EmulatedHeap::kArenaGranule == 0);
    CHECK(h.size() == size_t(1) << 30);
    CHECK(f->small->size() == size_t(64) << 20);
    CHECK(h.owns(h.base()));
    CHECK(h.owns(static_cast<char*>(h.base()) + h.size() - 1));
    CHECK_FALSE(h.owns(static_cast<char*>(h.base()) + h.size()));
    CHECK_FALSE(h.owns(static_cast<char*>(h.base()) - 1));
    CHECK_FALSE(h.owns(nullptr));
    void* libc = __libc_malloc(100);
    CHECK_FALSE(h.owns(libc));
    __libc_free(libc);
    CHECK_FALSE(h.owns(f->small->base()));
}

TEST_CASE("EmulatedHeap: every function returns blocks inside the arena", "[emulated_heap]") {
    Fixture* f = heaps();
    if (!f) return;
    dime::EmulatedHeap& h = *f->big;
    std::vector<std::pair<void*, size_t>> blocks;
    for (size_t n : {size_t(1), size_t(24), size_t(1000), size_t(100000), size_t(3) << 20, size_t(20) << 20}) {
        blocks.emplace_back(h.malloc(n), n);
        blocks.emplace_back(h.calloc(3, n), 3 * n);
        blocks.emplace_back(h.valloc(n), n);
        blocks.emplace_back(h.pvalloc(n), n);
        blocks.emplace_back(h.reallocarray(nullptr, 2, n), 2 * n);
    }
    for (auto& [p, n] : blocks) {
        REQUIRE(p != nullptr);
        CHECK(inside(h, p, n));
        CHECK(h.usable_size(p) >= n);
        std::memset(p, 0xab, n);
    }
    // realloc keeps the contents and stays inside; realloc(p, 0) frees (glibc's behaviour).
    auto* p = static_cast<unsigned char*>(h.malloc(100));
    std::memset(p, 0x5a, 100);
    p = static_cast<unsigned char*>(h.realloc(p, 1 << 20));
    REQUIRE(p != nullptr);
    CHECK(inside(h, p, 1 << 20));
    for (int i = 0; i < 100; ++i) REQUIRE(p[i] == 0x5a);
    CHECK(h.realloc(p, 0) == nullptr);
    for (auto& [q, n] : blocks) h.free(q);
}

TEST_CASE("EmulatedHeap: aligned allocation honours every alignment it accepts", "[emulated_heap]") {
    Fixture* f = heaps();
    if (!f) return;
    dime::EmulatedHeap& h = *f->big;
    for (size_t a = 8; a <= dime::EmulatedHeap::kMaxAlignment; a *= 2) {
        CHECK(dime::EmulatedHeap::serves_alignment(a));
        for (size_t n : {a / 2, a, a + 1, 3 * a}) {
            void* p1 = h.memalign(a, n);
            void* p2 = h.aligned_alloc(a, n);
            void* p3 = nullptr;
            REQUIRE(h.posix_memalign(&p3, a, n) == 0);
            for (void* p : {p1, p2, p3}) {
                INFO("alignment " << a << ", size " << n);
                REQUIRE(p != nullptr);
                CHECK(reinterpret_cast<uintptr_t>(p) % a == 0);
                CHECK(inside(h, p, n));
                h.free(p);
            }
        }
    }
    CHECK_FALSE(dime::EmulatedHeap::serves_alignment(dime::EmulatedHeap::kMaxAlignment * 2));
    void* p = nullptr;
    CHECK(h.posix_memalign(&p, 24, 100) == EINVAL);
    CHECK(h.posix_memalign(&p, 0, 100) == EINVAL);
    void* q = h.memalign(24, 100);  // rounded up to 32, as glibc does
    REQUIRE(q != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(q) % 32 == 0);
    h.free(q);
}

TEST_CASE("EmulatedHeap: a full arena fails with ENOMEM and recovers after frees", "[emulated_heap]") {
    Fixture* f = heaps();
    if (!f) return;
    dime::EmulatedHeap& h = *f->small;
    std::vector<void*> blocks;
    errno = 0;
    while (blocks.size() < 1000) {
        void* p = h.malloc(size_t(1) << 20);
        if (!p) break;
        CHECK(inside(h, p, size_t(1) << 20));
        blocks.push_back(p);
    }
    const int err = errno;
    INFO(blocks.size() << " MiB allocated from a 64 MiB arena");
    CHECK(err == ENOMEM);
    CHECK(blocks.size() <= 64);
    CHECK(blocks.size() >= 32);
    void* p = nullptr;
    CHECK(h.posix_memalign(&p, 4096, size_t(1) << 20) == ENOMEM);
    errno = 0;
    CHECK(h.calloc(1, size_t(1) << 20) == nullptr);
    CHECK(errno == ENOMEM);
    CHECK(h.reallocarray(nullptr, SIZE_MAX / 2, 3) == nullptr);  // overflow, not an attempt
    // the big arena is unaffected
    void* other = f->big->malloc(size_t(1) << 20);
    CHECK(other != nullptr);
    f->big->free(other);
    for (void* b : blocks) h.free(b);
    void* again = h.malloc(size_t(1) << 20);
    CHECK(again != nullptr);
    h.free(again);
}

TEST_CASE("EmulatedHeap: blocks outlive their thread and any thread may free them", "[emulated_heap]") {
    Fixture* f = heaps();
    if (!f) return;
    dime::EmulatedHeap& h = *f->big;
    std::vector<unsigned char*> blocks(200);
    std::thread t([&] {
        for (size_t i = 0; i < blocks.size(); ++i) {
            blocks[i] = static_cast<unsigned char*>(h.malloc(1000 + i * 100));
            if (blocks[i]) std::memset(blocks[i], static_cast<int>(i), 1000 + i * 100);
        }
    });
    t.join();
    bool intact = true;
    for (size_t i = 0; i < blocks.size(); ++i) {
        REQUIRE(blocks[i] != nullptr);
        for (size_t j = 0; j < 1000 + i * 100; ++j)
            if (blocks[i][j] != static_cast<unsigned char>(i)) intact = false;
    }
    CHECK(intact);
    for (unsigned char* b : blocks) h.free(b);
    CHECK(dime::EmulatedHeap::thread_can_allocate());
}

TEST_CASE("EmulatedHeap: touching the heap beyond the pool makes the engine fault and evict", "[emulated_heap]") {
    Fixture* f = heaps();
    if (!f) return;
    const dime::Totals before = f->engine->totals();
    const size_t n = size_t(4) << 20;  // 1024 pages, the pool holds 64
    auto* p = static_cast<unsigned char*>(f->big->malloc(n));
    REQUIRE(p != nullptr);
    for (size_t i = 0; i < n; i += 4096) p[i] = static_cast<unsigned char>(i >> 12);
    bool intact = true;
    for (size_t i = 0; i < n; i += 4096)
        if (p[i] != static_cast<unsigned char>(i >> 12)) intact = false;
    CHECK(intact);
    f->big->free(p);
    const dime::Totals after = f->engine->totals();
    CHECK(after.faults - before.faults >= 1024);
    CHECK(after.evictions > before.evictions);
    CHECK(after.refetch_faults > before.refetch_faults);
}
