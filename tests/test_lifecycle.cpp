// test_lifecycle.cpp — unit tests of the life-cycle pieces without LD_PRELOAD: report paths for
// children, protected descriptors (moved high, close-on-exec, spared by close_range), the log
// level, and a fork child of a directly linked engine that goes on under emulation.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "descriptors.h"
#include "engine.h"
#include "lifecycle.h"
#include "log.h"

using dime::Engine;

TEST_CASE("report paths: %p, %%, and <report>.<pid> for descendants", "[lifecycle]") {
    CHECK(Engine::expand_report_path("", 42, false).empty());
    CHECK(Engine::expand_report_path("", 42, true).empty());
    CHECK(Engine::expand_report_path("/tmp/r.json", 42, false) == "/tmp/r.json");
    CHECK(Engine::expand_report_path("/tmp/r.json", 42, true) == "/tmp/r.json.42");
    CHECK(Engine::expand_report_path("/tmp/r.%p.json", 42, false) == "/tmp/r.42.json");
    CHECK(Engine::expand_report_path("/tmp/r.%p.json", 42, true) == "/tmp/r.42.json");
    CHECK(Engine::expand_report_path("/tmp/100%%.json", 7, false) == "/tmp/100%.json");
    CHECK(Engine::expand_report_path("/tmp/100%%p", 7, true) == "/tmp/100%p.7");
    CHECK(Engine::expand_report_path("/tmp/x%", 7, false) == "/tmp/x%");
}

namespace {

std::vector<std::pair<unsigned, unsigned>> g_calls;

int record(unsigned first, unsigned last, int) {
    g_calls.emplace_back(first, last);
    return 0;
}

// The recorded calls close exactly [first, last] minus the protected numbers: in order, disjoint,
// and every number left out between them is protected. Other engines of this process (earlier
// tests in the same run) may hold protected descriptors too, so their count is not fixed.
void check_closes_all_but_protected(unsigned first, unsigned last) {
    unsigned next = first;  // the lowest number not yet accounted for
    bool done = false;
    for (const auto& [lo, hi] : g_calls) {
        REQUIRE_FALSE(done);
        REQUIRE(lo >= next);
        REQUIRE(lo <= hi);
        for (unsigned n = next; n < lo; ++n) CHECK(dime::descriptors::is_protected(static_cast<int>(n)));
        for (unsigned n = lo; n <= hi && n < 4096; ++n) CHECK_FALSE(dime::descriptors::is_protected(static_cast<int>(n)));
        if (hi == last) done = true;
        else next = hi + 1;
    }
    if (!done)
        for (unsigned n = next; n <= last; ++n) CHECK(dime::descriptors::is_protected(static_cast<int>(n)));
}

}  // namespace

TEST_CASE("protected descriptors are high, close-on-exec, and spared by close_range", "[lifecycle]") {
    const int fd = dime::descriptors::adopt(eventfd(0, EFD_CLOEXEC));
    REQUIRE(fd >= 0);
    CHECK(fd >= 64);  // out of the program's way (the top of the first 1024 numbers here)
    CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(dime::descriptors::is_protected(fd));
    CHECK_FALSE(dime::lifecycle::may_close(fd));
    CHECK_FALSE(dime::lifecycle::may_replace(fd));
    CHECK(dime::lifecycle::may_close(0));

    g_calls.clear();
    CHECK(dime::descriptors::close_range_sparing(3, ~0U, 0, &record) == 0);
    REQUIRE(g_calls.size() >= 2);
    CHECK(g_calls.front().first == 3u);
    CHECK(g_calls.back().second == ~0U);
    check_closes_all_but_protected(3, ~0U);  // fd among the numbers left out

    g_calls.clear();  // a range that ends at the protected number
    CHECK(dime::descriptors::close_range_sparing(3, unsigned(fd), 0, &record) == 0);
    REQUIRE_FALSE(g_calls.empty());
    check_closes_all_but_protected(3, unsigned(fd));

    g_calls.clear();  // only the protected number: nothing to close
    CHECK(dime::descriptors::close_range_sparing(unsigned(fd), unsigned(fd), 0, &record) == 0);
    CHECK(g_calls.empty());

    g_calls.clear();  // a range without it goes through unchanged
    CHECK(dime::descriptors::close_range_sparing(3, 10, 0, &record) == 0);
    REQUIRE(g_calls.size() == 1);
    CHECK(g_calls[0] == std::make_pair(3u, 10u));

    // replace keeps the number and the protection
    const int fresh = eventfd(0, EFD_CLOEXEC);
    REQUIRE(dime::descriptors::replace(fd, fresh));
    CHECK(fcntl(fresh, F_GETFD) == -1);  // closed
    CHECK(dime::descriptors::is_protected(fd));

    dime::descriptors::release(fd);
    CHECK_FALSE(dime::descriptors::is_protected(fd));
    CHECK(fcntl(fd, F_GETFD) == -1);
}

