// address_space.h — who uses which part of the emulated span. The span is partitioned into
// ranges: free (reserved PROT_NONE, available to the next mapping) or a live piece of some kind.
// Free ranges are handed out best fit, lowest address first, and coalesce when given back, so a
// program that maps and unmaps millions of times reuses the same addresses (and page numbers).
// The span may be divided into equal parts (the tiers' sub-spans): no range crosses a part
// boundary, and each request names the part it is served from.
//
// Pure bookkeeping: no system calls. Threads: application threads, always under the engine's
// control mutex. It allocates (std::map nodes) and so is never used on the fault path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

namespace dime {

enum class PieceKind : uint8_t {
    kFree,      // reserved PROT_NONE, registered, no pages: available
    kEmulated,  // an anonymous mapping the engine emulates (the mmap hooks)
    kHeap,      // part of a region from Engine::map_region (the emulated heap, tests)
    kDead,      // part of a map_region region that the program unmapped: PROT_NONE, not reusable
    kPlain,     // not emulated: the program's own mapping placed over the span, or memory
                // handed back as plain (mprotect to other than read-write); unregistered
};

struct Piece {
    uintptr_t start;
    uintptr_t end;
    PieceKind kind;
};

class AddressSpace {
public:
    // The whole span [base, base + bytes) starts free, divided into `parts` equal parts.
    // find_free hands out only ranges that start at a multiple of `granule` from base (the unit).
    void init(uintptr_t base, size_t bytes, int parts = 1, size_t granule = 1);

    bool contains(uintptr_t start, uintptr_t end) const { return start >= base_ && end <= end_ && start < end; }
    // Finds a free range of `bytes` in part `part`: at `hint` if that range is entirely free (and
    // in that part; the caller aligns it), else the smallest free range there that fits from a
    // granule-aligned start (lowest address among equals).
    // Marks nothing. 0 if none fits.
    uintptr_t find_free(size_t bytes, uintptr_t hint, int part = 0) const;
    int part_of(uintptr_t addr) const { return static_cast<int>((addr - base_) / part_bytes_); }
    bool is_free(uintptr_t start, uintptr_t end) const;
    // [start, end) becomes one range of `kind` (kFree gives it back), whatever it was before;
    // neighbours of the same kind merge with it.
    void assign(uintptr_t start, uintptr_t end, PieceKind kind);
    // The ranges that intersect [start, end), clipped to it, in address order (free ones too).
    std::vector<Piece> pieces(uintptr_t start, uintptr_t end) const;

    size_t ranges() const { return ranges_.size(); }      // entries in the partition
    size_t free_ranges() const { return by_size_.size(); }  // of which free
    size_t used_bytes() const { return used_bytes_; }       // bytes not free

private:
    struct Range {
        uintptr_t end;
        PieceKind kind;
    };
    using Map = std::map<uintptr_t, Range>;
    // Splits the range holding `at` so that one begins there (no-op at a boundary or the end).
    void split_at(uintptr_t at);
    Map::iterator insert(uintptr_t start, uintptr_t end, PieceKind kind);
    void erase(Map::iterator it);

    bool at_part_boundary(uintptr_t addr) const { return (addr - base_) % part_bytes_ == 0; }

    uintptr_t base_ = 0, end_ = 0;
    size_t part_bytes_ = 1;
    size_t granule_ = 1;
    size_t used_bytes_ = 0;
    Map ranges_;  // start -> range; covers [base_, end_) exactly, no range crosses a part boundary
    std::set<std::tuple<int, size_t, uintptr_t>> by_size_;  // free ranges as (part, length, start)
};

}  // namespace dime
