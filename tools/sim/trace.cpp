// trace.cpp — reads page-access traces (text, one access per line) and numbers pages densely.
// Offline, single-threaded.
#include "trace.h"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string_view>
#include <unordered_map>

#include <fmt/core.h>

namespace dime::lab {
namespace {

constexpr uint64_t kTracePage = 4096;  // the unit of decimal page numbers

std::string_view trim(std::string_view s) {
    const char* ws = " \t\r";
    const size_t b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

int log2_of(uint64_t v) { return 63 - __builtin_clzll(v); }

class Numbering {
public:
    PageId number(uint64_t page) {
        auto [it, fresh] = ids_.try_emplace(page, static_cast<PageId>(ids_.size()));
        (void)fresh;
        return it->second;
    }
    uint64_t size() const { return ids_.size(); }

private:
    std::unordered_map<uint64_t, PageId> ids_;
};

}  // namespace

Trace make_trace(const std::vector<uint64_t>& pages) {
    Trace t;
    Numbering ids;
    t.accesses.reserve(pages.size());
    for (uint64_t p : pages) t.accesses.push_back(ids.number(p));
    t.distinct_pages = ids.size();
    return t;
}

bool read_trace(std::istream& in, const std::string& origin, uint64_t page_size, Trace* trace, std::string* error) {
    if (page_size < kTracePage || (page_size & (page_size - 1)) != 0) {
        *error = "page size " + std::to_string(page_size) + " is not a power of two of at least 4096";
        return false;
    }
    const int shift = log2_of(page_size);
    Numbering ids;
    Trace t;
    std::string line;
    uint64_t lineno = 0;
    auto bad = [&](const std::string& why) {
        *error = origin + ":" + std::to_string(lineno) + ": " + why;
        return false;
    };
    while (std::getline(in, line)) {
        ++lineno;
        std::string_view s = trim(line);
        if (s.empty() || s[0] == '#') continue;
        std::string_view field = s.substr(0, s.find_first_of(" \t"));
        std::string_view rest = trim(s.substr(field.size()));
        // "e": an eviction in a trace recorded by the engine (`trace`): not an access, skipped.
        const bool eviction = rest == "e" || rest == "E";
        if (!rest.empty() && rest != "r" && rest != "w" && rest != "R" && rest != "W" && !eviction)
            return bad(fmt::format("'{}' after the page: expected nothing, r, w or e", rest));
        const bool hex = field.size() > 2 && field[0] == '0' && (field[1] == 'x' || field[1] == 'X');
        std::string_view digits = hex ? field.substr(2) : field;
        uint64_t value = 0;
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, hex ? 16 : 10);
        if (ec == std::errc::result_out_of_range) return bad(fmt::format("'{}' is too large", field));
        if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty())
            return bad(fmt::format("'{}' is not a page number (decimal, in 4 KiB pages) or a byte address (0x...)", field));
        uint64_t page;
        if (hex) {
            page = value >> shift;
        } else {
            if (value > (UINT64_MAX >> 12)) return bad(fmt::format("'{}' is too large", field));
            page = (value << 12) >> shift;
        }
        if (eviction) {
            ++t.evictions;
            continue;
        }
        t.accesses.push_back(ids.number(page));
        if (ids.size() >= kNoPage) return bad("more than 2^32 - 1 distinct pages");
    }
    if (in.bad()) {
        *error = origin + ": read error";
        return false;
    }
    t.distinct_pages = ids.size();
    *trace = std::move(t);
    return true;
}

bool read_trace_file(const std::string& path, uint64_t page_size, Trace* trace, std::string* error) {
    errno = 0;
    if (path == "-") return read_trace(std::cin, "stdin", page_size, trace, error);
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) errno = EISDIR;
    std::ifstream in;
    if (errno != EISDIR) in.open(path);
    if (!in.is_open()) {
        *error = "cannot read '" + path + "': " + std::strerror(errno);
        return false;
    }
    return read_trace(in, path, page_size, trace, error);
}

}  // namespace dime::lab
