// fault_handler.cpp — the fault path. Runs on the handler thread (see fault_handler.h).
//
// One fault, start to end:
//   read_notifications()  non-blocking read of up to 64 uffd_msg at once
//   on_fault()            page number from the address, O(1) state lookup, duplicate check
//   schedule()            due = now + link cost - DiME's own overhead; into the in-flight heap
//   resolve_due()         when due: map the page (UFFDIO_COPY from the backing, or zero-fill), wake
//   evict_to_capacity()   the policy names victims, a batch at a time; runs of adjacent ones leave
//                         for the backing span with one UFFDIO_MOVE each (also done when idle)
#include "fault_handler.h"

#include <algorithm>
#include <cerrno>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "clock.h"
#include "descriptors.h"
#include "log.h"
#include "meta_memory.h"
#include "sys_memory.h"
#include "thread_role.h"
#include "uffd_settle.h"

namespace dime {
namespace {

// Below this, waiting for a due time is a pure clock spin (no read() syscall in between),
// so resolutions are not late by the cost of a read.
constexpr uint64_t kSpinOnlyNs = 1500;
// block mode: sleep in poll() only when the next due time is further away than this,
// and wake this much early to spin the rest precisely.
constexpr uint64_t kSleepMarginNs = 60000;

}  // namespace

FaultHandler::FaultHandler(int uffd, const uffd::Capabilities& caps, const Config& cfg, PageTable& pages,
                           LocalPool& pool, Stats& stats)
    : fd_(uffd), caps_(caps), cfg_(cfg), pages_(pages), pool_(pool), stats_(stats),
      move_works_(caps.move && cfg.uffd_move), use_write_protect_(caps.write_protect),
      writeback_(cfg.writeback), track_dirty_(cfg.writeback && caps.write_protect),
      poll_mode_(cfg.poll_mode == "block"    ? PollMode::kBlock
                 : cfg.poll_mode == "hybrid" ? PollMode::kHybrid
                                             : PollMode::kBusy),
      first_touch_local_(cfg.first_touch == "local"),
      refetch_by_move_(move_works_ && cfg.page_size >= kMoveRefetchBytes),
      tracker_(uffd, pages, pool, stats) {
    const std::vector<TierConfig> tiers = cfg.tiers();
    for (size_t t = 0; t < tiers.size() && t < kMaxTiers; ++t)
        if (!tiers[t].local)  // a local tier's memory never faults
            links_[t].configure(tiers[t].latency_ns, tiers[t].bandwidth_bps, cfg.page_size);
    const int window = cfg.prefetch_window();
    prefetcher_.configure(window > 0 ? static_cast<uint32_t>(window) : 0, window == Config::kPrefetchAuto,
                          static_cast<uint32_t>(cfg.prefetch_max_window), static_cast<uint32_t>(cfg.prefetch_probe_percent));
    tracker_.configure(cfg.access_sample_share(pool.policy_wants_access()), cfg.access_sample_interval_ns,
                       use_write_protect_);
    stats.prefetch_window.store(prefetcher_.window(), std::memory_order_relaxed);
}

FaultHandler::~FaultHandler() {
    stop();
    descriptors::release(wake_fd_);
    if (heap_) munmap(heap_, kMaxInFlight * sizeof(InFlight));
    if (zero_page_) munmap(zero_page_, cfg_.page_size);
}

bool FaultHandler::start(std::string* error) {
    if (!tracker_.init(pages_.max_pages())) {
        if (error) *error = "cannot allocate the access tracker's memory";
        return false;
    }
    heap_ = static_cast<InFlight*>(map_metadata(kMaxInFlight * sizeof(InFlight)));
    zero_page_ = map_metadata(cfg_.page_size);
    wake_fd_ = descriptors::adopt(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!heap_ || !zero_page_ || wake_fd_ < 0 || (!cfg_.trace.empty() && !trace_.start(pages_.page_shift()))) {
        if (error) *error = "cannot allocate the fault handler's memory";
        return false;
    }
    // Touch the metadata now: a first touch costs microseconds we do not want on a fault.
    for (size_t off = 0; off < kMaxInFlight * sizeof(InFlight); off += 4096)
        reinterpret_cast<volatile char*>(heap_)[off] = 0;
    // Read (never write) each base page of the zero source: it maps the kernel's zero page, which
    // costs no memory even for a 2 MiB unit, and a first-touch COPY takes no fault on its source.
    for (size_t off = 0; off < cfg_.page_size; off += sys::kBasePage)
        (void)reinterpret_cast<volatile char*>(zero_page_)[off];
    return launch_thread(error);
}

bool FaultHandler::launch_thread(std::string* error) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (cfg_.handler_cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(static_cast<int>(cfg_.handler_cpu), &set);
        pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
    }
    const int rc = pthread_create(&thread_, &attr, &FaultHandler::thread_main, this);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        if (error) *error = "cannot start the fault handler thread";
        return false;
    }
    running_ = true;
    return true;
}

