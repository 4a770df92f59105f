// engine_memory.cpp — emulated memory handed out and taken back: map_region for the emulated heap
// and the mmap family (mmap, munmap, mremap, madvise, mprotect) for programs with their own
// allocator. Runs on application threads (the preload's hooks), under the engine's control mutex;
// page contents are only ever moved or dropped by the handler thread, through its range requests.
//
// Ranges outside the span are passed through with the raw system call; pieces of the span that
// are not emulated (kPlain) get the real system call too. The span itself stays reserved: memory
// the program gives back becomes PROT_NONE again (so a later access faults with SIGSEGV, as
// after a real munmap) and is reused by later mappings.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/mman.h>

#include "engine.h"
#include "page_backend.h"
#include "log.h"
#include "overcommit.h"
#include "page_table.h"
#include "sys_memory.h"
#include "thread_role.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

namespace dime {
namespace {

constexpr int kReadWrite = PROT_READ | PROT_WRITE;

using MemCall = Engine::MemCall;

MemCall ok(uintptr_t value) { return {true, value, 0}; }
MemCall failed_map(int err) { return {true, reinterpret_cast<uintptr_t>(MAP_FAILED), err}; }
MemCall failed(int err) { return {true, uintptr_t(-1), err}; }
MemCall from_int(int rc) { return rc < 0 ? failed(-rc) : ok(0); }

void* ptr(uintptr_t a) { return reinterpret_cast<void*>(a); }

// A range given to munmap/madvise/mprotect, rounded to whole kernel pages (the kernel's rules,
// whatever DiME's unit), and its part inside the span [lo, hi). The parts outside the span are the kernel's: `outside` is applied to them.
struct SpanPart {
    bool bad = false;  // misaligned or wrapping: EINVAL
    uintptr_t lo = 0, hi = 0;
    int rc = 0;        // the first failure of `outside`
};

template <typename Outside>
SpanPart split_at_span(void* addr, size_t len, size_t ps, uintptr_t span_lo, uintptr_t span_hi, Outside outside) {
    SpanPart part;
    const auto start = reinterpret_cast<uintptr_t>(addr);
    const uintptr_t end = start + (len + ps - 1) / ps * ps;
    if ((start & (ps - 1)) || end < start) {
        part.bad = true;
        return part;
    }
    if (len == 0) return part;  // nothing to split (and nothing for `outside`)
    part.lo = std::max(start, span_lo);
    part.hi = std::min(end, span_hi);
    if (start < part.lo) part.rc = outside(addr, part.lo - start);
    if (part.hi < end && part.rc == 0) part.rc = outside(ptr(part.hi), end - part.hi);
    return part;
}

bool emulated_kind(PieceKind k) { return k == PieceKind::kEmulated || k == PieceKind::kHeap; }

}  // namespace

// ---- bookkeeping helpers (control_ held) -----------------------------------------------------------

bool Engine::touches_span(const void* addr, size_t len) const {
    const auto a = reinterpret_cast<uintptr_t>(addr);
    const uintptr_t lo = pages_->app_base(), hi = lo + pages_->span_bytes();
    const uintptr_t end = a + std::max<size_t>(len, 1);
    return end > a ? (a < hi && end > lo) : a < hi;  // a wrapping range touches whatever lies above a
}

bool Engine::make_accessible(uintptr_t start, uintptr_t end) {
    // With the mprotect backend emulated memory is handed out still PROT_NONE: its first touch
    // must fault. A local tier's is plain memory, read-write at once.
    if ((!mprotect_ || !emulating() || in_local_tier(start)) && sys::mprotect(ptr(start), end - start, kReadWrite) != 0)
        return false;
    // The handler may now prefetch never-used pages here; it clears the bits when the range is
    // given back (discard_pages with inaccessible) or detached. A local tier never faults.
    if (!in_local_tier(start))
        pages_->set_accessible(pages_->page_of(start), static_cast<PageId>((end - start) >> pages_->page_shift()), true);
    return true;
}

// A free range of `bytes` in `tier`'s sub-span, at `hint` if possible, made read-write and
// recorded as `kind`; 0 if there is no room or the kernel refused (vm.max_map_count).
uintptr_t Engine::carve(size_t bytes, uintptr_t hint, PieceKind kind, int tier) {
    const uintptr_t at = space_.find_free(bytes, hint, tier);
    if (at == 0 || !make_accessible(at, at + bytes)) return 0;
    space_.assign(at, at + bytes, kind);
    return at;
}

// The same at exactly [start, start + bytes), which must be free. False if it is not, or the
// kernel refused.
bool Engine::carve_at(uintptr_t start, size_t bytes, PieceKind kind) {
    if (!space_.is_free(start, start + bytes) || !make_accessible(start, start + bytes)) return false;
    space_.assign(start, start + bytes, kind);
    return true;
}

// The part of the span [start, end) becomes reserved again: pages dropped, PROT_NONE, free. With
// keep_heap_dead, pieces of map_region regions become kDead instead of free (the region's owner
// may still believe it has them; they come back with unmap_region).
void Engine::drop_range(uintptr_t start, uintptr_t end, bool keep_heap_dead) {
    detach_partial_units(start, end);
    unit_slack_.erase(unit_slack_.upper_bound(start), unit_slack_.upper_bound(end));
    for (const Piece& pc : space_.pieces(start, end)) {
        const size_t len = pc.end - pc.start;
        if (pc.kind == PieceKind::kFree || (pc.kind == PieceKind::kDead && keep_heap_dead)) continue;
        if (pc.kind == PieceKind::kPlain) {
            if (restore_reservation(pc.start, pc.end)) space_.assign(pc.start, pc.end, PieceKind::kFree);
            continue;
        }
        // The handler makes it inaccessible (no new fault can start, and no eviction meets a
        // PROT_NONE page) and drops what is there. A kDead piece is inaccessible already, unless
        // the kernel refused that (below): drop it again.
        const bool reserved = discard_range(pc.start, len, /*inaccessible=*/true) == 0;
        PieceKind next = keep_heap_dead && pc.kind == PieceKind::kHeap ? PieceKind::kDead : PieceKind::kFree;
        if (!reserved) {
            // The kernel refused to split the VMA (vm.max_map_count reached): the range stays
            // accessible. It must not be handed out again, or pages the program wrote there after
            // this point would show up in a fresh mapping; it stays kDead until dropped again.
            next = PieceKind::kDead;
            mem_.reservation_failures.fetch_add(1, std::memory_order_relaxed);
        }
        space_.assign(pc.start, pc.end, next);
    }
}

// Drops the pages of [start, start + len) (see FaultHandler::discard_pages); without emulation
// (disable) the same with plain system calls.
int Engine::discard_range(uintptr_t start, size_t len, bool inaccessible) {
    if (handler_ && emulating())
        return handler_->discard_pages(pages_->page_of(start), static_cast<PageId>(len >> pages_->page_shift()),
                                       inaccessible);
    const int rc = inaccessible ? sys::mprotect(ptr(start), len, PROT_NONE) : 0;
    sys::madvise(ptr(start), len, MADV_DONTNEED);
    return rc;
}

// Puts the span's reservation back over [start, end) after a mapping of the program's replaced
// it (or after a detach): PROT_NONE, no huge pages, registered as at start.
bool Engine::restore_reservation(uintptr_t start, uintptr_t end) {
    if (start >= end) return true;
    const size_t len = end - start;
    const uintptr_t r = sys::mmap(ptr(start), len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED,
                                  -1, 0);
    if (sys::is_error(r)) return false;
    sys::madvise(ptr(start), len, MADV_NOHUGEPAGE);
    if (!emulating() || mprotect_) return true;
    // Registered again tier by tier, except where a tier is local (plain memory).
    bool ok = true;
    for (uintptr_t at = start; at < end;) {
        const int tier = pages_->tier_of_address(at);
        const uintptr_t stop = std::min<uintptr_t>(end, pages_->tier_base(tier) + pages_->tier_span_bytes());
        if (!tier_local_[tier] && uffd::register_range(fd_, ptr(at), stop - at, register_wp_, nullptr) != 0) ok = false;
        at = stop;
    }
    return ok;
}

// Whether emulated memory at addr lies in a local tier (plain memory that never faults).
bool Engine::in_local_tier(uintptr_t addr) const { return tier_local_[pages_->tier_of_address(addr)]; }

// Emulated pages of [start, end) become plain memory with their contents in place.
int Engine::detach_range(uintptr_t start, uintptr_t end) {
    const int rc = handler_->detach_pages(pages_->page_of(start), static_cast<PageId>((end - start) >> pages_->page_shift()));
    space_.assign(start, end, PieceKind::kPlain);
    mem_.detaches.fetch_add(1, std::memory_order_relaxed);
    return rc;
}

// With a unit larger than the kernel's page, a call may name part of a unit. The unit has one
// state (local or remote, fetched and evicted whole), so the engine cannot drop or protect part
// of it: the emulated pieces of a unit [start, end) covers only in part become plain memory first,
// contents in place (detach_range: counted in `detaches`, no longer faulting), and the kernel
// then applies the call to exactly the bytes it names. Whole units inside the range stay emulated.
void Engine::detach_partial_units(uintptr_t start, uintptr_t end) {
    const size_t unit = cfg_.page_size;
    if (unit == sys::kBasePage || start >= end || !handler_ || !emulating()) return;
    auto detach_unit = [&](uintptr_t at) {
        for (const Piece& pc : space_.pieces(at, at + unit))
            if (emulated_kind(pc.kind)) detach_range(pc.start, pc.end);
    };
    const uintptr_t head = start & ~(unit - 1), tail = end & ~(unit - 1);  // the span is unit-aligned
    if (head != start) detach_unit(head);
    if (tail != end && (tail != head || head == start)) detach_unit(tail);
}

// ---- map_region / unmap_region ------------------------------------------------------------------

void* Engine::map_region_in_tier(size_t bytes, int tier, std::string* error) {
    InternalScope internal;
    std::lock_guard lock(control_);
    if (tier < 0 || tier >= tier_count_) {
        if (error) *error = "no tier number " + std::to_string(tier);
        return nullptr;
    }
    const size_t ps = cfg_.page_size;
    bytes = (bytes + ps - 1) / ps * ps;
    const uintptr_t at = bytes ? carve(bytes, 0, PieceKind::kHeap, tier) : 0;
    if (at && emulating()) flush_notes();
    if (!at) {
        if (error) *error = "emulated address space exhausted (or the kernel refused more mappings)";
        return nullptr;
    }
    regions_[at] = bytes;
    return ptr(at);
}

void Engine::unmap_region(void* base) {
    InternalScope internal;
    std::lock_guard lock(control_);
    if (forked_child_) return;
    auto it = regions_.find(reinterpret_cast<uintptr_t>(base));
    if (it == regions_.end()) return;
    drop_range(it->first, it->first + it->second, /*keep_heap_dead=*/false);
    regions_.erase(it);
}

// ---- mmap ------------------------------------------------------------------------------------------

bool Engine::emulates_mmap(size_t len, int prot, int flags) const {
    return len >= cfg_.mmap_min_bytes && emulates_kind(prot, flags);
}

bool Engine::emulates_kind(int prot, int flags) const {
    constexpr int kRefused = MAP_STACK | MAP_GROWSDOWN | MAP_HUGETLB | MAP_LOCKED | MAP_32BIT | MAP_FIXED |
                             MAP_FIXED_NOREPLACE;
    return cfg_.emulate_mmap && !forked_child_ && emulating() && prot == kReadWrite && (flags & MAP_ANONYMOUS) &&
           (flags & MAP_TYPE) == MAP_PRIVATE && !(flags & kRefused);
}

MemCall Engine::map_memory(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
    const bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
    if (forked_child_ || !emulating()) return {};
    if (!fixed && !emulates_mmap(len, prot, flags)) return {};
    if (fixed && !touches_span(addr, len)) return {};
    InternalScope internal;
    std::lock_guard lock(control_);
    if (forked_child_) return {};
    if (len == 0) return failed_map(EINVAL);
    // A fixed mapping takes exactly the kernel pages it names; any other whole units.
    const size_t ps = fixed ? sys::kBasePage : cfg_.page_size;
    const size_t bytes = (len + ps - 1) / ps * ps;
    if (bytes < len) return failed_map(ENOMEM);
    // The kernel's overcommit check (overcommit.h): the span could hold more than the machine has.
    const bool emulated = !fixed || emulates_kind(prot, flags & ~(MAP_FIXED | MAP_FIXED_NOREPLACE));
    if (emulated && overcommit::refuses(bytes, flags & MAP_NORESERVE)) return failed_map(ENOMEM);
    if (fixed) return map_fixed(reinterpret_cast<uintptr_t>(addr), bytes, prot, flags, fd, off);
    const uintptr_t at = carve(bytes, reinterpret_cast<uintptr_t>(addr) & ~(ps - 1), PieceKind::kEmulated);
    if (!at) {  // no room: the program gets plain memory rather than a failure
        mem_.plain_fallbacks.fetch_add(1, std::memory_order_relaxed);
        return {};
    }
    const size_t asked = (len + sys::kBasePage - 1) / sys::kBasePage * sys::kBasePage;
    if (asked != bytes) unit_slack_[at + asked] = at + bytes;
    mem_.maps.fetch_add(1, std::memory_order_relaxed);
    return ok(at);
}

// MAP_FIXED or MAP_FIXED_NOREPLACE at an address in the span. What was there goes; the new
// mapping is emulated if it is of the emulated kind and lies wholly in the span, else it is the
// program's own (kPlain) and made with the real mmap.
MemCall Engine::map_fixed(uintptr_t start, size_t bytes, int prot, int flags, int fd, off_t off) {
    if (start & (sys::kBasePage - 1)) return failed_map(EINVAL);
    const size_t unit = cfg_.page_size;
    const uintptr_t end = start + bytes;
    if (end < start) return failed_map(ENOMEM);
    const bool inside = space_.contains(start, end);
    const uintptr_t lo = std::max(start, pages_->app_base());
    const uintptr_t hi = std::min(end, pages_->app_base() + pages_->span_bytes());
    // The kernel checks MAP_FIXED_NOREPLACE even with MAP_FIXED: nothing may be mapped there.
    if ((flags & MAP_FIXED_NOREPLACE) && !(inside && space_.is_free(start, end))) return failed_map(EEXIST);
    const int plain_flags = (flags & ~MAP_FIXED_NOREPLACE) | MAP_FIXED;
    // Any size of whole units: the range was (or neighbours) emulated memory the program manages
    // itself. Part of a unit becomes the program's own mapping (see detach_partial_units).
    const bool whole_units = !(start & (unit - 1)) && !(bytes & (unit - 1));
    if (inside && whole_units && emulates_kind(prot, flags & ~(MAP_FIXED | MAP_FIXED_NOREPLACE))) {
        drop_range(start, end, /*keep_heap_dead=*/false);
        if (carve_at(start, bytes, PieceKind::kEmulated)) {
            mem_.maps.fetch_add(1, std::memory_order_relaxed);
            return ok(start);
        }
        // The kernel refused the protection change: make it the program's own mapping instead.
    }
    drop_range(lo, hi, /*keep_heap_dead=*/false);
    const uintptr_t r = sys::mmap(ptr(start), bytes, prot, plain_flags, fd, off);
    if (sys::is_error(r)) {
        if (restore_reservation(lo, hi)) space_.assign(lo, hi, PieceKind::kFree);
        return failed_map(sys::error_of(r));
    }
    space_.assign(lo, hi, PieceKind::kPlain);
    mem_.plain_fallbacks.fetch_add(1, std::memory_order_relaxed);
    return ok(r);
}

// ---- munmap ----------------------------------------------------------------------------------------

MemCall Engine::unmap_memory(void* addr, size_t len) {
    if (forked_child_ || !emulating() || !touches_span(addr, len)) return {};
    InternalScope internal;
    std::lock_guard lock(control_);
    if (forked_child_) return {};
    if (len == 0) return failed(EINVAL);
    const SpanPart part = split_at_span(addr, len, sys::kBasePage, pages_->app_base(),
                                        pages_->app_base() + pages_->span_bytes(),
                                        [](void* a, size_t n) { return sys::munmap(a, n); });
    if (part.bad) return failed(EINVAL);
    const int rc = part.rc;
    uintptr_t hi = part.hi;
    // The end of a mapping that was rounded up to the unit: the rest of the unit goes too.
    if (auto slack = unit_slack_.find(hi); slack != unit_slack_.end()) {
        hi = slack->second;
        unit_slack_.erase(slack);
    }
    drop_range(part.lo, hi, /*keep_heap_dead=*/true);
    mem_.unmaps.fetch_add(1, std::memory_order_relaxed);
    return from_int(rc);
}

// ---- madvise ---------------------------------------------------------------------------------------

MemCall Engine::advise_memory(void* addr, size_t len, int advice) {
    if (forked_child_ || !emulating() || !touches_span(addr, len)) return {};
    InternalScope internal;
    std::lock_guard lock(control_);
    if (forked_child_) return {};
    const SpanPart part = split_at_span(addr, len, sys::kBasePage, pages_->app_base(),
                                        pages_->app_base() + pages_->span_bytes(),
                                        [advice](void* a, size_t n) { return sys::madvise(a, n, advice); });
    if (part.bad) return failed(EINVAL);
    if (len == 0) return ok(0);
    const uintptr_t lo = part.lo, hi = part.hi;
    int rc = part.rc;
    // The pages read as zero afterwards (MADV_FREE may do that too); remote copies go as well.
    const bool discard = advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_DONTNEED_LOCKED;
    // Advice that would let the kernel manage emulated pages behind the engine (huge pages, KSM,
    // reclaim to swap) is accepted and ignored, as the kernel may ignore advice.
    const bool ignore = advice == MADV_HUGEPAGE || advice == MADV_NOHUGEPAGE || advice == MADV_MERGEABLE ||
                        advice == MADV_UNMERGEABLE || advice == MADV_COLLAPSE || advice == MADV_PAGEOUT ||
                        advice == MADV_COLD;
    if (discard) detach_partial_units(lo, hi);
    bool unmapped = false;
    for (const Piece& pc : space_.pieces(lo, hi)) {
        const size_t n = pc.end - pc.start;
        if (pc.kind == PieceKind::kFree || pc.kind == PieceKind::kDead) {
            unmapped = true;
        } else if (pc.kind == PieceKind::kPlain || in_local_tier(pc.start) || (!discard && !ignore)) {
            const int r = sys::madvise(ptr(pc.start), n, advice);
            if (r != 0 && rc == 0) rc = r;
        } else if (discard) {
            discard_range(pc.start, n, /*inaccessible=*/false);
            mem_.discards.fetch_add(1, std::memory_order_relaxed);
        }
    }
    if (unmapped) return failed(ENOMEM);  // as the kernel: the mapped parts were advised anyway
    return from_int(rc);
}

// ---- dime_prefetch ------------------------------------------------------------------------------

int Engine::prefetch_memory(const void* addr, size_t len) {
    if (forked_child_ || !emulating() || len == 0 || !touches_span(addr, len)) return 0;
    InternalScope internal;
    std::lock_guard lock(control_);  // range requests share the handler's one argument slot
    if (forked_child_) return 0;
    const uintptr_t a = reinterpret_cast<uintptr_t>(addr), base = pages_->app_base();
    const uintptr_t top = base + pages_->span_bytes();
    const uintptr_t end = len > top - std::min(a, top) ? top : a + len;  // clipped (no overflow)
    const uintptr_t lo = std::max(a, base) & ~(uintptr_t(cfg_.page_size) - 1);
    const uintptr_t hi = (end + cfg_.page_size - 1) & ~(uintptr_t(cfg_.page_size) - 1);
    if (lo >= hi) return 0;
    // The handler skips whatever is not emulated memory: local pages, free ranges, plain pieces.
    return handler_->prefetch_pages(pages_->page_of(lo), static_cast<PageId>((hi - lo) >> pages_->page_shift()));
}

// ---- mprotect --------------------------------------------------------------------------------------

// Emulated memory stays read-write. Any other protection turns the affected pages into plain
// memory for good (contents brought back, unregistered): UFFDIO_MOVE needs both ends with the
// same protection, and a page the program may not read cannot be copied out either.
MemCall Engine::protect_memory(void* addr, size_t len, int prot) {
    if (forked_child_ || !emulating() || !touches_span(addr, len)) return {};
    InternalScope internal;
    std::lock_guard lock(control_);
    if (forked_child_) return {};
    const SpanPart part = split_at_span(addr, len, sys::kBasePage, pages_->app_base(),
                                        pages_->app_base() + pages_->span_bytes(),
                                        [prot](void* a, size_t n) { return sys::mprotect(a, n, prot); });
    if (part.bad) return failed(EINVAL);
    if (len == 0) return ok(0);
    const uintptr_t lo = part.lo, hi = part.hi;
    int rc = part.rc;
    if (prot != kReadWrite) detach_partial_units(lo, hi);
    bool unmapped = false;
    for (const Piece& pc : space_.pieces(lo, hi)) {
        if (pc.kind == PieceKind::kFree || pc.kind == PieceKind::kDead) {
            unmapped = true;  // the kernel changes what lies before the first hole, nothing after it
            break;
        }
        if (emulated_kind(pc.kind) && !in_local_tier(pc.start)) {
            if (prot == kReadWrite) continue;
            const int r = detach_range(pc.start, pc.end);
            if (r != 0 && rc == 0) rc = r;
        }
        const int r = sys::mprotect(ptr(pc.start), pc.end - pc.start, prot);
        if (r != 0 && rc == 0) rc = r;
    }
    if (unmapped) return failed(ENOMEM);
    return from_int(rc);
}

// ---- mremap ----------------------------------------------------------------------------------------

// Emulated memory that must go where the engine does not emulate (a fixed address outside the
// span, or no room left in it): its pages come back, it becomes plain memory, and the kernel
// moves it. The data survives whatever happens.
uintptr_t Engine::move_out_of_span(uintptr_t old, size_t old_len, size_t new_len, int flags, uintptr_t new_addr,
                                   int* err) {
    const uintptr_t span_lo = pages_->app_base(), span_hi = span_lo + pages_->span_bytes();
    uintptr_t nlo = 0, nhi = 0;  // the part of a fixed destination inside the span
    if (flags & MREMAP_FIXED) {
        nlo = std::max(new_addr, span_lo);
        nhi = std::min(new_addr + new_len, span_hi);
        if (nlo < nhi) drop_range(nlo, nhi, /*keep_heap_dead=*/false);
    }
    const int rc = detach_range(old, old + old_len);
    if (rc != 0) {
        *err = -rc;
        return 0;
    }
    const uintptr_t r = sys::mremap(ptr(old), old_len, new_len, flags, ptr(new_addr));
    if (sys::is_error(r)) {
        if (nlo < nhi && restore_reservation(nlo, nhi)) space_.assign(nlo, nhi, PieceKind::kFree);
        *err = sys::error_of(r);
        return 0;
    }
    if (nlo < nhi) space_.assign(nlo, nhi, PieceKind::kPlain);
    if (r != old && !(flags & MREMAP_DONTUNMAP)) drop_range(old, old + old_len, false);  // restores the hole
    if (r == old && new_len < old_len) drop_range(old + new_len, old + old_len, false);
    mem_.plain_fallbacks.fetch_add(1, std::memory_order_relaxed);
    return r;
}

MemCall Engine::remap_memory(void* old_addr, size_t old_len, size_t new_len, int flags, void* new_addr) {
    if (forked_child_ || !emulating()) return {};
    const bool old_in = touches_span(old_addr, old_len);
    const bool new_in = (flags & MREMAP_FIXED) && touches_span(new_addr, new_len);
    if (!old_in && !new_in) return {};
    InternalScope internal;
    std::lock_guard lock(control_);
    if (forked_child_) return {};
    const size_t ps = sys::kBasePage, unit = cfg_.page_size;
    const auto old = reinterpret_cast<uintptr_t>(old_addr);
    const auto want = reinterpret_cast<uintptr_t>(new_addr);
    size_t olen = (old_len + ps - 1) / ps * ps, nlen = (new_len + ps - 1) / ps * ps;
    const bool may_move = flags & MREMAP_MAYMOVE, fixed = flags & MREMAP_FIXED, keep_old = flags & MREMAP_DONTUNMAP;
    // The kernel's argument checks, in its order.
    if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) || (old & (ps - 1))) return failed_map(EINVAL);
    if ((fixed || keep_old) && !may_move) return failed_map(EINVAL);
    if (keep_old && old_len != new_len) return failed_map(EINVAL);
    if (nlen == 0 || nlen < new_len || olen < old_len) return failed_map(EINVAL);
    if (fixed && ((want & (ps - 1)) || (want < old + olen && old < want + nlen))) return failed_map(EINVAL);
    mem_.remaps.fetch_add(1, std::memory_order_relaxed);

    const uintptr_t span_lo = pages_->app_base(), span_hi = span_lo + pages_->span_bytes();
    if (old_in && old_len == 0) return failed_map(EINVAL);  // duplicating needs a shared mapping
    if (!old_in) {
        // The program's own mapping moves to a fixed place in the span: it replaces what is there.
        const uintptr_t nlo = std::max(want, span_lo), nhi = std::min(want + nlen, span_hi);
        if (nlo >= nhi) return {};
        drop_range(nlo, nhi, false);
        const uintptr_t r = sys::mremap(old_addr, old_len, new_len, flags, new_addr);
        if (sys::is_error(r)) {
            if (restore_reservation(nlo, nhi)) space_.assign(nlo, nhi, PieceKind::kFree);
            return failed_map(sys::error_of(r));
        }
        space_.assign(nlo, nhi, PieceKind::kPlain);
        return ok(r);
    }
    if (!space_.contains(old, old + olen)) return failed_map(EFAULT);
    // The engine moves whole units: a range that starts inside one becomes plain memory (contents
    // in place) and the kernel moves it; one that starts at a unit takes its last unit whole (a
    // mapping's length was rounded up to the unit; a tail the program still uses beyond old_len
    // in that unit moves along).
    if (unit > ps && (old & (unit - 1))) {
        detach_partial_units(old, old + olen);
        for (const Piece& pc : space_.pieces(old, old + olen))
            if (emulated_kind(pc.kind)) detach_range(pc.start, pc.end);
    }
    auto parts = space_.pieces(old, old + olen);
    // A local tier's memory is plain already: from here on the kernel moves it like the program's own.
    if (std::all_of(parts.begin(), parts.end(),
                    [&](const Piece& p) { return emulated_kind(p.kind) && in_local_tier(p.start); })) {
        space_.assign(old, old + olen, PieceKind::kPlain);
        parts = space_.pieces(old, old + olen);
    }
    const bool all_plain = std::all_of(parts.begin(), parts.end(), [](const Piece& p) { return p.kind == PieceKind::kPlain; });
    const bool all_emulated = std::all_of(parts.begin(), parts.end(), [](const Piece& p) { return emulated_kind(p.kind); });
    if (all_plain) {
        // The program's own mapping in the span: the kernel does it; the span's holes are mended.
        uintptr_t nlo = 0, nhi = 0;
        if (fixed) {
            nlo = std::max(want, span_lo);
            nhi = std::min(want + nlen, span_hi);
            if (nlo < nhi) drop_range(nlo, nhi, false);
        }
        const uintptr_t r = sys::mremap(old_addr, old_len, new_len, flags, new_addr);
        if (sys::is_error(r)) {
            if (nlo < nhi && restore_reservation(nlo, nhi)) space_.assign(nlo, nhi, PieceKind::kFree);
            return failed_map(sys::error_of(r));
        }
        if (nlo < nhi) space_.assign(nlo, nhi, PieceKind::kPlain);
        if (r != old && !keep_old) drop_range(old, old + olen, false);
        if (r == old && nlen < olen) drop_range(old + nlen, old + olen, false);
        return ok(r);
    }
    if (!all_emulated) return failed_map(EFAULT);  // spans holes or mappings of different kinds
    const size_t asked = nlen, old_asked = olen;  // the new and old lengths in kernel pages
    // With units above a kernel page, the old mapping's last unit may reach beyond its end: slack
    // the program does not own, holding whatever a shrink left there. A growth hands that part to
    // the program, and it must read as zeros, as the kernel's new pages do.
    auto zero_grown_slack = [&](uintptr_t at) {
        const size_t to = std::min(asked, (old_asked + unit - 1) / unit * unit);
        if (unit > ps && old_asked < to) std::memset(ptr(at + old_asked), 0, to - old_asked);
    };
    if (unit > ps) {
        unit_slack_.erase(old + olen);
        olen = (olen + unit - 1) / unit * unit;  // emulated pieces are whole units
        nlen = (nlen + unit - 1) / unit * unit;
    }

    uintptr_t dst = 0;
    if (!fixed && keep_old) {
        dst = carve(nlen, 0, PieceKind::kEmulated);  // MREMAP_DONTUNMAP always moves
    } else if (!fixed) {
        if (asked != nlen) unit_slack_[old + asked] = old + nlen;  // where the program's mapping ends now
        if (nlen == olen) {
            zero_grown_slack(old);
            return ok(old);
        }
        if (nlen < olen) {
            drop_range(old + nlen, old + olen, /*keep_heap_dead=*/true);
            return ok(old);
        }
        if (space_.is_free(old + olen, old + nlen) && make_accessible(old + olen, old + nlen)) {
            space_.assign(old + olen, old + nlen, PieceKind::kEmulated);  // grown in place
            zero_grown_slack(old);
            return ok(old);
        }
        unit_slack_.erase(old + asked);
        if (!may_move) return failed_map(ENOMEM);
        dst = carve(nlen, 0, PieceKind::kEmulated, pages_->tier_of_address(old));  // same tier
    } else if (space_.contains(want, want + nlen) && !(want & (unit - 1))) {
        drop_range(want, want + nlen, false);
        if (!carve_at(want, nlen, PieceKind::kEmulated)) return failed_map(ENOMEM);  // the kernel refused
        dst = want;
    }
    if (!dst) {
        int err = 0;
        const uintptr_t r = move_out_of_span(old, olen, asked, flags, want, &err);
        if (r) zero_grown_slack(r);
        return r ? ok(r) : failed_map(err);
    }
    const int shift = pages_->page_shift();
    handler_->move_pages(pages_->page_of(old), static_cast<PageId>(std::min(olen, nlen) >> shift),
                         pages_->page_of(dst));
    // The old range: gone, or (MREMAP_DONTUNMAP) still mapped with every page untouched.
    if (!keep_old) drop_range(old, old + olen, /*keep_heap_dead=*/true);
    if (asked != nlen) unit_slack_[dst + asked] = dst + nlen;
    zero_grown_slack(dst);
    return ok(dst);
}

// ---- usage -------------------------------------------------------------------------------------------

Engine::SpanUsage Engine::span_usage() const {
    InternalScope internal;
    std::lock_guard lock(control_);
    SpanUsage u;
    u.used_bytes = space_.used_bytes();
    u.ranges = space_.ranges();
    u.free_ranges = space_.free_ranges();
    for (int t = 0; t < pages_->tiers(); ++t) u.touched_pages += pages_->touched_end(t) - pages_->tier_first_page(t);
    u.maps = mem_.maps.load(std::memory_order_relaxed);
    u.unmaps = mem_.unmaps.load(std::memory_order_relaxed);
    u.remaps = mem_.remaps.load(std::memory_order_relaxed);
    u.discards = mem_.discards.load(std::memory_order_relaxed);
    u.detaches = mem_.detaches.load(std::memory_order_relaxed);
    u.plain_fallbacks = mem_.plain_fallbacks.load(std::memory_order_relaxed);
    u.reservation_failures = mem_.reservation_failures.load(std::memory_order_relaxed);
    return u;
}

}  // namespace dime
