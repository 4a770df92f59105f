// trace_recorder.h — `trace` (DIME_TRACE, `dime run --trace FILE`): the fault and eviction stream
// of a run, for the policy lab. The handler thread appends fixed-size records to a buffer mapped
// once at start in metadata memory (no allocation, no lock, no I/O on the fault path); the
// buffer is written out as text at exit by the application thread that writes the report.
// When the buffer is full, recording stops and the events after it are only counted (the file
// says how many). Threads: record() on the handler thread; write() on an application thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "page_table.h"

namespace dime {

class TraceRecorder {
public:
    enum Event : uint8_t { kRead = 'r', kWrite = 'w', kEvict = 'e' };
    // Events the buffer holds: 16 Mi x 8 bytes = 128 MiB of address space, of which only the
    // part written costs memory.
    static constexpr size_t kCapacity = size_t(1) << 24;

    TraceRecorder() = default;
    ~TraceRecorder();
    TraceRecorder(const TraceRecorder&) = delete;
    TraceRecorder& operator=(const TraceRecorder&) = delete;

    // Maps the buffer; page_shift is the unit's (records are written in 4 KiB page numbers).
    bool start(int page_shift, size_t capacity = kCapacity);
    bool active() const { return records_ != nullptr; }

    // Handler thread: one event. A relaxed store of the record, then a release of the count.
    void record(PageId p, Event e) {
        if (!records_) return;
        const size_t n = count_.load(std::memory_order_relaxed);
        if (n == capacity_) {
            dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            return;
        }
        records_[n] = Record{p, e};
        count_.store(n + 1, std::memory_order_release);
    }

    // Writes the events recorded so far to `path`, one per line after `header` (comment lines):
    // "<page> r|w" for a fault, "<page> e" for an eviction, pages in 4 KiB page numbers (the
    // unit's first). False + *error if the file cannot be written.
    bool write(const std::string& path, const std::string& header, std::string* error) const;
    // Start afresh: after calibration (with the counters), and in a fork child (the buffer holds
    // the parent's events). Handler thread, or before it runs.
    void reset() {
        count_.store(0, std::memory_order_relaxed);
        dropped_.store(0, std::memory_order_relaxed);
    }
    size_t recorded() const { return count_.load(std::memory_order_acquire); }
    uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    struct Record {
        PageId page;
        uint8_t event;
    };
    Record* records_ = nullptr;
    size_t capacity_ = 0;
    int shift_to_4k_ = 0;
    std::atomic<size_t> count_{0};
    std::atomic<uint64_t> dropped_{0};
};

}  // namespace dime
