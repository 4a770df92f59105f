// descriptors.h — DiME's own file descriptors (the userfaultfd, the handler's eventfd): kept
// O_CLOEXEC, moved to the top of the first 1024 numbers, and registered here so the preload's
// close/close_range/closefrom/dup2/dup3 hooks can spare them when a program closes "every
// descriptor" while daemonizing.
//
// Why protect instead of re-create: closing the last reference to a userfaultfd unregisters
// every range at once, and the kernel then fills an evicted page with zeros on the next touch;
// a re-created descriptor cannot bring that data back. So DiME's descriptors must never close.
//
// Threads: adopt/release/replace on application threads (start, fork, stop); is_protected and
// close_range_sparing from any thread, also in a vfork child (a few atomic loads, no locks).
#pragma once

namespace dime::descriptors {

// How many descriptors may be protected at once (two per engine).
inline constexpr int kMaxProtected = 32;

// Moves `fd` to the highest free number below min(RLIMIT_NOFILE, 1024) with O_CLOEXEC, closes
// the original and protects the new number, which it returns. If it cannot be moved, `fd`
// itself is made O_CLOEXEC and protected. -1 if `fd` is -1.
int adopt(int fd);
// Stops protecting `fd` and closes it.
void release(int fd);
// Puts the file behind `fresh` at the protected number `fd` (dup3 as a raw syscall, so the
// hooks do not refuse it) and closes `fresh`. False (both unchanged) on failure.
bool replace(int fd, int fresh);
// Whether `fd` is one of DiME's.
bool is_protected(int fd);
// close_range(first, last, flags) that leaves DiME's descriptors open: `real` is called on each
// gap between them. Returns 0 or -1 with errno, as close_range does.
int close_range_sparing(unsigned first, unsigned last, int flags, int (*real)(unsigned, unsigned, int));

}  // namespace dime::descriptors
