// test_sim.cpp — the policy lab: OPT and exact LRU against answers worked out by hand and against
// naive reference implementations, the replay loop's calling sequence (the engine's), policies
// through the simulator on tiny traces, and the trace format. Runs on the test thread.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "policies/policy.h"
#include "simulate.h"
#include "trace.h"

using dime::kNoPage;
using dime::PageId;
using dime::lab::make_trace;
using dime::lab::Trace;

namespace {

uint64_t faults_of(const char* policy, const Trace& t, uint64_t pages) {
    auto p = dime::make_policy(policy);
    REQUIRE(p);
    dime::lab::SimResult r;
    std::string error;
    INFO(error);
    REQUIRE(dime::lab::simulate(*p, t, pages, &r, &error));
    CHECK(r.accesses == t.accesses.size());
    return r.faults;
}

// The textbook definitions, written as plainly as possible (O(n * c)).
uint64_t naive_lru(const std::vector<uint64_t>& refs, size_t cap) {
    std::vector<uint64_t> stack;  // back = most recent
    uint64_t faults = 0;
    for (uint64_t x : refs) {
        auto it = std::find(stack.begin(), stack.end(), x);
        if (it != stack.end()) {
            stack.erase(it);
        } else {
            ++faults;
            if (stack.size() == cap) stack.erase(stack.begin());
        }
        stack.push_back(x);
    }
    return faults;
}

uint64_t naive_opt(const std::vector<uint64_t>& refs, size_t cap) {
    std::vector<uint64_t> frames;
    uint64_t faults = 0;
    for (size_t i = 0; i < refs.size(); ++i) {
        if (std::find(frames.begin(), frames.end(), refs[i]) != frames.end()) continue;
        ++faults;
        if (frames.size() < cap) {
            frames.push_back(refs[i]);
            continue;
        }
        size_t worst = 0, worst_next = 0;
        for (size_t f = 0; f < frames.size(); ++f) {
            size_t next = i + 1;
            while (next < refs.size() && refs[next] != frames[f]) ++next;
            if (next > worst_next) worst = f, worst_next = next;
        }
        frames[worst] = refs[i];
    }
    return faults;
}

// Records the engine-facing calls a simulation makes; evicts in admission order.
class SpyPolicy final : public dime::ReplacementPolicy {
public:
    explicit SpyPolicy(bool wants) : wants_(wants) {}
    const char* name() const override { return "spy"; }
    bool init(size_t max_pages) override {
        log.push_back("init " + std::to_string(max_pages));
        return true;
    }
    void on_admit(PageId p) override {
        log.push_back("admit " + std::to_string(p));
        fifo.push_back(p);
    }
    void on_forget(PageId p) override { log.push_back("forget " + std::to_string(p)); }
    PageId pick_victim() override {
        if (fifo.empty()) return kNoPage;
        const PageId v = fifo.front();
        fifo.erase(fifo.begin());
        log.push_back("victim " + std::to_string(v));
        return v;
    }
    bool wants_access() const override { return wants_; }
    void on_access(PageId p) override { log.push_back("access " + std::to_string(p)); }
    void on_capacity(uint64_t c) override { log.push_back("capacity " + std::to_string(c)); }

    std::vector<std::string> log;
    std::vector<PageId> fifo;

private:
    bool wants_;
};

const std::vector<uint64_t> kBelady = {1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5};
const std::vector<uint64_t> kTextbook = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1};

}  // namespace

TEST_CASE("OPT and LRU on Belady's string, worked out by hand", "[sim]") {
    const Trace t = make_trace(kBelady);
    REQUIRE(t.distinct_pages == 5);
    // 3 pages. OPT: 1 2 3 fault; 4 evicts 3 (next used last); 5 evicts 4; 3 evicts 1 or 2
    // (neither is used again); 4 evicts the other: 7. LRU: hits only on the 1 2 after 5: 10.
    CHECK(dime::lab::opt_faults(t, 3) == 7);
    CHECK(dime::lab::lru_faults(t, 3) == 10);
    // 4 pages. OPT: 4 cold, 5 evicts 4, 4 evicts one of 1 2 3: 6. LRU: 4 cold, then 5, 3, 4, 5: 8.
    CHECK(dime::lab::opt_faults(t, 4) == 6);
    CHECK(dime::lab::lru_faults(t, 4) == 8);
    // FIFO shows Belady's anomaly: more pages, more faults.
    CHECK(faults_of("fifo", t, 3) == 9);
    CHECK(faults_of("fifo", t, 4) == 10);
}

TEST_CASE("OPT, LRU and FIFO on the textbook string 7 0 1 2 0 3 0 4 ... with 3 pages", "[sim]") {
    const Trace t = make_trace(kTextbook);
    CHECK(dime::lab::opt_faults(t, 3) == 9);
    CHECK(dime::lab::lru_faults(t, 3) == 12);
    CHECK(faults_of("fifo", t, 3) == 15);
}