void FaultHandler::stop() {
    if (!running_) return;
    request(Request::kStop);
    pthread_join(thread_, nullptr);
    running_ = false;
}

void FaultHandler::set_overhead(Overhead o) {
    overhead_first_.store(o.first_touch_ns, std::memory_order_relaxed);
    overhead_refetch_.store(o.refetch_ns, std::memory_order_relaxed);
}

Overhead FaultHandler::overhead() const {
    return {overhead_first_.load(std::memory_order_relaxed), overhead_refetch_.load(std::memory_order_relaxed)};
}

// ---- requests from other threads -------------------------------------------------------------

void FaultHandler::request(Request r) {
    pthread_mutex_lock(&request_lock_);
    const uint32_t seq = request_seq_.load(std::memory_order_relaxed) + 1;
    request_.store(r, std::memory_order_relaxed);
    request_seq_.store(seq, std::memory_order_release);
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
    for (uint32_t done = done_seq_.load(std::memory_order_acquire); done != seq;
         done = done_seq_.load(std::memory_order_acquire))
        done_seq_.wait(done, std::memory_order_acquire);
    pthread_mutex_unlock(&request_lock_);
}

void FaultHandler::prepare_fork() {
    if (running_) request(Request::kPrepareFork);
}

void FaultHandler::fork_done() {
    if (running_) request(Request::kForkDone);
}

bool FaultHandler::start_in_child(std::string* error) {
    const int fresh = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fresh < 0 || !descriptors::replace(wake_fd_, fresh)) {  // the inherited one would wake the parent
        if (fresh >= 0) close(fresh);
        if (error) *error = "cannot create the handler's eventfd";
        return false;
    }
    pthread_mutex_init(&request_lock_, nullptr);
    trace_.reset();  // the child's own stream
    forget_clean_pages();
    running_ = false;
    evictions_paused_ = false;  // prepare_fork() paused them in the parent's copy
    request_.store(Request::kNone, std::memory_order_relaxed);
    request_seq_.store(0, std::memory_order_relaxed);
    done_seq_.store(0, std::memory_order_relaxed);
    if (!launch_thread(error)) return false;
    // The child starts as the parent stands after fork: at capacity. Until then every page is
    // local, and a child that reads its inherited data at once would read it for free.
    request(Request::kForkDone);
    return true;
}

void FaultHandler::abandon_in_child() {
    running_ = false;
    descriptors::release(wake_fd_);
    wake_fd_ = -1;
}

void FaultHandler::reset_stats() {
    if (running_) request(Request::kResetStats);
}

void FaultHandler::serve_request() {
    const uint32_t seq = request_seq_.load(std::memory_order_acquire);
    const Request r = request_.load(std::memory_order_relaxed);
    uint64_t drained;
    [[maybe_unused]] ssize_t n = read(wake_fd_, &drained, sizeof drained);
    switch (r) {
    case Request::kResetStats:
        stats_.reset_counters();  // resident_pages stays: it is a level, not a count
        if (attribution_) attribution_->reset_faults();
        trace_.reset();  // the trace covers what the counters count (not calibration)
        break;
    case Request::kPrepareFork:
        evictions_paused_ = true;
        while (heap_size_) resolve(heap_pop());
        bring_back_everything();
        break;
    case Request::kForkDone:
        evictions_paused_ = false;
        evict_to_capacity();
        break;
    case Request::kDiscardPages:
    case Request::kMovePages:
    case Request::kDetachPages:
    case Request::kPrefetchPages:
        serve_range_request(r);
        break;
    case Request::kEvictRange:
    case Request::kResizePool:
        serve_control_request(r);
        break;
    case Request::kAttachInstance:
        attach_now(range_.instance);
        break;
    case Request::kStop:
    case Request::kNone:
        break;
    }
    done_seq_.store(seq, std::memory_order_release);
    done_seq_.notify_all();
}

// Every remote page goes back to its place in the application's span, in runs of consecutive
// pages (one UFFDIO_MOVE each), and joins the pool, which may exceed capacity until fork_done().
void FaultHandler::bring_back_everything() {
    // Each tier's sub-span up to its highest page ever touched: the span between is never used.
    for (int t = 0; t < pages_.tiers(); ++t) bring_back_range(pages_.tier_first_page(t), pages_.touched_end(t));
}

