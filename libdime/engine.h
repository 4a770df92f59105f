// engine.h — the DiME engine as a link-in library: one local page pool, the emulated regions,
// and the backend that serves their faults (a userfaultfd and its handler thread, or the mprotect
// backend's SIGSEGV handler; see page_backend.h). The preload shim, the examples, the benchmarks
// and the unit tests all drive the engine through this class.
#pragma once

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <sys/types.h>

#include "address_space.h"
#include "cpu_latency.h"
#include "config.h"
#include "stats.h"
#include "uffd.h"

namespace dime {

class Attribution;
class TimeSeries;
namespace control {
class Server;
}
class FaultHandler;
class Instance;
class PageBackend;
class LocalPool;
class PageTable;

class Engine {
public:
    // Opens userfaultfd (or, with backend mprotect or auto where userfaultfd is forbidden,
    // installs the SIGSEGV handler), builds the pool and policy, starts (and calibrates) the
    // backend. Returns nullptr and sets *error to one user-facing line on failure.
    static std::unique_ptr<Engine> start(const Config& cfg, std::string* error);
    ~Engine();  // stops the handler and unmaps every emulated region
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Hands out `bytes` (rounded up to the page size) of emulated address space: every page
    // starts untouched. Returns nullptr and sets *error on failure. Not for the fault path (it
    // changes mappings and allocates). Unlike memory from map_memory(), a part of a region the
    // program munmaps stays reserved (inaccessible) until unmap_region() gives the whole back.
    void* map_region(size_t bytes, std::string* error = nullptr) { return map_region_in_tier(bytes, 0, error); }
    // The same in tier `tier` (an index into config().tiers()). A local tier's region is plain
    // memory: handed out from the span like the others (so tier_of() knows it) but never registered.
    void* map_region_in_tier(size_t bytes, int tier, std::string* error = nullptr);
    // The tier index of emulated memory at p, or -1 if p is not in any tier's span.
    int tier_of(const void* p) const;
    int tier_count() const { return tier_count_; }
    // Gives a region returned by map_region back: its pages leave the pool and the backing
    // store, the range becomes inaccessible and is reused by later mappings.
    void unmap_region(void* base);

    // ---- the mmap family over emulated memory (engine_memory.cpp; the preload's mmap hooks) ----
    // What the engine did with a call it was offered. handled == false: not emulated memory, the
    // caller makes the real system call. Otherwise `value` is the call's result (an address, or
    // 0 for the int-returning calls; MAP_FAILED / -1 on failure) and `err` the errno value.
    struct MemCall {
        bool handled = false;
        uintptr_t value = 0;
        int err = 0;
    };
    // Whether an mmap without MAP_FIXED with these arguments is emulated (emulate_mmap,
    // mmap_min_bytes, and only private anonymous read-write memory of the ordinary kind).
    bool emulates_mmap(size_t len, int prot, int flags) const;
    // Whether [addr, addr + len) touches the emulated span. Lock-free, cheap.
    bool touches_span(const void* addr, size_t len) const;
    // The system calls, with the kernel's semantics for the program (see docs/architecture.md,
    // "The mmap family"). Calls outside the span, and every call in a forked child, are not handled.
    MemCall map_memory(void* addr, size_t len, int prot, int flags, int fd, off_t off);
    MemCall unmap_memory(void* addr, size_t len);
    MemCall remap_memory(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr);
    MemCall advise_memory(void* addr, size_t len, int advice);
    MemCall protect_memory(void* addr, size_t len, int prot);

    // dime_prefetch(): starts fetching the range's remote pages (and never-used ones in emulated
    // memory) now, asynchronously; they are mapped when they arrive. Returns how many fetches it
    // started (0 outside emulated memory, without emulation, in a plain fork child).
    int prefetch_memory(const void* addr, size_t len);

    // How the span is used, and what the mmap family did (for tests and the report).
    struct SpanUsage {
        size_t used_bytes = 0;    // not free: emulated, heap, dead or plain
        size_t ranges = 0;        // entries in the span's partition (free ones included)
        size_t free_ranges = 0;
        uint64_t touched_pages = 0;  // per tier, pages up to the highest ever faulted, summed
        uint64_t maps = 0, unmaps = 0, remaps = 0, discards = 0, detaches = 0, plain_fallbacks = 0;
        uint64_t reservation_failures = 0;  // ranges given back that the kernel would not make PROT_NONE
    };
    SpanUsage span_usage() const;

