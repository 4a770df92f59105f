// engine_support.h — what the engine's unit tests share: starting an engine, or skipping the
// test where this machine forbids userfaultfd (unless CI demands it with DIME_REQUIRE_UFFD=1).
#pragma once

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unistd.h>

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
inline std::unique_ptr<Engine> start_engine_or_skip(const Config& cfg) {
    std::string error;
    auto engine = Engine::start(cfg, &error);
    if (!engine) skip_or_fail_without_uffd(error);
    return engine;
}

// The same for a configuration the test built itself: validate() must accept it (a test's own
// mistake fails the test rather than skipping it).
inline std::unique_ptr<Engine> start_valid_engine_or_skip(const Config& cfg) {
    const auto valid = validate(cfg);
    INFO("test configuration rejected: " << valid.error);
    REQUIRE(valid.ok);
    return start_engine_or_skip(cfg);
}

}  // namespace dime::test
