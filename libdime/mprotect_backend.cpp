// mprotect_backend.cpp — the mprotect backend's fault path: the lock, a fault from trap to
// resolution in the faulting thread, eviction, protections and their mapping count, and the holds
// of kernel-mode accesses (see mprotect_backend.h). serve_fault() runs in signal context: no
// allocation, no lock but lock_, no logging (note() only), errno left to the caller to restore.
#include "mprotect_backend.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attribution.h"
#include "clock.h"
#include "log.h"
#include "map_count.h"
#include "segv_chain.h"
#include "sys_memory.h"
#include "thread_role.h"

namespace dime {
namespace {

constexpr int kReadWrite = PROT_READ | PROT_WRITE;
// A wait longer than this sleeps until this long before its due time and spins the rest: an
// application thread's timer slack (50 us by default) and its wake-up fit in it.
constexpr uint64_t kSleepMarginNs = 120000;
// Spins on a taken lock before yielding the CPU to its holder (which may have been preempted).
constexpr int kSpinsBeforeYield = 200;
// When the kernel refuses a fetch's mprotect for want of mappings: victims per round, rounds.
constexpr size_t kRoomVictims = 4;
constexpr int kRoomRounds = 128;

void* ptr(uintptr_t a) { return reinterpret_cast<void*>(a); }

// Writes `text`, then `value` in decimal: for the one fatal line, in signal context (no stdio).
size_t append(char* buf, size_t at, size_t cap, const char* text) {
    while (*text && at + 1 < cap) buf[at++] = *text++;
    return at;
}

size_t append(char* buf, size_t at, size_t cap, uint64_t value) {
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value);
    while (n && at + 1 < cap) buf[at++] = digits[--n];
    return at;
}

}  // namespace

MprotectBackend::MprotectBackend(const Config& cfg, PageTable& pages, LocalPool& pool, Stats& stats)
    : cfg_(cfg), pages_(pages), pool_(pool), stats_(stats), writeback_(cfg.writeback),
      first_touch_local_(cfg.first_touch == "local"), busy_wait_(cfg.poll_mode == "busy") {
    const std::vector<TierConfig> tiers = cfg.tiers();
    for (size_t t = 0; t < tiers.size() && t < kMaxTiers; ++t)
        if (!tiers[t].local) links_[t].configure(tiers[t].latency_ns, tiers[t].bandwidth_bps, cfg.page_size);
    for (size_t i = 0; i < kMaxFetches; ++i) free_fetches_[i] = static_cast<uint16_t>(kMaxFetches - 1 - i);
    free_count_ = kMaxFetches;
}

MprotectBackend::~MprotectBackend() { stop(); }

bool MprotectBackend::start(std::string* error) {
    if (!cfg_.trace.empty() && !trace_.start(pages_.page_shift())) {
        if (error) *error = "cannot allocate the trace buffer";
        return false;
    }
    // Every local page between two protected neighbours costs two mappings; the worst case is
    // a pool scattered page by page.
    const long limit = vm::max_map_count(), used = vm::mappings_in_use();
    if (limit > 0 && used >= 0) {
        mappings_budget_ = limit > used ? uint64_t(limit - used) : 0;
        const uint64_t worst = 2 * pool_.capacity() + 1;
        if (worst > mappings_budget_)
            logf(LogLevel::kWarn,
                 "backend mprotect: a pool of {} pages may cost up to {} memory mappings, and vm.max_map_count ({}) "
                 "leaves {} ({} in use); if the program stops for want of mappings, raise it (sysctl "
                 "vm.max_map_count={}) or use a larger page_size",
                 pool_.capacity(), worst, limit, mappings_budget_, used, uint64_t(used) + worst + 65536);
    }
    if (!segv::install(error)) return false;
    running_.store(true, std::memory_order_release);
    if (!segv::enlist(this)) {
        running_.store(false, std::memory_order_release);
        if (error) *error = "too many DiME engines with backend mprotect in one process";
        return false;
    }
    return true;
}

void MprotectBackend::stop() {
    if (!running_.load(std::memory_order_acquire)) return;
    {
        Critical c(*this);
        running_.store(false, std::memory_order_release);
        resolve_in_range(0, static_cast<PageId>(pages_.max_pages()));  // nobody is left waiting
    }
    segv::delist(this);
}

void MprotectBackend::set_overhead(Overhead o) {
    overhead_first_.store(o.first_touch_ns, std::memory_order_relaxed);
    overhead_refetch_.store(o.refetch_ns, std::memory_order_relaxed);
}