    // ---- run-time control of the pool from code (engine_control.cpp; include/dime.h) ----
    // Evicts every local page that [addr, addr + len) touches, now (DiME's "flush a range"); the
    // part outside emulated memory is ignored. Returns the pages evicted (0 without emulation).
    uint64_t evict_range(const void* addr, size_t len);
    // Sets the local pool's capacity to `pages`; shrinking evicts down to it before returning.
    // False (nothing changed) for 0 or more than local_npages' maximum, or without emulation.
    bool set_local_pages(uint64_t pages);
    // The pool's capacity now (local_npages until set_local_pages changes it).
    uint64_t local_pages() const;

    const Config& config() const { return cfg_; }
    const uffd::Capabilities& capabilities() const { return caps_; }
    Totals totals() const;
    // The cost per fault DiME itself adds (calibrated or configured), subtracted from the delay.
    uint64_t overhead_ns() const;
    // The replacement policy's own name (for a plugin, the name it gives, e.g. "lifo").
    const char* policy_name() const;
    // The link of tier `tier` now: its configured latency and bandwidth until set_link changes
    // them (dime ctl set). set_link is false without emulation or for a local or unknown tier.
    bool set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps);
    uint64_t link_latency_ns(int tier) const;
    uint64_t link_bandwidth_bps(int tier) const;
    // The application span: every emulated address lies in [span_base, span_base + span_bytes).
    uintptr_t span_base() const;
    size_t span_bytes() const;
    // The control socket `dime ctl` talks to (control.h): started by the preload, stopped at exit.
    bool start_control(std::string* error);
    void stop_control();
    // The time series of the counters (`series`, time_series.h): started by the preload, stopped
    // (with a last sample) at exit. True when no series is configured.
    bool start_series(std::string* error);
    void stop_series();

    // The instance this process belongs to (instance.h), or nullptr in a private one (no
    // `instance` set, no emulation, or after leave_instance()).
    const Instance* instance() const;
    // Leaves the instance (at exit, after the report): the pool and the links become this
    // process's own again, the slot is freed, the last member removes the segment.
    void leave_instance();

    // Allocation-site attribution (the preload's hooks feed it), or nullptr when it is off
    // (attribution: false, or no emulation).
    Attribution* attribution() const { return attribution_.get(); }

    // The report: {"version", "config", "totals", "machine"} as JSON text.
    std::string report_json() const;
    // At exit: JSON to cfg.report (if set) and the human summary to stderr (if cfg.summary).
    void write_reports() const;

    // fork() support, called from the pthread_atfork handlers the engine installs. In the
    // child, fork_child: emulate gives the child its own userfaultfd, handler and pool (see
    // docs/architecture.md, fork()); plain leaves it on ordinary memory.
    void before_fork();
    void after_fork_in_parent();
    void after_fork_in_child();

