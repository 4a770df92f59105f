// fault_handler.h — the handler thread: reads userfaultfd notifications, schedules each fault's
// resolution at its due time (link model + overhead compensation), resolves it, and keeps the
// local pool within capacity by evicting through the replacement policy.
//
// The fault path (everything the handler thread runs) never allocates, never takes a lock and
// never logs; it touches only metadata memory and moves application pages with ioctls. Other
// threads talk to it through `request()`, which never blocks the fault path.
#pragma once

#include <atomic>
#include <cstdint>
#include <linux/userfaultfd.h>
#include <pthread.h>

#include "attribution.h"
#include "access_tracker.h"
#include "config.h"
#include "instance.h"
#include "link_model.h"
#include "local_pool.h"
#include "page_backend.h"
#include "page_table.h"
#include "prefetcher.h"
#include "stats.h"
#include "trace_recorder.h"
#include "uffd.h"
#include "uffd_settle.h"

namespace dime {

enum class FetchKind : uint8_t { kFirstTouch, kRefetch };

class FaultHandler final : public PageBackend {
public:
    FaultHandler(int uffd, const uffd::Capabilities& caps, const Config& cfg, PageTable& pages, LocalPool& pool,
                 Stats& stats);
    ~FaultHandler() override;

    // Starts the thread (pinned if cfg.handler_cpu >= 0). False + *error on failure.
    bool start(std::string* error) override;
    // Resolves what is in flight and ends the thread.
    void stop() override;

    // While calibrating, faults are resolved as soon as they arrive, with no delay.
    void set_calibrating(bool on) override { calibrating_.store(on, std::memory_order_relaxed); }
    // While calibration measures DiME's own cost, write-backs book no link time: the queueing
    // behind them would be mistaken for overhead and subtracted from every later fault.
    void set_writeback_free(bool on) override { writeback_free_.store(on, std::memory_order_relaxed); }
    void set_overhead(Overhead o) override;
    // A new latency and bandwidth for tier `tier`'s link (dime ctl set), from any thread: the
    // handler applies it before it books the next fetch. Fetches in flight keep their due times.
    void set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps) override;
    // Faults are charged to allocation sites here (before start(); nullptr = attribution off).
    void set_attribution(Attribution* a) override { attribution_ = a; }
    Overhead overhead() const override;

    // Synchronous requests from other threads (serialised by the caller).
    // Before fork(): resolves what is in flight, brings every evicted page back and stops
    // evicting, so the child inherits every page in place while the handler keeps serving
    // faults (glibc touches the heap inside fork(), before and after our hooks).
    void prepare_fork() override;
    // After fork() in the parent: evicts back down to capacity.
    void fork_done() override;
    // In a fork child whose engine has put its own userfaultfd at this handler's descriptor
    // number: a fresh eventfd (at the same number), request state reset, evictions resumed,
    // a new thread, and (waited for) eviction down to capacity. False + *error on failure
    // (then nothing runs and abandon_in_child() may be called).
    bool start_in_child(std::string* error) override;
    // In a fork child that runs on plain memory: closes the child's copy of the eventfd. The
    // thread does not exist here; the object is never destroyed.
    void abandon_in_child() override;
    void reset_stats() override;
    // The fault/eviction stream when `trace` is set (trace_recorder.h); inactive otherwise.
    const TraceRecorder& trace() const override { return trace_; }

    // Requests on page ranges [first, first + count), for the mmap family (fault_handler_ranges.cpp).
    // Drops the pages: in-flight faults on them are woken (they retry), local pages leave the pool
    // and are unmapped, remote copies are discarded; every page reads as never used (zero) again.
    // With `inaccessible`, the handler first makes the range PROT_NONE itself, so that no
    // eviction can meet a page there in between (UFFDIO_MOVE refuses mismatched protections).
    // 0, or the negative errno of that mprotect (the pages are discarded all the same).
    int discard_pages(PageId first, PageId count, bool inaccessible = false) override;
    // Moves the pages' contents, wherever they are (local or remote), to [dst, dst + count), whose
    // pages must be untouched; the source pages end up untouched. In-flight faults on the source
    // are resolved first.
    void move_pages(PageId first, PageId count, PageId dst) override;
    // Brings the pages back (in-flight faults resolved, remote pages fetched), drops them from
    // the pool without unmapping them, marks them untouched and unregisters the range from the
    // userfaultfd: the memory becomes plain and keeps its contents. 0 or a negative errno.
    int detach_pages(PageId first, PageId count) override;
    // dime_prefetch(): starts fetching the remote (and never-used, accessible) pages of the range
    // now, as prefetches (mapped when they arrive, no waiter), at most half the pool's capacity.
    // Returns how many fetches it started.
    int prefetch_pages(PageId first, PageId count) override;

