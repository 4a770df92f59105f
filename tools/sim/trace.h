// trace.h — page-access traces for the policy lab: reading the text format (docs/policies.md)
// and numbering the pages densely. Offline only (allocates freely); single-threaded.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "page_table.h"

namespace dime::lab {

// One access per entry, as a dense page number: pages are numbered 0, 1, 2, ... in the order
// of their first access, so policies can size per-page arrays by distinct_pages.
struct Trace {
    std::vector<PageId> accesses;
    uint64_t distinct_pages = 0;
    uint64_t evictions = 0;  // "e" lines of a recorded trace, skipped (not accesses)
};

// Builds a trace from raw page numbers (already in units of the simulated page).
Trace make_trace(const std::vector<uint64_t>& pages);

// Reads the text format: one access per line, "#" comments and blank lines ignored. A line is a
// page number in decimal (a 4 KiB page: byte address = n * 4096) or a byte address in hex with
// "0x", optionally followed by "r" or "w", or by "e" (an eviction in a trace the engine recorded,
// `trace`: counted in `evictions`, not an access). `page_size` (a power of two, at least 4096) is the
// simulated page: accesses to the same page_size-aligned block are one page. `origin` names
// the input in messages. False with *error = "<origin>:<line>: <problem>" on bad input.
bool read_trace(std::istream& in, const std::string& origin, uint64_t page_size, Trace* trace, std::string* error);
bool read_trace_file(const std::string& path, uint64_t page_size, Trace* trace, std::string* error);

}  // namespace dime::lab
