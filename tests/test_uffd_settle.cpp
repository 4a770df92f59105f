// test_uffd_settle.cpp — settle_move (libdime/uffd_settle.h): after a UFFDIO_MOVE that failed or
// miscounted, every base page of a unit ends up in one place, with its data, whatever the kernel
// reported. Drives the function on two registered regions of its own userfaultfd.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys_memory.h"
#include "uffd.h"
#include "uffd_settle.h"

namespace {

using dime::uffd::Settled;
constexpr size_t kBase = dime::sys::kBasePage;
constexpr size_t kUnit = 4 * kBase;  // a 16 KiB unit: four base pages

// Two registered regions (the "application" and the "backing") of one userfaultfd.
struct Spans {
    int fd = -1;
    unsigned char* a = nullptr;
    unsigned char* b = nullptr;
    size_t len = 16 * kUnit;
    bool ok = false;
    Spans() {
        dime::uffd::Capabilities caps;
        fd = dime::uffd::open_descriptor(&caps, nullptr);
        if (fd < 0 || !caps.move) return;
        a = static_cast<unsigned char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        b = static_cast<unsigned char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (a == MAP_FAILED || b == MAP_FAILED) return;
        madvise(a, len, MADV_NOHUGEPAGE);
        madvise(b, len, MADV_NOHUGEPAGE);
        ok = dime::uffd::register_range(fd, a, len, false, nullptr) == 0 &&
             dime::uffd::register_range(fd, b, len, false, nullptr) == 0;
    }
    ~Spans() {
        if (a && a != MAP_FAILED) munmap(a, len);
        if (b && b != MAP_FAILED) munmap(b, len);
        if (fd >= 0) close(fd);
    }
    // Maps base page `page` of region r filled with `byte` (a registered page is only ever filled
    // by ioctl: touching a hole would block this thread on a fault nobody serves).
    void fill(unsigned char* r, size_t page, unsigned char byte) const {
        static unsigned char src[kBase];
        std::memset(src, byte, sizeof src);
        REQUIRE(dime::uffd::copy(fd, reinterpret_cast<uintptr_t>(r + page * kBase), reinterpret_cast<uintptr_t>(src),
                                 kBase, false) == 0);
    }
    bool present(const unsigned char* r, size_t page) const {
        return dime::sys::all_resident(reinterpret_cast<uintptr_t>(r + page * kBase), kBase);
    }
    // Base page `page` of r is mapped and holds `byte` throughout.
    bool holds(const unsigned char* r, size_t page, unsigned char byte) const {
        if (!present(r, page)) return false;
        for (size_t i = 0; i < kBase; ++i)
            if (r[page * kBase + i] != byte) return false;
        return true;
    }
};

Settled settle(const Spans& s, size_t unit, bool a_to_b, dime::uffd::SettleMode mode, size_t* found) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(s.a + unit * kUnit), b = reinterpret_cast<uintptr_t>(s.b + unit * kUnit);
    return a_to_b ? dime::uffd::settle_move(s.fd, b, a, kUnit, mode, found)
                  : dime::uffd::settle_move(s.fd, a, b, kUnit, mode, found);
}

bool require_spans(const Spans& s) {
    if (s.ok) return true;
    const char* required = std::getenv("DIME_REQUIRE_UFFD");
    if (required && std::strcmp(required, "1") == 0) FAIL("no userfaultfd with UFFDIO_MOVE here");
    WARN("SKIPPED: userfaultfd with UFFDIO_MOVE is not usable on this machine");
    return false;
}

constexpr dime::uffd::SettleMode kOut{true, true};   // application -> backing: the application wins
constexpr dime::uffd::SettleMode kIn{false, false};  // backing -> application: the application wins

}  // namespace

