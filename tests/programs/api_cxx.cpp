// api_cxx.cpp — include/dime.h from C++: objects built in named tiers, owned by unique_ptr with a
// dime_free deleter. Run as `api_cxx emulated` under libdime.so with tests/tiers/tiers.yaml and as
// `api_cxx plain` without it. Exit 0 = all checks held.
#include <dime.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "pattern.h"

namespace {

int failures = 0;

void expect(bool ok, const char* what, int line) {
    if (ok) return;
    std::fprintf(stderr, "api_cxx: line %d: failed: %s\n", line, what);
    ++failures;
}
#define EXPECT(cond) expect((cond), #cond, __LINE__)

struct Freer {
    void operator()(void* p) const { dime_free(p); }
};

// A table of records built in place in a tier's memory.
struct Record {
    uint64_t id;
    double value;
    char name[48];
};

template <class T>
std::unique_ptr<T[], Freer> make_in(const char* tier, size_t n) {
    void* raw = dime_calloc(n, sizeof(T), tier);
    if (raw == nullptr) throw std::bad_alloc();
    T* items = static_cast<T*>(raw);
    for (size_t i = 0; i < n; ++i) new (&items[i]) T();
    return std::unique_ptr<T[], Freer>(items);
}

std::string tier_of(const void* p) {
    const char* t = dime_tier_of(p);
    return t ? t : "(none)";
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc == 2 ? argv[1] : "";
    if (mode != "emulated" && mode != "plain") {
        std::fprintf(stderr, "usage: api_cxx emulated|plain\n");
        return 2;
    }
    const bool emulated = mode == "emulated";
    EXPECT(dime_active() == (emulated ? 1 : 0));
    auto expected = [&](const char* t) { return std::string(emulated ? t : "(none)"); };

    const std::vector<std::string> tiers = {"remote", "far", "local"};
    constexpr size_t kRecords = 40000;  // ~2.5 MiB per tier, 10x the local pool
    std::vector<std::unique_ptr<Record[], Freer>> tables;
    for (const std::string& t : tiers) tables.push_back(make_in<Record>(t.c_str(), kRecords));
    for (size_t k = 0; k < tiers.size(); ++k) {
        EXPECT(tier_of(tables[k].get()) == expected(tiers[k].c_str()));
        EXPECT(tier_of(&tables[k][kRecords - 1]) == expected(tiers[k].c_str()));
        for (size_t i = 0; i < kRecords; ++i) {
            Record& r = tables[k][i];
            r.id = i * 7 + k;
            r.value = double(i) / 3.0 + double(k);
            std::snprintf(r.name, sizeof r.name, "%s-%zu", tiers[k].c_str(), i);
        }
    }
    for (size_t k = 0; k < tiers.size(); ++k)
        for (size_t i = 0; i < kRecords; ++i) {
            const Record& r = tables[k][i];
            char name[48];
            std::snprintf(name, sizeof name, "%s-%zu", tiers[k].c_str(), i);
            if (r.id != i * 7 + k || r.value != double(i) / 3.0 + double(k) || std::strcmp(r.name, name) != 0) {
                std::fprintf(stderr, "api_cxx: record %zu of tier %s is wrong\n", i, tiers[k].c_str());
                ++failures;
                break;
            }
        }

    // new/delete and std containers reach the default tier through malloc.
    auto boxed = std::make_unique<std::vector<uint64_t>>(100000, 42);
    EXPECT(tier_of(boxed.get()) == expected("remote"));
    EXPECT(tier_of(boxed->data()) == expected("remote"));

    errno = 0;
    void* bad = dime_malloc(16, "nowhere");
    if (emulated)
        EXPECT(bad == nullptr && errno == EINVAL);
    else
        EXPECT(bad != nullptr);
    dime_free(bad);
    int local_var = 0;
    EXPECT(dime_tier_of(&local_var) == nullptr);

    if (failures == 0) std::printf("api_cxx %s: all checks passed\n", mode.c_str());
    return failures == 0 ? 0 : 1;
}
