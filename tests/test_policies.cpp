// test_policies.cpp — the replacement policies on small hand-made sequences (victim order, which
// list a page is on, ARC's target), the registry, the plugin adapter, and a plugin driving the
// real engine (which pages stay local after a walk). Runs on the test thread (plus the engine's
// handler thread in the last test).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "local_pool.h"
#include "policies/arc.h"
#include "policies/clock.h"
#include "policies/fifo.h"
#include "policies/lru2q.h"
#include "policies/plugin.h"
#include "policies/policy.h"
#include "policies/random.h"
#include "stats.h"
#include "uffd.h"
#include "engine_support.h"

using dime::kNoPage;
using dime::PageId;

namespace {

constexpr size_t kMaxPages = 1024;

template <typename P>
std::unique_ptr<P> fresh(uint64_t capacity = 1000) {
    auto p = std::make_unique<P>();
    REQUIRE(p->init(kMaxPages));
    p->on_capacity(capacity);
    return p;
}

void admit(dime::ReplacementPolicy& p, std::initializer_list<PageId> pages) {
    for (PageId x : pages) p.on_admit(x);
}

// Victims until the policy has none left.
std::vector<PageId> drain(dime::ReplacementPolicy& p) {
    std::vector<PageId> out;
    for (PageId v; (v = p.pick_victim()) != kNoPage;) {
        out.push_back(v);
        REQUIRE(out.size() <= kMaxPages);
    }
    return out;
}

using Pages = std::vector<PageId>;

}  // namespace

TEST_CASE("registry: every built-in name makes its policy, others are refused", "[policies]") {
    for (const char* name : {"fifo", "random", "clock", "lru2q", "arc"}) {
        auto p = dime::make_policy(name);
        REQUIRE(p);
        CHECK(std::string(p->name()) == name);
    }
    CHECK_FALSE(dime::make_policy("lru"));
    CHECK_FALSE(dime::make_policy("plugin"));
    CHECK(dime::policy_names() == "fifo|random|clock|lru2q|arc");
    std::string error;
    CHECK_FALSE(dime::make_policy_for("lru", "", &error));
    CHECK(error == "unknown policy 'lru' (available: fifo|random|clock|lru2q|arc|plugin)");
}

TEST_CASE("fifo: admission order, forgotten pages skipped", "[policies]") {
    auto p = fresh<dime::FifoPolicy>();
    CHECK_FALSE(p->wants_access());
    admit(*p, {5, 3, 9, 7});
    p->on_forget(3);
    CHECK(drain(*p) == Pages{5, 9, 7});
}

TEST_CASE("random: a permutation of the local pages, not admission order, seed-dependent", "[policies]") {
    auto order = [](uint64_t seed) {
        dime::RandomPolicy p(seed);
        REQUIRE(p.init(kMaxPages));
        for (PageId x = 0; x < 200; ++x) p.on_admit(x);
        p.on_forget(17);
        p.on_forget(199);
        return drain(p);
    };
    const Pages a = order(1), b = order(2);
    REQUIRE(a.size() == 198);
    Pages sorted = a;
    std::sort(sorted.begin(), sorted.end());
    Pages expected;
    for (PageId x = 0; x < 200; ++x)
        if (x != 17 && x != 199) expected.push_back(x);
    CHECK(sorted == expected);  // each local page exactly once, forgotten ones never
    CHECK_FALSE(std::is_sorted(a.begin(), a.end()));
    CHECK(a != b);
    CHECK(order(1) == a);  // repeatable
    // The first victim among 10 pages, over 2000 seeds: each page about 200 times (the
    // standard deviation is about 13).
    std::vector<int> first(10, 0);
    for (uint64_t seed = 1; seed <= 2000; ++seed) {
        dime::RandomPolicy p(seed);
        REQUIRE(p.init(kMaxPages));
        for (PageId x = 0; x < 10; ++x) p.on_admit(x);
        const PageId v = p.pick_victim();
        REQUIRE(v < 10);
        ++first[v];
    }
    for (int count : first) {
        CHECK(count > 140);
        CHECK(count < 260);
    }
    // Roughly uniform: the first half of the victims holds about half of the first 99 pages.
    const auto early = std::count_if(a.begin(), a.begin() + 99, [](PageId x) { return x < 100; });
    CHECK(early > 30);
    CHECK(early < 70);
}

