// uffd_settle.cpp — see uffd_settle.h.
#include "uffd_settle.h"

#include <cerrno>
#include <sys/mman.h>

#include "sys_memory.h"
#include "uffd.h"

namespace dime::uffd {
namespace {

constexpr size_t kMaxBasePages = 512;  // a 2 MiB unit, the largest page_size

// One base page from src to dst (dst empty): MOVE, or for a source nobody writes, COPY + drop.
bool move_base_page(int fd, uintptr_t dst, uintptr_t src, bool src_live) {
    if (move(fd, dst, src, sys::kBasePage, /*wake=*/false) == 0) return true;
    if (src_live) return false;
    const int rc = copy(fd, dst, src, sys::kBasePage, /*wake=*/false);
    if (rc != 0 && rc != -EEXIST) return false;
    sys::madvise(reinterpret_cast<void*>(src), sys::kBasePage, MADV_DONTNEED);
    return true;
}

}  // namespace

Settled settle_move(int fd, uintptr_t dst, uintptr_t src, size_t len, SettleMode mode, size_t* uncounted) {
    const size_t n = len / sys::kBasePage;
    unsigned char at_src[kMaxBasePages], at_dst[kMaxBasePages];
    if (uncounted) *uncounted = 0;
    if (n == 0 || n > kMaxBasePages || syscall(SYS_mincore, src, len, at_src) != 0 ||
        syscall(SYS_mincore, dst, len, at_dst) != 0)
        return Settled::kStayed;
    size_t holes = 0, refused = 0, found = 0;
    for (size_t i = 0; i < n; ++i) {
        const uintptr_t s = src + i * sys::kBasePage, d = dst + i * sys::kBasePage;
        const bool in_src = at_src[i] & 1, in_dst = at_dst[i] & 1;
        at_dst[i] = 0;  // from here: 1 = this base page is at dst now (and must come back on undo)
        if (!in_src && !in_dst) {
            ++holes;
        } else if (!in_src) {
            ++found;
            at_dst[i] = 1;
        } else if (in_dst && !mode.src_wins) {  // the destination's copy is the data
            sys::madvise(reinterpret_cast<void*>(s), sys::kBasePage, MADV_DONTNEED);
            at_dst[i] = 1;
        } else {
            if (in_dst) sys::madvise(reinterpret_cast<void*>(d), sys::kBasePage, MADV_DONTNEED);  // stale
            if (move_base_page(fd, d, s, mode.src_live))
                at_dst[i] = 1;
            else
                ++refused;
        }
    }
    if (uncounted) *uncounted = found;
    if (refused == 0) return holes == n ? Settled::kHole : Settled::kMoved;
    // Part of the unit would stay behind: bring what went over back (the destination is not
    // written by anyone, so a copy back is safe), so that the unit is whole at its source.
    for (size_t i = 0; i < n; ++i)
        if (at_dst[i]) move_base_page(fd, src + i * sys::kBasePage, dst + i * sys::kBasePage, /*src_live=*/false);
    return Settled::kStayed;
}

}  // namespace dime::uffd
