// uffd.h — the userfaultfd system-call layer: every ioctl DiME issues goes through here.
// Runs on whichever thread calls it; none of these functions allocate, lock or log, so the
// fault handler may use all of them. Each returns 0 or a negative errno, never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <linux/userfaultfd.h>

// Debian 12's headers predate UFFDIO_MOVE (Linux 6.8); the ABI is fixed, so define it here.
#ifndef UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
    __u64 mode;
    __s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

namespace dime::uffd {

// What the kernel granted when the descriptor was opened.
struct Capabilities {
    bool move = false;           // UFFDIO_MOVE: zero-copy eviction and re-fetch
    bool write_protect = false;  // UFFDIO_REGISTER_MODE_WP on anonymous memory
    bool via_dev_node = false;   // opened through /dev/userfaultfd rather than the syscall
};

// How a descriptor is obtained: the system call, with or without UFFD_USER_MODE_ONLY (which
// serves only faults taken in user mode, and which the kernel grants more widely), or
// /dev/userfaultfd (Linux >= 6.1; its descriptors trap kernel-mode accesses too).
enum class Route { kSyscall, kSyscallUserModeOnly, kDevNode };
// A raw descriptor (O_CLOEXEC | O_NONBLOCK, API not yet negotiated) by one route, or a negative
// errno. For probing (dime doctor); the engine uses open_descriptor.
int open_route(Route route);

// Opens a userfaultfd that also traps kernel-mode accesses (no UFFD_USER_MODE_ONLY), first
// with the syscall and then through /dev/userfaultfd, and negotiates the API with the
// optional features this kernel has. Returns the descriptor (O_CLOEXEC | O_NONBLOCK) or a
// negative errno; on failure `why` (if given) receives a static, user-facing explanation.
int open_descriptor(Capabilities* caps, const char** why);

// Registers [addr, addr+len) for MISSING faults, plus write-protect faults when `with_wp`.
// `ioctls` receives the bitmask of range ioctls the kernel allows on the range.
int register_range(int fd, void* addr, size_t len, bool with_wp, uint64_t* ioctls);
int unregister_range(int fd, void* addr, size_t len);

// Maps a fresh page at `dst` filled from `src` (kernel-side copy). -EEXIST: already mapped.
// `write_protect`: the new page is mapped write-protected (UFFDIO_COPY_MODE_WP; the range must be
// registered for WP), so that the first write to it takes a WP fault.
int copy(int fd, uintptr_t dst, uintptr_t src, size_t len, bool wake = true, bool write_protect = false);
// Maps the shared zero page at `dst` (read-only until written; the kernel handles the COW).
int zeropage(int fd, uintptr_t dst, size_t len, bool wake = true);
// Moves the pages at `src` to `dst` without copying. -EBUSY: the page is shared (after fork).
// `moved` (if given) receives the bytes moved, also when the call failed part-way.
int move(int fd, uintptr_t dst, uintptr_t src, size_t len, bool wake = true, int64_t* moved = nullptr);
// Moves the pages of [src, src+len) to dst, skipping pages absent at the source
// (UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES), without waking anyone. Both ranges must each lie in one VMA.
// 0 when all of it was done; else a negative errno, with *done set to the bytes done before it.
int move_range(int fd, uintptr_t dst, uintptr_t src, size_t len, size_t* done);
// Sets or clears write protection on a registered WP range. Clearing wakes the threads
// blocked on it unless `wake_on_clear` is false; setting never wakes (the kernel refuses
// UFFDIO_WRITEPROTECT_MODE_DONTWAKE together with MODE_WP, with EINVAL).
int write_protect(int fd, uintptr_t addr, size_t len, bool protect, bool wake_on_clear = true);
// Moves [src, src+len) (resident, registered for WP) to the empty dst by copy: write-protects
// src, copies it to dst, drops src, so that no write is lost between the copy and the drop (the
// writer waits on the protection, then faults on the missing page). False, with src intact and
// unprotected, when the protection or the copy failed. For pages UFFDIO_MOVE refuses (EBUSY).
bool copy_out_protected(int fd, uintptr_t src, uintptr_t dst, size_t len);
// Wakes threads blocked on faults in the range without mapping anything.
int wake(int fd, uintptr_t addr, size_t len);

}  // namespace dime::uffd
