// hostile_oom.cpp — a program that asks for too much memory, under libdime.so and natively
// (tests/hostile.cmake). Every refusal must look as it does without DiME: NULL with errno ENOMEM
// (EINVAL for a bad alignment) from the malloc family, MAP_FAILED with ENOMEM from mmap,
// std::bad_alloc (std::bad_array_new_length for an overflowing count) from operator new, after the
// new-handler had its say; never a crash, never memory the kernel would have refused. The kernel
// refuses outright any request larger than RAM plus swap (vm.overcommit_memory 0 or 2); DiME's heap
// has the address space for it and must refuse it too. Under DiME (`exhaust`, with a small
// heap_bytes), it then fills the heap with operator new, a std::vector and a std::string until they
// throw, from the main thread and a new thread, checks every byte and allocates again after freeing.
// Usage: hostile_oom [exhaust]   Exit 0 = every check held.
#include <dime.h>

#include <errno.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pattern.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "FAIL: %s\n", what);
    ++failures;
}

// Calls `f` and checks, as the kernel and glibc would have it, that it returned NULL with errno
// `want` (errno is read after the call: an argument list would not order the two).
template <typename F>
void expect_null(F f, int want, const char* what) {
    errno = 0;
    void* p = f();
    const int err = errno;
    char line[256];
    std::snprintf(line, sizeof line, "%s: returned %p, errno %d (%s); expected NULL, errno %d", what, p, err,
                  std::strerror(err), want);
    expect(p == nullptr && err == want, line);
    std::free(p);
}

// The largest request the kernel grants outright: RAM + swap, or everything with
// vm.overcommit_memory 1 (then nothing below is refused for its size alone).
size_t kernel_limit() {
    FILE* f = std::fopen("/proc/sys/vm/overcommit_memory", "re");
    int mode = 0;
    if (f) {
        if (std::fscanf(f, "%d", &mode) != 1) mode = 0;
        std::fclose(f);
    }
    struct sysinfo si {};
    if (mode == 1 || sysinfo(&si) != 0) return SIZE_MAX;
    return (size_t(si.totalram) + size_t(si.totalswap)) * (si.mem_unit ? si.mem_unit : 1);
}

template <typename F>
const char* what_new_throws(F f) {
    try {
        f();
    } catch (const std::bad_array_new_length&) {
        return "bad_array_new_length";
    } catch (const std::bad_alloc&) {
        return "bad_alloc";
    } catch (const std::length_error&) {
        return "length_error";
    } catch (...) {
        return "something else";
    }
    return "nothing";
}

// Volatile: the compiler must neither see the sizes nor elide an allocation whose result is unused.
volatile size_t g_max = SIZE_MAX, g_huge = SIZE_MAX / 2;
void* volatile g_sink;
int g_handler_calls = 0;
void counting_handler() {
    if (++g_handler_calls == 3) std::set_new_handler(nullptr);  // the next failure throws
}

