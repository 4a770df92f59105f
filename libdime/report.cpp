// report.cpp — the end-of-run report: JSON (schema version 1, for tools) and a short human
// summary on stderr. Runs at exit on an application thread; never on the fault path.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unistd.h>
#include <fmt/format.h>

#include "attribution.h"
#include "engine.h"
#include "fault_handler.h"
#include "instance.h"
#include "local_pool.h"
#include "log.h"
#include "symbolize.h"
#include "thread_role.h"

namespace dime {
namespace {

constexpr int kReportVersion = 3;  // docs/report-format.md

std::string totals_json(const Totals& t) {
    return fmt::format(
        "{{\"faults\": {}, \"first_touch_faults\": {}, \"refetch_faults\": {}, \"duplicate_faults\": {}, "
        "\"evictions\": {}, \"eviction_fallbacks\": {}, \"move_uncounted\": {}, \"dirty_evictions\": {}, \"clean_evictions\": {}, "
        "\"writeback_bytes\": {}, \"writeback_ns\": {}, \"first_write_faults\": {}, "
        "\"injected_delay_ns\": {}, \"handler_ns\": {}, "
        "\"policy_ns\": {}, \"resident_pages\": {}, \"fault_ns_p50\": {}, \"fault_ns_p99\": {}, "
        "\"fault_ns_max\": {}, \"sampled_pages\": {}, \"hit_faults\": {}, \"tracking_ns\": {}, "
        "\"prefetched_pages\": {}, \"prefetch_hint_pages\": {}, \"prefetch_hits\": {}, \"prefetch_late_hits\": {}, "
        "\"prefetch_probes\": {}, \"prefetch_probe_hits\": {}, \"prefetch_probe_late_hits\": {}, "
        "\"prefetch_probe_misses\": {}, \"prefetch_hit_ratio\": {:.4f}, \"prefetch_window\": {}}}",
        t.faults, t.first_touch_faults, t.refetch_faults, t.duplicate_faults, t.evictions, t.eviction_fallbacks,
        t.move_uncounted, t.dirty_evictions, t.clean_evictions, t.writeback_bytes, t.writeback_ns, t.first_write_faults,
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

// The report's "instance": null in a private instance.
std::string instance_json(const Instance* in) {
    if (!in) return "null";
    const Instance::View v = in->view();
    return fmt::format("{{\"name\": {}, \"local_npages\": {}, \"members\": {}, \"pids\": [{}], \"pages\": {}, "
                       "\"resident_pages\": {}}}",
                       json_quoted(in->name()), v.capacity, v.members, fmt::join(v.pids, ", "), v.pages, v.resident);
}

// The summary's words on the instance, in one.
std::string instance_summary(const Instance* in) {
    if (!in) return {};
    const Instance::View v = in->view();
    return fmt::format("; instance '{}': {} member{}, {}/{} pages", in->name(), v.members, v.members == 1 ? "" : "s",
                       v.resident, v.capacity);
}

// The sites with the most remote faults, symbolized (at exit; runs addr2line once per object).
struct ReportedSite {
    Attribution::SiteTotals totals;
    std::vector<symbolize::Frame> frames;
    // The innermost frame outside the C/C++ runtime and DiME: where the program allocated.
    const symbolize::Frame* program_frame() const {
        for (const symbolize::Frame& f : frames)
            if (!f.runtime) return &f;
        return frames.empty() ? nullptr : &frames.front();
    }
};

std::vector<ReportedSite> reported_sites(const Attribution& a, size_t n, bool lines) {
    std::vector<ReportedSite> out;
    for (Attribution::SiteTotals& t : a.top_sites(n)) out.push_back({std::move(t), {}});
    // One symbolization for all frames of all sites: addr2line runs once per object file.
    std::vector<uintptr_t> pcs;
    for (const ReportedSite& s : out) pcs.insert(pcs.end(), s.totals.frames.begin(), s.totals.frames.end());
    const std::vector<symbolize::Frame> named = symbolize::frames(pcs, lines);
    size_t k = 0;
    for (ReportedSite& s : out)
        for (size_t i = 0; i < s.totals.frames.size(); ++i) s.frames.push_back(named[k++]);
    return out;
}

std::string frame_json(const symbolize::Frame& f) {
    return fmt::format("{{\"pc\": \"{:#x}\", \"offset\": \"{:#x}\", \"function\": {}, \"library\": {}, "
                       "\"file\": {}, \"line\": {}, \"runtime\": {}}}",
                       f.pc, f.offset, json_quoted(f.function), json_quoted(f.library), json_quoted(f.file), f.line, f.runtime);
}

std::string sites_json(const std::vector<ReportedSite>& sites) {
    std::string out = "[";
    for (size_t i = 0; i < sites.size(); ++i) {
        const ReportedSite& s = sites[i];
        const symbolize::Frame* at = s.program_frame();
        out += fmt::format("{}\n    {{\"site\": {}, \"faults\": {}, \"injected_delay_ns\": {}, \"bytes\": {}, "
                           "\"sampled_allocations\": {}, \"sampled_bytes\": {}, \"frames\": [",
                           i ? "," : "", json_quoted(at ? symbolize::describe(*at) : ""), s.totals.faults,
                           s.totals.delay_ns, s.totals.bytes, s.totals.sampled_allocations, s.totals.sampled_bytes);
        for (size_t f = 0; f < s.frames.size(); ++f) out += (f ? ", " : "") + frame_json(s.frames[f]);
        out += "]}";
    }
    return out + (sites.empty() ? "]" : "\n  ]");
}

std::string human_ns(uint64_t ns) {
    if (ns >= 10000000000ull) return fmt::format("{:.1f} s", ns / 1e9);
    if (ns >= 10000000) return fmt::format("{:.1f} ms", ns / 1e6);
    if (ns >= 10000) return fmt::format("{:.1f} us", ns / 1e3);
    return fmt::format("{} ns", ns);
}

std::string human_bytes(uint64_t b) {
    if (b >= (10ull << 30)) return fmt::format("{:.1f} GiB", b / 1073741824.0);
    if (b >= (10ull << 20)) return fmt::format("{:.1f} MiB", b / 1048576.0);
    if (b >= (10ull << 10)) return fmt::format("{:.1f} KiB", b / 1024.0);
    return fmt::format("{} B", b);
}

constexpr size_t kSummarySites = 5;

// The summary's table of the top sites (at most kSummarySites), each line starting "dime: ".
std::string sites_summary(const Attribution& a, const Totals& t, const std::vector<ReportedSite>& sites) {
    const uint64_t none = a.unattributed().faults;
    std::string out = fmt::format("dime: remote faults by allocation site ({} sampled allocations, {} sites; {:.1f}% of "
                                  "faults unattributed):\n",
                                  a.sampled_allocations(), a.site_count(), t.faults ? 100.0 * none / t.faults : 0.0);
    out += fmt::format("dime: {:>10} {:>6} {:>10} {:>10}  {}\n", "faults", "share", "injected", "fetched", "site");
    for (size_t i = 0; i < sites.size() && i < kSummarySites; ++i) {
        const ReportedSite& s = sites[i];
        const symbolize::Frame* at = s.program_frame();
        out += fmt::format("dime: {:>10} {:>5.1f}% {:>10} {:>10}  {}\n", s.totals.faults,
                           t.faults ? 100.0 * s.totals.faults / t.faults : 0.0, human_ns(s.totals.delay_ns),
                           human_bytes(s.totals.bytes), at ? symbolize::describe(*at) : "?");
    }
    return out;
}

// The report's "attribution" and "sites" members (with a leading comma), or "" when off.
std::string attribution_members(const Attribution* a, const Config& cfg, const std::vector<ReportedSite>& sites) {
    if (a == nullptr) return {};
    const Attribution::SiteTotals none = a->unattributed();
    return fmt::format(
        ",\n  \"attribution\": {{\"sample_bytes\": {}, \"always_bytes\": {}, \"sampled_allocations\": {}, "
        "\"sites\": {}, \"dropped_samples\": {}, \"unattributed_faults\": {}, \"unattributed_delay_ns\": {}, "
        "\"unattributed_bytes\": {}}},\n  \"sites\": {}",
        cfg.attribution_sample_bytes, cfg.attribution_always_bytes, a->sampled_allocations(), a->site_count(),
        a->dropped_samples(), none.faults, none.delay_ns, none.bytes, sites_json(sites));
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
    std::vector<ReportedSite> sites;
    if (attribution_) sites = reported_sites(*attribution_, cfg_.attribution_top, cfg_.attribution_lines);
    return report_json_with(attribution_members(attribution_.get(), cfg_, sites));
}

std::string Engine::report_json_with(const std::string& attribution) const {
    InternalScope internal;
    const Totals t = totals();
    const Overhead own = handler_ ? handler_->overhead() : Overhead{};
    return fmt::format(
        "{{\n  \"version\": {},\n  \"config\": {},\n  \"totals\": {},\n  \"engine\": {{\"backend\": \"{}\", "
        "\"pid\": {}, \"descendant\": {}, "
        "\"policy\": \"{}\", \"local_npages\": {}, \"uffd_move\": {}, \"write_protect\": {}, "
        "\"overhead_first_touch_ns\": {}, \"overhead_refetch_ns\": {}, \"fetch_cost_ns\": {}, "
        "\"access_sample_percent\": {}, \"span_mappings_peak\": {}, \"cpu_latency_us\": {}}},\n  "
        "\"instance\": {},\n  \"memory\": {},\n  \"fault_latency\": {}{}\n}}\n",
        kReportVersion, to_json(cfg_), totals_json(t), backend_name(), pid_, descendant_,
        policy_name(), local_pages(), caps_.move, caps_.write_protect, own.first_touch_ns, own.refetch_ns,
        cfg_.fetch_cost_ns(), mprotect_ ? 0u : cfg_.access_sample_share(pool_ && pool_->policy_wants_access()),
        span_mappings_peak(), cpu_latency_.held_us(),
        instance_json(instance_.get()), memory_json(span_usage()), latency_json(), attribution);
}

// The per-fault latency histogram: {"buckets": [[upper_ns, count], ...]}, buckets with samples only.
std::string Engine::latency_json() const {
    std::string buckets;
    if (stats_)
        stats_->fault_latency.for_each_bucket([&](uint64_t upper, uint64_t n) {
            buckets += fmt::format("{}[{}, {}]", buckets.empty() ? "" : ", ", upper, n);
        });
    return "{\"buckets\": [" + buckets + "]}";
}

// The trace (trace_recorder.h) next to the report, with the run's settings in its header.
void Engine::write_trace() const {
    const std::string path = expand_report_path(cfg_.trace, pid_, descendant_);
    const std::string header = fmt::format(
        "# dime trace: pid {}, page_size {}, local_npages {}, policy {}, evict_batch {}\n"
        "# one event per line: <4 KiB page number of the unit> r|w (a fault, read or write) or e (an eviction)\n",
        pid_, cfg_.page_size, cfg_.pool_pages(), policy_name(), cfg_.evict_batch);
    std::string why;
    if (handler_->trace().write(path, header, &why))
        logf(LogLevel::kInfo, "trace written to '{}' ({} events)", path, handler_->trace().recorded());
    else
        logf(LogLevel::kError, "cannot write trace '{}': {}", path, why);
}

// Writes `text` to `path` through a temporary file renamed over it, so that a reader (or a
// process cut short while rewriting) never sees half a report. False + *err on failure.
bool write_file_atomically(const std::string& path, const std::string& text, int* err) {
    const std::string temp = fmt::format("{}.tmp.{}", path, getpid());
    FILE* f = fopen(temp.c_str(), "we");  // "e": O_CLOEXEC, never inherited by an exec'd child
    bool ok = f && fwrite(text.data(), 1, text.size(), f) == text.size();
    *err = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = false;
        *err = errno;
    }
    if (ok && rename(temp.c_str(), path.c_str()) != 0) {
        ok = false;
        *err = errno;
    }
    if (!ok) unlink(temp.c_str());
    return ok;
}

// Fastest first, because a program whose other thread calls exit() meanwhile ends the process
// in the middle of this exit handler: the report without its sites and the summary line; then
// the report again with sites named by function (libunwind's symbol lookup takes
// milliseconds); then, with attribution_lines, source lines (addr2line, tens of ms), the report
// once more and the sites' table.
void Engine::write_reports() const {
    InternalScope internal;
    if (forked_child_) return;  // a plain fork child: the counters are the parent's
    if (getpid() != pid_) return;  // a vfork child that called exit(): the parent reports later
    flush_notes();
    const std::string path = report_path();
    const bool want_sites = attribution_ && (!path.empty() || cfg_.summary);
    const size_t site_count = std::max<size_t>(cfg_.attribution_top, kSummarySites);
    auto write_json = [&](const std::vector<ReportedSite>& sites, bool last) {
        if (path.empty()) return;
        const std::vector<ReportedSite> listed(sites.begin(),
                                               sites.begin() + std::min<size_t>(sites.size(), cfg_.attribution_top));
        int err = 0;
        if (!write_file_atomically(path, report_json_with(attribution_members(attribution_.get(), cfg_, listed)), &err))
            logf(LogLevel::kError, "cannot write report '{}': {}", path, strerror(err));
        else if (last)
            logf(LogLevel::kInfo, "report written to '{}'", path);
    };
    write_json({}, !want_sites);  // the counters at once; the sites follow once they have names
    const Totals t = totals();
    if (cfg_.summary && !emulating()) {
        std::fputs(fmt::format("dime: emulation off (disable): DiME's allocator on plain memory, no faults\n").c_str(),
                   stderr);
    } else if (cfg_.summary) {
        // With writeback, how the evictions split and what the dirty ones cost on the links.
        const std::string writeback =
            cfg_.writeback ? fmt::format(" ({} dirty, {} clean; {} written back in {}; {} first-write faults)",
                                         t.dirty_evictions, t.clean_evictions, human_bytes(t.writeback_bytes),
                                         human_ns(t.writeback_ns), t.first_write_faults)
                           : std::string();
        // fputs, not fmt::print: at exit stderr may be closed or full, and fmt::print throws then.
        std::fputs(fmt::format("dime: {} faults ({} first touch, {} re-fetch, {} duplicate), {} evictions{}, "
                               "{} injected; fault p50 {}, p99 {}; pool {}/{} pages{}, policy {}{}{}{}\n",
                               t.faults, t.first_touch_faults, t.refetch_faults, t.duplicate_faults, t.evictions,
                               writeback, human_ns(t.injected_delay_ns), human_ns(t.fault_ns_p50),
                               human_ns(t.fault_ns_p99), t.resident_pages, local_pages(),
                               cfg_.page_size == 4096 ? std::string() : fmt::format(" of {} KiB", cfg_.page_size >> 10),
                               policy_name(), instance_summary(instance_.get()), tracking_summary(t),
                               descendant_ ? fmt::format(" (child process {})", pid_) : std::string())
                       .c_str(),
                   stderr);
    }
    if (handler_ && handler_->trace().active()) write_trace();
    if (!want_sites) return;
    std::vector<ReportedSite> sites = reported_sites(*attribution_, site_count, /*lines=*/false);
    write_json(sites, !cfg_.attribution_lines);
    if (sites.empty()) return;
    if (cfg_.attribution_lines) {
        sites = reported_sites(*attribution_, site_count, /*lines=*/true);
        write_json(sites, true);
    }
    if (cfg_.summary && emulating()) std::fputs(sites_summary(*attribution_, t, sites).c_str(), stderr);
}

}  // namespace dime
