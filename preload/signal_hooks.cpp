// signal_hooks.cpp — libdime.so's hooks of sigaction, signal, bsd_signal and sysv_signal. While
// the mprotect backend's SIGSEGV handler is installed (libdime/segv_chain.h), a program's SIGSEGV
// action is recorded behind it instead of replacing it: DiME serves the faults on emulated memory
// and hands every other SIGSEGV to the program's action. Everything else goes to glibc. Any
// thread, also in signal handlers (sigaction is async-signal-safe): no allocation, no lock.
#include <csignal>
#include <cerrno>

#include "real_function.h"
#include "segv_chain.h"

#define DIME_HOOK extern "C" __attribute__((visibility("default")))

extern "C" int __sigaction(int sig, const struct sigaction* act, struct sigaction* old);

namespace {

using dime::preload::Real;
using handler_t = void (*)(int);

Real<handler_t(int, handler_t)> real_signal{"signal"};
Real<handler_t(int, handler_t)> real_sysv_signal{"sysv_signal"};

bool routed(int sig) { return sig == SIGSEGV && dime::segv::installed(); }

// signal()'s two flavours as sigaction() calls: BSD (handler stays, the signal is blocked while it
// runs, calls restart) and System V (reset to default on delivery, not blocked, no restart).
handler_t set_handler(int sig, handler_t handler, bool bsd) {
    struct sigaction sa {}, old{};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    if (bsd) sigaddset(&sa.sa_mask, sig);
    sa.sa_flags = bsd ? SA_RESTART : SA_RESETHAND | SA_NODEFER;
    if (dime::segv::program_action(&sa, &old) != 0) return SIG_ERR;
    return old.sa_handler;
}

}  // namespace

DIME_HOOK int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
    if (routed(sig)) return dime::segv::program_action(act, old);
    return __sigaction(sig, act, old);
}

DIME_HOOK handler_t signal(int sig, handler_t handler) {
    if (routed(sig)) return set_handler(sig, handler, true);
    return real_signal.get()(sig, handler);
}

DIME_HOOK handler_t bsd_signal(int sig, handler_t handler) { return signal(sig, handler); }

DIME_HOOK handler_t sysv_signal(int sig, handler_t handler) {
    if (routed(sig)) return set_handler(sig, handler, false);
    return real_sysv_signal.get()(sig, handler);
}

namespace dime::preload {

// Looked up ahead of time: the first call may come from a signal handler.
void resolve_signal_hooks() {
    real_signal.resolve();
    real_sysv_signal.resolve();
}

}  // namespace dime::preload