TEST_CASE("OPT and LRU agree with naive implementations, and OPT is a lower bound", "[sim]") {
    uint64_t x = 42;
    for (int round = 0; round < 60; ++round) {
        std::vector<uint64_t> refs;
        const uint64_t span = 3 + round % 13;
        for (int i = 0; i < 300; ++i) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            // A mix of locality and jumps, over non-dense page numbers.
            refs.push_back(((x >> 33) % span) * 1000 + (round % 3 ? 0 : 7));
        }
        const Trace t = make_trace(refs);
        for (uint64_t cap : {1u, 2u, 3u, 5u, 8u}) {
            INFO("round " << round << " capacity " << cap);
            const uint64_t opt = dime::lab::opt_faults(t, cap), lru = dime::lab::lru_faults(t, cap);
            CHECK(opt == naive_opt(refs, cap));
            CHECK(lru == naive_lru(refs, cap));
            for (const char* name : {"fifo", "random", "clock", "lru2q", "arc"}) {
                INFO(name);
                CHECK(faults_of(name, t, cap) >= opt);
            }
        }
    }
}

TEST_CASE("trivial pools: one page faults on every change, a large pool only on first touches", "[sim]") {
    const Trace t = make_trace(kTextbook);
    uint64_t changes = 1;
    for (size_t i = 1; i < kTextbook.size(); ++i) changes += kTextbook[i] != kTextbook[i - 1];
    for (const char* name : {"fifo", "random", "clock", "lru2q", "arc"}) {
        INFO(name);
        CHECK(faults_of(name, t, 1) == changes);
        CHECK(faults_of(name, t, 100) == t.distinct_pages);
    }
    CHECK(dime::lab::opt_faults(t, 1) == changes);
    CHECK(dime::lab::lru_faults(t, 100) == t.distinct_pages);
}

TEST_CASE("the simulator drives a policy as the engine does", "[sim]") {
    // Pages 10 20 10 30 20: dense numbers 0 1 0 2 1; pool of 2.
    const Trace t = make_trace({10, 20, 10, 30, 20});
    SpyPolicy spy(true);
    dime::lab::SimResult r;
    std::string error;
    std::vector<PageId> victims;
    REQUIRE(dime::lab::simulate(spy, t, 2, &r, &error, &victims));
    CHECK(spy.log == std::vector<std::string>{"init 3", "capacity 2", "admit 0", "admit 1", "access 0", "victim 0",
                                              "admit 2", "access 1"});
    CHECK(victims == std::vector<PageId>{0});
    CHECK(r.faults == 3);
    CHECK(r.hit_ratio() == Approx(0.4));

    SpyPolicy blind(false);  // a policy that does not want accesses never hears of hits
    REQUIRE(dime::lab::simulate(blind, t, 2, &r, &error));
    CHECK(std::count_if(blind.log.begin(), blind.log.end(), [](const std::string& s) { return s.rfind("access", 0) == 0; }) == 0);
}

TEST_CASE("the simulator refuses a policy that names a page that is not local", "[sim]") {
    class Liar final : public dime::ReplacementPolicy {
    public:
        const char* name() const override { return "liar"; }
        bool init(size_t) override { return true; }
        void on_admit(PageId) override {}
        void on_forget(PageId) override {}
        PageId pick_victim() override { return 2; }  // page 2 is never local when asked
    } liar;
    dime::lab::SimResult r;
    std::string error;
    CHECK_FALSE(dime::lab::simulate(liar, make_trace({1, 2, 3}), 1, &r, &error));
    CHECK(error == "policy 'liar' named page 2 as victim, which is not local");
}

TEST_CASE("policies through the simulator: scan resistance and recency, by hand", "[sim]") {
    // Hot pages 0 1, used twice, then a scan of 8 pages, then 0 1 again; 4 pages.
    const Trace t = make_trace({0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1});
    // LRU and FIFO: the scan flushes 0 and 1, so 2 + 8 + 2 faults.
    CHECK(dime::lab::lru_faults(t, 4) == 12);
    CHECK(faults_of("fifo", t, 4) == 12);
    // ARC: 0 1 were hit, so they sit in T2; the scan cycles through T1: 2 + 8 faults.
    CHECK(faults_of("arc", t, 4) == 10);
    // lru2q: 0 1 are active (2 of 4 pages, no more than the inactive list): 10 faults.
    CHECK(faults_of("lru2q", t, 4) == 10);
    // CLOCK: 0 1 are referenced, but a second chance lasts one turn of the hand; the scan's
    // third page (6) finds 0 unreferenced, the fourth 1: 12 faults.
    CHECK(faults_of("clock", t, 4) == 12);
    // OPT keeps 0 1 as well.
    CHECK(dime::lab::opt_faults(t, 4) == 10);
}