TEST_CASE("clock: a referenced page gets a second chance, without accesses it is FIFO", "[policies]") {
    auto p = fresh<dime::ClockPolicy>();
    CHECK(p->wants_access());
    admit(*p, {1, 2, 3});
    p->on_access(1);             // ring 1* 2 3
    CHECK(p->pick_victim() == 2);  // 1 loses its bit and goes round: ring 3 1
    p->on_admit(4);              // ring 3 1 4
    p->on_access(3);             // ring 3* 1 4
    CHECK(drain(*p) == Pages{1, 4, 3});

    auto q = fresh<dime::ClockPolicy>();
    admit(*q, {8, 6, 7});
    CHECK(drain(*q) == Pages{8, 6, 7});

    // Every page referenced: one full turn clears the bits, then the oldest leaves.
    auto r = fresh<dime::ClockPolicy>();
    admit(*r, {1, 2, 3});
    for (PageId x : {3, 1, 2}) r->on_access(x);
    CHECK(r->pick_victim() == 1);
}

TEST_CASE("lru2q: second access promotes, victims come from the inactive list", "[policies]") {
    using L = dime::Lru2qPolicy;
    auto p = fresh<L>();
    admit(*p, {1, 2, 3, 4});
    p->on_access(1);
    CHECK(p->list_of(1) == L::kInactive);  // once: only referenced
    p->on_access(1);
    CHECK(p->list_of(1) == L::kActive);  // twice: active
    p->on_access(2);                     // referenced on the inactive list
    // 2 is found referenced at the end of the inactive list and promoted; 3 leaves. Then the
    // active list (1, 2) outgrows the inactive one (4): 1 is demoted behind 4. Then 4, 1, 2.
    CHECK(p->pick_victim() == 3);
    CHECK(p->list_of(2) == L::kActive);
    CHECK(p->active_size() == 2);
    CHECK(p->inactive_size() == 1);
    CHECK(p->pick_victim() == 4);  // first the balance: 1 is demoted behind 4
    CHECK(p->list_of(1) == L::kInactive);
    CHECK(p->active_size() == 1);
    CHECK(drain(*p) == Pages{1, 2});

    // A scan of pages touched once never displaces an active list that is at most as long as
    // the inactive one (pool of 5: 2 active pages, 3 inactive).
    auto q = fresh<L>(5);
    admit(*q, {10, 11});
    for (PageId x : {10, 11, 10, 11}) q->on_access(x);
    admit(*q, {100, 101, 102});
    Pages victims;
    for (PageId s = 103; s < 113; ++s) {
        victims.push_back(q->pick_victim());
        q->on_admit(s);
    }
    CHECK(victims == Pages{100, 101, 102, 103, 104, 105, 106, 107, 108, 109});
    CHECK(q->list_of(10) == L::kActive);
    CHECK(q->list_of(11) == L::kActive);
}

TEST_CASE("lru2q: a page refaulting within the active list's size is admitted active", "[policies]") {
    using L = dime::Lru2qPolicy;
    auto p = fresh<L>();
    admit(*p, {1, 2, 3});
    p->on_access(1);
    p->on_access(1);  // active: 1; inactive: 2 3
    REQUIRE(p->pick_victim() == 2);
    p->on_admit(2);  // refault distance 0 <= active size 1
    CHECK(p->list_of(2) == L::kActive);

    // Refault distance 3 > active size 1: inactive again.
    auto q = fresh<L>();
    admit(*q, {1, 2, 3, 4, 5, 6});
    q->on_access(1);
    q->on_access(1);  // active: 1; inactive: 2..6
    REQUIRE(q->pick_victim() == 2);
    REQUIRE(q->pick_victim() == 3);
    REQUIRE(q->pick_victim() == 4);
    REQUIRE(q->pick_victim() == 5);
    q->on_admit(2);  // evictions since 2 left: 3
    CHECK(q->list_of(2) == L::kInactive);
    q->on_admit(5);  // evictions since 5 left: 0
    CHECK(q->list_of(5) == L::kActive);

    // The boundary: a refault distance equal to the active list's size still qualifies.
    auto r = fresh<L>();
    admit(*r, {1, 2, 3, 4});
    r->on_access(1);
    r->on_access(1);  // active: 1; inactive: 2 3 4
    REQUIRE(r->pick_victim() == 2);
    REQUIRE(r->pick_victim() == 3);
    r->on_admit(2);  // evictions since 2 left: 1 = active size
    CHECK(r->list_of(2) == L::kActive);
}