void FaultHandler::bring_back_range(PageId begin, PageId end) {
    const size_t ps = cfg_.page_size;
    tracker_.restore_range(begin, end, move_works_);  // sampled pages are local: back in place
    for (PageId p = begin; p < end;) {
        if ((pages_.state(p) & kStateMask) != kRemote) {
            ++p;
            continue;
        }
        PageId q = p + 1;
        while (q < end && (pages_.state(q) & kStateMask) == kRemote) ++q;
        int64_t moved = 0;
        if (move_works_) uffd::move(fd_, pages_.app_address(p), pages_.backing_address(p), (q - p) * ps, true, &moved);
        const PageId moved_end = p + static_cast<PageId>(moved / int64_t(ps));
        for (PageId i = p; i < q; ++i) {
            // What the run MOVE did not count (EBUSY: a backing page still shared with a fork
            // child, as a clean page's kept copy can be; or a miscount) is settled page by page
            // from the page tables: never copy from a backing page that did move (the copy would
            // fault on it, on this thread).
            if (i >= moved_end) {
                const uffd::Settled s = settle(pages_.app_address(i), pages_.backing_address(i), kMoveIn);
                uffd::wake(fd_, pages_.app_address(i), ps);
                if (s == uffd::Settled::kStayed) continue;  // the kernel refused: it stays remote
                if (s == uffd::Settled::kHole) {  // its data is nowhere: it reads as never used
                    pages_.state(i) = kUntouched;
                    continue;
                }
            }
            pages_.state(i) = kLocal;
            pool_.admit(i);
        }
        p = q;
    }
}

// ---- the loop ----------------------------------------------------------------------------------

void* FaultHandler::thread_main(void* self) {
    t_internal = true;  // anything this thread allocates must not come from emulated memory
    // Timed waits end when asked, not up to 50 us later (the default timer slack).
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    static_cast<FaultHandler*>(self)->run();
    return nullptr;
}

void FaultHandler::run() {
    uint32_t served = 0;
    idle_since_ = now_ns();
    for (;;) {
        const uint32_t seq = request_seq_.load(std::memory_order_acquire);
        if (seq != served) {
            served = seq;
            if (request_.load(std::memory_order_relaxed) == Request::kStop) break;
            serve_request();
        }
        uint64_t now = now_ns();
        const bool due_soon = heap_size_ && heap_[0].due <= now + kSpinOnlyNs;
        if (instance_ && !due_soon && now >= next_instance_tick_) instance_tick(now);
        bool worked = false;
        if (!due_soon) worked = read_notifications(now);
        now = now_ns();
        if (heap_size_ && heap_[0].due <= now) {
            resolve_due(now);
            worked = true;
        }
        if (worked)
            idle_since_ = now_ns();
        else if (!due_soon && !evict_when_idle() &&
                 (evictions_paused_ || calibrating_.load(std::memory_order_relaxed) ||
                  !tracker_.sample_when_idle(now, move_works_)))
            wait_for_work(now);
        else
            cpu_relax();
    }
    // Leave nobody blocked: resolve everything still in flight, now.
    while (heap_size_) resolve(heap_pop());
    done_seq_.store(request_seq_.load(std::memory_order_acquire), std::memory_order_release);
    done_seq_.notify_all();
}

void FaultHandler::wait_for_work(uint64_t now) {
    if (poll_mode_ == PollMode::kBusy) {
        cpu_relax();
        return;
    }
    if (poll_mode_ == PollMode::kHybrid && now - idle_since_ < cfg_.spin_ns) {
        cpu_relax();
        return;
    }
    int timeout_ms = -1;
    // Wake for the next due fault (precisely: spin the last kSleepMarginNs) or for the next
    // round of access sampling (roughly).
    const uint64_t sample_at = evictions_paused_ ? UINT64_MAX : tracker_.next_sample_at();
    const bool fault_first = heap_size_ && heap_[0].due <= sample_at;
    if (fault_first || sample_at != UINT64_MAX) {
        const uint64_t deadline = fault_first ? heap_[0].due : sample_at;
        const uint64_t margin = fault_first ? kSleepMarginNs : 0;
        const uint64_t wait = deadline > now ? deadline - now : 0;
        if (wait <= margin) {
            cpu_relax();
            return;
        }
        // poll() counts in milliseconds; round down and let the spin finish the job.
        timeout_ms = static_cast<int>((wait - margin) / 1000000);
        if (timeout_ms == 0) {
            timespec ts{0, static_cast<long>(wait - margin)};
            pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
            ppoll(fds, 2, &ts, nullptr);
            return;
        }
    }
    if (instance_) {  // the next tick: an idle member must still give back what others need
        const uint64_t to_tick = next_instance_tick_ > now ? next_instance_tick_ - now : 0;
        const int tick_ms = static_cast<int>(to_tick / 1000000) + 1;
        if (timeout_ms < 0 || timeout_ms > tick_ms) timeout_ms = tick_ms;
    }
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    poll(fds, 2, timeout_ms);
}

