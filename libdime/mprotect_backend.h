// mprotect_backend.h — the fault path without userfaultfd (`backend: mprotect`), for where the
// kernel does not let this process open one (seccomp in a container, vm.unprivileged_userfaultfd=0
// without access to /dev/userfaultfd).
//
// Every page of emulated memory that is not local is PROT_NONE. An access to one raises SIGSEGV
// in the thread that made it; DiME's handler (segv_chain.h) hands it to serve_fault(), which does
// in that thread what the handler thread does for userfaultfd: books the fetch on the link model,
// makes room in the pool (the policy names victims, which become PROT_NONE), waits until the
// fetch is due (spinning on the clock, as the handler thread does), makes the page accessible and
// admits it. Faults of several threads overlap: each books its own fetch and waits on its own.
//
// Evicting is protecting: a victim's data stays where it is, only its protection changes (no copy
// to the backing span, no MADV_DONTNEED). What the program can observe is the same: the next
// access faults and pays a fetch. A page re-fetched for a read with writeback on is mapped
// read-only and kClean, so that its first write faults (first_write_faults) and makes it dirty.
//
// Locking: pool, policy, link models, page states, counters and the fetches in flight are shared
// by every faulting thread, under one spinlock (`lock_`). Whoever holds it touches only metadata
// memory (never emulated memory, so it cannot fault on a page only it could make accessible),
// never allocates, never sleeps, and runs with every signal blocked (the SIGSEGV handler's
// sa_mask; elsewhere a sigprocmask around the section), so no handler of the program can
// interrupt it and fault on emulated memory. Waiting for a due time happens outside the lock.
//
// Threads: serve_fault on any thread in signal context; everything else on application threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <csignal>

#include "config.h"
#include "link_model.h"
#include "local_pool.h"
#include "page_backend.h"
#include "page_table.h"
#include "stats.h"
#include "trace_recorder.h"

namespace dime {

class MprotectBackend final : public PageBackend {
public:
    MprotectBackend(const Config& cfg, PageTable& pages, LocalPool& pool, Stats& stats);
    ~MprotectBackend() override;

    // Installs the SIGSEGV handler and starts serving faults; warns (once) when the pool could
    // need more memory mappings than vm.max_map_count leaves (see mappings()).
    bool start(std::string* error) override;
    void stop() override;
    void set_calibrating(bool on) override { calibrating_.store(on, std::memory_order_relaxed); }
    void set_writeback_free(bool on) override { writeback_free_.store(on, std::memory_order_relaxed); }
    void set_overhead(Overhead o) override;
    Overhead overhead() const override;
    void set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps) override;
    void set_attribution(Attribution* a) override { attribution_ = a; }
    void reset_stats() override;
    const TraceRecorder& trace() const override { return trace_; }

    // fork(): the child inherits every protection and page in place, and this object's state,
    // which describes the child's memory exactly; the lock is held across the fork so that the
    // state is whole (the forking thread's own faults inside fork() are served meanwhile).
    void prepare_fork() override;
    void fork_done() override;
    bool start_in_child(std::string* error) override;
    void abandon_in_child() override;

    int discard_pages(PageId first, PageId count, bool inaccessible = false) override;
    // Copies the pages' contents (local and remote alike, nothing fetched) to the untouched
    // [dst, dst + count); the source pages end untouched and PROT_NONE.
    void move_pages(PageId first, PageId count, PageId dst) override;
    int detach_pages(PageId first, PageId count) override;
    int prefetch_pages(PageId, PageId) override { return 0; }  // nothing fetches ahead here
    uint64_t evict_range(PageId first, PageId count) override;
    void resize_pool(uint64_t pages) override;
    int hold_resident(uintptr_t addr, size_t len, bool write) override;
    void release_resident(int hold) override;

    // The SIGSEGV handler's questions. Whether addr lies in this backend's span (lock-free).
    bool owns(uintptr_t addr) const { return pages_.contains(addr); }
    // A fault at addr (in the span): served, true (the access runs again and succeeds, or faults
    // once more and is served again); false when addr is not emulated memory this backend
    // protects (a free part of the span, the program's own mapping): the program's fault.
    bool serve_fault(uintptr_t addr, bool write);