TEST_CASE("arc: T1/T2 split, ghost hits move the target, victims follow it", "[policies]") {
    using A = dime::ArcPolicy;
    auto p = fresh<A>(2);
    admit(*p, {1, 2});
    p->on_access(1);  // T1: 2; T2: 1
    CHECK(p->list_of(1) == A::kT2);
    CHECK(p->pick_victim() == 2);  // |T1| = 1 > p = 0
    CHECK(p->list_of(2) == A::kB1);
    p->on_admit(3);                // new: T1
    CHECK(p->list_of(3) == A::kT1);
    CHECK(p->pick_victim() == 3);  // B1: 2 3
    CHECK(p->target_t1() == 0);
    p->on_admit(2);                // B1 ghost hit: p += max(|B2|/|B1|, 1) = 1, 2 goes to T2
    CHECK(p->target_t1() == 1);
    CHECK(p->list_of(2) == A::kT2);
    CHECK(p->pick_victim() == 1);  // T1 empty: T2's least recently used
    CHECK(p->list_of(1) == A::kB2);
    p->on_admit(1);                // B2 ghost hit: p -= max(|B1|/|B2|, 1) = 1
    CHECK(p->target_t1() == 0);
    CHECK(p->list_of(1) == A::kT2);
    CHECK(drain(*p) == Pages{2, 1});
}

TEST_CASE("arc: the victim comes from T1 only while |T1| exceeds the target", "[policies]") {
    using A = dime::ArcPolicy;
    auto p = fresh<A>(3);
    admit(*p, {1, 2});
    p->on_access(1);
    p->on_access(2);  // T2: 1 2
    p->on_admit(3);   // T1: 3
    CHECK(p->pick_victim() == 3);  // |T1| = 1 > p = 0
    p->on_admit(3);                // B1 ghost hit: p = 1, T2: 1 2 3
    CHECK(p->target_t1() == 1);
    CHECK(p->pick_victim() == 1);  // T1 empty
    p->on_admit(4);                // T1: 4, |T1| = p = 1
    CHECK(p->pick_victim() == 2);  // not above the target: T2's oldest leaves, 4 stays
    CHECK(p->list_of(4) == A::kT1);
}

TEST_CASE("arc: ghosts stay within c and 2c, and shrink with the capacity", "[policies]") {
    using A = dime::ArcPolicy;
    auto p = fresh<A>(4);
    // A scan of 20 pages through a 4-page pool: T1 + B1 never exceed c = 4.
    for (PageId x = 0; x < 20; ++x) {
        if (p->size(A::kT1) + p->size(A::kT2) >= 4) p->pick_victim();
        p->on_admit(x);
        CHECK(p->size(A::kT1) + p->size(A::kB1) <= 4);
    }
    CHECK(p->list_of(0) == A::kNone);  // forgotten ghost
    CHECK(p->size(A::kT1) == 4);
    // Re-use moves pages to T2; their evictions fill B2; the directory stays within 2c.
    for (PageId x = 16; x < 20; ++x) p->on_access(x);
    for (PageId x = 100; x < 140; ++x) {
        p->pick_victim();
        p->on_admit(x);
        p->on_access(x);
        const uint64_t total = p->size(A::kT1) + p->size(A::kT2) + p->size(A::kB1) + p->size(A::kB2);
        CHECK(total <= 8);
    }
    CHECK(p->size(A::kB2) > 0);
    // The pool shrinks to 2 pages while 4 are local: the directory may hold 2c = 4 entries,
    // all taken by local pages, so every ghost goes.
    REQUIRE(p->size(A::kT1) + p->size(A::kT2) == 4);
    p->on_capacity(2);
    CHECK(p->size(A::kB1) == 0);
    CHECK(p->size(A::kB2) == 0);
    CHECK(p->target_t1() <= 2);
}

