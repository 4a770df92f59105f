// test_soak.cpp — a short soak of the engine itself (no preload): worker threads write, read,
// copy and move through a pipe pieces of regions in two emulated tiers and a local one, pieces of
// every size straddling pages, against a shadow copy; a chaos thread resizes the pool, evicts
// everything and forks, each child checking the pieces held still for its fork. Nothing may be
// lost, nothing may hang (soak_support.h's watchdog ends the run naming what was stuck), and after
// the engine is destroyed the process holds the descriptors and threads it had before it started.
// tests/programs/soak.cpp is the long version, under the preload. Runs on its own threads.
#include <catch2/catch.hpp>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "engine.h"
#include "engine_support.h"
#include "programs/soak_support.h"

namespace {

constexpr size_t kPage = 4096;
constexpr int kWorkers = 4;

struct Piece {
    std::atomic<int> owner{0};  // 0 free, else who + 1
    unsigned char* at = nullptr;
    unsigned char* shadow = nullptr;
    size_t len = 0;
};

dime::Engine* g_engine = nullptr;  // for the mismatch report's fresh fetch
long evict_for_report(const void* p, size_t n) { return static_cast<long>(g_engine->evict_range(p, n)); }

struct Soak {
    explicit Soak(dime::Engine& e) : engine(e) {}
    dime::Engine& engine;
    std::vector<Piece> pieces;
    std::atomic<uint64_t> ops{0}, mismatches{0}, forks{0}, failed_children{0};
    std::atomic<bool> stop{false};
    soak::Activity acts[kWorkers + 1];
    soak::Watchdog* watchdog = nullptr;
    std::string config;

    bool own(Piece& p, int who) {
        int expected = 0;
        return p.owner.compare_exchange_strong(expected, who + 1, std::memory_order_acquire);
    }
    static void release(Piece& p) { p.owner.store(0, std::memory_order_release); }

    bool check(Piece& p, size_t off, size_t len, const char* who) {
        if (std::memcmp(p.at + off, p.shadow + off, len) == 0) return true;
        char what[128];
        snprintf(what, sizeof what, "piece %p (%zu bytes, tier %d)", static_cast<void*>(p.at), p.len,
                 engine.tier_of(p.at));
        soak::Mismatch m{who, what, p.at + off, p.shadow + off, len, off, engine.config().page_size, &evict_for_report,
                         nullptr, config.c_str()};
        soak::report_mismatch(m);
        mismatches.fetch_add(1);
        std::memcpy(p.shadow + off, p.at + off, len);
        return false;
    }

    void work(int id) {
        soak::Rng rng(0x50a4 + uint64_t(id));
        soak::Activity& act = acts[id];
        act.tid.store(int(gettid()));
        int pipe_fd[2];
        if (pipe2(pipe_fd, O_CLOEXEC) != 0) {  // no Catch2 assertion off the test's own thread
            mismatches.fetch_add(1);
            return;
        }
        while (!stop.load(std::memory_order_relaxed)) {
            Piece& p = pieces[rng.below(pieces.size())];
            if (!own(p, id)) continue;
            const size_t off = rng.below(p.len), len = 1 + rng.below(p.len - off);
            const uint64_t r = rng.below(100);
            if (r < 35) {
                act.begin("write", p.at, p.len);
                rng.fill(p.shadow + off, len);
                std::memcpy(p.at + off, p.shadow + off, len);
            } else if (r < 65) {
                act.begin("read", p.at, p.len);
                check(p, off, len, "worker read");
            } else if (r < 80) {
                Piece& q = pieces[rng.below(pieces.size())];
                if (&q != &p && own(q, id)) {
                    act.begin("memcpy", p.at, p.len);
                    const size_t n = std::min(len, q.len);
                    if (check(q, 0, n, "memcpy source")) {
                        std::memcpy(p.at + off, q.at, n);
                        std::memcpy(p.shadow + off, q.shadow, n);
                    }
                    release(q);
                }
            } else if (r < 90) {
                act.begin("pipe", p.at, p.len);  // the kernel reads one part and writes another
                const size_t n = std::min<size_t>(len, 16384), dst = rng.below(p.len - n + 1);
                const bool ok = write(pipe_fd[1], p.at + off, n) == ssize_t(n) &&
                                read(pipe_fd[0], p.at + dst, n) == ssize_t(n);
                if (!ok) mismatches.fetch_add(1);
                std::memmove(p.shadow + dst, p.shadow + off, n);
            } else {
                act.begin("evict_range, read back", p.at, p.len);
                engine.evict_range(p.at, p.len);
                check(p, 0, p.len, "read back after evict_range");
            }
            release(p);
            ops.fetch_add(1, std::memory_order_relaxed);
            act.end();
        }
        close(pipe_fd[0]);
        close(pipe_fd[1]);
    }

