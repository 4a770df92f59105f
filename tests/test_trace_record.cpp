// test_trace_record.cpp — `trace`: the engine records its fault and eviction stream and writes it
// at exit in the policy lab's format. A walk through the Engine API (no preload): the file holds
// one line per fault and per eviction, in order, with the unit's 4 KiB page number, and `dime
// sim` reads it. Runs on the test thread.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "config.h"
#include "engine.h"
#include "engine_support.h"
#include "trace.h"

namespace {

struct Event {
    uint64_t page;
    char kind;
};

std::vector<Event> read_events(const std::string& path) {
    std::vector<Event> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        unsigned long long page = 0;
        char kind = 0;
        REQUIRE(std::sscanf(line.c_str(), "%llu %c", &page, &kind) == 2);
        out.push_back({page, kind});
    }
    return out;
}

}  // namespace

TEST_CASE("trace records every fault and eviction in order, in 4 KiB page numbers", "[engine][uffd][trace]") {
    const size_t unit = GENERATE(size_t(4096), size_t(64) << 10);
    constexpr size_t kUnits = 40;
    constexpr uint64_t kPool = 8;
    const std::string path = "/tmp/dime_trace_test." + std::to_string(getpid()) + ".txt";
    std::remove(path.c_str());
    dime::Config cfg;
    cfg.summary = false;
    cfg.page_size = unit;
    cfg.local_npages = kPool;
    cfg.evict_batch = 1;
    cfg.latency_ns = 0;
    cfg.overhead_ns = 0;
    cfg.heap_bytes = 64ull << 20;
    cfg.trace = path;
    REQUIRE(dime::validate(cfg).ok);
    auto engine = dime::test::start_engine_or_skip(cfg);
    if (!engine) return;
    auto* base = static_cast<volatile unsigned char*>(engine->map_region(kUnits * unit));
    REQUIRE(base != nullptr);
    // Two walks, writes then reads; FIFO with a pool smaller than the walk re-fetches everything.
    for (size_t u = 0; u < kUnits; ++u) base[u * unit + 8] = 1;
    for (size_t u = 0; u < kUnits; ++u) (void)base[u * unit + 16];
    const dime::Totals t = engine->totals();
    REQUIRE(t.faults == 2 * kUnits);
    engine->write_reports();

    const std::vector<Event> events = read_events(path);
    std::vector<Event> faults;
    uint64_t evictions = 0;
    for (const Event& e : events) {
        if (e.kind == 'e') ++evictions;
        else faults.push_back(e);
    }
    CHECK(faults.size() == t.faults);
    CHECK(evictions == t.evictions);
    REQUIRE(faults.size() == 2 * kUnits);
    const uint64_t step = unit / 4096;
    for (size_t i = 0; i < faults.size(); ++i) {
        INFO("fault " << i << ": page " << faults[i].page << " " << faults[i].kind);
        CHECK(faults[i].page % step == 0);
        CHECK(faults[i].page == faults[0].page + (i % kUnits) * step);
        CHECK(faults[i].kind == (i < kUnits ? 'w' : 'r'));
    }
    // FIFO: the first eviction happens when the pool overflows, and takes the first unit.
    REQUIRE(events.size() > kPool);
    CHECK(events[kPool].kind == 'e');
    CHECK(events[kPool].page == faults[0].page);

    // The policy lab reads the file: the faults are its accesses, evictions are skipped.
    dime::lab::Trace trace;
    std::string error;
    REQUIRE(dime::lab::read_trace_file(path, unit, &trace, &error));
    CHECK(trace.accesses.size() == t.faults);
    CHECK(trace.evictions == t.evictions);
    CHECK(trace.distinct_pages == kUnits);
    engine->unmap_region(const_cast<unsigned char*>(base));
    std::remove(path.c_str());
}