TEST_CASE("trace format: decimal pages, hex addresses, comments, r/w, page size", "[sim]") {
    std::istringstream in("# a comment\n\n  5\n0x5000 w\n0x5fff\n6 r\n 0x6000\t\n");
    Trace t;
    std::string error;
    REQUIRE(dime::lab::read_trace(in, "t.txt", 4096, &t, &error));
    // 5, 0x5000 and 0x5fff are 4 KiB page 5; 6 and 0x6000 page 6.
    CHECK(t.accesses == std::vector<PageId>{0, 0, 0, 1, 1});
    CHECK(t.distinct_pages == 2);

    // "e" lines (evictions in a trace the engine recorded) are counted, not accesses.
    std::istringstream recorded("# dime trace\n16 w\n32 r\n16 e\n16 r\n");
    REQUIRE(dime::lab::read_trace(recorded, "t.txt", 65536, &t, &error));
    CHECK(t.accesses == std::vector<PageId>{0, 1, 0});
    CHECK(t.evictions == 1);

    std::istringstream big("0\n3\n4\n0x3fff\n0x4000\n");
    REQUIRE(dime::lab::read_trace(big, "t.txt", 16384, &t, &error));
    CHECK(t.accesses == std::vector<PageId>{0, 0, 1, 0, 1});

    auto refused = [](const std::string& text, uint64_t page_size = 4096) {
        std::istringstream bad(text);
        Trace ignored;
        std::string why;
        CHECK_FALSE(dime::lab::read_trace(bad, "t.txt", page_size, &ignored, &why));
        return why;
    };
    CHECK(refused("1\n2\nx3\n") == "t.txt:3: 'x3' is not a page number (decimal, in 4 KiB pages) or a byte address (0x...)");
    CHECK(refused("1\n-2\n") == "t.txt:2: '-2' is not a page number (decimal, in 4 KiB pages) or a byte address (0x...)");
    CHECK(refused("1 write\n") == "t.txt:1: 'write' after the page: expected nothing, r, w or e");
    CHECK(refused("99999999999999999999999\n") == "t.txt:1: '99999999999999999999999' is too large");
    CHECK(refused("1\n", 6000) == "page size 6000 is not a power of two of at least 4096");
}

TEST_CASE("without access information, clock, lru2q and arc replace exactly like FIFO", "[sim]") {
    // What the engine does until access tracking reports hits: CLOCK sees no referenced bit,
    // lru2q's active list stays empty (so no refault qualifies), and ARC's T1 fills the pool,
    // which leaves B1 no room, so no ghost hit ever happens.
    uint64_t x = 7;
    for (int round = 0; round < 20; ++round) {
        std::vector<uint64_t> refs;
        for (int i = 0; i < 2000; ++i) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            refs.push_back((x >> 33) % (20 + round * 5));
        }
        const Trace t = make_trace(refs);
        for (uint64_t cap : {4u, 10u, 30u}) {
            std::vector<PageId> fifo_victims;
            dime::lab::SimResult fifo_result;
            std::string error;
            auto fifo = dime::make_policy("fifo");
            REQUIRE(dime::lab::simulate(*fifo, t, cap, &fifo_result, &error, &fifo_victims));
            for (const char* name : {"clock", "lru2q", "arc"}) {
                INFO(name << " round " << round << " capacity " << cap);
                auto p = dime::make_policy(name);
                std::vector<PageId> victims;
                dime::lab::SimResult r;
                REQUIRE(dime::lab::simulate(*p, t, cap, &r, &error, &victims, 0.0));
                CHECK(victims == fifo_victims);
                // With every hit reported they differ from FIFO on such traces.
                auto q = dime::make_policy(name);
                std::vector<PageId> informed;
                REQUIRE(dime::lab::simulate(*q, t, cap, &r, &error, &informed, 1.0));
                if (round == 0 && cap == 10) CHECK(informed != fifo_victims);
            }
        }
    }
}

TEST_CASE("evict_batch: the simulator evicts ahead of need as the engine does", "[sim]") {
    // 64 pages, then page 0 again, with a 64-page pool. Exact eviction: everything fits, 64 faults.
    std::vector<uint64_t> refs;
    for (uint64_t p = 0; p < 64; ++p) refs.push_back(p);
    refs.push_back(0);
    const Trace t = make_trace(refs);
    auto run = [&](uint64_t batch, std::vector<PageId>* victims) {
        auto fifo = dime::make_policy("fifo");
        dime::lab::SimOptions o;
        o.capacity = 64;
        o.evict_batch = batch;
        o.victims = victims;
        dime::lab::SimResult r;
        std::string error;
        REQUIRE(dime::lab::simulate(*fifo, t, o, &r, &error));
        return r.faults;
    };
    std::vector<PageId> victims;
    CHECK(run(1, &victims) == 64);
    CHECK(victims.empty());
    // Batches of 2 (64 / 32): once page 63 fills the pool, the idle handler evicts 0 and 1, so
    // the second access to 0 faults; the pool then holds 63 pages, not full: no more eviction.
    CHECK(run(2, &victims) == 65);
    CHECK(victims == std::vector<PageId>{0, 1});
    // The batch is capped at capacity / 32, as in the engine: 16 becomes 2 here.
    victims.clear();
    CHECK(run(16, &victims) == 65);
    CHECK(victims == std::vector<PageId>{0, 1});
    CHECK(dime::lab::engine_batch(16, 1000) == 16);
    CHECK(dime::lab::engine_batch(16, 10) == 1);
    CHECK(dime::lab::engine_batch(999, 1 << 20) == 256);
}