TEST_CASE("every policy returns only local pages, each once, and honours on_forget", "[policies]") {
    for (const char* name : {"fifo", "random", "clock", "lru2q", "arc"}) {
        INFO(name);
        auto p = dime::make_policy(name);
        REQUIRE(p->init(kMaxPages));
        p->on_capacity(64);
        std::vector<uint8_t> local(kMaxPages, 0);
        uint64_t resident = 0;
        // A deterministic mix of admits, accesses, forgets and evictions.
        uint64_t x = 12345;
        for (int step = 0; step < 5000; ++step) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            const PageId page = static_cast<PageId>((x >> 33) % 300);
            const int what = static_cast<int>((x >> 20) % 10);
            if (local[page] && what < 6) {
                if (p->wants_access()) p->on_access(page);
            } else if (local[page] && what == 6) {
                p->on_forget(page);
                local[page] = 0;
                --resident;
            } else if (!local[page]) {
                while (resident >= 64) {
                    const PageId v = p->pick_victim();
                    REQUIRE(v != kNoPage);
                    REQUIRE(v < kMaxPages);
                    REQUIRE(local[v]);
                    local[v] = 0;
                    --resident;
                }
                p->on_admit(page);
                local[page] = 1;
                ++resident;
            }
        }
        const Pages rest = drain(*p);
        CHECK(rest.size() == resident);
        for (PageId v : rest) {
            CHECK(local[v]);
            local[v] = 0;
        }
    }
}

TEST_CASE("LocalPool tells the policy its capacity at init and after each change", "[policies]") {
    struct Recorder final : dime::ReplacementPolicy {
        std::vector<uint64_t>* capacities;
        std::vector<PageId>* accessed;
        dime::FifoPolicy fifo;
        const char* name() const override { return "recorder"; }
        bool init(size_t n) override { return fifo.init(n); }
        void on_admit(PageId p) override { fifo.on_admit(p); }
        void on_forget(PageId p) override { fifo.on_forget(p); }
        PageId pick_victim() override { return fifo.pick_victim(); }
        bool wants_access() const override { return true; }
        void on_access(PageId p) override { accessed->push_back(p); }
        void on_capacity(uint64_t c) override { capacities->push_back(c); }
    };
    std::vector<uint64_t> capacities;
    std::vector<PageId> accessed;
    auto policy = std::make_unique<Recorder>();
    policy->capacities = &capacities;
    policy->accessed = &accessed;
    dime::Stats stats;
    dime::LocalPool pool(std::move(policy), 100, stats);
    REQUIRE(pool.init(kMaxPages));
    CHECK(pool.policy_wants_access());
    CHECK(capacities == std::vector<uint64_t>{100});
    pool.admit(1);
    pool.admit(2);
    pool.set_capacity(1);  // as from another thread: heard at the next admit or eviction
    CHECK(capacities.size() == 1);
    CHECK(pool.evict_one() == 1);
    CHECK(capacities == std::vector<uint64_t>{100, 1});
    pool.admit(3);  // unchanged: not told again
    pool.set_capacity(50);
    pool.admit(4);
    CHECK(capacities == std::vector<uint64_t>{100, 1, 50});
    pool.access(3);
    CHECK(accessed == Pages{3});
    CHECK(pool.resident() == 3);
}

// ---- plugins ----------------------------------------------------------------------------------

TEST_CASE("plugin: the example LIFO plugin loads and evicts the newest page first", "[policies][plugin]") {
    std::string error;
    auto p = dime::PluginPolicy::load(DIME_LIFO_PLUGIN, &error);
    INFO(error);
    REQUIRE(p);
    CHECK(std::string(p->name()) == "lifo");
    CHECK_FALSE(p->wants_access());
    REQUIRE(p->init(kMaxPages));
    p->on_capacity(8);
    admit(*p, {1, 2, 3});
    CHECK(p->pick_victim() == 3);
    admit(*p, {4, 5});
    p->on_forget(4);
    CHECK(drain(*p) == Pages{5, 2, 1});
    CHECK(dime::check_policy_plugin(DIME_LIFO_PLUGIN).empty());
}