    // Memory mappings (VMAs) the span costs now and at most so far, estimated from the page
    // states: one, plus one per change of protection between neighbouring pages.
    uint64_t mappings() const { return mappings_.load(std::memory_order_relaxed); }
    uint64_t mappings_peak() const { return mappings_peak_.load(std::memory_order_relaxed); }

private:
    // One fetch in flight, owned by the thread that faulted (it waits on it, then resolves it
    // unless someone resolved or cancelled it meanwhile). Fields are under lock_ except
    // `outcome` and `generation`, which waiters read with atomic loads.
    enum Outcome : uint8_t { kPending = 0, kResolved = 1, kCancelled = 2 };
    struct Fetch {
        uint64_t arrived = 0, due = 0, modeled_ns = 0;
        PageId page = kNoPage;
        uint32_t generation = 0;  // bumped when the slot is freed
        uint8_t outcome = kPending;
        bool used = false;
        bool first_touch = false;
        bool write = false;
    };
    // A range kept local by hold_resident (a system call is using it).
    struct Hold {
        std::atomic<bool> busy{false};
        std::atomic<PageId> first{kNoPage};
        std::atomic<PageId> count{0};
    };
    static constexpr size_t kMaxFetches = 1024;
    static constexpr size_t kMaxHolds = 64;
    static constexpr size_t kVictimChunk = 64;  // victims per round (stack; the handler's stack may be small)

    // The lock (see the header comment). Critical blocks signals where the thread does not run
    // DiME's handler already, then acquires; in the thread that holds the lock across fork()
    // it is a no-op.
    class Critical {
    public:
        explicit Critical(MprotectBackend& b);
        ~Critical() { release(); }
        void release();
        Critical(const Critical&) = delete;
        Critical& operator=(const Critical&) = delete;

    private:
        MprotectBackend& b_;
        bool held_ = false, masked_ = false;
        sigset_t saved_;
    };
    void lock();
    void unlock();
    static uintptr_t self_id();

    // The fault path (lock held unless said otherwise).
    int claim_fetch();
    void free_fetch(int slot);
    void wait_for(const Fetch& f, uint32_t generation, uint64_t due, bool until_resolved) const;  // lock not held
    void resolve(Fetch& f);
    void admit_now(PageId p);  // first_touch: local
    void first_write(PageId p);
    void resolve_in_range(PageId first, PageId count);
    void cancel_in_range(PageId first, PageId count);
    size_t batch_size() const;
    void evict_to_capacity();
    void evict_pages(size_t n);
    void evict_victims(PageId* victims, size_t k);
    bool pinned(PageId p) const;
    bool local_enough(PageId p, bool write) const;

    // Protections. A page's is a function of its state (prot_of); set_pages changes both and
    // keeps the mapping estimate. 0 or the negative errno of the mprotect (state unchanged).
    static int prot_of(uint8_t state);
    int set_pages(PageId first, PageId n, uint8_t state);
    uint64_t boundaries(PageId lo, PageId hi) const;
    void account(int64_t delta);
    // The kernel refused to split a mapping (vm.max_map_count): evict until it takes the page,
    // or stop the program with one line saying why.
    void make_accessible_or_die(PageId p, uint8_t state);

    const Config& cfg_;
    PageTable& pages_;
    LocalPool& pool_;
    Stats& stats_;
    LinkModel links_[kMaxTiers];
    const bool writeback_;
    const bool first_touch_local_;
    const bool busy_wait_;  // poll_mode: busy: spin the whole wait, never sleep
    std::atomic<bool> calibrating_{false};
    std::atomic<bool> writeback_free_{false};
    std::atomic<uint64_t> overhead_first_{0}, overhead_refetch_{0};
    Attribution* attribution_ = nullptr;
    TraceRecorder trace_;
    std::atomic<bool> running_{false};

    std::atomic<uintptr_t> lock_owner_{0};
    std::atomic<uintptr_t> fork_owner_{0};  // the thread that holds lock_ across fork()

    Fetch fetches_[kMaxFetches];
    uint16_t free_fetches_[kMaxFetches];
    size_t free_count_ = 0;
    size_t fetch_high_ = 0;  // slots [0, fetch_high_) have ever been used
    Hold holds_[kMaxHolds];
    std::atomic<int> holds_active_{0};

    std::atomic<uint64_t> mappings_{1}, mappings_peak_{1};
    uint64_t mappings_budget_ = 0;  // what vm.max_map_count leaves the span (0: unknown)
};

}  // namespace dime