void FaultHandler::set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps) {
    if (tier < 0 || tier >= kMaxTiers) return;
    new_latency_[tier].store(latency_ns, std::memory_order_relaxed);
    new_bandwidth_[tier].store(bandwidth_bps, std::memory_order_relaxed);
    link_changes_.fetch_add(1, std::memory_order_release);
}

void FaultHandler::apply_link_changes() {
    link_changes_applied_ = link_changes_.load(std::memory_order_acquire);
    for (int t = 0; t < kMaxTiers; ++t) {
        const uint64_t bandwidth = new_bandwidth_[t].load(std::memory_order_relaxed);
        if (bandwidth != 0)
            links_[t].configure(new_latency_[t].load(std::memory_order_relaxed), bandwidth, cfg_.page_size);
    }
}

bool FaultHandler::read_notifications(uint64_t) {
    uffd_msg msgs[64];
    const ssize_t n = read(fd_, msgs, sizeof msgs);
    if (n <= 0) return false;
    if (link_changes_.load(std::memory_order_relaxed) != link_changes_applied_) apply_link_changes();
    if (instance_settings_changed()) apply_instance_settings();
    const uint64_t now = now_ns();
    const size_t count = static_cast<size_t>(n) / sizeof(uffd_msg);
    for (size_t i = 0; i < count; ++i)
        if (msgs[i].event == UFFD_EVENT_PAGEFAULT) on_fault(msgs[i], now);
    Stats::bump(stats_.handler_ns, now_ns() - now);
    return true;
}

void FaultHandler::on_fault(const uffd_msg& msg, uint64_t now) {
    const uintptr_t addr = msg.arg.pagefault.address & ~(uintptr_t(cfg_.page_size) - 1);
    const bool write = msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE;
    if (!pages_.contains(addr)) {  // not ours: never leave a thread blocked
        uffd::wake(fd_, addr, cfg_.page_size);
        return;
    }
    const PageId p = pages_.page_of(addr);
    const uint8_t st = pages_.state(p);
    if (st & kInFlight) {
        // A signal made the thread fault again, or another thread touched the same page: the
        // pending resolution wakes them all. Or the page's prefetch is on its way.
        if (st & kPrefetched)
            on_prefetch_in_flight(p);
        else
            Stats::bump(stats_.duplicate_faults);
        return;
    }
    if (st & kSampled) {  // a local page the access tracker (or a prefetch probe) unmapped
        on_hit_fault(p);
        return;
    }
    switch (st & kStateMask) {
    case kUntouched:
        pages_.note_touched(p);
        if (first_touch_local_) {
            // As on the remote path (schedule, resolve): room is made and the books are kept
            // before the ioctl wakes the thread, which may read the counters (dime_stats, the
            // report) the moment it runs again.
            pool_.reserve();
            evict_to_capacity();
            trace_.record(p, write ? TraceRecorder::kWrite : TraceRecorder::kRead);
            Stats::bump(stats_.first_touch_faults);
            if (attribution_) attribution_->charge_fault(p, 0, 0);
            pages_.state(p) = kLocal;
            pool_.admit_reserved(p);
            tracker_.note_admitted(p);
            if (!fill_first_touch(p, write)) {  // refused: the page stays untouched, the thread retries
                pool_.forget(p);
                pages_.state(p) = st;
                // Single writer (this thread): taking the count back is a plain store.
                stats_.first_touch_faults.store(stats_.first_touch_faults.load(std::memory_order_relaxed) - 1,
                                                std::memory_order_relaxed);
            }
        } else {
            schedule(p, FetchKind::kFirstTouch, write, now);
            prefetch_after(p, now);
        }
        return;
    case kRemote:
        schedule(p, FetchKind::kRefetch, write, now);
        prefetch_after(p, now);
        return;
    case kLocal:
    default:
        // Either a notification that raced with its own resolution, or a write-protect fault
        // left from an eviction fallback, or the page was dropped behind our back
        // (MADV_DONTNEED): then it reads as zeros, as the kernel would have it. With writeback,
        // a WP fault on a clean page is its first write (on_first_write).
        if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
            if (on_first_write(p, addr)) return;
            uffd::write_protect(fd_, addr, cfg_.page_size, false, true);
        } else if (uffd::zeropage(fd_, addr, cfg_.page_size) != 0) {
            uffd::wake(fd_, addr, cfg_.page_size);
        }
        Stats::bump(stats_.duplicate_faults);
        return;
    }
}

