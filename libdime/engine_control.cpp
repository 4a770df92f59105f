// engine_control.cpp — run-time control of the local pool from code (include/dime.h's
// dime_evict and dime_set_local_pages, through the preload): translate addresses and bounds, then
// ask the handler. Runs on application threads, under control_; each call is one request to the
// handler thread.
#include <algorithm>

#include "control.h"
#include "time_series.h"
#include "engine.h"
#include "fault_handler.h"
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
    handler_->set_link(tier, latency_ns, bandwidth_bps);
    return true;
}

uint64_t Engine::link_latency_ns(int tier) const {
    return tier >= 0 && tier < tier_count_ ? link_latency_[tier].load(std::memory_order_relaxed) : 0;
}

uint64_t Engine::link_bandwidth_bps(int tier) const {
    return tier >= 0 && tier < tier_count_ ? link_bandwidth_[tier].load(std::memory_order_relaxed) : 0;
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
