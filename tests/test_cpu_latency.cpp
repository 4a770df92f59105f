// test_cpu_latency.cpp — the PM QoS request (libdime/cpu_latency.h, setting cpu_latency_us):
// while it is held the kernel's aggregate CPU latency target is the requested value, it is one
// of DiME's protected descriptors, and it is gone when released; an engine holds it from start
// to stop unless cpu_latency_us is -1.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "config.h"
#include "cpu_latency.h"
#include "descriptors.h"
#include "engine.h"
#include "engine_support.h"

namespace {

// The kernel's current aggregate target (the smallest request held), in microseconds; -1 if
// the device cannot be read here (not root).
int64_t current_target_us() {
    const int fd = ::open("/dev/cpu_dma_latency", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int32_t value = -1;
    const ssize_t n = ::read(fd, &value, sizeof value);
    ::close(fd);
    return n == static_cast<ssize_t>(sizeof value) ? value : -1;
}

bool device_writable() { return ::access("/dev/cpu_dma_latency", W_OK) == 0; }

}  // namespace

TEST_CASE("cpu_latency: a held request sets the kernel's target and is dropped on release", "[cpu_latency]") {
    if (!device_writable()) {
        dime::CpuLatencyHold hold;
        std::string why;
        CHECK_FALSE(hold.hold(0, &why));
        CHECK(why.find("/dev/cpu_dma_latency") != std::string::npos);
        CHECK_FALSE(hold.held());
        WARN("SKIPPED the kernel-side checks: /dev/cpu_dma_latency is not writable here (" << why << ")");
        return;
    }
    const int64_t before = current_target_us();
    REQUIRE(before >= 0);
    // A value no other holder on this machine is likely to have asked for, and below the default.
    const int64_t wanted = before > 7 ? 7 : 0;
    {
        dime::CpuLatencyHold hold;
        std::string why;
        REQUIRE(hold.hold(wanted, &why));
        CHECK(hold.held());
        CHECK(hold.held_us() == wanted);
        CHECK(current_target_us() == wanted);
        hold.release();
        CHECK_FALSE(hold.held());
        CHECK(hold.held_us() == -1);
        CHECK(current_target_us() == before);
        REQUIRE(hold.hold(wanted, &why));
    }  // the destructor releases it too
    CHECK(current_target_us() == before);
}

TEST_CASE("cpu_latency: an engine holds the request while it emulates, unless cpu_latency_us is -1", "[cpu_latency][engine][uffd]") {
    if (!device_writable()) {
        WARN("SKIPPED: /dev/cpu_dma_latency is not writable here");
        return;
    }
    const int64_t before = current_target_us();
    REQUIRE(before >= 0);
    const int64_t wanted = before > 5 ? 5 : 0;
    auto cfg = dime::Config{};
    cfg.local_npages = 64;
    cfg.attribution = false;
    cfg.control = false;
    cfg.summary = false;
    SECTION("held") {
        cfg.cpu_latency_us = wanted;
        {
            auto engine = dime::test::start_engine_or_skip(cfg);
            if (!engine) return;
            CHECK(current_target_us() == wanted);
            CHECK(engine->report_json().find("\"cpu_latency_us\": " + std::to_string(wanted)) != std::string::npos);
        }
        CHECK(current_target_us() == before);
    }
    SECTION("not asked for") {
        cfg.cpu_latency_us = -1;
        auto engine = dime::test::start_engine_or_skip(cfg);
        if (!engine) return;
        CHECK(current_target_us() == before);
        CHECK(engine->report_json().find("\"cpu_latency_us\": -1") != std::string::npos);
    }
}