    // In the child: the held pieces as they were at the fork. Exit status 0 or 1.
    [[noreturn]] void child(const std::vector<size_t>& held) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with a parent its watchdog ends
        alarm(60);  // a hang in the child ends it (SIGALRM) instead of stalling the test
        const uint64_t before = mismatches.load();
        for (size_t i : held) check(pieces[i], 0, pieces[i].len, "fork child");
        soak::Rng rng(getpid());
        for (size_t i : held) {  // the child's copy is its own, emulated by its own engine
            rng.fill(pieces[i].shadow, pieces[i].len);
            std::memcpy(pieces[i].at, pieces[i].shadow, pieces[i].len);
        }
        g_engine->evict_range(reinterpret_cast<void*>(g_engine->span_base()), g_engine->span_bytes());
        for (size_t i : held) check(pieces[i], 0, pieces[i].len, "fork child, rewritten");
        _exit(mismatches.load() == before ? 0 : 1);
    }

    void chaos(uint64_t pool) {
        soak::Activity& act = acts[kWorkers];
        act.tid.store(int(gettid()));
        soak::Rng rng(0xc4a05);
        uint64_t next_fork = soak::now_ns() + 300000000ull;
        while (!stop.load()) {
            const timespec pace = {0, 10000000};
            nanosleep(&pace, nullptr);
            if (soak::now_ns() >= next_fork) {
                act.begin("fork");
                std::vector<size_t> held;
                for (int tries = 0; tries < 500 && held.size() < 32; ++tries) {
                    const size_t i = rng.below(pieces.size());
                    if (own(pieces[i], kWorkers)) held.push_back(i);
                }
                const pid_t pid = fork();
                if (pid == 0) child(held);
                for (size_t i : held) release(pieces[i]);
                int status = -1;
                if (pid > 0) {
                    act.begin("waiting for a fork child");
                    if (watchdog) watchdog->child.store(pid);
                    waitpid(pid, &status, 0);
                    if (watchdog) watchdog->child.store(0);
                    forks.fetch_add(1);
                }
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed_children.fetch_add(1);
                next_fork = soak::now_ns() + 700000000ull;
            } else if (rng.below(3) == 0) {
                act.begin("evict everything");
                engine.evict_range(reinterpret_cast<void*>(engine.span_base()), engine.span_bytes());
            } else {
                act.begin("set_local_pages");
                engine.set_local_pages(rng.below(4) == 0 ? pool : pool / 8 + rng.below(2 * pool));
            }
            act.end();
        }
        engine.set_local_pages(pool);
    }
};

}  // namespace

