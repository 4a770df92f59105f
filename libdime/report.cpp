// report.cpp — the end-of-run report: JSON (schema version 1, for tools) and a short human
// summary on stderr. Runs at exit on an application thread; never on the fault path.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <fmt/format.h>

#include "engine.h"
#include "fault_handler.h"
#include "local_pool.h"
#include "log.h"
#include "thread_role.h"

namespace dime {
namespace {

constexpr int kReportVersion = 1;

std::string totals_json(const Totals& t) {
    return fmt::format(
        "{{\"faults\": {}, \"first_touch_faults\": {}, \"refetch_faults\": {}, \"duplicate_faults\": {}, "
        "\"evictions\": {}, \"eviction_fallbacks\": {}, \"injected_delay_ns\": {}, \"handler_ns\": {}, "
        "\"policy_ns\": {}, \"resident_pages\": {}, \"fault_ns_p50\": {}, \"fault_ns_p99\": {}, "
        "\"fault_ns_max\": {}, \"sampled_pages\": {}, \"hit_faults\": {}, \"tracking_ns\": {}, "
        "\"prefetched_pages\": {}, \"prefetch_hint_pages\": {}, \"prefetch_hits\": {}, \"prefetch_late_hits\": {}, "
        "\"prefetch_probes\": {}, \"prefetch_probe_hits\": {}, \"prefetch_probe_late_hits\": {}, "
        "\"prefetch_probe_misses\": {}, \"prefetch_hit_ratio\": {:.4f}, \"prefetch_window\": {}}}",
        t.faults, t.first_touch_faults, t.refetch_faults, t.duplicate_faults, t.evictions, t.eviction_fallbacks,
        t.injected_delay_ns, t.handler_ns, t.policy_ns, t.resident_pages, t.fault_ns_p50, t.fault_ns_p99,
        t.fault_ns_max, t.sampled_pages, t.hit_faults, t.tracking_ns, t.prefetched_pages, t.prefetch_hint_pages,
        t.prefetch_hits, t.prefetch_late_hits, t.prefetch_probes, t.prefetch_probe_hits, t.prefetch_probe_late_hits,
        t.prefetch_probe_misses, t.prefetch_hit_ratio, t.prefetch_window);
}

std::string memory_json(const Engine::SpanUsage& u) {
    return fmt::format(
        "{{\"mmaps\": {}, \"munmaps\": {}, \"mremaps\": {}, \"discards\": {}, \"detaches\": {}, "
        "\"plain_fallbacks\": {}, \"reservation_failures\": {}, \"used_bytes\": {}, \"ranges\": {}, "
        "\"touched_pages\": {}}}",
        u.maps, u.unmaps, u.remaps, u.discards, u.detaches, u.plain_fallbacks, u.reservation_failures, u.used_bytes,
        u.ranges, u.touched_pages);
}

std::string human_ns(uint64_t ns) {
    if (ns >= 10000000000ull) return fmt::format("{:.1f} s", ns / 1e9);
    if (ns >= 10000000) return fmt::format("{:.1f} ms", ns / 1e6);
    if (ns >= 10000) return fmt::format("{:.1f} us", ns / 1e3);
    return fmt::format("{} ns", ns);
}

// The summary's words on access tracking and prefetching, only when they did something.
std::string tracking_summary(const Totals& t) {
    std::string out;
    if (t.sampled_pages || t.hit_faults)
        out += fmt::format("; tracking {} sampled, {} hit faults, {}", t.sampled_pages, t.hit_faults,
                           human_ns(t.tracking_ns));
    if (t.prefetched_pages || t.prefetch_hint_pages)
        out += fmt::format("; prefetch {} pages (+{} hinted), {} hits, ratio {:.0f}% of {} probes, window {}",
                           t.prefetched_pages, t.prefetch_hint_pages, t.prefetch_hits, 100 * t.prefetch_hit_ratio,
                           t.prefetch_probe_hits + t.prefetch_probe_late_hits + t.prefetch_probe_misses,
                           t.prefetch_window);
    return out;
}

}  // namespace

// The policy's own name (a plugin's, e.g. "lifo"); the configured one when there is no pool.
const char* Engine::policy_name() const { return pool_ ? pool_->policy_name() : cfg_.policy.c_str(); }

std::string Engine::report_json() const {
    InternalScope internal;
    const Totals t = totals();
    const Overhead own = handler_ ? handler_->overhead() : Overhead{};
    return fmt::format(
        "{{\n  \"version\": {},\n  \"config\": {},\n  \"totals\": {},\n  \"engine\": {{\"backend\": \"{}\", "
        "\"pid\": {}, \"descendant\": {}, "
        "\"policy\": \"{}\", \"local_npages\": {}, \"uffd_move\": {}, \"write_protect\": {}, "
        "\"overhead_first_touch_ns\": {}, \"overhead_refetch_ns\": {}, \"fetch_cost_ns\": {}, "
        "\"access_sample_percent\": {}}},\n  "
        "\"memory\": {}\n}}\n",
        kReportVersion, to_json(cfg_), totals_json(t), emulating() ? "userfaultfd" : "none", pid_, descendant_,
        policy_name(), cfg_.pool_pages(), caps_.move,
        caps_.write_protect, own.first_touch_ns, own.refetch_ns, cfg_.fetch_cost_ns(),
        cfg_.access_sample_share(pool_ && pool_->policy_wants_access()), memory_json(span_usage()));
}

void Engine::write_reports() const {
    InternalScope internal;
    if (forked_child_) return;  // a plain fork child: the counters are the parent's
    if (getpid() != pid_) return;  // a vfork child that called exit(): the parent reports later
    flush_notes();
    if (const std::string path = report_path(); !path.empty()) {
        const std::string json = report_json();
        FILE* f = fopen(path.c_str(), "we");  // "e": O_CLOEXEC, never inherited by an exec'd child
        bool ok = f && fwrite(json.data(), 1, json.size(), f) == json.size();
        int err = errno;
        if (f && fclose(f) != 0 && ok) {
            ok = false;
            err = errno;
        }
        if (ok)
            logf(LogLevel::kInfo, "report written to '{}'", path);
        else
            logf(LogLevel::kError, "cannot write report '{}': {}", path, strerror(err));
    }
    if (cfg_.summary && !emulating()) {
        std::fputs(fmt::format("dime: emulation off (disable): DiME's allocator on plain memory, no faults\n").c_str(),
                   stderr);
    } else if (cfg_.summary) {
        const Totals t = totals();
        // fputs, not fmt::print: at exit stderr may be closed or full, and fmt::print throws then.
        std::fputs(fmt::format("dime: {} faults ({} first touch, {} re-fetch, {} duplicate), {} evictions, "
                               "{} injected; fault p50 {}, p99 {}; pool {}/{} pages, policy {}{}{}\n",
                               t.faults, t.first_touch_faults, t.refetch_faults, t.duplicate_faults, t.evictions,
                               human_ns(t.injected_delay_ns), human_ns(t.fault_ns_p50), human_ns(t.fault_ns_p99),
                               t.resident_pages, cfg_.pool_pages(), policy_name(), tracking_summary(t),
                               descendant_ ? fmt::format(" (child process {})", pid_) : std::string())
                       .c_str(),
                   stderr);
    }
}

}  // namespace dime
