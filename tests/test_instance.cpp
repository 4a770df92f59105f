// test_instance.cpp — instances (instance.h): names, the shared link's queue, two engines of this
// process in one instance (the first member's settings, one budget shared fairly, changes seen by
// every member), and a member in another process killed with SIGKILL, whose pages the survivor
// gets back; the last member removes the segment, and an instance all of whose members were
// killed is removed by remove_orphan_instances (dime ctl).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <algorithm>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "config.h"
#include "engine.h"
#include "engine_support.h"
#include "instance.h"
#include "link_model.h"

extern char** environ;

namespace {

constexpr size_t kPage = 4096;

std::string unique_name(const char* what) { return fmt::format("t{}-{}", getpid(), what); }

dime::Config member_config(const std::string& instance, uint64_t pages, uint64_t latency_ns) {
    dime::Config cfg;
    cfg.instance = instance;
    cfg.local_npages = pages;
    cfg.latency_ns = latency_ns;
    cfg.bandwidth_bps = 1000000000000000ull;
    cfg.overhead_ns = 0;  // no calibration: these tests count pages, not time
    cfg.attribution = false;
    return cfg;
}

// Writes one byte to each page of [base, base + pages pages).
void touch(void* base, size_t pages) {
    auto* p = static_cast<volatile char*>(base);
    for (size_t i = 0; i < pages; ++i) p[i * kPage] = static_cast<char>(i + 1);
}

// Polls `done` every millisecond until it holds or `seconds` pass; returns whether it held.
bool eventually(const std::function<bool()>& done, double seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

bool exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// tests/programs/instance_walker under libdime.so in `instance`: started, it touches `pages` pages
// and says "ready"; it then waits on its stdin, which this object holds.
class PreloadedWalker {
public:
    PreloadedWalker(const std::string& instance, size_t pages) {
        int in[2], out[2];
        REQUIRE(pipe(in) == 0);
        REQUIRE(pipe(out) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        posix_spawn_file_actions_addclose(&fa, in[1]);
        posix_spawn_file_actions_addclose(&fa, out[0]);
        std::vector<std::string> env;
        for (char** e = environ; *e; ++e)
            if (std::strncmp(*e, "DIME_", 5) != 0 && std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env.emplace_back(*e);
        env.push_back("LD_PRELOAD=" + std::string(DIME_BINARY_DIR) + "/preload/libdime.so");
        env.push_back("DIME_OPTIONS=instance=" + instance + " local_npages=64 latency_ns=0 overhead_ns=0 " +
                      "summary=false control=false attribution=false");
        std::vector<char*> envp;
        for (std::string& e : env) envp.push_back(e.data());
        envp.push_back(nullptr);
        const std::string program = std::string(DIME_BINARY_DIR) + "/tests/instance_walker";
        const std::string count = std::to_string(pages);
        char* argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>(count.c_str()), nullptr};
        const int rc = posix_spawn(&pid_, program.c_str(), &fa, nullptr, argv, envp.data());
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(out[1]);
        REQUIRE(rc == 0);
        stdin_ = in[1];
        stdout_ = fdopen(out[0], "r");
        char line[64] = {};
        ready_ = std::fgets(line, sizeof line, stdout_) && std::strcmp(line, "ready\n") == 0;
    }
    ~PreloadedWalker() {
        if (pid_ > 0) kill_and_wait();
        close(stdin_);
        std::fclose(stdout_);
    }
    bool ready() const { return ready_; }
    pid_t pid() const { return pid_; }
    void kill_and_wait() {
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    int stdin_ = -1;
    FILE* stdout_ = nullptr;
    bool ready_ = false;
};

}  // namespace

TEST_CASE("instance names: 1 to 64 letters digits _ . -", "[instance][config]") {
    const std::vector<std::string> good = {"a", "blade-0", "job_7.run", "0", std::string(64, 'x')};
    for (const std::string& n : good) CHECK(dime::valid_instance_name(n));
    const std::vector<std::string> bad = {"", ".hidden", "a/b", "a b", std::string(65, 'x'), "caf\xc3\xa9"};
    for (const std::string& n : bad) CHECK_FALSE(dime::valid_instance_name(n));
    dime::Config cfg;
    cfg.instance = "no/slash";
    const dime::ConfigResult r = dime::validate(cfg);
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("instance: 'no/slash'") != std::string::npos);
}

TEST_CASE("instance: members queue on one link", "[instance][link]") {
    // 4 KiB at 1 Gbit/s: 32768 ns on the wire; latency 1 us each way.
    std::atomic<uint64_t> shared{0};
    dime::LinkModel a, b;
    a.configure(1000, 1000000000, 4096);
    b.configure(1000, 1000000000, 4096);
    const uint64_t alone = a.book_fetch(1000000) - 1000000;
    CHECK(alone == 2000 + 32768);
    a.share(&shared);
    b.share(&shared);
    const uint64_t now = 2000000;
    const uint64_t first = a.book_fetch(now);
    const uint64_t second = b.book_fetch(now);  // another process's fetch, booked at the same time
    CHECK(first - now == 2000 + 32768);
    CHECK(second - first == 32768);  // it waits for the first one's transmission
    // Unshared again, a link continues from where the shared one stands.
    b.share(nullptr);
    CHECK(b.book_fetch(now) - second == 32768);
}

// The first member's settings; one budget shared fairly; a change through one member seen by both.
TEST_CASE("instance: two members share one budget", "[instance][uffd]") {
    const std::string name = unique_name("share");
    auto a = dime::test::start_valid_engine_or_skip(member_config(name, 64, 1000));
    if (!a) return;
    std::string path;
    {
        auto b = dime::test::start_valid_engine_or_skip(member_config(name, 500, 7000));
        REQUIRE(b);
        REQUIRE(a->instance());
        REQUIRE(b->instance());
        path = a->instance()->segment_path();
        CHECK(exists(path));
        // The instance's settings are its first member's.
        CHECK(b->local_pages() == 64);
        CHECK(b->link_latency_ns(0) == 1000);
        CHECK(a->instance()->view().members == 2);

        void* ra = a->map_region(256 * kPage);
        void* rb = b->map_region(256 * kPage);
        REQUIRE(ra);
        REQUIRE(rb);
        // Alone in use, a may fill the whole budget.
        touch(ra, 256);
        CHECK(a->totals().resident_pages > 48);
        // b then gets its fair share (32 of 64); a, idle, gives the difference back at its next tick.
        touch(rb, 256);
        const bool shared_fairly = eventually(
            [&] { return a->totals().resident_pages <= 34 && b->totals().resident_pages >= 28; }, 2.0);
        INFO("a holds " << a->totals().resident_pages << ", b " << b->totals().resident_pages);
        CHECK(shared_fairly);
        CHECK(a->instance()->view().pages <= 64 + 2);  // + a batch (64/32) a member may hold in passing

        // A change through one member is the instance's.
        REQUIRE(a->set_local_pages(32));
        CHECK(b->local_pages() == 32);
        CHECK(eventually([&] { return b->totals().resident_pages <= 17; }, 2.0));
        REQUIRE(b->set_link(0, 5000, 1000000000));
        CHECK(a->link_latency_ns(0) == 5000);
        CHECK(a->link_bandwidth_bps(0) == 1000000000);
        b->unmap_region(rb);
    }
    CHECK(a->instance()->view().members == 1);
    CHECK(exists(path));  // a is still in it
    a.reset();
    CHECK_FALSE(exists(path));  // the last member removed it
}

// Also: an instance whose only member was killed is removed by remove_orphan_instances.
TEST_CASE("instance: a member killed with SIGKILL gives its pages back", "[instance][uffd][preload]") {
    const std::string name = unique_name("kill");
    auto a = dime::test::start_valid_engine_or_skip(member_config(name, 64, 0));
    if (!a) return;
    REQUIRE(a->instance());
    {
        PreloadedWalker walker(name, 256);
        if (!walker.ready()) {
            WARN("SKIPPED: the preloaded walker did not start (libdime.so cannot run here?)");
            return;
        }
        // The walker touched 256 pages while a held none: it holds the whole budget.
        dime::Instance::View v = a->instance()->view();
        CHECK(v.members == 2);
        CHECK(v.pages >= 48);
        walker.kill_and_wait();
        const bool reclaimed = eventually(
            [&] {
                v = a->instance()->view();
                return v.members == 1 && v.pages == a->totals().resident_pages;
            },
            2.0);
        INFO("after the kill: " << v.members << " members, " << v.pages << " pages");
        CHECK(reclaimed);
    }
    // The budget is whole again: a alone may fill it.
    void* ra = a->map_region(256 * kPage);
    REQUIRE(ra);
    touch(ra, 256);
    CHECK(a->totals().resident_pages > 48);
    a.reset();

    // An instance whose only member was killed stays behind until dime ctl removes it.
    const std::string orphan = unique_name("orphan");
    std::string segment = "/dev/shm/dime-" + std::to_string(geteuid()) + "-" + orphan;
    {
        PreloadedWalker walker(orphan, 16);
        REQUIRE(walker.ready());
        CHECK(exists(segment));
        walker.kill_and_wait();
    }
    CHECK(exists(segment));
    const std::vector<std::string> removed = dime::remove_orphan_instances();
    CHECK(std::find(removed.begin(), removed.end(), orphan) != removed.end());
    CHECK_FALSE(exists(segment));
}
