// segv_chain.h — the process's SIGSEGV handler for the mprotect backend, and the program's own
// SIGSEGV action chained behind it.
//
// A fault on a page an mprotect backend protected is served by that backend in the faulting
// thread (MprotectBackend::serve_fault) and the access is retried. Every other SIGSEGV goes to
// the action the program wanted: the one in place when DiME installed its handler, or the one
// the program set since through sigaction()/signal() (the preload routes those calls here, so
// the kernel keeps DiME's handler in place).
//
// Threads and signals: the handler runs on whichever thread faulted, with every signal blocked
// (its sa_mask) while DiME works; it never allocates and never takes a lock a fault could need.
// The rest (install, enlist, program_action) runs on application threads and is
// async-signal-safe too: a program may call sigaction() in a signal handler.
#pragma once

#include <csignal>
#include <string>

namespace dime {
class MprotectBackend;
}

namespace dime::segv {

// Installs DiME's handler (SA_SIGINFO | SA_ONSTACK, every signal blocked while it runs) unless
// it is in place already; the action it replaces becomes the program's. False + *error if the
// kernel refused.
bool install(std::string* error);
// Whether DiME's handler has been installed in this process (the preload then routes the
// program's SIGSEGV actions through program_action).
bool installed();
// The backends whose faults the handler serves (fixed slots: no allocation). False if full.
bool enlist(MprotectBackend* backend);
void delist(MprotectBackend* backend);

// sigaction(SIGSEGV, act, old) as the program sees it while DiME's handler is installed: `old`
// receives the program's action, `act` (if given) replaces it. The kernel's disposition stays
// DiME's. 0, or -1 with errno (EINVAL for flags the kernel would refuse).
int program_action(const struct sigaction* act, struct sigaction* old);

// Whether every signal is blocked on this thread because it runs DiME's handler (then a
// critical section needs no sigprocmask of its own). Cleared while the program's chained
// handler runs.
bool signals_blocked_here();

}  // namespace dime::segv