Overhead MprotectBackend::overhead() const {
    return {overhead_first_.load(std::memory_order_relaxed), overhead_refetch_.load(std::memory_order_relaxed)};
}

// ---- the lock -------------------------------------------------------------------------------------

uintptr_t MprotectBackend::self_id() { return static_cast<uintptr_t>(pthread_self()); }

void MprotectBackend::lock() {
    const uintptr_t me = self_id();
    for (int spins = 0;; ++spins) {
        uintptr_t expected = 0;
        if (lock_owner_.load(std::memory_order_relaxed) == 0 &&
            lock_owner_.compare_exchange_weak(expected, me, std::memory_order_acquire, std::memory_order_relaxed))
            return;
        if (spins >= kSpinsBeforeYield) {
            sched_yield();
            spins = 0;
        } else {
            cpu_relax();
        }
    }
}

void MprotectBackend::unlock() { lock_owner_.store(0, std::memory_order_release); }

MprotectBackend::Critical::Critical(MprotectBackend& b) : b_(b) {
    if (b.fork_owner_.load(std::memory_order_relaxed) == self_id()) return;  // held across fork() by this thread
    if (!segv::signals_blocked_here()) {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &saved_);
        masked_ = true;
    }
    b.lock();
    held_ = true;
}

void MprotectBackend::Critical::release() {
    if (held_) b_.unlock();
    held_ = false;
    if (masked_) pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
    masked_ = false;
}

// ---- the fault path ---------------------------------------------------------------------------------

bool MprotectBackend::serve_fault(uintptr_t addr, bool write) {
    const uint64_t arrived = now_ns();
    const PageId p = pages_.page_of(addr);
    if (!pages_.accessible(p)) return false;  // not handed out: a free range, the program's own mapping
    InternalScope internal;                   // what a policy plugin allocates goes to glibc
    for (;;) {
        Critical c(*this);
        if (!running_.load(std::memory_order_relaxed) || !pages_.accessible(p)) return false;
        const uint8_t st = pages_.state(p);
        if (st & kInFlight) {
            // Another thread's fetch of this page: its resolution is this access's too.
            Stats::bump(stats_.duplicate_faults);
            for (size_t s = 0; s < fetch_high_; ++s) {
                const Fetch& f = fetches_[s];
                if (!f.used || f.page != p) continue;
                const uint32_t generation = f.generation;
                const uint64_t due = f.due;
                c.release();
                wait_for(f, generation, due, /*until_resolved=*/true);
                break;
            }
            return true;
        }
        const uint8_t kind = st & kStateMask;
        if (kind == kLocal) {
            if ((st & kClean) && write) {
                first_write(p);
            } else {
                // The fault raced with its page's resolution, or the page's protection is not what
                // its state says (the program changed it with a raw system call): set it again.
                Stats::bump(stats_.duplicate_faults);
                make_accessible_or_die(p, st);
            }
            return true;
        }
        if (kind == kUntouched) pages_.note_touched(p);
        if (kind == kUntouched && first_touch_local_) {
            trace_.record(p, write ? TraceRecorder::kWrite : TraceRecorder::kRead);
            admit_now(p);
            return true;
        }
        const int slot = claim_fetch();
        if (slot < 0) {  // more fetches in flight than slots: wait for one to end
            c.release();
            cpu_relax();
            continue;
        }
        Fetch& f = fetches_[slot];
        f.page = p;
        f.first_touch = kind == kUntouched;
        f.write = write;
        f.arrived = arrived;
        f.modeled_ns = 0;
        f.due = arrived;
        if (!calibrating_.load(std::memory_order_relaxed)) {
            f.modeled_ns = links_[pages_.tier_of(p)].book_fetch(arrived) - arrived;
            // DiME's own cost is already part of what the thread waits; inject the rest.
            const uint64_t own = (f.first_touch ? overhead_first_ : overhead_refetch_).load(std::memory_order_relaxed);
            f.due = arrived + (f.modeled_ns > own ? f.modeled_ns - own : 0);
        }
        pages_.state(p) = st | kInFlight;
        // Make room now, during the wait, as the handler thread does while a fetch is in flight.
        pool_.reserve();
        evict_to_capacity();
        const uint32_t generation = f.generation;
        const uint64_t due = f.due;
        Stats::bump(stats_.handler_ns, now_ns() - arrived);
        c.release();
        wait_for(f, generation, due, /*until_resolved=*/false);
        Critical again(*this);
        if (__atomic_load_n(&f.outcome, __ATOMIC_ACQUIRE) == kPending) resolve(f);
        free_fetch(slot);
        return true;
    }
}

