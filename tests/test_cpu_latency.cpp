// test_cpu_latency.cpp — the PM QoS request (libdime/cpu_latency.h, setting cpu_latency_us):
// while it is held the kernel's aggregate CPU latency target is at most the requested value and
// the process holds one descriptor on the device, gone when released; an engine holds it from
// start to stop unless cpu_latency_us is -1.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "config.h"
#include "cpu_latency.h"
#include "descriptors.h"
#include "engine.h"
#include "engine_support.h"

namespace {

// The kernel's current aggregate target (the smallest request any process holds), in
// microseconds; -1 if the device cannot be read here (not root).
int64_t current_target_us() {
    const int fd = ::open("/dev/cpu_dma_latency", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int32_t value = -1;
    const ssize_t n = ::read(fd, &value, sizeof value);
    ::close(fd);
    return n == static_cast<ssize_t>(sizeof value) ? value : -1;
}

// How many of this process's descriptors are open on /dev/cpu_dma_latency. Other processes (a
// test running beside this one, bench/run) may hold requests of their own, so the aggregate
// target alone cannot say whether this process holds one; its descriptors can.
int own_requests() {
    int count = 0;
    DIR* d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (const dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        char target[256];
        const std::string path = std::string("/proc/self/fd/") + e->d_name;
        const ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
        if (n > 0 && std::string_view(target, static_cast<size_t>(n)) == "/dev/cpu_dma_latency") ++count;
    }
    closedir(d);
    return count;
}

bool device_writable() { return ::access("/dev/cpu_dma_latency", W_OK) == 0; }

}  // namespace

TEST_CASE("cpu_latency: a held request bounds the kernel's target and is dropped on release", "[cpu_latency]") {
    if (!device_writable()) {
        dime::CpuLatencyHold hold;
        std::string why;
        CHECK_FALSE(hold.hold(0, &why));
        CHECK(why.find("/dev/cpu_dma_latency") != std::string::npos);
        CHECK_FALSE(hold.held());
        WARN("SKIPPED the kernel-side checks: /dev/cpu_dma_latency is not writable here (" << why << ")");
        return;
    }
    REQUIRE(own_requests() == 0);
    constexpr int64_t kWanted = 7;  // below the kernel's default (2000 s); others may ask for less
    {
        dime::CpuLatencyHold hold;
        std::string why;
        REQUIRE(hold.hold(kWanted, &why));
        CHECK(hold.held());
        CHECK(hold.held_us() == kWanted);
        CHECK(own_requests() == 1);
        const int64_t target = current_target_us();
        CHECK(target >= 0);
        CHECK(target <= kWanted);  // the aggregate is the smallest request: ours bounds it
        hold.release();
        CHECK_FALSE(hold.held());
        CHECK(hold.held_us() == -1);
        CHECK(own_requests() == 0);
        REQUIRE(hold.hold(kWanted, &why));
        CHECK(own_requests() == 1);
    }  // the destructor releases it too
    CHECK(own_requests() == 0);
}

TEST_CASE("cpu_latency: an engine holds the request while it emulates, unless cpu_latency_us is -1", "[cpu_latency][engine][uffd]") {
    if (!device_writable()) {
        WARN("SKIPPED: /dev/cpu_dma_latency is not writable here");
        return;
    }
    REQUIRE(own_requests() == 0);
    constexpr int64_t kWanted = 5;
    auto cfg = dime::Config{};
    cfg.local_npages = 64;
    cfg.attribution = false;
    cfg.control = false;
    cfg.summary = false;
    SECTION("held") {
        cfg.cpu_latency_us = kWanted;
        {
            auto engine = dime::test::start_engine_or_skip(cfg);
            if (!engine) return;
            CHECK(own_requests() == 1);
            const int64_t target = current_target_us();
            CHECK(target >= 0);
            CHECK(target <= kWanted);
            CHECK(engine->report_json().find("\"cpu_latency_us\": " + std::to_string(kWanted)) != std::string::npos);
        }
        CHECK(own_requests() == 0);
    }
    SECTION("not asked for") {
        cfg.cpu_latency_us = -1;
        auto engine = dime::test::start_engine_or_skip(cfg);
        if (!engine) return;
        CHECK(own_requests() == 0);
        CHECK(engine->report_json().find("\"cpu_latency_us\": -1") != std::string::npos);
    }
}