    // Requests from the program (include/dime.h; fault_handler_control.cpp).
    // Evicts every local page of [first, first + count) now (in-flight fetches there are resolved
    // first, then evicted too) and returns how many pages left. Nothing while fork() pauses evictions.
    uint64_t evict_range(PageId first, PageId count) override;
    // Sets the pool's capacity to `pages` and, when that shrinks it, evicts down to it before
    // returning.
    void resize_pool(uint64_t pages) override;

    // Instances (fault_handler_instance.cpp): from now on the pool counts against `in`'s budget
    // and the links are the instance's (nullptr: this process's own again). Served by the
    // handler between two operations (or done at once when its thread does not run).
    void attach_instance(Instance* in) override;
    // In a fork child, before start_in_child (no thread runs): back to a pool and links of its own.
    void detach_instance_in_child() override { attach_now(nullptr); }

private:
    // Why a fetch is in flight: a fault (a thread waits), a prefetch (nobody waits yet), a prefetch
    // measured by leaving the page sampled on arrival, or a dime_prefetch() hint.
    enum class Origin : uint8_t { kFault, kPrefetch, kProbe, kHint };
    struct InFlight {
        uint64_t due;         // when to resolve
        uint64_t arrived;     // when the notification was read
        uint64_t modeled_ns;  // the remote-access cost this fault emulates
        PageId page;
        FetchKind kind;
        bool write;
        Origin origin;
        bool filled;          // a first touch whose page is mapped already: resolve() only wakes
    };
    enum class Request : uint32_t {
        kNone, kPrepareFork, kForkDone, kResetStats, kStop,
        kDiscardPages, kMovePages, kDetachPages, kPrefetchPages,  // fault_handler_ranges.cpp
        kEvictRange, kResizePool,                                 // fault_handler_control.cpp
        kAttachInstance,                                          // fault_handler_instance.cpp
    };
    // The arguments and result of a page-range request.
    struct RangeRequest {
        PageId first = 0, count = 0, dst = 0;
        bool inaccessible = false;
        int result = 0;
        uint64_t pages = 0;  // kEvictRange: pages evicted (out); kResizePool: the new capacity (in)
        Instance* instance = nullptr;  // kAttachInstance
    };

    bool launch_thread(std::string* error);
    static void* thread_main(void* self);
    void run();
    bool read_notifications(uint64_t now);
    void on_fault(const uffd_msg& msg, uint64_t now);
    void schedule(PageId p, FetchKind kind, bool write, uint64_t now, Origin origin = Origin::kFault);
    // Prefetching and access tracking, hooked into the fault path (fault_handler_prefetch.cpp).
    void prefetch_after(PageId p, uint64_t now);
    bool may_prefetch(PageId q);
    uint64_t prefetch_room() const;
    void resolve_prefetch(const InFlight& f);
    void on_prefetch_in_flight(PageId p);
    void on_hit_fault(PageId p);
    void evict_sampled(PageId p);
    void resolve_due(uint64_t now);
    void resolve(const InFlight& f);
    bool fill_first_touch(PageId p, bool write);
    // As fill_first_touch, without waking the thread (resolve() does): true if the page is mapped.
    bool fill_first_touch_early(PageId p, bool write);
    bool wake_filled(PageId p);  // the thread waiting on an early-filled page goes on
    // `protect`: map it write-protected and mark it clean (dirty tracking).
    bool fetch_back(PageId p, bool protect = false);
    // Eviction in batches (see evict_batch in options.def): on the fault path only when the
    // pool is over capacity; in idle time whenever it is full, so the next fault finds room.
    void evict_to_capacity();
    bool evict_when_idle();
    size_t batch_size() const;
    void evict_pages(size_t n);
    // Evicts victims[0..k), already out of the pool (evict_pages, evict_range).
    void evict_victims(PageId* victims, size_t k);
    void move_out_run(const PageId* run, size_t n);
    bool copy_out_run(const PageId* run, size_t n);
    bool evict(PageId victim);
    // After a failed UFFDIO_MOVE of one unit: finishes it from the page tables (uffd_settle.h),
    // counting what the kernel moved without saying so. Out to the backing: the application's
    // copy wins and is never copied (the program may write it); in from the backing: copies allowed.
    static constexpr uffd::SettleMode kMoveOut{/*src_wins=*/true, /*src_live=*/true};
    static constexpr uffd::SettleMode kMoveIn{/*src_wins=*/false, /*src_live=*/false};
    uffd::Settled settle(uintptr_t dst, uintptr_t src, uffd::SettleMode mode);
    uint8_t absent_page_state(PageId victim) const;
    void bring_back_everything();
    void bring_back_range(PageId begin, PageId end);
    void serve_request();
    void serve_range_request(Request r);  // fault_handler_ranges.cpp
    void serve_control_request(Request r);  // fault_handler_control.cpp
    // Dirty tracking and write-back (fault_handler_dirty.cpp).
    // Drops the clean victims of victims[0..k) (kClean: the blade's copy is exact) and compacts
    // the array to the dirty rest, whose count it returns.
    size_t evict_clean(PageId* victims, size_t k);
    // After the dirty victims[0..k) were evicted: books each one that left on its tier's link.
    void account_dirty(const PageId* victims, size_t k);
    // A WP fault on local page p: if p is clean, this is its first write; it becomes dirty, the
    // protection is lifted and the writer woken. False if p was not clean.
    bool on_first_write(PageId p, uintptr_t addr);
    // In a fork child: its pages are not write-protected (the registration is new), so none is clean.
    void forget_clean_pages();
    void take_in_flight(PageId first, PageId count, bool resolve_them);
    int move_one(PageId from, PageId to, bool remote);
    uint64_t own_cost(FetchKind kind) const {
        return (kind == FetchKind::kFirstTouch ? overhead_first_ : overhead_refetch_).load(std::memory_order_relaxed);
    }
    void wait_for_work(uint64_t now);
    void request(Request r);