TEST_CASE("plugin: bad plugins are refused with one line naming the file", "[policies][plugin]") {
    auto refused = [](const std::string& path) {
        std::string error;
        auto p = dime::PluginPolicy::load(path, &error);
        CHECK_FALSE(p);
        CHECK(error == dime::check_policy_plugin(path));
        CHECK(error.find('\n') == std::string::npos);
        return error;
    };
    CHECK(refused("/nonexistent/p.so") ==
          "policy_plugin: cannot load '/nonexistent/p.so': cannot open shared object file: No such file or directory");
    CHECK(refused(DIME_PLUGIN_NO_ENTRY) ==
          std::string("policy_plugin: '") + DIME_PLUGIN_NO_ENTRY +
              "' has no dime_policy_plugin_v1 symbol (not a DiME policy plugin?)");
    CHECK(refused(DIME_PLUGIN_WRONG_ABI) == std::string("policy_plugin: '") + DIME_PLUGIN_WRONG_ABI +
                                                "' was built for policy ABI version 99; this DiME has version 1");
    CHECK(refused(DIME_PLUGIN_NO_VICTIM) ==
          std::string("policy_plugin: '") + DIME_PLUGIN_NO_VICTIM + "' lacks the required callback pick_victim");
    CHECK(refused("") == "policy_plugin: no path given (policy: plugin needs the path of a shared object)");
    // A bare file name is relative to the working directory, never searched in library paths.
    CHECK(refused("libc.so.6").find("cannot load 'libc.so.6'") != std::string::npos);
}

TEST_CASE("plugin: validate() checks the plugin, and Engine::start reports the same line", "[policies][plugin][config]") {
    dime::Config cfg;
    cfg.policy = "plugin";
    CHECK(dime::validate(cfg).error == "policy: 'plugin' needs policy_plugin, the path of the policy's shared object");
    cfg.policy_plugin = DIME_PLUGIN_WRONG_ABI;
    const auto r = dime::validate(cfg);
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("ABI version 99") != std::string::npos);
    std::string error;
    CHECK_FALSE(dime::Engine::start(cfg, &error));
    CHECK(error == r.error);
    cfg.policy_plugin = DIME_LIFO_PLUGIN;
    CHECK(dime::validate(cfg).ok);
    cfg.policy = "fifo";
    cfg.policy_plugin = "/nonexistent/ignored.so";  // only read with policy: plugin
    CHECK(dime::validate(cfg).ok);
}

namespace {

// Which of `pages` pages at `base` are mapped (local) in the application's address space.
std::vector<size_t> resident_pages(void* base, size_t pages) {
    std::vector<unsigned char> vec(pages);
    REQUIRE(mincore(base, pages * 4096, vec.data()) == 0);
    std::vector<size_t> out;
    for (size_t i = 0; i < pages; ++i)
        if (vec[i] & 1) out.push_back(i);
    return out;
}

// Writes pages 0..pages-1 in order under `policy` with a pool of `pool` pages; returns the
// pages still local. Empty optional-like result (skipped) when userfaultfd is unusable here.
bool walk_under(const dime::Config& base_cfg, size_t pages, std::vector<size_t>* local, std::string* report) {
    dime::Config cfg = base_cfg;
    std::string error;
    auto engine = dime::test::start_engine_or_skip(cfg);
    if (!engine) return false;
    auto* mem = static_cast<volatile char*>(engine->map_region(pages * 4096, &error));
    REQUIRE(mem);
    for (size_t i = 0; i < pages; ++i) mem[i * 4096] = static_cast<char>(i + 1);
    *local = resident_pages(const_cast<char*>(mem), pages);
    for (size_t i = 0; i < pages; ++i) REQUIRE(mem[i * 4096] == static_cast<char>(i + 1));  // nothing lost
    *report = engine->report_json();
    engine->unmap_region(const_cast<char*>(mem));
    return true;
}

}  // namespace

TEST_CASE("plugin through the engine: LIFO keeps the first pages local, FIFO the last", "[policies][plugin][engine][uffd]") {
    dime::Config cfg;
    cfg.summary = false;
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;  // no calibration: the pool sees only this test's pages
    cfg.evict_batch = 1;  // exact: no eviction ahead of need
    cfg.local_npages = 8;
    cfg.policy = "plugin";
    cfg.policy_plugin = DIME_LIFO_PLUGIN;
    REQUIRE(dime::validate(cfg).ok);
    std::vector<size_t> local;
    std::string report;
    if (!walk_under(cfg, 16, &local, &report)) return;
    // Page 8's fault evicts the newest page, 7; page 9's evicts 8; ... page 15's evicts 14.
    CHECK(local == std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 15});
    CHECK(report.find("\"policy\": \"lifo\"") != std::string::npos);

    cfg.policy = "fifo";
    REQUIRE(walk_under(cfg, 16, &local, &report));
    CHECK(local == std::vector<size_t>{8, 9, 10, 11, 12, 13, 14, 15});
    CHECK(report.find("\"policy\": \"fifo\"") != std::string::npos);
}
