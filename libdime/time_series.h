// time_series.h — the counters over time while the program runs: every `series_interval_ms` a
// thread of DiME's appends one JSON object per line (JSON lines) to the `series` file, and a last
// one at exit. `dime report` plots them. The thread only reads the counters (relaxed atomics):
// it never waits for the handler, and the handler never waits for it.
#pragma once

#include <pthread.h>

#include <cstdint>
#include <string>

namespace dime {

class Engine;

class TimeSeries {
public:
    explicit TimeSeries(Engine& engine) : engine_(engine) {}
    ~TimeSeries();
    TimeSeries(const TimeSeries&) = delete;
    TimeSeries& operator=(const TimeSeries&) = delete;

    // Opens `path` (truncating it) and starts sampling every interval_ms. False + *error on failure.
    bool start(const std::string& path, uint64_t interval_ms, std::string* error);
    // Writes the last sample, ends the thread and closes the file.
    void stop();
    // In a fork child: the thread was the parent's; drops the inherited descriptors.
    void abandon_in_child();

    // One sample as the file holds it (without the newline): for tests.
    std::string sample_line() const;

private:
    static void* thread_main(void* self);
    void run();
    void write_sample();
    void close_descriptors();

    Engine& engine_;
    int fd_ = -1;
    int wake_fd_ = -1;
    uint64_t interval_ms_ = 100;
    uint64_t start_ns_ = 0;
    pthread_t thread_{};
    bool running_ = false;
};

}  // namespace dime