void FaultHandler::schedule(PageId p, FetchKind kind, bool write, uint64_t now, Origin origin) {
    InFlight f{};
    f.arrived = now;
    f.page = p;
    f.kind = kind;
    f.write = write;
    f.origin = origin;
    if (calibrating_.load(std::memory_order_relaxed)) {
        f.due = now;
    } else {
        const uint64_t done = links_[pages_.tier_of(p)].book_fetch(now);
        f.modeled_ns = done - now;
        // DiME's own cost is already part of what the application waits; inject the rest.
        const uint64_t own = own_cost(kind);
        f.due = now + (f.modeled_ns > own ? f.modeled_ns - own : 0);
        // A prefetch never arrives before the fault that caused it (equal due times would let
        // the heap resolve the neighbours first while the faulting thread waits).
        if (origin != Origin::kFault) ++f.due;
    }
    pages_.state(p) |= origin == Origin::kFault ? kInFlight : kInFlight | kPrefetched;
    // Make room now, while the fetch is in flight, so eviction stays off the fault's critical
    // path whenever the injected delay is longer than an eviction.
    pool_.reserve();
    // A prefetcher reserves a whole window first and then evicts once (prefetch_after): one
    // batch of victims, moved out in long runs, instead of one batch per page.
    if (origin == Origin::kFault) evict_to_capacity();
    if (heap_size_ == kMaxInFlight) {  // cannot happen with fewer threads than slots; stay safe
        resolve(f);
        return;
    }
    // A first touch gets its page now, during the injected wait, and resolve() only wakes the
    // thread: the page's allocation stays off the thread's critical path. On a virtual machine a
    // page of memory the guest has not used lately costs the host a fault of its own, as much as
    // 12 us here (docs/experiments.md), which calibration, on warm memory, cannot foresee.
    // (Calibration's stage 2 runs this way too, so its correction sees the same path.)
    if (origin == Origin::kFault && kind == FetchKind::kFirstTouch && f.due > now) {
        const uint64_t t0 = now_ns();
        f.filled = fill_first_touch_early(p, write);
        Stats::bump(stats_.handler_ns, now_ns() - t0);
    }
    heap_push(f);
}

void FaultHandler::resolve_due(uint64_t now) {
    while (heap_size_ && heap_[0].due <= now) {
        resolve(heap_pop());
        now = now_ns();
    }
}

void FaultHandler::resolve(const InFlight& f) {
    if (f.origin != Origin::kFault) return resolve_prefetch(f);
    const uint64_t t0 = now_ns();
    // Book-keep first: the ioctl wakes the application, which may read the counters at once.
    const uint64_t own = own_cost(f.kind);
    const uint64_t late = t0 > f.due ? t0 - f.due : 0;
    // What the application waits: the modelled cost, or DiME's floor if that is larger, plus
    // however late the handler is.
    stats_.fault_latency.record(std::max(f.modeled_ns, own) + late);
    Stats::bump(stats_.injected_delay_ns, f.modeled_ns);
    Stats::bump(f.kind == FetchKind::kFirstTouch ? stats_.first_touch_faults : stats_.refetch_faults);
    if (attribution_) attribution_->charge_fault(f.page, f.modeled_ns, cfg_.page_size);
    trace_.record(f.page, f.write ? TraceRecorder::kWrite : TraceRecorder::kRead);
    const uint8_t before = pages_.state(f.page) & kStateMask;
    pages_.state(f.page) = kLocal;
    pool_.admit_reserved(f.page);
    tracker_.note_admitted(f.page);
    // With dirty tracking a read re-fetch is mapped write-protected (clean); a write fault's page
    // is dirty at once, so mapping it writable spares the writer a second fault.
    const bool ok = f.filled                           ? wake_filled(f.page)
                    : f.kind == FetchKind::kFirstTouch ? fill_first_touch(f.page, f.write)
                                                       : fetch_back(f.page, track_dirty_ && !f.write);
    if (!ok) {  // the kernel refused (out of memory?): the page stays where it was, the thread retries
        pool_.forget(f.page);
        pages_.state(f.page) = before;
    }
    Stats::bump(stats_.handler_ns, now_ns() - t0);
}

