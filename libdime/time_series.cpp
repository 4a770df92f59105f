// time_series.cpp — see time_series.h. Runs on its own thread (a DiME thread: allocations go to
// glibc); start/stop on application threads.
#include "time_series.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "clock.h"
#include "descriptors.h"
#include "engine.h"
#include "service_thread.h"
#include "stats.h"
#include "thread_role.h"

namespace dime {

TimeSeries::~TimeSeries() { stop(); }

bool TimeSeries::start(const std::string& path, uint64_t interval_ms, std::string* error) {
    InternalScope internal;
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        *error = fmt::format("cannot write the time series '{}': {}", path, strerror(errno));
        return false;
    }
    // Protected like DiME's other descriptors: a daemon closing everything keeps its series.
    fd_ = descriptors::adopt(fd);
    wake_fd_ = descriptors::adopt(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    interval_ms_ = interval_ms;
    start_ns_ = now_ns();
    if (wake_fd_ < 0 || pthread_create(&thread_, nullptr, &TimeSeries::thread_main, this) != 0) {
        *error = "cannot start the time series thread";
        close_descriptors();
        return false;
    }
    running_ = true;
    return true;
}

void TimeSeries::stop() {
    if (!running_) return;
    InternalScope internal;
    wake_and_join(wake_fd_, thread_);
    running_ = false;
    write_sample();  // the counters as the program ends
    close_descriptors();
}

void TimeSeries::abandon_in_child() {
    running_ = false;
    close_descriptors();
}

void TimeSeries::close_descriptors() {
    if (fd_ >= 0) descriptors::release(fd_);
    if (wake_fd_ >= 0) descriptors::release(wake_fd_);
    fd_ = wake_fd_ = -1;
}

std::string TimeSeries::sample_line() const {
    const Totals t = engine_.totals();
    return fmt::format(
        "{{\"t_ns\": {}, \"faults\": {}, \"first_touch_faults\": {}, \"refetch_faults\": {}, \"evictions\": {}, "
        "\"injected_delay_ns\": {}, \"handler_ns\": {}, \"resident_pages\": {}, \"local_npages\": {}, "
        "\"latency_ns\": {}, \"fault_ns_p50\": {}, \"fault_ns_p99\": {}}}",
        now_ns() - start_ns_, t.faults, t.first_touch_faults, t.refetch_faults, t.evictions, t.injected_delay_ns,
        t.handler_ns, t.resident_pages, engine_.local_pages(), engine_.link_latency_ns(0), t.fault_ns_p50,
        t.fault_ns_p99);
}

void TimeSeries::write_sample() {
    const std::string line = sample_line() + "\n";
    [[maybe_unused]] ssize_t n = write(fd_, line.data(), line.size());  // one write: lines stay whole
}

void* TimeSeries::thread_main(void* self) {
    t_internal = true;  // DiME's own thread: its allocations go to glibc, never to emulated memory
    static_cast<TimeSeries*>(self)->run();
    return nullptr;
}

void TimeSeries::run() {
    uint64_t next = now_ns();
    for (;;) {
        write_sample();
        next += interval_ms_ * 1000000;
        const uint64_t now = now_ns();
        const int wait_ms = next > now ? static_cast<int>((next - now + 999999) / 1000000) : 0;
        pollfd p{wake_fd_, POLLIN, 0};
        if (poll(&p, 1, wait_ms) > 0) return;  // stop()
        if (next < now) next = now;  // fell behind (a stopped process): no burst of samples
    }
}

}  // namespace dime
