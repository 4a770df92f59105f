// address_space.cpp — the span's partition and free-range allocator (see address_space.h).
#include "address_space.h"

#include <algorithm>
#include <iterator>

namespace dime {

void AddressSpace::init(uintptr_t base, size_t bytes, int parts, size_t granule) {
    base_ = base;
    granule_ = granule ? granule : 1;
    end_ = base + bytes;
    part_bytes_ = bytes / static_cast<size_t>(parts < 1 ? 1 : parts);
    used_bytes_ = 0;
    ranges_.clear();
    by_size_.clear();
    for (uintptr_t at = base_; at < end_; at += part_bytes_) insert(at, std::min(at + part_bytes_, end_), PieceKind::kFree);
}

AddressSpace::Map::iterator AddressSpace::insert(uintptr_t start, uintptr_t end, PieceKind kind) {
    if (kind == PieceKind::kFree)
        by_size_.emplace(part_of(start), end - start, start);
    else
        used_bytes_ += end - start;
    return ranges_.emplace(start, Range{end, kind}).first;
}

void AddressSpace::erase(Map::iterator it) {
    const size_t len = it->second.end - it->first;
    if (it->second.kind == PieceKind::kFree)
        by_size_.erase({part_of(it->first), len, it->first});
    else
        used_bytes_ -= len;
    ranges_.erase(it);
}

void AddressSpace::split_at(uintptr_t at) {
    if (at <= base_ || at >= end_) return;
    auto it = std::prev(ranges_.upper_bound(at));
    if (it->first == at) return;
    const uintptr_t start = it->first, end = it->second.end;
    const PieceKind kind = it->second.kind;
    erase(it);
    insert(start, at, kind);
    insert(at, end, kind);
}

uintptr_t AddressSpace::find_free(size_t bytes, uintptr_t hint, int part) const {
    if (bytes == 0) return 0;
    if (hint && contains(hint, hint + bytes) && part_of(hint) == part && is_free(hint, hint + bytes)) return hint;
    // Best fit among the ranges that hold `bytes` from a granule-aligned start; free ranges are
    // aligned already unless an operation on part of a unit left a fragment (engine_memory.cpp).
    for (auto it = by_size_.lower_bound({part, bytes, 0}); it != by_size_.end() && std::get<0>(*it) == part; ++it) {
        const uintptr_t start = std::get<2>(*it), end = start + std::get<1>(*it);
        const uintptr_t aligned = base_ + (start - base_ + granule_ - 1) / granule_ * granule_;
        if (aligned + bytes <= end) return aligned;
    }
    return 0;
}

bool AddressSpace::is_free(uintptr_t start, uintptr_t end) const {
    if (!contains(start, end)) return false;
    auto it = std::prev(ranges_.upper_bound(start));
    return it->second.kind == PieceKind::kFree && it->second.end >= end;
}

void AddressSpace::assign(uintptr_t start, uintptr_t end, PieceKind kind) {
    if (!contains(start, end)) return;
    const uintptr_t part_end = base_ + (static_cast<size_t>(part_of(start)) + 1) * part_bytes_;
    if (end > part_end) {  // one part at a time: no range crosses a boundary
        assign(start, part_end, kind);
        assign(part_end, end, kind);
        return;
    }
    split_at(start);
    split_at(end);
    for (auto it = ranges_.find(start); it != ranges_.end() && it->first < end;) erase(it++);
    auto it = insert(start, end, kind);
    // Merge with the neighbours of the same kind.
    if (it != ranges_.begin()) {
        auto before = std::prev(it);
        if (before->second.kind == kind && before->second.end == start && !at_part_boundary(start)) {
            const uintptr_t s = before->first;
            erase(before);
            erase(it);
            it = insert(s, end, kind);
            start = s;
        }
    }
    auto after = std::next(it);
    if (after != ranges_.end() && after->second.kind == kind && after->first == end && !at_part_boundary(end)) {
        const uintptr_t e = after->second.end;
        erase(after);
        erase(it);
        insert(start, e, kind);
    }
}

std::vector<Piece> AddressSpace::pieces(uintptr_t start, uintptr_t end) const {
    std::vector<Piece> out;
    if (start >= end) return out;
    auto it = ranges_.upper_bound(start);
    if (it != ranges_.begin()) --it;
    for (; it != ranges_.end() && it->first < end; ++it) {
        const uintptr_t s = std::max(it->first, start), e = std::min(it->second.end, end);
        if (s < e) out.push_back({s, e, it->second.kind});
    }
    return out;
}

}  // namespace dime
