// engine_control.cpp — run-time control of the local pool from code (include/dime.h's
// dime_evict and dime_set_local_pages, through the preload): translate addresses and bounds, then
// ask the handler. Runs on application threads, under control_; each call is one request to the
// handler thread.
#include <algorithm>
#include <unistd.h>

#include "control.h"
#include "time_series.h"
#include "engine.h"
#include "fault_handler.h"
#include "instance.h"
#include "log.h"
#include "local_pool.h"
#include "page_table.h"

namespace dime {
namespace {

// local_npages' upper bound, from options.def: set_local_pages accepts what the configuration does.
#define DIME_OPTION(key, kind, c_type, def, min, max, help) [[maybe_unused]] constexpr uint64_t kMax_##key = max;
#include "options.def"
#undef DIME_OPTION

}  // namespace

uint64_t Engine::evict_range(const void* addr, size_t len) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
    const uintptr_t base = pages_ ? pages_->app_base() : 0, end = base + (pages_ ? pages_->span_bytes() : 0);
    if (!handler_ || len == 0 || a >= end) return 0;
    const uintptr_t lo = std::max(a, base);
    const uintptr_t hi = len > end - a ? end : a + len;  // clipped to the span without overflow
    if (lo >= hi) return 0;
    const PageId first = pages_->page_of(lo), last = pages_->page_of(hi - 1);
    // The handler's request arguments are one slot (range_), shared with the mmap family's
    // requests, which run under control_: so does this one.
    std::lock_guard<std::mutex> lock(control_);
    return handler_->evict_range(first, last - first + 1);
}

bool Engine::set_local_pages(uint64_t pages) {
    if (!handler_ || pages == 0 || pages > kMax_local_npages) return false;
    std::lock_guard<std::mutex> lock(control_);  // see evict_range
    handler_->resize_pool(pages);
    return true;
}

uint64_t Engine::local_pages() const { return pool_ ? pool_->capacity() : cfg_.pool_pages(); }

}  // namespace dime

// ---- the links and the control socket (dime ctl; control.h) --------------------------------

namespace dime {

bool Engine::set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps) {
    if (!handler_ || tier < 0 || tier >= tier_count_ || tier_local_[tier] || bandwidth_bps == 0) return false;
    link_latency_[tier].store(latency_ns, std::memory_order_relaxed);
    link_bandwidth_[tier].store(bandwidth_bps, std::memory_order_relaxed);
    if (instance_)  // every member's handler applies it (the settings' generation changes)
        instance_->set_link(tier, latency_ns, bandwidth_bps);
    else
        handler_->set_link(tier, latency_ns, bandwidth_bps);
    return true;
}

uint64_t Engine::link_latency_ns(int tier) const {
    if (tier < 0 || tier >= tier_count_) return 0;
    return instance_ ? instance_->latency_ns(tier) : link_latency_[tier].load(std::memory_order_relaxed);
}

uint64_t Engine::link_bandwidth_bps(int tier) const {
    if (tier < 0 || tier >= tier_count_) return 0;
    return instance_ ? instance_->bandwidth_bps(tier) : link_bandwidth_[tier].load(std::memory_order_relaxed);
}

// ---- instances (instance.h) ----------------------------------------------------------------

bool Engine::join_instance(std::string* error) {
    InstanceSettings mine;
    mine.capacity = pool_->capacity();
    mine.page_size = cfg_.page_size;
    mine.tiers = tier_count_;
    for (int t = 0; t < tier_count_; ++t) {
        if (tier_local_[t]) continue;  // never fetches: no link to share (bandwidth 0)
        mine.latency_ns[t] = link_latency_[t].load(std::memory_order_relaxed);
        mine.bandwidth_bps[t] = link_bandwidth_[t].load(std::memory_order_relaxed);
    }
    std::string why;
    instance_ = Instance::join(cfg_.instance, mine, &why);
    if (!instance_) {
        if (error) *error = why;
        return false;
    }
    handler_->attach_instance(instance_.get());
    // The instance's settings win over this process's own: say so when they differ.
    std::string theirs, ours;
    auto differ = [&](const std::string& key, uint64_t instance_value, uint64_t own_value) {
        if (instance_value == own_value) return;
        theirs += fmt::format(" {}={}", key, instance_value);
        ours += fmt::format(" {}={}", key, own_value);
    };
    differ("local_npages", instance_->capacity(), mine.capacity);
    const std::vector<TierConfig> tiers = cfg_.tiers();
    for (int t = 0; t < tier_count_; ++t) {
        const std::string prefix = t == 0 ? std::string() : "tiers." + tiers[t].name + ".";
        differ(prefix + "latency_ns", instance_->latency_ns(t), mine.latency_ns[t]);
        differ(prefix + "bandwidth_bps", instance_->bandwidth_bps(t), mine.bandwidth_bps[t]);
    }
    if (!theirs.empty())
        logf(LogLevel::kWarn, "instance '{}': its settings apply:{} (this process's own:{})", cfg_.instance, theirs,
             ours);
    return true;
}

const Instance* Engine::instance() const { return instance_.get(); }

void Engine::leave_instance() {
    // Not in a plain fork child (the slot is the parent's), nor in a vfork child that called
    // exit() (it shares the parent's memory: the parent leaves later).
    if (!instance_ || forked_child_ || getpid() != pid_) return;
    for (int t = 0; t < tier_count_; ++t) {  // what reports and dime ctl read from now on
        link_latency_[t].store(instance_->latency_ns(t), std::memory_order_relaxed);
        link_bandwidth_[t].store(instance_->bandwidth_bps(t), std::memory_order_relaxed);
    }
    if (handler_) handler_->attach_instance(nullptr);
    instance_.reset();
}

uintptr_t Engine::span_base() const { return pages_ ? pages_->app_base() : 0; }

size_t Engine::span_bytes() const { return pages_ ? pages_->span_bytes() : 0; }

bool Engine::start_control(std::string* error) {
    if (!emulating()) return true;  // nothing to steer
    if (control_server_) return true;
    auto server = std::make_unique<control::Server>(*this);
    if (!server->start(error)) return false;
    control_server_ = std::move(server);
    return true;
}

void Engine::stop_control() {
    if (control_server_) control_server_->stop();
    control_server_.reset();
}

bool Engine::start_series(std::string* error) {
    if (cfg_.series.empty() || !emulating() || series_) return true;
    auto series = std::make_unique<TimeSeries>(*this);
    if (!series->start(expand_report_path(cfg_.series, pid_, descendant_), cfg_.series_interval_ms, error))
        return false;
    series_ = std::move(series);
    return true;
}

void Engine::stop_series() {
    if (series_) series_->stop();
    series_.reset();
}

}  // namespace dime