// Until `due` or until someone else resolved or cancelled the fetch (the slot's outcome, or its
// generation when it was freed); with until_resolved, past `due` too, until then. Sleeps through
// long waits and spins the last kSleepMarginNs, as the handler thread does in block mode.
void MprotectBackend::wait_for(const Fetch& f, uint32_t generation, uint64_t due, bool until_resolved) const {
    for (;;) {
        if (__atomic_load_n(&f.generation, __ATOMIC_ACQUIRE) != generation ||
            __atomic_load_n(&f.outcome, __ATOMIC_ACQUIRE) != kPending)
            return;
        const uint64_t now = now_ns();
        if (now >= due && !until_resolved) return;
        if (!busy_wait_ && now < due && due - now > kSleepMarginNs) {
            const uint64_t wake = due - kSleepMarginNs;
            const timespec at{static_cast<time_t>(wake / 1000000000ull), static_cast<long>(wake % 1000000000ull)};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr);
        } else {
            cpu_relax();
        }
    }
}

int MprotectBackend::claim_fetch() {
    if (free_count_ == 0) return -1;
    const int slot = free_fetches_[--free_count_];
    Fetch& f = fetches_[slot];
    f.used = true;
    __atomic_store_n(&f.outcome, kPending, __ATOMIC_RELEASE);
    fetch_high_ = std::max<size_t>(fetch_high_, static_cast<size_t>(slot) + 1);
    return slot;
}

void MprotectBackend::free_fetch(int slot) {
    Fetch& f = fetches_[slot];
    f.used = false;
    f.page = kNoPage;
    __atomic_store_n(&f.generation, f.generation + 1, __ATOMIC_RELEASE);  // its waiters stop waiting
    free_fetches_[free_count_++] = static_cast<uint16_t>(slot);
}

void MprotectBackend::resolve(Fetch& f) {
    const uint64_t t0 = now_ns();
    const PageId p = f.page;
    const uint64_t own = (f.first_touch ? overhead_first_ : overhead_refetch_).load(std::memory_order_relaxed);
    const uint64_t late = t0 > f.due ? t0 - f.due : 0;
    // The same account as the handler thread's: the modelled cost, or DiME's floor if larger,
    // plus however late the resolution is.
    stats_.fault_latency.record(std::max(f.modeled_ns, own) + late);
    Stats::bump(stats_.injected_delay_ns, f.modeled_ns);
    Stats::bump(f.first_touch ? stats_.first_touch_faults : stats_.refetch_faults);
    if (attribution_) attribution_->charge_fault(p, f.modeled_ns, cfg_.page_size);
    trace_.record(p, f.write ? TraceRecorder::kWrite : TraceRecorder::kRead);
    pool_.admit_reserved(p);
    // With writeback a page fetched for a read comes back read-only and clean: its first write
    // faults (first_write). A first touch is dirty at once: the blade has no copy of it.
    const bool clean = writeback_ && !f.first_touch && !f.write;
    make_accessible_or_die(p, clean ? uint8_t(kLocal | kClean) : uint8_t(kLocal));
    __atomic_store_n(&f.outcome, kResolved, __ATOMIC_RELEASE);
    Stats::bump(stats_.handler_ns, now_ns() - t0);
}

void MprotectBackend::admit_now(PageId p) {
    Stats::bump(stats_.first_touch_faults);
    if (attribution_) attribution_->charge_fault(p, 0, 0);
    pool_.admit(p);
    make_accessible_or_die(p, kLocal);
    evict_to_capacity();
}

void MprotectBackend::first_write(PageId p) {
    Stats::bump(stats_.first_write_faults);
    make_accessible_or_die(p, kLocal);  // dirty: the blade's copy is stale from now on
}

void MprotectBackend::resolve_in_range(PageId first, PageId count) {
    for (size_t s = 0; s < fetch_high_; ++s) {
        Fetch& f = fetches_[s];
        if (f.used && f.page - first < count && __atomic_load_n(&f.outcome, __ATOMIC_RELAXED) == kPending) resolve(f);
    }
}

void MprotectBackend::cancel_in_range(PageId first, PageId count) {
    for (size_t s = 0; s < fetch_high_; ++s) {
        Fetch& f = fetches_[s];
        if (!f.used || f.page - first >= count || __atomic_load_n(&f.outcome, __ATOMIC_RELAXED) != kPending) continue;
        pages_.state(f.page) &= static_cast<uint8_t>(~kInFlight);
        pool_.cancel_reservation();
        __atomic_store_n(&f.outcome, kCancelled, __ATOMIC_RELEASE);  // its thread runs the access again
    }
}

// ---- eviction -------------------------------------------------------------------------------------