TEST_CASE("soak (engine): threads, evictions, pool resizes and forks over tiers lose nothing and leave nothing behind",
          "[engine][uffd][soak]") {
    const int variant = GENERATE(0, 1);
    dime::Config cfg;
    cfg.summary = false;
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;
    cfg.local_npages = 128;
    cfg.extra_tiers.push_back({"far", 10000, 10000000000ull, false});
    cfg.extra_tiers.push_back({"local", 0, 0, true});
    if (variant == 1) {  // dirty tracking, sampled pages (access tracking and probes), prefetching
        cfg.writeback = true;
        cfg.policy = "clock";
        cfg.access_sample_percent = 20;
        cfg.access_sample_interval_ns = 1000000;
        cfg.prefetch = "auto";
    }
    INFO("variant " << variant);
    // A thread started and joined first: a sanitizer's helper thread (ThreadSanitizer starts one
    // with the program's first thread) then exists in both counts.
    std::thread([] {}).join();
    char fds_before[2048], threads_before[512];
    const int fd_count = soak::count_fds(fds_before, sizeof fds_before);
    const int thread_count = soak::count_threads(threads_before, sizeof threads_before);
    REQUIRE(fd_count > 0);
    {
        auto engine = dime::test::start_valid_engine_or_skip(cfg);
        if (!engine) return;
        g_engine = engine.get();
        Soak s(*engine);
        s.config = variant ? "writeback clock sampling prefetch=auto, pool 128" : "defaults, pool 128";
        // Three regions (remote 8x, far 4x the pool, local), cut into pieces of 1 byte to 3 pages.
        const size_t pages[3] = {1024, 512, 64};
        std::vector<std::vector<unsigned char>> shadows;
        std::vector<unsigned char*> regions;
        soak::Rng rng(7);
        for (int t = 0; t < 3; ++t) {
            std::string error;
            auto* base = static_cast<unsigned char*>(engine->map_region_in_tier(pages[t] * kPage, t, &error));
            INFO(error);
            REQUIRE(base != nullptr);
            regions.push_back(base);
            shadows.emplace_back(pages[t] * kPage, 0);
        }
        size_t count = 0;
        for (int t = 0; t < 3; ++t)
            for (size_t off = 0; off < pages[t] * kPage; off += rng.log_size(1, 3 * kPage)) ++count;
        s.pieces = std::vector<Piece>(count);
        rng = soak::Rng(7);
        size_t k = 0;
        for (int t = 0; t < 3; ++t)
            for (size_t off = 0, next; off < pages[t] * kPage; off = next) {
                next = std::min(off + rng.log_size(1, 3 * kPage), pages[t] * kPage);
                s.pieces[k].at = regions[t] + off;
                s.pieces[k].shadow = shadows[t].data() + off;
                s.pieces[k++].len = next - off;
            }
        for (int i = 0; i < kWorkers; ++i) snprintf(s.acts[i].name, sizeof s.acts[i].name, "worker %d", i);
        snprintf(s.acts[kWorkers].name, sizeof s.acts[kWorkers].name, "chaos");

        const uint64_t run_ns = 6000000000ull;
        {
            soak::Watchdog watchdog(s.acts, kWorkers + 1, 30000000000ull, soak::now_ns() + run_ns + 60000000000ull);
            s.watchdog = &watchdog;
            std::vector<std::thread> threads;
            for (int i = 0; i < kWorkers; ++i) threads.emplace_back([&s, i] { s.work(i); });
            threads.emplace_back([&s, &cfg] { s.chaos(cfg.local_npages); });
            const uint64_t t0 = soak::now_ns();
            while (soak::now_ns() - t0 < run_ns) {
                const timespec tick = {0, 50000000};
                nanosleep(&tick, nullptr);  // the run's length, not a synchronisation
            }
            s.stop.store(true);
            for (auto& th : threads) th.join();
        }
        for (Piece& p : s.pieces) s.check(p, 0, p.len, "final check");
        const dime::Totals t = engine->totals();
        std::printf("soak (engine, %s): %llu ops, %llu mismatches; %llu forks; %llu faults, %llu evictions\n",
                    s.config.c_str(), (unsigned long long)s.ops.load(), (unsigned long long)s.mismatches.load(),
                    (unsigned long long)s.forks.load(), (unsigned long long)t.faults, (unsigned long long)t.evictions);
        CHECK(s.mismatches.load() == 0);
        CHECK(s.failed_children.load() == 0);
        CHECK(s.forks.load() > 0);
        CHECK(s.ops.load() > 1000);
        CHECK(t.refetch_faults > 0);
        for (unsigned char* base : regions) engine->unmap_region(base);
        g_engine = nullptr;
    }
    // The engine is gone: its descriptors and threads with it.
    char fds_after[2048], threads_after[512];
    INFO("descriptors before:" << fds_before << "\n              after:" << soak::count_fds(fds_after, sizeof fds_after)
                               << fds_after);
    CHECK(soak::count_fds() == fd_count);
    INFO("threads before:" << threads_before << "\n          after:"
                           << soak::count_threads(threads_after, sizeof threads_after) << threads_after);
    CHECK(soak::count_threads() == thread_count);
}
