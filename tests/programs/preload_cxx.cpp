// preload_cxx.cpp — C++ heap check under libdime.so: new/delete (plain, array, over-aligned),
// std::vector growth, std::string and std::map churn, exceptions, and a worker thread, with
// contents checked against values recomputed from scratch. Exit 0 only if everything matched.
// Usage: preload_cxx [SCALE]  (default 1: about 10 MiB live at the peak)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pattern.h"

namespace {

int failures = 0;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "FAIL: %s\n", what);
        ++failures;
    }
}

std::string make_value(uint64_t key) {
    // 20..1000 characters derived from the key.
    std::string s;
    size_t n = 20 + pattern_mix(key) % 980;
    s.reserve(n);
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('a' + pattern_byte(key, i) % 26));
    return s;
}

struct alignas(256) Wide {
    uint64_t words[64];
};

void vectors(size_t scale) {
    std::vector<std::vector<uint64_t>> vs;
    for (size_t v = 0; v < 40 * scale; ++v) {
        std::vector<uint64_t> x;  // grows by push_back: many reallocations
        for (size_t i = 0; i < 4000 + v * 37; ++i) x.push_back(pattern_mix(v * 1000003 + i));
        vs.push_back(std::move(x));
    }
    bool ok = true;
    for (size_t v = 0; v < vs.size(); ++v)
        for (size_t i = 0; i < vs[v].size(); ++i)
            if (vs[v][i] != pattern_mix(v * 1000003 + i)) ok = false;
    check(ok, "vector contents");
}

void strings_and_maps(size_t scale, uint64_t salt, bool* out_ok) {
    std::map<uint64_t, std::string> m;
    const uint64_t keys = 12000 * scale;
    for (uint64_t k = 0; k < keys; ++k) m.emplace(k, make_value(k ^ salt));
    // churn: erase a third, rewrite a third with longer strings, keep the rest
    for (uint64_t k = 0; k < keys; k += 3) m.erase(k);
    for (uint64_t k = 1; k < keys; k += 3) m[k] += make_value((k * 7) ^ salt);
    for (uint64_t k = 0; k < keys; k += 3) m.emplace(k, make_value((k + 5) ^ salt));
    bool ok = m.size() == keys;
    for (const auto& [k, v] : m) {
        std::string expect = (k % 3 == 0)   ? make_value((k + 5) ^ salt)
                             : (k % 3 == 1) ? make_value(k ^ salt) + make_value((k * 7) ^ salt)
                                            : make_value(k ^ salt);
        if (v != expect) ok = false;
    }
    *out_ok = ok;
}

void news(size_t scale) {
    std::vector<std::unique_ptr<uint8_t[]>> arrays;
    std::vector<size_t> sizes;
    for (size_t i = 0; i < 500 * scale; ++i) {
        size_t n = 100 + pattern_mix(i) % 20000;
        arrays.emplace_back(new uint8_t[n]);
        sizes.push_back(n);
        pattern_fill(arrays.back().get(), n, i + 77);
    }
    std::vector<Wide*> wides;
    for (size_t i = 0; i < 300; ++i) {
        Wide* w = new Wide;
        check(reinterpret_cast<uintptr_t>(w) % alignof(Wide) == 0, "over-aligned new is misaligned");
        for (int j = 0; j < 64; ++j) w->words[j] = pattern_mix(i * 64 + j);
        wides.push_back(w);
    }
    Wide* wide_array = new Wide[100];
    check(reinterpret_cast<uintptr_t>(wide_array) % alignof(Wide) == 0, "over-aligned new[] is misaligned");
    bool ok = true;
    for (size_t i = 0; i < arrays.size(); ++i)
        if (pattern_check(arrays[i].get(), sizes[i], i + 77) != static_cast<size_t>(-1)) ok = false;
    for (size_t i = 0; i < wides.size(); ++i) {
        for (int j = 0; j < 64; ++j)
            if (wides[i]->words[j] != pattern_mix(i * 64 + j)) ok = false;
        delete wides[i];
    }
    delete[] wide_array;
    check(ok, "new[] / aligned new contents");
}

void exceptions() {
    int caught = 0;
    for (int i = 0; i < 200; ++i) {
        try {
            throw std::runtime_error(std::string(300 + i, 'x'));  // the exception object is heap allocated
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()) == std::string(300 + i, 'x')) ++caught;
        }
    }
    check(caught == 200, "exceptions");
    bool bad_alloc = false;
    try {
        std::vector<uint8_t> huge(static_cast<size_t>(1) << 62);  // beyond any arena: must throw
    } catch (const std::bad_alloc&) {
        bad_alloc = true;
    } catch (const std::length_error&) {
        bad_alloc = true;
    }
    check(bad_alloc, "an impossible allocation throws std::bad_alloc");
}

}  // namespace

int main(int argc, char** argv) {
    const size_t scale = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1;
    vectors(scale);
    news(scale);
    exceptions();
    bool main_ok = false, worker_ok = false;
    std::thread worker(strings_and_maps, scale, 0x1234, &worker_ok);
    strings_and_maps(scale, 0, &main_ok);
    worker.join();
    check(main_ok, "map of strings (main thread)");
    check(worker_ok, "map of strings (worker thread)");
    std::printf("C++ churn done, failures %d\n", failures);
    return failures == 0 ? 0 : 1;
}
