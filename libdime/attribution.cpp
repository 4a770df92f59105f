// attribution.cpp — sampling allocations into sites (application threads, out of line) and
// reading the site table for the report (at exit). The fault-path part, charge_fault(), is
// inline in attribution.h.
#include "attribution.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "clock.h"
#include "thread_role.h"

// glibc's backtrace() under its own strong name. The plain name is weak in glibc, and libunwind
// exports a `backtrace` too (its unw_backtrace): in a process whose executable lists libunwind
// before libc (dime_tests does; so may a program run under the preload), the plain name binds to
// libunwind's, which opens a pipe at first use and keeps it.
extern "C" int __backtrace(void** frames, int max);

namespace dime {

bool Attribution::init(uintptr_t span_base, size_t span_bytes, int page_shift, uint64_t sample_bytes,
                       uint64_t always_bytes) {
    span_base_ = span_base;
    span_bytes_ = span_bytes;
    page_shift_ = page_shift;
    sample_bytes_ = std::max<uint64_t>(sample_bytes, 1);
    always_bytes_ = always_bytes;
    // The first backtrace() loads libgcc_s's unwinder (it allocates): now, not inside a hook.
    {
        InternalScope internal;
        void* warm[4];
        __backtrace(warm, 4);
    }
    return page_site_.reset(span_bytes >> page_shift) && sites_.reset(kMaxSites + 1) && index_.reset(kIndexSlots);
}

// Exponentially distributed gaps with mean sample_bytes_ (a Poisson process over allocated
// bytes), so that allocations of a periodic size pattern are not always or never sampled.
int64_t Attribution::next_interval() {
    uint64_t& x = detail::t_sample_rng;
    if (x == 0) x = (reinterpret_cast<uintptr_t>(&x) * 0x9e3779b97f4a7c15ull) ^ now_ns() ^ 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const double u = static_cast<double>(x >> 11) * 0x1p-53;  // [0, 1)
    const double gap = -std::log1p(-u) * static_cast<double>(sample_bytes_);
    return static_cast<int64_t>(std::clamp(gap, 1.0, 1e15));
}

namespace {

uint64_t hash_frames(const uintptr_t* frames, int count) {
    uint64_t h = 0xcbf29ce484222325ull ^ static_cast<uint64_t>(count);
    for (int i = 0; i < count; ++i) {
        h ^= frames[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h | 1;  // never 0: 0 marks a free site
}

}  // namespace

uint16_t Attribution::intern(const uintptr_t* frames, int count) {
    const uint64_t key = hash_frames(frames, count);
    uint32_t mine = 0;  // a site claimed by this call, not yet in the index
    uint32_t slot = static_cast<uint32_t>(key) & (kIndexSlots - 1);
    for (uint32_t probe = 0; probe < kIndexSlots;) {
        uint16_t id = __atomic_load_n(&index_[slot], __ATOMIC_ACQUIRE);
        if (id == 0) {
            if (mine == 0) {
                mine = next_id_.fetch_add(1, std::memory_order_relaxed);
                if (mine > kMaxSites) return 0;  // the table is full
                Site& s = sites_[mine];
                s.frame_count = count;
                std::memcpy(s.frames, frames, sizeof(uintptr_t) * static_cast<size_t>(count));
                __atomic_store_n(&s.key, key, __ATOMIC_RELAXED);
                __atomic_store_n(&s.ready, 1u, __ATOMIC_RELEASE);
            }
            uint16_t expected = 0;
            if (__atomic_compare_exchange_n(&index_[slot], &expected, static_cast<uint16_t>(mine), false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return static_cast<uint16_t>(mine);
            id = expected;  // another thread filled the slot first: look at what it put there
        }
        const Site& s = sites_[id];
        if (__atomic_load_n(&s.key, __ATOMIC_RELAXED) == key && s.frame_count == count &&
            std::memcmp(s.frames, frames, sizeof(uintptr_t) * static_cast<size_t>(count)) == 0) {
            // The same stack won the race: the site this call claimed (if any) stays empty of
            // pages, hence of faults, and the report leaves it out.
            if (mine) __atomic_store_n(&sites_[mine].key, uint64_t{0}, __ATOMIC_RELAXED);
            return id;
        }
        slot = (slot + 1) & (kIndexSlots - 1);
        ++probe;
    }
    return 0;
}

void Attribution::sample(const void* p, size_t n, const void* caller) {
    detail::t_bytes_until_sample = next_interval();
    const auto addr = reinterpret_cast<uintptr_t>(p);
    if (n == 0 || addr - span_base_ >= span_bytes_) return;
    InternalScope internal;
    samples_.fetch_add(1, std::memory_order_relaxed);

    // The walk starts inside DiME (this function, the hook); the stack proper starts at the
    // frame that the allocator's caller returns to. glibc's backtrace() (libgcc's unwinder),
    // not libunwind's unw_backtrace: libunwind opens a pipe on first use and keeps it, which
    // every program sampled would then find among its descriptors (hence __backtrace, above).
    void* raw[kMaxFrames + 8];
    const int got = __backtrace(raw, kMaxFrames + 8);
    int start = 0;
    while (start < got && raw[start] != caller) ++start;
    if (start == got) start = 0;  // not found (a tail call?): keep the whole walk
    uintptr_t frames[kMaxFrames];
    const int count = std::min(got - start, kMaxFrames);
    for (int i = 0; i < count; ++i) frames[i] = reinterpret_cast<uintptr_t>(raw[start + i]);

    const uint16_t id = count > 0 ? intern(frames, count) : 0;
    if (id == 0) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
    } else {
        __atomic_fetch_add(&sites_[id].allocations, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&sites_[id].allocated_bytes, n, __ATOMIC_RELAXED);
    }
    const uintptr_t end = std::min<uintptr_t>(addr + n, span_base_ + span_bytes_);
    const size_t first = (addr - span_base_) >> page_shift_;
    const size_t last = (end - 1 - span_base_) >> page_shift_;
    for (size_t page = first; page <= last; ++page) __atomic_store_n(&page_site_[page], id, __ATOMIC_RELAXED);
}

uint32_t Attribution::site_count() const {
    return std::min(next_id_.load(std::memory_order_relaxed) - 1, kMaxSites);
}

std::vector<Attribution::SiteTotals> Attribution::top_sites(size_t n) const {
    std::vector<SiteTotals> out;
    const uint32_t count = site_count();
    for (uint32_t id = 1; id <= count; ++id) {
        const Site& s = sites_[id];
        if (!__atomic_load_n(&s.ready, __ATOMIC_ACQUIRE) || __atomic_load_n(&s.key, __ATOMIC_RELAXED) == 0) continue;
        const uint64_t faults = load(s.faults);
        if (faults == 0) continue;
        SiteTotals t;
        t.frames.assign(s.frames, s.frames + s.frame_count);
        t.faults = faults;
        t.delay_ns = load(s.delay_ns);
        t.bytes = load(s.bytes);
        t.sampled_allocations = load(s.allocations);
        t.sampled_bytes = load(s.allocated_bytes);
        out.push_back(std::move(t));
    }
    std::sort(out.begin(), out.end(), [](const SiteTotals& a, const SiteTotals& b) {
        return a.faults != b.faults ? a.faults > b.faults : a.delay_ns > b.delay_ns;
    });
    if (out.size() > n) out.resize(n);
    return out;
}

Attribution::SiteTotals Attribution::unattributed() const {
    SiteTotals t;
    t.faults = load(sites_[0].faults);
    t.delay_ns = load(sites_[0].delay_ns);
    t.bytes = load(sites_[0].bytes);
    return t;
}

void Attribution::reset_faults() {
    const uint32_t count = site_count();
    for (uint32_t id = 0; id <= count; ++id) {
        Site& s = sites_[id];
        __atomic_store_n(&s.faults, uint64_t{0}, __ATOMIC_RELAXED);
        __atomic_store_n(&s.delay_ns, uint64_t{0}, __ATOMIC_RELAXED);
        __atomic_store_n(&s.bytes, uint64_t{0}, __ATOMIC_RELAXED);
    }
}

}  // namespace dime