size_t MprotectBackend::batch_size() const {
    // A batch larger than a small pool would empty it: at most 1/32 of the capacity.
    const uint64_t cap = std::max<uint64_t>(pool_.capacity() / 32, 1);
    return static_cast<size_t>(std::min<uint64_t>({cfg_.evict_batch, cap, 256}));
}

void MprotectBackend::evict_to_capacity() {
    if (pool_.over_capacity()) evict_pages(std::max<uint64_t>(pool_.excess(), batch_size()));
}

bool MprotectBackend::pinned(PageId p) const {
    if (holds_active_.load(std::memory_order_acquire) == 0) return false;
    for (const Hold& h : holds_) {
        const PageId first = h.first.load(std::memory_order_acquire);
        if (first != kNoPage && p - first < h.count.load(std::memory_order_relaxed)) return true;
    }
    return false;
}

// The policy's next n victims leave, a chunk at a time. A victim a system call is using (a hold)
// is admitted again and the next candidate taken instead; when every local page is held, the
// pool stays over capacity until the holds end.
void MprotectBackend::evict_pages(size_t n) {
    PageId victims[kVictimChunk];
    uint64_t skipped = 0;
    while (n > 0) {
        size_t k = 0;
        while (k < std::min(n, kVictimChunk) && skipped <= pool_.resident()) {
            const PageId v = pool_.evict_one();
            if (v == kNoPage) break;
            if (pinned(v)) {
                pool_.admit(v);
                ++skipped;
                continue;
            }
            trace_.record(v, TraceRecorder::kEvict);
            victims[k++] = v;
        }
        if (k == 0) return;
        n -= k;
        evict_victims(victims, k);
    }
}

// victims[0..k) are out of the pool already: each run of adjacent ones becomes PROT_NONE with one
// mprotect. With writeback, each dirty one that left books its write-back on its tier's link.
void MprotectBackend::evict_victims(PageId* victims, size_t k) {
    std::sort(victims, victims + k);
    bool clean[kVictimChunk];
    for (size_t i = 0; i < k; ++i) clean[i] = (pages_.state(victims[i]) & kClean) != 0;
    bool left[kVictimChunk];
    for (size_t i = 0; i < k;) {
        size_t j = i + 1;
        while (j < k && victims[j] == victims[j - 1] + 1) ++j;
        const bool run_ok = set_pages(victims[i], static_cast<PageId>(j - i), kRemote) == 0;
        for (size_t v = i; v < j; ++v) {
            // The kernel would not split a mapping for the whole run (vm.max_map_count): page by
            // page, and a page that still cannot be protected stays local.
            left[v] = run_ok || set_pages(victims[v], 1, kRemote) == 0;
            if (!left[v]) pool_.admit(victims[v]);
        }
        i = j;
    }
    const uint64_t now = now_ns();
    const bool book = writeback_ && !writeback_free_.load(std::memory_order_relaxed);
    uint64_t gone = 0, cleaned = 0, sent = 0, link_ns = 0;
    for (size_t i = 0; i < k; ++i) {
        if (!left[i]) continue;
        ++gone;
        if (!writeback_) continue;
        if (clean[i]) {
            ++cleaned;
        } else {
            ++sent;
            if (book) link_ns += links_[pages_.tier_of(victims[i])].book_writeback(now);
        }
    }
    Stats::bump(stats_.evictions, gone);
    if (writeback_) {
        Stats::bump(stats_.clean_evictions, cleaned);
        Stats::bump(stats_.dirty_evictions, sent);
        Stats::bump(stats_.writeback_bytes, sent * cfg_.page_size);
        Stats::bump(stats_.writeback_ns, link_ns);
    }
}

// ---- protections --------------------------------------------------------------------------------

int MprotectBackend::prot_of(uint8_t state) {
    if ((state & kStateMask) != kLocal || (state & kInFlight)) return PROT_NONE;
    return (state & kClean) ? PROT_READ : kReadWrite;
}

uint64_t MprotectBackend::boundaries(PageId lo, PageId hi) const {
    uint64_t n = 0;
    for (PageId q = lo; q < hi; ++q)
        n += prot_of(const_cast<PageTable&>(pages_).state(q)) != prot_of(const_cast<PageTable&>(pages_).state(q + 1));
    return n;
}

void MprotectBackend::account(int64_t delta) {
    const uint64_t now = static_cast<uint64_t>(static_cast<int64_t>(mappings_.load(std::memory_order_relaxed)) + delta);
    mappings_.store(now, std::memory_order_relaxed);
    if (now > mappings_peak_.load(std::memory_order_relaxed)) mappings_peak_.store(now, std::memory_order_relaxed);
    if (mappings_budget_ && now > mappings_budget_ / 10 * 9) note(Note::kMappingsHigh);
}