TEST_CASE("log levels by name", "[lifecycle]") {
    const dime::LogLevel saved = dime::log_level();
    CHECK(dime::set_log_level(std::string_view("debug")));
    CHECK(dime::log_enabled(dime::LogLevel::kDebug));
    CHECK(dime::set_log_level(std::string_view("error")));
    CHECK_FALSE(dime::log_enabled(dime::LogLevel::kWarn));
    CHECK(dime::log_enabled(dime::LogLevel::kError));
    CHECK_FALSE(dime::set_log_level(std::string_view("verbose")));
    CHECK(dime::log_level() == dime::LogLevel::kError);  // unchanged by a bad name
    dime::set_log_level(saved);
}

// A fork child of an engine linked in directly: with fork_child=emulate it faults and evicts on
// its own (its counters start at zero); with plain it sees the same bytes and faults nowhere.
TEST_CASE("a fork child goes on under emulation with its own counters", "[lifecycle][fork]") {
    const std::string backend = GENERATE(as<std::string>{}, "userfaultfd", "mprotect");
    for (const char* mode : {"emulate", "plain"}) {
        INFO(mode << ", backend " << backend);
        dime::Config cfg;
        cfg.backend = backend;
        cfg.local_npages = 64;
        cfg.latency_ns = 0;
        cfg.overhead_ns = 0;
        cfg.summary = false;
        cfg.fork_child = mode;
        std::string error;
        auto engine = Engine::start(cfg, &error);
        if (!engine) {
            INFO(error);
            REQUIRE(backend != "mprotect");
            const char* require = std::getenv("DIME_REQUIRE_UFFD");
            if (require && std::strcmp(require, "1") == 0) FAIL("userfaultfd required: " << error);
            WARN("SKIPPED: userfaultfd is not usable on this machine: " << error);
            return;
        }
        constexpr size_t kPages = 512;
        auto* p = static_cast<unsigned char*>(engine->map_region(kPages * 4096));
        REQUIRE(p);
        for (size_t i = 0; i < kPages * 4096; i += 512) p[i] = static_cast<unsigned char>(i / 512 * 7);
        REQUIRE(engine->totals().evictions > 0);

        int pipefd[2];
        REQUIRE(pipe(pipefd) == 0);
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            // 0: all good; bit 1: wrong byte; bit 2: counters not as expected
            int result = 0;
            const bool emulate = std::strcmp(mode, "emulate") == 0;
            const dime::Totals at_start = engine->totals();
            if (emulate && at_start.faults != 0) result |= 4;  // counters start at zero
            for (int pass = 0; pass < 2; ++pass)
                for (size_t i = 0; i < kPages * 4096; i += 512)
                    if (p[i] != static_cast<unsigned char>(i / 512 * 7)) result |= 2;
            const dime::Totals t = engine->totals();
            if (emulate && (t.refetch_faults == 0 || t.evictions == 0 || t.resident_pages > 64)) result |= 4;
            if (!emulate && t.faults != at_start.faults) result |= 4;  // nobody counts in a plain child
            [[maybe_unused]] auto n = write(pipefd[1], &result, sizeof result);
            _exit(0);
        }
        close(pipefd[1]);
        int result = -1;
        REQUIRE(read(pipefd[0], &result, sizeof result) == sizeof result);
        close(pipefd[0]);
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status));
        CHECK(result == 0);
        engine->unmap_region(p);
    }
}
