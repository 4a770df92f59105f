// cpu_latency.h — holds a PM QoS request (/dev/cpu_dma_latency) while DiME emulates, so that
// idle CPUs stay out of idle states that are slow to leave.
//
// Why: every remote fault wakes two sleeping threads in turn, DiME's handler and then the
// faulting thread. Waking a CPU out of a deep idle state costs its exit latency each time; on a
// virtual machine a halted vCPU is woken through the hypervisor, which cost 20-50 us per fault
// on the project's test VM (docs/performance.md), more than many of the delays being emulated,
// and it varies from moment to moment, so calibration cannot subtract it. Latency benchmarks
// (cyclictest, tuned's latency-performance profile) make the same request.
//
// The request lasts while the descriptor is open; it is O_CLOEXEC and protected
// (descriptors.h), so a program that closes every descriptor keeps it and an exec'd child does
// not inherit it. Opening the device needs root (mode 0600); without it DiME runs on without.
#pragma once

#include <cstdint>
#include <string>

namespace dime {

class CpuLatencyHold {
public:
    CpuLatencyHold() = default;
    CpuLatencyHold(const CpuLatencyHold&) = delete;
    CpuLatencyHold& operator=(const CpuLatencyHold&) = delete;
    ~CpuLatencyHold() { release(); }

    // Asks for a wake-up latency of at most `max_us` microseconds. False, with the reason in
    // *why, if the device cannot be opened or written; the machine is then left as it was.
    bool hold(int64_t max_us, std::string* why);
    // Drops the request (closes the descriptor); nothing if none is held.
    void release();
    // In a fork child: forget the descriptor without closing it (the child's copy keeps the
    // request until the child exits or execs; closing it here would change nothing anyway).
    void forget() { fd_ = -1; }
    bool held() const { return fd_ >= 0; }
    int64_t held_us() const { return held() ? held_us_ : -1; }

private:
    int fd_ = -1;
    int64_t held_us_ = -1;
};

}  // namespace dime