bool FaultHandler::fill_first_touch_early(PageId p, bool write) {
    const uintptr_t addr = pages_.app_address(p);
    const int rc = write ? uffd::copy(fd_, addr, reinterpret_cast<uintptr_t>(zero_page_), cfg_.page_size, /*wake=*/false)
                         : uffd::zeropage(fd_, addr, cfg_.page_size, /*wake=*/false);
    return rc == 0;  // otherwise (EEXIST, ENOMEM) fill_first_touch decides at the deadline
}

bool FaultHandler::wake_filled(PageId p) {
    uffd::wake(fd_, pages_.app_address(p), cfg_.page_size);
    return true;
}

bool FaultHandler::fill_first_touch(PageId p, bool write) {
    const uintptr_t addr = pages_.app_address(p);
    // A read maps the shared zero page (cheapest); a write needs a private page right away.
    const int rc = write ? uffd::copy(fd_, addr, reinterpret_cast<uintptr_t>(zero_page_), cfg_.page_size)
                         : uffd::zeropage(fd_, addr, cfg_.page_size);
    if (rc == 0) return true;
    uffd::wake(fd_, addr, cfg_.page_size);  // EEXIST: mapped already; otherwise it faults again
    return rc == -EEXIST;
}

// Maps the evicted page back by copying it from the backing span. Copy, not UFFDIO_MOVE: a
// move flushes the TLB of the source, and with application threads running on other CPUs
// that flush is an inter-processor interrupt (about 3 us on our test machine, see
// docs/performance.md), while a copy into a missing page flushes nothing. The backing copy
// stays behind (kBackingCopy) and is dropped, in batches, right before the page leaves again.
// Large units (page_size >= kMoveRefetchBytes) are moved instead: copying one costs far more
// than the flush. Not so for a page to be tracked clean (`protect`, writeback): a clean eviction
// drops the page and keeps the backing copy, so that copy must stay whole; such a page is copied
// write-protected whatever its size. False if the page stays remote (the thread is woken and
// faults again).
bool FaultHandler::fetch_back(PageId p, bool protect) {
    const uintptr_t addr = pages_.app_address(p);
    const size_t ps = cfg_.page_size;
    if (refetch_by_move_ && !protect) {  // large units (see kMoveRefetchBytes)
        // The backing holds nothing of the unit afterwards: no stale copy to drop later.
        if (uffd::move(fd_, addr, pages_.backing_address(p), ps, /*wake=*/true) == 0) return true;
        // Part-way (base pages shared after fork(), say): the rest from the page tables.
        const uffd::Settled s = settle(addr, pages_.backing_address(p), kMoveIn);
        if (s == uffd::Settled::kHole) uffd::zeropage(fd_, addr, ps, /*wake=*/false);  // its data is nowhere
        uffd::wake(fd_, addr, ps);
        return s != uffd::Settled::kStayed;
    }
    int rc = uffd::copy(fd_, addr, pages_.backing_address(p), ps, /*wake=*/true, protect);
    if (protect && rc == -EINVAL) {  // registered without WP after all: no tracking from now on
        track_dirty_ = protect = false;
        rc = uffd::copy(fd_, addr, pages_.backing_address(p), ps);
    }
    if (rc == 0 || rc == -EEXIST) {  // EEXIST: mapped already (cannot normally happen): keep it
        if (rc == -EEXIST) uffd::wake(fd_, addr, ps);
        // A page mapped by someone else may have been written: only our own protected copy is clean.
        pages_.state(p) |= rc == 0 && protect ? kBackingCopy | kClean : kBackingCopy;
        return true;
    }
    uffd::wake(fd_, addr, ps);
    return false;
}

size_t FaultHandler::batch_size() const {
    // A batch larger than a small pool would empty it: at most 1/32 of the capacity.
    const uint64_t cap = std::max<uint64_t>(pool_.capacity() / 32, 1);
    return static_cast<size_t>(std::min<uint64_t>({cfg_.evict_batch, cap, kMaxBatch}));
}

// The pool must not exceed its capacity: evict what is too much, and at least one batch.
void FaultHandler::evict_to_capacity() {
    if (evictions_paused_ || !pool_.over_capacity()) return;
    evict_pages(std::max<uint64_t>(pool_.excess(), batch_size()));
}

