// log.h — DiME's messages on stderr ("dime: ..." lines) filtered by the log level (log_level /
// DIME_LOG). Any application thread may log; the fault handler never does: it raises a note
// (one bit, lock-free) that an application-side entry point turns into a message later.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace dime {

enum class LogLevel : uint8_t { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// The level in force (default warn). Parsed from the log_level setting (error|warn|info|debug).
void set_log_level(LogLevel level);
bool set_log_level(std::string_view name);  // false for an unknown name (level unchanged)
LogLevel log_level();
inline bool log_enabled(LogLevel level) { return level <= log_level(); }

// Writes "dime: <message>\n" to fd 2 with one write(2), if `level` is enabled. Never throws,
// never allocates when the message fits 1 KiB. Not for the fault path.
void log_message(LogLevel level, std::string_view message);

template <typename... Args>
void logf(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (!log_enabled(level)) return;
    char buf[1024];
    auto out = fmt::format_to_n(buf, sizeof buf, format, std::forward<Args>(args)...);
    log_message(level, std::string_view(buf, out.size < sizeof buf ? out.size : sizeof buf));
}

// Things the fault path wants said. note() is an atomic OR (no lock, no allocation, no
// syscall); flush_notes() logs and clears what was noted, on an application thread.
enum class Note : uint32_t {
    kMoveDisabled = 1u << 0,  // the kernel refused UFFDIO_MOVE with EINVAL/ENOTTY: copy from now on
    kMappingsHigh = 1u << 1,  // backend mprotect: the span uses 90% of what vm.max_map_count leaves it
};
void note(Note n);
void flush_notes();

}  // namespace dime