TEST_CASE("settle_move: a unit the kernel moved without counting it is taken as moved, its data kept",
          "[uffd][settle]") {
    Spans s;
    if (!require_spans(s)) return;
    // What a miscounting UFFDIO_MOVE leaves: base pages 0 and 1 at the destination already, 2 and 3
    // still at the source. Dropping the destination's pages as "stale" would lose 0 and 1.
    s.fill(s.b, 0, 0x10);
    s.fill(s.b, 1, 0x11);
    s.fill(s.a, 2, 0x12);
    s.fill(s.a, 3, 0x13);
    size_t found = 0;
    CHECK(settle(s, 0, true, kOut, &found) == Settled::kMoved);
    CHECK(found == 2);
    for (size_t i = 0; i < 4; ++i) {
        INFO("base page " << i);
        CHECK(s.holds(s.b, i, static_cast<unsigned char>(0x10 + i)));
        CHECK_FALSE(s.present(s.a, i));
    }
}

TEST_CASE("settle_move: where both sides hold a base page, the application's copy is the data", "[uffd][settle]") {
    Spans s;
    if (!require_spans(s)) return;
    // Out (application -> backing): the backing's page is stale and goes; the application's moves.
    for (size_t i = 0; i < 4; ++i) {
        s.fill(s.a, i, 0xA0);
        s.fill(s.b, i, 0xB0);
    }
    CHECK(settle(s, 0, true, kOut, nullptr) == Settled::kMoved);
    for (size_t i = 0; i < 4; ++i) CHECK(s.holds(s.b, i, 0xA0));
    // In (backing -> application): the application's page stays, the backing's goes.
    for (size_t i = 4; i < 8; ++i) {
        s.fill(s.a, i, 0xA1);
        s.fill(s.b, i, 0xB1);
    }
    CHECK(settle(s, 1, false, kIn, nullptr) == Settled::kMoved);
    for (size_t i = 4; i < 8; ++i) {
        CHECK(s.holds(s.a, i, 0xA1));
        CHECK_FALSE(s.present(s.b, i));
    }
}

TEST_CASE("settle_move: nothing on either side is a hole; a hole inside a unit stays a hole", "[uffd][settle]") {
    Spans s;
    if (!require_spans(s)) return;
    CHECK(settle(s, 0, true, kOut, nullptr) == Settled::kHole);
    s.fill(s.a, 4, 0x44);  // unit 1: base page 0 only
    CHECK(settle(s, 1, true, kOut, nullptr) == Settled::kMoved);
    CHECK(s.holds(s.b, 4, 0x44));
    for (size_t i = 5; i < 8; ++i) CHECK_FALSE(s.present(s.b, i));
}

TEST_CASE("settle_move: a base page that refuses to move leaves the unit whole at its live source", "[uffd][settle]") {
    Spans s;
    if (!require_spans(s)) return;
    // Base page 2 shared with a child (after fork UFFDIO_MOVE refuses it with EBUSY); page 0 at
    // the destination already, as a miscount leaves it.
    s.fill(s.b, 0, 0x20);
    s.fill(s.a, 1, 0x21);
    s.fill(s.a, 2, 0x22);
    s.fill(s.a, 3, 0x23);
    int to_child[2], from_child[2];
    REQUIRE(pipe(to_child) == 0);
    REQUIRE(pipe(from_child) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // holds the shared pages until told to go
        char c = 1;
        (void)!write(from_child[1], &c, 1);
        (void)!read(to_child[0], &c, 1);
        _exit(0);
    }
    char c;
    REQUIRE(read(from_child[0], &c, 1) == 1);
    const Settled live = settle(s, 0, true, kOut, nullptr);
    c = 0;
    (void)!write(to_child[1], &c, 1);
    waitpid(child, nullptr, 0);
    for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) close(fd);
    CHECK(live == Settled::kStayed);
    for (size_t i = 0; i < 4; ++i) {
        INFO("base page " << i);
        CHECK(s.holds(s.a, i, static_cast<unsigned char>(0x20 + i)));  // page 0 came back
        CHECK_FALSE(s.present(s.b, i));
    }
}