    // Whether emulation runs (false with disable: the regions are plain memory).
    bool emulating() const { return fd_ >= 0 || (mprotect_ && !forked_child_); }
    // The backend serving faults: "userfaultfd", "mprotect", or "none" without emulation.
    const char* backend_name() const;
    // Kernel-mode access with the mprotect backend (the preload's I/O hooks): a system call
    // given a buffer that is not local would fail with EFAULT, so [addr, addr + len)'s emulated
    // pages are fetched first (as faults would, delay included; `write`: made writable) and kept
    // local until release_resident(hold). -1 when there is nothing to release (other backends,
    // or no emulated memory in the range). Not from DiME's own threads.
    bool needs_resident_buffers() const { return mprotect_ && emulating(); }
    // (An address, not a pointer: the hooks pass buffers glibc declares write-only.)
    int hold_resident(uintptr_t addr, size_t len, bool write);
    void release_resident(int hold);
    // With the mprotect backend: the memory mappings (VMAs) its span costs now and at most
    // (estimated from the page states; 0 with other backends).
    uint64_t span_mappings() const;
    uint64_t span_mappings_peak() const;
    // The process this engine reports for, and whether it descends from the one that was
    // started with the report path (a forked child, or an exec'd program that found
    // DIME_ROOT_PID naming another process): then the report goes to <report>.<pid>.
    void set_descendant(bool d) { descendant_ = d; }
    bool descendant() const { return descendant_; }
    // cfg.report with %p expanded to the pid (%% to %), plus ".<pid>" in a descendant when
    // the path has no %p. Empty when no report is configured.
    std::string report_path() const;
    static std::string expand_report_path(const std::string& configured, long pid, bool descendant);

private:
    Engine();
    void calibrate();
    // report.cpp: the report with its "attribution" and "sites" members already rendered.
    std::string report_json_with(const std::string& attribution_members) const;
    std::string latency_json() const;  // report.cpp
    void write_trace() const;  // report.cpp
    bool emulate_in_child(std::string* why);
    void go_plain_in_child();
    // Joins cfg.instance after calibration (engine_control.cpp). False + *error on failure.
    bool join_instance(std::string* error);
    // Registers the span with fd_: the backing span whole, the application span per tier except
    // local tiers and the pieces that are the program's own (kPlain). 0 or a negative errno.
    int register_span();
    // engine_memory.cpp; all under control_.
    uintptr_t carve(size_t bytes, uintptr_t hint, PieceKind kind, int tier = 0);
    bool in_local_tier(uintptr_t addr) const;
    bool carve_at(uintptr_t start, size_t bytes, PieceKind kind);
    bool emulates_kind(int prot, int flags) const;  // emulates_mmap without the size threshold
    bool make_accessible(uintptr_t start, uintptr_t end);
    void drop_range(uintptr_t start, uintptr_t end, bool keep_heap_dead);
    int discard_range(uintptr_t start, size_t len, bool inaccessible);
    bool restore_reservation(uintptr_t start, uintptr_t end);
    int detach_range(uintptr_t start, uintptr_t end);
    void detach_partial_units(uintptr_t start, uintptr_t end);
    uintptr_t move_out_of_span(uintptr_t old, size_t old_len, size_t new_len, int flags, uintptr_t new_addr,
                               int* err);
    MemCall map_fixed(uintptr_t start, size_t len, int prot, int flags, int fd, off_t off);

    Config cfg_;
    uffd::Capabilities caps_;
    int fd_ = -1;                // the userfaultfd (a protected descriptor); -1 with disable
    CpuLatencyHold cpu_latency_; // the PM QoS request held while emulating (cpu_latency_us)
    int tier_count_ = 1;
    bool forked_child_ = false;  // this copy of the engine lives on in a plain child: inert
    bool descendant_ = false;    // see descendant()
    long pid_ = 0;               // the process this engine serves (a vfork child shares it, and must not report)
    bool register_wp_ = false;   // the application span is registered for write-protect faults too
    bool mprotect_ = false;      // backend mprotect: no descriptor, faults come as SIGSEGV
    bool tier_local_[kMaxTiers] = {};  // a local tier: its sub-span is plain memory, never registered
    mutable std::mutex control_;  // serialises map/unmap/fork against each other, never the fault path
    // Under control_: the span's partition, and the regions map_region handed out (base -> bytes).
    AddressSpace space_;
    std::map<uintptr_t, size_t> regions_;
    // Mappings whose length is not a multiple of the unit (page_size > 4 KiB) were rounded up:
    // the program's end -> the unit's end, so that its munmap of that length frees the whole unit.
    std::map<uintptr_t, uintptr_t> unit_slack_;
    struct MemCounters {
        std::atomic<uint64_t> maps{0}, unmaps{0}, remaps{0}, discards{0}, detaches{0}, plain_fallbacks{0};
        std::atomic<uint64_t> reservation_failures{0};
    } mem_;
    std::unique_ptr<Stats> stats_;
    std::unique_ptr<PageTable> pages_;
    std::unique_ptr<LocalPool> pool_;
    std::unique_ptr<PageBackend> handler_;  // the fault handler thread, or the mprotect backend
    std::unique_ptr<Attribution> attribution_;
    std::unique_ptr<control::Server> control_server_;
    std::unique_ptr<Instance> instance_;
    std::unique_ptr<TimeSeries> series_;
    std::atomic<uint64_t> link_latency_[kMaxTiers] = {};
    std::atomic<uint64_t> link_bandwidth_[kMaxTiers] = {};
};

}  // namespace dime