void absurd_requests() {
    const size_t limit = kernel_limit();
    const size_t beyond = limit == SIZE_MAX ? 0 : limit + (size_t(1) << 20);  // just past what the kernel grants
    std::printf("kernel limit for one request: %zu MiB%s\n", limit >> 20, beyond ? "" : " (overcommit 1: none)");
    const size_t huge = g_huge, max = g_max;

    expect_null([&] { return (void*)std::malloc(max); }, ENOMEM, "malloc(SIZE_MAX)");
    expect_null([&] { return (void*)std::malloc(huge); }, ENOMEM, "malloc(SIZE_MAX / 2)");
    expect_null([&] { return (void*)std::malloc(size_t(1) << 62); }, ENOMEM, "malloc(2^62)");
    if (beyond) {
        expect_null([&] { return (void*)std::malloc(beyond); }, ENOMEM, "malloc(RAM + swap + 1 MiB)");
        expect_null([&] { return (void*)memalign(64, beyond); }, ENOMEM, "memalign(64, RAM + swap + 1 MiB)");
        expect_null([&] { return (void*)std::calloc(beyond / 4096, 4096); }, ENOMEM, "calloc(RAM + swap + 1 MiB)");
    }
    expect_null([&] { return (void*)std::calloc(huge, 4); }, ENOMEM, "calloc(SIZE_MAX / 2, 4) (overflow)");
    expect_null([&] { return (void*)std::calloc(size_t(1) << 20, size_t(1) << 30); }, ENOMEM, "calloc(2^20, 2^30)");
    expect_null([&] { return (void*)valloc(max); }, ENOMEM, "valloc(SIZE_MAX)");
    expect_null([&] { return (void*)pvalloc(max); }, ENOMEM, "pvalloc(SIZE_MAX)");
    expect_null([&] { return (void*)aligned_alloc(4096, huge & ~size_t(4095)); }, ENOMEM, "aligned_alloc(4096, SIZE_MAX / 2)");

    // A failed realloc leaves the block as it was.
    // Through a volatile pointer: the compiler takes realloc for the end of the old block.
    unsigned char* volatile block = static_cast<unsigned char*>(std::malloc(100));
    pattern_fill(block, 100, 77);
    expect_null([&] { return (void*)std::realloc(block, huge); }, ENOMEM, "realloc(p, SIZE_MAX / 2)");
    if (beyond) {
        expect_null([&] { return (void*)std::realloc(block, beyond); }, ENOMEM, "realloc(p, RAM + swap + 1 MiB)");
    }
    expect_null([&] { return (void*)reallocarray(block, max, 2); }, ENOMEM, "reallocarray(p, SIZE_MAX, 2) (overflow)");
    expect(pattern_verify("block kept by the failed reallocs", block, 100, 77), "a failed realloc changed its block");
    std::free(block);

    void* q = &q;
    expect(posix_memalign(&q, 4096, huge) == ENOMEM && q == &q, "posix_memalign(SIZE_MAX / 2) must return ENOMEM");
    expect(posix_memalign(&q, 3, 16) == EINVAL && q == &q, "posix_memalign with alignment 3 must return EINVAL");

    // mmap: too large is ENOMEM; MAP_NORESERVE skips the check (not in overcommit mode 2).
    errno = 0;
    void* m = mmap(nullptr, size_t(1) << 47, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect(m == MAP_FAILED && errno == ENOMEM, "mmap(2^47) must fail with ENOMEM");
    if (beyond) {
        errno = 0;
        m = mmap(nullptr, beyond, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        expect(m == MAP_FAILED && errno == ENOMEM, "mmap(RAM + swap + 1 MiB) must fail with ENOMEM");
        if (m != MAP_FAILED) munmap(m, beyond);
    }

    // operator new: std::bad_alloc, after the new-handler (called until it gives up).
    expect(!std::strcmp(what_new_throws([&] { g_sink = ::operator new(huge); }), "bad_alloc"),
           "operator new(SIZE_MAX / 2) must throw std::bad_alloc");
    expect(!std::strcmp(what_new_throws([&] { g_sink = new char[huge]; }), "bad_alloc"),
           "new char[SIZE_MAX / 2] must throw std::bad_alloc");
    expect(!std::strcmp(what_new_throws([&] { g_sink = new uint64_t[huge]; }), "bad_array_new_length"),
           "new uint64_t[SIZE_MAX / 2] (overflow) must throw std::bad_array_new_length");
    expect(!std::strcmp(what_new_throws([&] { g_sink = ::operator new(huge, std::align_val_t(64)); }), "bad_alloc"),
           "aligned operator new(SIZE_MAX / 2) must throw std::bad_alloc");
    g_sink = new (std::nothrow) char[huge];
    expect(g_sink == nullptr, "nothrow new char[SIZE_MAX / 2] must return nullptr");
    if (beyond) {
        expect(!std::strcmp(what_new_throws([&] { g_sink = new char[beyond]; }), "bad_alloc"),
               "new char[RAM + swap + 1 MiB] must throw std::bad_alloc");
        expect(!std::strcmp(what_new_throws([&] { std::vector<char> v; v.reserve(beyond); }), "bad_alloc"),
               "vector::reserve(RAM + swap + 1 MiB) must throw std::bad_alloc");
    }
    std::set_new_handler(counting_handler);
    expect(!std::strcmp(what_new_throws([&] { g_sink = ::operator new(huge); }), "bad_alloc"),
           "operator new with a new-handler must end in std::bad_alloc");
    expect(g_handler_calls == 3, "the new-handler must be called until it removes itself (3 times)");
    std::set_new_handler(nullptr);
}

// ---- a full heap (under DiME, heap_bytes small) ------------------------------------------------

constexpr size_t kChunk = size_t(1) << 20;

void exhaust() {
    std::vector<unsigned char*> chunks;
    chunks.reserve(4096);
    const char* thrown = what_new_throws([&] {
        for (;;) {
            auto* c = new unsigned char[kChunk];
            pattern_fill(c, kChunk, 1000 + chunks.size());
            chunks.push_back(c);
        }
    });
    std::printf("operator new: %zu chunks of 1 MiB, then %s\n", chunks.size(), thrown);
    expect(!std::strcmp(thrown, "bad_alloc"), "filling the heap with new must end in std::bad_alloc");
    expect(chunks.size() >= 16 && chunks.size() < 4096, "the heap held an implausible number of chunks");

    // Everything else that allocates fails the same way while the heap is full.
    expect(!std::strcmp(what_new_throws([] {
               std::vector<char> v;
               for (;;) v.push_back('x');
           }),
                        "bad_alloc"),
           "a growing vector on a full heap must throw std::bad_alloc");
    expect(!std::strcmp(what_new_throws([] {
               std::string s;
               for (;;) s.append(4096, 'y');
           }),
                        "bad_alloc"),
           "a growing string on a full heap must throw std::bad_alloc");
    errno = 0;
    void* big = std::malloc(kChunk);
    expect(big == nullptr && errno == ENOMEM, "malloc on a full heap must return NULL with ENOMEM");
    std::free(big);
    const char* in_thread = "not run";
    std::thread([&] { in_thread = what_new_throws([] { g_sink = new unsigned char[kChunk]; }); }).join();
    expect(!std::strcmp(in_thread, "bad_alloc"), "a new thread's new on a full heap must throw std::bad_alloc");

    // Nothing was lost, and freed memory serves new requests.
    for (size_t i = 0; i < chunks.size(); ++i)
        if (!pattern_verify("chunk on a full heap", chunks[i], kChunk, 1000 + i)) ++failures;
    for (size_t i = 0; i < chunks.size(); i += 2) delete[] chunks[i];
    size_t again = 0;
    for (size_t i = 0; i < chunks.size(); i += 2) {
        chunks[i] = new (std::nothrow) unsigned char[kChunk];
        if (!chunks[i]) break;
        pattern_fill(chunks[i], kChunk, 5000 + i);
        ++again;
    }
    expect(again >= chunks.size() / 2 - 1, "the freed half could not be allocated again");
    for (size_t i = 0; i < chunks.size(); ++i)
        if (chunks[i] && !pattern_verify("chunk after refill", chunks[i], kChunk, i % 2 ? 1000 + i : 5000 + i))
            ++failures;
    for (unsigned char* c : chunks) delete[] c;
}

}  // namespace

int main(int argc, char** argv) {
    // Data of the program's own, most of it evicted (4 MiB against the tests' 1 MiB pool), must
    // come through every refusal intact.
    constexpr size_t kOwn = size_t(4) << 20;
    auto* own = static_cast<unsigned char*>(std::malloc(kOwn));
    pattern_fill(own, kOwn, 42);
    absurd_requests();
    expect(pattern_verify("the program's data after the refusals", own, kOwn, 42), "data lost");
    std::free(own);
    if (argc > 1 && std::strcmp(argv[1], "exhaust") == 0) {
        if (!dime_active()) {
            std::fprintf(stderr, "FAIL: 'exhaust' fills the emulated heap: run it under libdime.so\n");
            return 1;
        }
        exhaust();
    }
    std::printf("failures %d\n", failures);
    return failures == 0 ? 0 : 1;
}