int MprotectBackend::set_pages(PageId first, PageId n, uint8_t state) {
    const PageId lo = first ? first - 1 : 0;
    const PageId hi = static_cast<PageId>(std::min<uint64_t>(uint64_t(first) + n, pages_.max_pages() - 1));
    const uint64_t before = boundaries(lo, hi);
    const int rc = sys::mprotect(ptr(pages_.app_address(first)), size_t(n) << pages_.page_shift(), prot_of(state));
    if (rc != 0) return rc;
    for (PageId i = 0; i < n; ++i) pages_.state(first + i) = state;
    account(static_cast<int64_t>(boundaries(lo, hi)) - static_cast<int64_t>(before));
    return 0;
}

void MprotectBackend::make_accessible_or_die(PageId p, uint8_t state) {
    int rc = set_pages(p, 1, state);
    // ENOMEM: this page would split a mapping and the process has vm.max_map_count of them.
    // Evicting a local page between two protected neighbours merges three mappings into one; a
    // few of the policy's victims at a time, so that no more leave than it takes.
    for (int round = 0; rc == -ENOMEM && round < kRoomRounds && pool_.resident() > 0; ++round) {
        evict_pages(kRoomVictims);
        rc = set_pages(p, 1, state);
    }
    if (rc == 0) return;
    char line[512];
    size_t n = append(line, 0, sizeof line, "dime: backend mprotect: the kernel refused to change a page's protection (");
    n = append(line, n, sizeof line, rc == -ENOMEM ? "vm.max_map_count reached" : "errno ");
    if (rc != -ENOMEM) n = append(line, n, sizeof line, static_cast<uint64_t>(-rc));
    n = append(line, n, sizeof line, "); the emulated span uses about ");
    n = append(line, n, sizeof line, mappings());
    n = append(line, n, sizeof line, " memory mappings for its local pages: raise vm.max_map_count, use a larger "
                                     "page_size or fewer local pages, or use backend: userfaultfd\n");
    [[maybe_unused]] ssize_t w = write(STDERR_FILENO, line, n);
    std::abort();
}

// ---- kernel-mode access ---------------------------------------------------------------------------

bool MprotectBackend::local_enough(PageId p, bool write) const {
    const uint8_t st = const_cast<PageTable&>(pages_).state(p);
    return (st & (kStateMask | kInFlight)) == kLocal && (!write || !(st & kClean));
}

int MprotectBackend::hold_resident(uintptr_t addr, size_t len, bool write) {
    if (len == 0 || !running_.load(std::memory_order_acquire)) return -1;
    const uintptr_t base = pages_.app_base(), top = base + pages_.span_bytes();
    const uintptr_t lo = std::max(addr, base);
    const uintptr_t end = len > top - std::min(addr, top) ? top : addr + len;  // clipped, no overflow
    if (lo >= end) return -1;
    const PageId first = pages_.page_of(lo), last = pages_.page_of(end - 1);
    // Published before the first critical section below: every eviction after it sees the hold,
    // and every one before it has finished, so the pages checked there stay local.
    int hold = -1;
    for (size_t i = 0; i < kMaxHolds && hold < 0; ++i)
        if (!holds_[i].busy.exchange(true, std::memory_order_acquire)) hold = static_cast<int>(i);
    if (hold >= 0) {
        holds_[hold].count.store(last - first + 1, std::memory_order_relaxed);
        holds_[hold].first.store(first, std::memory_order_release);
        holds_active_.fetch_add(1, std::memory_order_acq_rel);
    }
    for (PageId p = first; p <= last;) {
        {
            Critical c(*this);
            while (p <= last && local_enough(p, write)) ++p;
        }
        // As the faulting access would have: fetched (with the delay) or made writable. The buffer
        // ends at the first page that is not emulated memory in use: the kernel answers EFAULT
        // there, as without DiME (and a length far beyond the buffer costs no scan of the span).
        if (p > last || !pages_.accessible(p) || !serve_fault(pages_.app_address(p), write)) break;
    }
    return hold;
}

void MprotectBackend::release_resident(int hold) {
    if (hold < 0) return;
    holds_[hold].first.store(kNoPage, std::memory_order_release);
    holds_[hold].count.store(0, std::memory_order_relaxed);
    holds_active_.fetch_sub(1, std::memory_order_acq_rel);
    holds_[hold].busy.store(false, std::memory_order_release);
}

}  // namespace dime
