// log.cpp — the stderr logger and the fault path's deferred notes (see log.h). Runs on
// application threads; note() alone may run on the handler thread.
#include "log.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace dime {
namespace {

std::atomic<uint8_t> g_level{static_cast<uint8_t>(LogLevel::kWarn)};
std::atomic<uint32_t> g_notes{0};

}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<uint8_t>(level), std::memory_order_relaxed); }

bool set_log_level(std::string_view name) {
    static constexpr std::pair<std::string_view, LogLevel> kNames[] = {
        {"error", LogLevel::kError}, {"warn", LogLevel::kWarn}, {"info", LogLevel::kInfo}, {"debug", LogLevel::kDebug}};
    for (auto [n, level] : kNames)
        if (n == name) {
            set_log_level(level);
            return true;
        }
    return false;
}

LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void log_message(LogLevel level, std::string_view message) {
    if (!log_enabled(level)) return;
    // One write(2) per line, so lines from several threads or processes never interleave.
    char line[1100];
    constexpr std::string_view prefix = "dime: ";
    size_t n = prefix.size();
    std::memcpy(line, prefix.data(), n);
    const size_t body = std::min(message.size(), sizeof line - n - 1);
    std::memcpy(line + n, message.data(), body);
    n += body;
    line[n++] = '\n';
    const int saved = errno;
    for (size_t done = 0; done < n;) {
        const ssize_t w = ::write(STDERR_FILENO, line + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;  // stderr closed or full: the message is lost, the program goes on
        done += static_cast<size_t>(w);
    }
    errno = saved;
}

void note(Note n) { g_notes.fetch_or(static_cast<uint32_t>(n), std::memory_order_relaxed); }

void flush_notes() {
    const uint32_t notes = g_notes.exchange(0, std::memory_order_relaxed);
    if (notes & static_cast<uint32_t>(Note::kMoveDisabled))
        log_message(LogLevel::kWarn,
                    "the kernel refused UFFDIO_MOVE (EINVAL): evictions and re-fetches copy pages from now on");
    if (notes & static_cast<uint32_t>(Note::kMappingsHigh))
        log_message(LogLevel::kWarn,
                    "backend mprotect: the local pages are scattered over 90% of the memory mappings "
                    "vm.max_map_count leaves DiME; at the limit the program stops (raise vm.max_map_count, or use "
                    "a larger page_size)");
}

}  // namespace dime
