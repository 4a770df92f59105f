// engine.cpp — assembles the engine: the backend (userfaultfd and its handler thread, or
// mprotect), page table, pool, policy; registers regions; calibrates DiME's own cost per fault;
// keeps pages intact across fork().
// Runs on application threads (start, map/unmap, fork hooks); the fault path is in
// fault_handler.cpp.
#include "engine.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <pthread.h>
#include <unistd.h>
#include <vector>

#include "attribution.h"
#include "clock.h"
#include "control.h"
#include "time_series.h"
#include "descriptors.h"
#include "fault_handler.h"
#include "instance.h"
#include "local_pool.h"
#include "log.h"
#include "mprotect_backend.h"
#include "output_path.h"
#include "overcommit.h"
#include "page_table.h"
#include "policies/policy.h"
#include "sys_memory.h"
#include "thread_role.h"

namespace dime {
namespace {

// Address space reserved for emulated memory (not memory: PROT_NONE until carved).
#ifndef DIME_SPAN_BYTES
#define DIME_SPAN_BYTES (size_t(1) << 40)
#endif
constexpr size_t kSpanBytes = DIME_SPAN_BYTES;

// Engines alive in this process, for the fork hooks. Fixed slots: fork handlers must not allocate.
constexpr int kMaxEngines = 16;
std::atomic<Engine*> g_engines[kMaxEngines];
std::once_flag g_atfork_once;

template <typename F>
void for_each_engine(F&& f) {
    for (auto& slot : g_engines)
        if (Engine* e = slot.load(std::memory_order_acquire)) f(*e);
}

void fork_prepare() { for_each_engine([](Engine& e) { e.before_fork(); }); }
void fork_parent() { for_each_engine([](Engine& e) { e.after_fork_in_parent(); }); }
void fork_child() { for_each_engine([](Engine& e) { e.after_fork_in_child(); }); }

bool enlist(Engine* e) {
    std::call_once(g_atfork_once, [] { pthread_atfork(fork_prepare, fork_parent, fork_child); });
    for (auto& slot : g_engines) {
        Engine* expected = nullptr;
        if (slot.compare_exchange_strong(expected, e)) return true;
    }
    return false;
}

void delist(Engine* e) {
    for (auto& slot : g_engines) {
        Engine* expected = e;
        slot.compare_exchange_strong(expected, nullptr);
    }
}

}  // namespace

Engine::Engine() = default;

std::unique_ptr<Engine> Engine::start(const Config& cfg, std::string* error) {
    InternalScope internal;
    auto fail = [&](std::string why) -> std::unique_ptr<Engine> {
        if (error) *error = std::move(why);
        return nullptr;
    };
    std::unique_ptr<Engine> e(new Engine());
    e->cfg_ = cfg;
    e->pid_ = getpid();
    set_log_level(cfg.log_level);
    overcommit::init();  // what the kernel would refuse, emulated memory refuses too
    std::string policy_error;
    auto policy = make_policy_for(cfg.policy, cfg.policy_plugin, &policy_error);
    if (!policy) return fail(policy_error);

    e->stats_ = std::make_unique<Stats>();
    e->pages_ = std::make_unique<PageTable>();
    e->tier_count_ = static_cast<int>(cfg.tiers().size());
    if (e->tier_count_ > kMaxTiers) return fail("too many tiers (at most " + std::to_string(kMaxTiers) + ")");
    const std::vector<TierConfig> tiers = cfg.tiers();
    for (int t = 0; t < e->tier_count_; ++t) {
        e->tier_local_[t] = tiers[t].local;
        e->link_latency_[t].store(tiers[t].latency_ns, std::memory_order_relaxed);
        e->link_bandwidth_[t].store(tiers[t].bandwidth_bps, std::memory_order_relaxed);
    }
    if (cfg.disable) {  // memory is handed out as plain memory; no descriptor, no thread, no pool
        if (!e->pages_->init(cfg.page_size, kSpanBytes, e->tier_count_))
            return fail("cannot reserve address space for emulated memory (ulimit -v?)");
        e->space_.init(e->pages_->app_base(), e->pages_->span_bytes(),
                       static_cast<int>(e->pages_->span_bytes() / e->pages_->tier_span_bytes()), cfg.page_size);
        if (!enlist(e.get())) return fail("too many DiME engines in one process");
        return e;
    }

    e->mprotect_ = cfg.backend == "mprotect";
    if (!e->mprotect_) {
        const char* why = nullptr;
        const int fd = uffd::open_descriptor(&e->caps_, &why);
        if (fd >= 0) {
            e->fd_ = descriptors::adopt(fd);
        } else if (cfg.backend == "auto") {
            // Where userfaultfd is forbidden (seccomp in a container, vm.unprivileged_userfaultfd=0).
            e->mprotect_ = true;
            const bool dropped = e->cfg_.prefetch_window() != 0 || e->cfg_.access_sample_percent > 0;
            e->cfg_.prefetch = "0";
            e->cfg_.access_sample_percent = 0;
            logf(LogLevel::kWarn, "backend auto: {}; using backend mprotect instead{}",
                 why ? why : "userfaultfd cannot be opened",
                 dropped ? " (without prefetch and access tracking)" : "");
        } else {
            return fail(why ? why : "cannot open userfaultfd");
        }
    }

    if (!e->pages_->init(cfg.page_size, kSpanBytes, e->tier_count_))
        return fail("cannot reserve address space for emulated memory (ulimit -v?)");
    e->space_.init(e->pages_->app_base(), e->pages_->span_bytes(),
                   static_cast<int>(e->pages_->span_bytes() / e->pages_->tier_span_bytes()), cfg.page_size);
    // The spans are registered once: handing memory out and back is then only mprotect.
    e->register_wp_ = e->caps_.write_protect;
    if (!e->mprotect_)
        if (const int rc = e->register_span(); rc != 0)
            return fail(std::string("cannot register emulated memory with userfaultfd: ") + strerror(-rc));
    e->pool_ = std::make_unique<LocalPool>(std::move(policy), cfg.pool_pages(), *e->stats_);
    if (!e->pool_->init(e->pages_->max_pages())) return fail("cannot allocate the replacement policy's metadata");
    if (e->mprotect_)
        e->handler_ = std::make_unique<MprotectBackend>(e->cfg_, *e->pages_, *e->pool_, *e->stats_);
    else
        e->handler_ = std::make_unique<FaultHandler>(e->fd_, e->caps_, e->cfg_, *e->pages_, *e->pool_, *e->stats_);
    if (cfg.attribution) {
        e->attribution_ = std::make_unique<Attribution>();
        if (!e->attribution_->init(e->pages_->app_base(), e->pages_->span_bytes(), e->pages_->page_shift(),
                                   cfg.attribution_sample_bytes, cfg.attribution_always_bytes))
            return fail("cannot allocate the attribution tables");
        e->handler_->set_attribution(e->attribution_.get());
    }
    // Before calibration, so that what it measures is what the faults will cost.
    if (cfg.cpu_latency_us >= 0) {
        std::string why;
        if (!e->cpu_latency_.hold(cfg.cpu_latency_us, &why))
            logf(LogLevel::kInfo, "cpu_latency_us: not held ({}); idle CPUs may add their wake-up latency to each fault",
                 why);
    }
    std::string handler_error;
    if (!e->handler_->start(&handler_error)) return fail(handler_error);
    if (!enlist(e.get())) return fail("too many DiME engines in one process");

    if (cfg.overhead_ns >= 0) {
        const auto own = static_cast<uint64_t>(cfg.overhead_ns);
        e->handler_->set_overhead({own, own});
    } else {
        e->calibrate();
    }
    // After calibration, which must measure this process alone on a link of its own.
    if (!cfg.instance.empty() && !e->join_instance(error)) return nullptr;
    return e;
}

Engine::~Engine() {
    delist(this);
    if (forked_child_) return;  // the handler thread and descriptor belong to the parent
    stop_control();
    stop_series();
    if (handler_) handler_->stop();
    handler_.reset();
    instance_.reset();  // leaves it (the handler that booked its links is gone)
    descriptors::release(fd_);  // unregisters every range
    // pages_ unmaps both spans as it goes.
}

int Engine::tier_of(const void* p) const {
    const auto addr = reinterpret_cast<uintptr_t>(p);
    return pages_ && pages_->contains(addr) ? pages_->tier_of_address(addr) : -1;
}

// The backing span whole; the application span tier by tier, except local tiers and the pieces
// that are the program's own mappings (kPlain), which are not anonymous memory of ours.
int Engine::register_span() {
    auto register_app = [&](uintptr_t lo, uintptr_t hi) {
        int rc = uffd::register_range(fd_, reinterpret_cast<void*>(lo), hi - lo, register_wp_, nullptr);
        if (rc == -EINVAL && register_wp_) {  // no write protection here: the copy fallback keeps pages local
            register_wp_ = false;
            rc = uffd::register_range(fd_, reinterpret_cast<void*>(lo), hi - lo, false, nullptr);
        }
        return rc;
    };
    int rc = uffd::register_range(fd_, reinterpret_cast<void*>(pages_->backing_base()), pages_->span_bytes(), false,
                                  nullptr);
    for (int t = 0; t < tier_count_ && rc == 0; ++t) {
        if (tier_local_[t]) continue;
        const uintptr_t lo = pages_->tier_base(t), hi = lo + pages_->tier_span_bytes();
        uintptr_t run = lo;
        for (const Piece& pc : space_.pieces(lo, hi)) {
            if (pc.kind != PieceKind::kPlain) continue;
            if (run < pc.start) rc = register_app(run, pc.start);
            run = pc.end;
            if (rc != 0) break;
        }
        if (rc == 0 && run < hi) rc = register_app(run, hi);
    }
    return rc;
}

// ---- calibration ----------------------------------------------------------------------------------

namespace {

uint64_t median(std::vector<uint64_t>& v) {
    if (v.empty()) return 0;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

// Writes one byte to each of `pages` pages of `base`, `passes` times, and returns the time each
// access took as the application sees it (first pass and later passes separately).
void time_accesses(volatile char* base, size_t pages, size_t page_size, size_t passes,
                   std::vector<uint64_t>& first, std::vector<uint64_t>& again) {
    for (size_t pass = 0; pass < passes; ++pass)
        for (size_t i = 0; i < pages; ++i) {
            const uint64_t t0 = now_ns();
            base[i * page_size] = static_cast<char>(pass + 1);
            const uint64_t t1 = now_ns();
            (pass == 0 ? first : again).push_back(t1 - t0);
        }
}

}  // namespace

// Measures, as an application thread sees it, what one fault costs beyond the injected delay:
// the kernel's trap and wake-up, the notification, DiME's bookkeeping and the ioctls, with the
// pool full so that fetches also evict. That cost is then subtracted from each injected delay,
// so the time per remote access equals the configured one.
//
// Stage 1 measures it with no delay at all. Waking a thread that slept longer costs more on
// many machines (deeper idle states, a colder cache), so stage 2 then runs at the configured
// delay and corrects the estimate by what is still observed above target, twice. Medians:
// a preempted sample says nothing about DiME.
//
// Stage 2 may move the estimate to at most twice and at least half of stage 1's. A longer sleep
// has cost a few microseconds more here (docs/performance.md), never the whole fault again; a
// larger correction means other load took the CPU during one round, and believing it would
// make every later access too short (an estimate above the target injects nothing at all).
void Engine::calibrate() {
    const size_t ps = cfg_.page_size;
    // 64 pages of 4 KiB; fewer large units, so that calibration maps at most 32 MiB (16 x 2 MiB).
    const size_t pool_pages = std::clamp<size_t>((size_t(8) << 20) / ps, 4, 64);
    const size_t stage1_pages = 4 * pool_pages;
    const uint64_t capacity = pool_->capacity();
    pool_->set_capacity(pool_pages);
    handler_->set_writeback_free(true);  // DiME's own cost, not the link's

    auto run = [&](size_t pages, size_t passes, Overhead& measured) {
        auto* base = static_cast<volatile char*>(map_region(pages * ps));
        if (!base) return false;
        std::vector<uint64_t> first, again;
        first.reserve(pages);
        again.reserve(pages * passes);
        time_accesses(base, pages, ps, passes, first, again);
        unmap_region(const_cast<char*>(base));
        measured = {median(first), median(again)};
        return true;
    };

    // Stage 1 twice, keeping the lower median of each kind: a round disturbed by something
    // else (another process, a vCPU the host held back, pages new to the process) only ever
    // makes faults slower, and an estimate that is too high makes every access faster than the
    // target. Seen in bench/run on the test VM: stage-1 estimates of 20-30 us where the
    // program's own faults then cost 10-14 us, and accesses 35 % short of a 25 us target.
    handler_->set_calibrating(true);
    Overhead own{}, again{};
    bool ok = run(stage1_pages, 4, own);
    if (ok && run(stage1_pages, 4, again)) {
        own.first_touch_ns = std::min(own.first_touch_ns, again.first_touch_ns);
        own.refetch_ns = std::min(own.refetch_ns, again.refetch_ns);
    }
    handler_->set_calibrating(false);

    const uint64_t target = cfg_.fetch_cost_ns();
    const Overhead stage1 = own;
    if (ok && target > std::min(own.first_touch_ns, own.refetch_ns)) {
        // Enough samples for a stable median, but no more than ~25 ms per round.
        const size_t pages = std::clamp<size_t>(25000000 / std::max<uint64_t>(target, 1) / 2, 32,
                                                std::clamp<size_t>((size_t(64) << 20) / ps, 32, 128));
        // Walk more pages than the pool holds, so that the second pass re-fetches every page.
        pool_->set_capacity(pages / 4);
        for (int round = 0; round < 2; ++round) {
            handler_->set_overhead(own);
            Overhead seen{};
            if (!run(pages, 2, seen)) break;
            auto correct = [target](uint64_t estimate, uint64_t observed, uint64_t stage1) {
                const int64_t next = int64_t(estimate) + int64_t(observed) - int64_t(target);
                return std::clamp<uint64_t>(uint64_t(std::max<int64_t>(next, 0)), stage1 / 2, 2 * stage1);
            };
            if (target > own.first_touch_ns)
                own.first_touch_ns = correct(own.first_touch_ns, seen.first_touch_ns, stage1.first_touch_ns);
            if (target > own.refetch_ns) own.refetch_ns = correct(own.refetch_ns, seen.refetch_ns, stage1.refetch_ns);
        }
    }
    pool_->set_capacity(capacity);
    handler_->set_writeback_free(false);
    handler_->set_overhead(own);
    handler_->reset_stats();
}

uint64_t Engine::overhead_ns() const { return handler_ ? handler_->overhead().refetch_ns : 0; }

const char* Engine::backend_name() const { return !emulating() ? "none" : mprotect_ ? "mprotect" : "userfaultfd"; }

int Engine::hold_resident(uintptr_t addr, size_t len, bool write) {
    if (!needs_resident_buffers() || !touches_span(reinterpret_cast<const void*>(addr), len)) return -1;
    return handler_->hold_resident(addr, len, write);
}

void Engine::release_resident(int hold) {
    if (hold >= 0 && handler_) handler_->release_resident(hold);
}

uint64_t Engine::span_mappings() const {
    return mprotect_ && handler_ ? static_cast<const MprotectBackend&>(*handler_).mappings() : 0;
}

uint64_t Engine::span_mappings_peak() const {
    return mprotect_ && handler_ ? static_cast<const MprotectBackend&>(*handler_).mappings_peak() : 0;
}

Totals Engine::totals() const { return stats_->snapshot(); }

std::string Engine::expand_report_path(const std::string& configured, long pid, bool descendant) {
    return expand_output_path(configured, pid, descendant);
}

std::string Engine::report_path() const { return expand_report_path(cfg_.report, pid_, descendant_); }

// ---- fork -------------------------------------------------------------------------------------------

void Engine::before_fork() {
    control_.lock();
    if (!forked_child_ && handler_) handler_->prepare_fork();
}

void Engine::after_fork_in_parent() {
    if (!forked_child_ && handler_) handler_->fork_done();
    control_.unlock();
}

// The child inherits no userfaultfd registration (we do not ask for UFFD_FEATURE_EVENT_FORK),
// so its emulated regions are plain memory until it registers them itself. prepare_fork()
// brought every page back before the fork, so the child holds all of them. The child has one
// thread (the one that called fork()); glibc has reset its own locks (malloc, stdio, the
// loader, the thread-stack cache) before running these handlers, so creating a thread here is
// safe in practice, and nothing of DiME's is locked (control_ is ours since before_fork).
void Engine::after_fork_in_child() {
    {
        InternalScope internal;
        pid_ = getpid();
        descendant_ = true;  // its report must not overwrite the parent's
        if (!forked_child_ && handler_) {
            std::string why;
            if (cfg_.fork_child != "emulate") {
                go_plain_in_child();
                logf(LogLevel::kDebug, "fork child {}: plain memory (fork_child: {})", pid_, cfg_.fork_child);
            } else if (!emulate_in_child(&why)) {
                go_plain_in_child();
                logf(LogLevel::kWarn, "fork child {}: cannot emulate ({}); it runs on plain memory", pid_, why);
            } else {
                logf(LogLevel::kDebug, "fork child {}: emulated with its own pool of {} pages{}", pid_,
                     pool_->capacity(), instance_ ? " in instance '" + instance_->name() + "'" : std::string());
            }
            // The child samples into a series of its own (<series>.<pid>), if it emulates.
            if (series_) {
                series_->abandon_in_child();
                series_.reset();
                std::string series_error;
                if (!forked_child_ && !start_series(&series_error))
                    logf(LogLevel::kWarn, "fork child {}: no time series: {}", pid_, series_error);
            }
            // The child answers dime ctl on a socket of its own; a plain child has nothing to steer.
            if (control_server_ && (forked_child_ || !control_server_->restart_in_child(&why))) {
                control_server_->abandon_in_child();
                (void)control_server_.release();  // its thread does not exist here
            }
        }
    }
    control_.unlock();
}

// The parent's handler thread does not exist here; its descriptors are the parent's files. With
// the mprotect backend the child's emulated memory becomes accessible, contents in place.
void Engine::go_plain_in_child() {
    if (mprotect_)
        for (const Piece& pc : space_.pieces(pages_->app_base(), pages_->app_base() + pages_->span_bytes()))
            if (pc.kind == PieceKind::kEmulated || pc.kind == PieceKind::kHeap)
                sys::mprotect(reinterpret_cast<void*>(pc.start), pc.end - pc.start, PROT_READ | PROT_WRITE);
    forked_child_ = true;
    if (instance_) instance_->abandon_in_child();  // the parent's slot stays the parent's
    handler_->abandon_in_child();
    (void)handler_.release();  // its thread does not exist here; its memory stays valid
    descriptors::release(fd_);
    fd_ = -1;
    cpu_latency_.release();  // the child runs plain: no faults to wake for
}

// A userfaultfd of the child's own at the same descriptor number, the spans registered with it
// (register_span), counters from zero, and a handler thread that first evicts the
// pool back down to capacity (in the background: a child that calls exec at once pays little).
bool Engine::emulate_in_child(std::string* why) {
    if (mprotect_) {  // every protection and page is inherited in place: the state is exact
        stats_->reset_counters();
        if (attribution_) attribution_->reset_faults();
        return handler_->start_in_child(why);
    }
    const char* open_why = nullptr;
    uffd::Capabilities caps;
    const int fresh = uffd::open_descriptor(&caps, &open_why);
    if (fresh < 0) {
        *why = open_why ? open_why : "cannot open userfaultfd";
        return false;
    }
    if (!descriptors::replace(fd_, fresh)) {  // drops the child's reference to the parent's descriptor
        close(fresh);
        *why = "cannot move the new userfaultfd into place";
        return false;
    }
    caps_.move = caps_.move && caps.move;
    if (const int rc = register_span(); rc != 0) {
        *why = std::string("cannot register emulated memory with userfaultfd: ") + strerror(-rc);
        return false;  // go_plain_in_child() closes the descriptor: every registration goes
    }
    stats_->reset_counters();
    if (attribution_) attribution_->reset_faults();
    // The child joins its parent's instance with a slot of its own, before its handler evicts
    // down to its limit there; if it cannot, it runs in a private instance.
    if (instance_ && !instance_->rejoin_in_child(why)) {
        logf(LogLevel::kWarn, "fork child {}: {}; it runs with a pool of its own", pid_, *why);
        handler_->detach_instance_in_child();
        instance_.reset();
    }
    if (!handler_->start_in_child(why)) return false;
    return true;
}

}  // namespace dime
