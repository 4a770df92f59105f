// trace_recorder.cpp — the trace buffer and its text form (see trace_recorder.h). start() and
// write() run on application threads; record() (in the header) on the handler thread.
#include "trace_recorder.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>

#include "meta_memory.h"

namespace dime {

TraceRecorder::~TraceRecorder() {
    if (records_) munmap(records_, capacity_ * sizeof(Record));
}

bool TraceRecorder::start(int page_shift, size_t capacity) {
    records_ = static_cast<Record*>(map_metadata(capacity * sizeof(Record)));
    if (!records_) return false;
    capacity_ = capacity;
    shift_to_4k_ = page_shift - 12;
    return true;
}

bool TraceRecorder::write(const std::string& path, const std::string& header, std::string* error) const {
    FILE* f = std::fopen(path.c_str(), "we");
    if (!f) {
        if (error) *error = std::strerror(errno);
        return false;
    }
    const size_t n = recorded();
    std::fputs(header.c_str(), f);
    std::fprintf(f, "# %zu events recorded", n);
    if (const uint64_t lost = dropped())
        std::fprintf(f, "; the buffer (%zu events) was full: %llu later events are missing", capacity_,
                     static_cast<unsigned long long>(lost));
    std::fputc('\n', f);
    char line[32];
    for (size_t i = 0; i < n; ++i) {
        const int len = std::snprintf(line, sizeof line, "%llu %c\n",
                                      static_cast<unsigned long long>(records_[i].page) << shift_to_4k_,
                                      records_[i].event);
        std::fwrite(line, 1, static_cast<size_t>(len), f);
    }
    const bool ok = !std::ferror(f);
    if (std::fclose(f) != 0 || !ok) {
        if (error) *error = std::strerror(errno);
        return false;
    }
    return true;
}

}  // namespace dime