// Nothing to do: if the pool is full, make room for the next faults now rather than on their
// critical path. With evict_batch = 1 the pool stays exactly full (no eviction ahead of need).
bool FaultHandler::evict_when_idle() {
    const size_t batch = batch_size();
    // With prefetch, room for the next fault's whole window too, so that its evictions do not
    // hold up its resolution.
    const uint64_t room = prefetch_room();
    // The pool's limit: its capacity, or in an instance what this member may hold now.
    const uint64_t limit = pool_.limit();
    if (evictions_paused_ || batch <= 1 || pool_.occupancy() + room < limit) return false;
    const uint64_t before = stats_.evictions.load(std::memory_order_relaxed);
    evict_pages(std::max<uint64_t>(pool_.occupancy() + room - limit, batch));
    return stats_.evictions.load(std::memory_order_relaxed) != before;
}

// Evicts n pages chosen by the policy. Victims are sorted so that adjacent pages leave in one
// UFFDIO_MOVE per run: one TLB flush for the run instead of one per page.
void FaultHandler::evict_pages(size_t n) {
    while (n > 0) {
        size_t k = 0;
        while (k < std::min(n, kMaxBatch)) {
            const PageId victim = pool_.evict_one();
            if (victim == kNoPage) break;
            trace_.record(victim, TraceRecorder::kEvict);
            if (pages_.state(victim) & kSampled) {  // in the backing already: nothing to move
                evict_sampled(victim);
                --n;
                continue;
            }
            victims_[k++] = victim;
        }
        if (k == 0) return;
        n -= k;
        evict_victims(victims_, k);
    }
}

void FaultHandler::evict_victims(PageId* victims, size_t k) {
    if (track_dirty_) k = evict_clean(victims, k);
    if (!move_works_) {
        for (size_t i = 0; i < k; ++i) evict(victims[i]);
    } else {
        std::sort(victims, victims + k);
        for (size_t i = 0; i < k;) {
            size_t j = i + 1;
            while (j < k && victims[j] == victims[j - 1] + 1) ++j;
            move_out_run(victims + i, j - i);
            i = j;
        }
    }
    if (writeback_) account_dirty(victims, k);
}

// Moves the consecutive pages run[0..n) out to the backing span with one ioctl. Whatever the
// call could not move (a run across two mappings, a page shared after fork, a page the
// application dropped) is finished page by page by evict(), which knows every special case.
void FaultHandler::move_out_run(const PageId* run, size_t n) {
    const size_t ps = cfg_.page_size;
    // Drop the stale backing copies first, in runs: the move needs an empty destination.
    for (size_t i = 0; i < n;) {
        if (!(pages_.state(run[i]) & kBackingCopy)) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < n && (pages_.state(run[j]) & kBackingCopy)) pages_.state(run[j++]) &= ~kBackingCopy;
        madvise(reinterpret_cast<void*>(pages_.backing_address(run[i])), (j - i) * ps, MADV_DONTNEED);
        i = j;
    }
    int64_t moved = 0;
    const int rc = uffd::move(fd_, pages_.backing_address(run[0]), pages_.app_address(run[0]), n * ps,
                              /*wake=*/false, &moved);
    const size_t done = rc == 0 ? n : std::min(n, static_cast<size_t>(moved) / ps);
    for (size_t i = 0; i < done; ++i) pages_.state(run[i]) = kRemote;
    Stats::bump(stats_.evictions, done);
    if (done == n) return;
    // EBUSY: pages shared with a parent or child after fork(), typically the whole run; copy
    // them out as a run too. Anything else (a run across two mappings, a dropped page) goes
    // page by page.
    if (rc == -EBUSY && copy_out_run(run + done, n - done)) return;
    for (size_t i = done; i < n; ++i) evict(run[i]);
}

// The copy fallback of evict() for a run of consecutive resident pages, with one ioctl per
// step instead of one per page: write-protect the run, copy it to the (empty) backing, drop
// it. False, with nothing changed, when the run does not qualify; evict() then takes each page.
bool FaultHandler::copy_out_run(const PageId* run, size_t n) {
    const size_t ps = cfg_.page_size;
    if (!use_write_protect_ || n < 2 || n > kMaxBatch) return false;
    const uintptr_t addr = pages_.app_address(run[0]);
    const uintptr_t back = pages_.backing_address(run[0]);
    if (!sys::all_resident(addr, n * ps)) return false;  // a page the program dropped: evict() knows what to do
    if (!uffd::copy_out_protected(fd_, addr, back, n * ps)) return false;  // evict() redoes each page
    for (size_t i = 0; i < n; ++i) pages_.state(run[i]) = kRemote;
    Stats::bump(stats_.evictions, n);
    Stats::bump(stats_.eviction_fallbacks, n);
    return true;
}

