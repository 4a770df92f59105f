// lifecycle.h — what the preload's life-cycle hooks (preload/lifecycle_hooks.cpp) ask the
// engine: may this descriptor be closed or replaced, which flags dlopen() really gets, and
// whether this process descends from the one whose report path was configured.
// Runs on any application thread; may_close/may_replace also in signal handlers and vfork
// children (no allocation, no lock).
#pragma once

namespace dime::lifecycle {

// Whether the program may close `fd` (false for DiME's own descriptors: the close is then
// reported as done without happening).
bool may_close(int fd);
// Whether dup2/dup3 may put another file at number `fd` (false for DiME's own: the call then
// fails with EBADF).
bool may_replace(int fd);
// The flags dlopen() is given: without RTLD_DEEPBIND, which would bind the library's malloc
// and free to glibc's ahead of DiME's (blocks would then cross allocators).
int dlopen_flags(const char* file, int flags);

// The process that first starts DiME in a tree of processes exports DIME_ROOT_PID=<its pid>;
// a process started later under the same environment (an exec'd child, at any depth) finds
// another pid there and is a descendant, so its report goes to <report>.<pid>. Returns whether
// this process is a descendant. Call once, at start-up, while the program has one thread.
bool claim_report_root();

}  // namespace dime::lifecycle