    // The in-flight set: a binary min-heap on `due`, preallocated.
    void heap_push(const InFlight& f);
    InFlight heap_pop();

    const int fd_;
    const uffd::Capabilities caps_;
    const Config& cfg_;
    PageTable& pages_;
    LocalPool& pool_;
    Stats& stats_;
    LinkModel links_[kMaxTiers];  // one link per tier (tier = page number >> shift)
    bool move_works_;
    bool use_write_protect_;
    const bool writeback_;  // cfg.writeback: dirty evictions cost a transmission
    // writeback_ and write protection available: re-fetches by a read are mapped write-protected
    // and marked kClean. Without it every eviction counts as dirty.
    bool track_dirty_;
    enum class PollMode : uint8_t { kBusy, kBlock, kHybrid } poll_mode_;
    bool first_touch_local_;
    // Units this large come back with UFFDIO_MOVE instead of a copy: the kernel's copy of a
    // large unit (about 1 ms for 2 MiB here) costs far more than the TLB flush a move sends.
    static constexpr size_t kMoveRefetchBytes = size_t(64) << 10;
    bool refetch_by_move_;
    void* zero_page_ = nullptr;  // source for write faults on never-used pages
    TraceRecorder trace_;
    Prefetcher prefetcher_;
    AccessTracker tracker_;

    static constexpr size_t kMaxBatch = 256;  // options.def caps evict_batch here
    PageId victims_[kMaxBatch]{};  // scratch, filled before each use

    static constexpr size_t kMaxInFlight = 1 << 14;
    InFlight* heap_ = nullptr;
    size_t heap_size_ = 0;

    std::atomic<bool> calibrating_{false};
    std::atomic<bool> writeback_free_{false};
    std::atomic<uint64_t> overhead_first_{0}, overhead_refetch_{0};

    pthread_t thread_{};
    bool running_ = false;
    int wake_fd_ = -1;  // eventfd: wakes a handler blocked in poll() for a request
    std::atomic<Request> request_{Request::kNone};
    std::atomic<uint32_t> request_seq_{0}, done_seq_{0};
    pthread_mutex_t request_lock_ = PTHREAD_MUTEX_INITIALIZER;  // one request at a time
    bool evictions_paused_ = false;  // between prepare_fork() and fork_done()
    RangeRequest range_;  // written by the requester before request(), read by the handler
    uint64_t idle_since_ = 0;
    Attribution* attribution_ = nullptr;
    // Link changes posted by set_link(): values per tier, and a count the handler compares with
    // the last one it applied (one relaxed load per batch of notifications).
    void apply_link_changes();
    std::atomic<uint64_t> new_latency_[kMaxTiers] = {};
    std::atomic<uint64_t> new_bandwidth_[kMaxTiers] = {};
    std::atomic<uint32_t> link_changes_{0};
    uint32_t link_changes_applied_ = 0;

    // The instance this process belongs to (handler thread; fault_handler_instance.cpp). Every
    // tick the handler frees dead members' slots and gives back what it holds beyond its limit,
    // also when the program is idle (the handler then sleeps at most one tick).
    static constexpr uint64_t kInstanceTickNs = 10000000;
    void attach_now(Instance* in);
    void apply_instance_settings();
    void instance_tick(uint64_t now);
    bool instance_settings_changed() const {
        return instance_ && instance_->settings_generation() != instance_generation_;
    }
    Instance* instance_ = nullptr;
    uint32_t instance_generation_ = 0;  // the settings generation last applied
    uint64_t next_instance_tick_ = 0;
};

}  // namespace dime
