// engine.h — the DiME engine as a link-in library: one userfaultfd, one handler thread, one
// local page pool, and the emulated regions registered with them. The preload shim, the
// examples, the benchmarks and the unit tests all drive the engine through this class.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "config.h"
#include "stats.h"
#include "uffd.h"

namespace dime {

class FaultHandler;
class LocalPool;
class PageTable;
struct Region;

class Engine {
public:
    // Opens userfaultfd, builds the pool and policy, starts (and calibrates) the handler
    // thread. Returns nullptr and sets *error to one user-facing line on failure.
    static std::unique_ptr<Engine> start(const Config& cfg, std::string* error);
    ~Engine();  // stops the handler and unmaps every emulated region
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Reserves `bytes` (rounded up to the page size) of emulated address space and registers
    // it: every page starts remote-untouched. Returns nullptr and sets *error on failure.
    // Not for the fault path (it maps memory and may allocate).
    void* map_region(size_t bytes, std::string* error = nullptr) { return map_region_in_tier(bytes, 0, error); }
    // The same in tier `tier` (an index into config().tiers()). A local tier's region is plain
    // memory: carved from the span like the others (so tier_of() knows it) but never registered.
    void* map_region_in_tier(size_t bytes, int tier, std::string* error = nullptr);
    // The tier index of emulated memory at p, or -1 if p is not in any tier's span.
    int tier_of(const void* p) const;
    int tier_count() const { return tier_count_; }
    // Unregisters and unmaps a region returned by map_region, dropping its pages from the pool.
    void unmap_region(void* base);

    const Config& config() const { return cfg_; }
    const uffd::Capabilities& capabilities() const { return caps_; }
    Totals totals() const;
    // The cost per fault DiME itself adds (calibrated or configured), subtracted from the delay.
    uint64_t overhead_ns() const;
    // The replacement policy's own name (for a plugin, the name it gives, e.g. "lifo").
    const char* policy_name() const;

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
    bool emulating() const { return fd_ >= 0; }
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
    Region* find_region(void* base);
    void release_region(Region* r);
    bool emulate_in_child(std::string* why);
    void go_plain_in_child();

    Config cfg_;
    uffd::Capabilities caps_;
    int fd_ = -1;                // the userfaultfd (a protected descriptor); -1 with disable
    int tier_count_ = 1;
    bool forked_child_ = false;  // this copy of the engine lives on in a plain child: inert
    bool descendant_ = false;    // see descendant()
    long pid_ = 0;               // the process this engine serves (a vfork child shares it, and must not report)
    std::mutex control_;         // serialises map/unmap/fork against each other, never the fault path
    std::unique_ptr<Stats> stats_;
    std::unique_ptr<PageTable> pages_;
    std::unique_ptr<LocalPool> pool_;
    std::unique_ptr<FaultHandler> handler_;
};

}  // namespace dime