// A victim whose application page is absent: if the backing span holds the unit, a move took it
// there (one whose report fell short of what it did, say) and the data lives on: remote. Only
// with the backing empty too did the application drop the page (it reads as zeros, as the
// kernel would have it). The stale backing copy (kBackingCopy) is dropped before any eviction
// looks here, so whatever the backing holds is the page's latest data.
uint8_t FaultHandler::absent_page_state(PageId victim) const {
    return sys::all_resident(pages_.backing_address(victim), cfg_.page_size) ? uint8_t(kRemote) : uint8_t(kUntouched);
}

uffd::Settled FaultHandler::settle(uintptr_t dst, uintptr_t src, uffd::SettleMode mode) {
    size_t found = 0;
    const uffd::Settled s = uffd::settle_move(fd_, dst, src, cfg_.page_size, mode, &found);
    if (found) Stats::bump(stats_.move_uncounted, found);
    return s;
}

bool FaultHandler::evict(PageId victim) {
    const uintptr_t addr = pages_.app_address(victim);
    const uintptr_t back = pages_.backing_address(victim);
    const size_t len = cfg_.page_size;
    if (pages_.state(victim) & kBackingCopy) {  // the destination must be empty
        madvise(reinterpret_cast<void*>(back), len, MADV_DONTNEED);
        pages_.state(victim) &= ~kBackingCopy;
    }
    if (move_works_) {
        // Atomic with respect to the application: a concurrent write lands before the move
        // (and travels with the page) or faults after it (and fetches the page back).
        const int rc = uffd::move(fd_, back, addr, len, /*wake=*/false);
        if (rc == 0) {
            pages_.state(victim) = kRemote;
            Stats::bump(stats_.evictions);
            return true;
        }
        if (rc == -EINVAL || rc == -ENOTTY) {
            move_works_ = false;
            note(Note::kMoveDisabled);
        } else {
            // EEXIST, ENOENT, EAGAIN, EBUSY...: what moved is read from the page tables, never
            // from the error (a move was seen to succeed and report EEXIST; dropping the
            // "stale" backing copy then destroyed the page). The application's copy, where
            // mapped, is the latest data; a unit the program dropped reads as never used.
            const uffd::Settled s = settle(back, addr, kMoveOut);
            if (s != uffd::Settled::kStayed) {
                pages_.state(victim) = s == uffd::Settled::kMoved ? kRemote : kUntouched;
                if (s == uffd::Settled::kMoved) Stats::bump(stats_.evictions);
                return true;
            }
            // Some base page refused to move (shared after fork): the unit is whole in place
            // again, and the copy below takes it.
        }
    }
    // Fallback: copy the page to the backing span, then unmap it. Write-protect it first so a
    // concurrent write blocks (and is re-fetched after) instead of being lost between the two.
    if (!sys::all_resident(addr, len)) {  // no page here: never read a hole
        pages_.state(victim) = absent_page_state(victim);
        if (pages_.state(victim) == kRemote) Stats::bump(stats_.evictions);
        return true;
    }
    // Without write protection a write between the copy and the unmap would be lost: then
    // the page stays local instead.
    if (!use_write_protect_ || uffd::write_protect(fd_, addr, len, true) != 0) {
        pool_.admit(victim);
        return false;
    }
    Stats::bump(stats_.eviction_fallbacks);
    int rc = uffd::copy(fd_, back, addr, len, false);
    if (rc == -EEXIST) {
        madvise(reinterpret_cast<void*>(back), len, MADV_DONTNEED);
        rc = uffd::copy(fd_, back, addr, len, false);
    }
    if (rc != 0) {  // could not save it: keep the page local rather than lose it
        uffd::write_protect(fd_, addr, len, false);
        pool_.admit(victim);
        return false;
    }
    madvise(reinterpret_cast<void*>(addr), len, MADV_DONTNEED);
    pages_.state(victim) = kRemote;
    Stats::bump(stats_.evictions);
    return true;
}

// ---- the in-flight heap -------------------------------------------------------------------------

void FaultHandler::heap_push(const InFlight& f) {
    size_t i = heap_size_++;
    while (i > 0) {
        const size_t parent = (i - 1) / 2;
        if (heap_[parent].due <= f.due) break;
        heap_[i] = heap_[parent];
        i = parent;
    }
    heap_[i] = f;
}

FaultHandler::InFlight FaultHandler::heap_pop() {
    const InFlight top = heap_[0];
    const InFlight last = heap_[--heap_size_];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap_size_) break;
        if (child + 1 < heap_size_ && heap_[child + 1].due < heap_[child].due) ++child;
        if (last.due <= heap_[child].due) break;
        heap_[i] = heap_[child];
        i = child;
    }
    if (heap_size_) heap_[i] = last;
    return top;
}

}  // namespace dime
