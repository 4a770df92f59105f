// segv_chain.cpp — DiME's SIGSEGV handler and the program's action behind it (see segv_chain.h).
// The handler runs in signal context on the faulting thread: no allocation, no lock but the
// backend's own signal-safe one, errno preserved.
#include "segv_chain.h"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <pthread.h>
#include <ucontext.h>

#include "clock.h"
#include "mprotect_backend.h"

// glibc's sigaction under its exported internal name: the preload interposes `sigaction` itself.
extern "C" int __sigaction(int sig, const struct sigaction* act, struct sigaction* old);

namespace dime::segv {
namespace {

constexpr int kMaxBackends = 16;
std::atomic<MprotectBackend*> g_backends[kMaxBackends];
std::atomic<bool> g_installed{false};
std::mutex g_install_lock;  // Engine::start only, never in signal context
thread_local bool t_blocked __attribute__((tls_model("initial-exec"))) = false;

constexpr size_t kMaskWords = sizeof(sigset_t) / sizeof(uint64_t);

// The program's action, read by the handler while another thread may replace it: a sequence lock
// over relaxed atomics, so a reader never sees half an action and never waits for a writer that
// a signal interrupted (writers block signals, and readers only retry).
struct Action {
    void* handler = nullptr;  // sa_handler or sa_sigaction (one union in glibc); SIG_DFL is 0
    int flags = 0;
    uint64_t mask[kMaskWords] = {};
};

struct SharedAction {
    std::atomic<uint32_t> seq{0};
    std::atomic<bool> writing{false};
    std::atomic<void*> handler{nullptr};
    std::atomic<int> flags{0};
    std::atomic<uint64_t> mask[kMaskWords] = {};
} g_program;

Action read_program_action() {
    Action a;
    for (;;) {
        const uint32_t before = g_program.seq.load(std::memory_order_acquire);
        if (before & 1) {
            cpu_relax();
            continue;
        }
        a.handler = g_program.handler.load(std::memory_order_relaxed);
        a.flags = g_program.flags.load(std::memory_order_relaxed);
        for (size_t i = 0; i < kMaskWords; ++i) a.mask[i] = g_program.mask[i].load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (g_program.seq.load(std::memory_order_relaxed) == before) return a;
    }
}

void write_program_action(const Action& a) {
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved);
    while (g_program.writing.exchange(true, std::memory_order_acquire)) cpu_relax();
    const uint32_t seq = g_program.seq.load(std::memory_order_relaxed);
    g_program.seq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    g_program.handler.store(a.handler, std::memory_order_relaxed);
    g_program.flags.store(a.flags, std::memory_order_relaxed);
    for (size_t i = 0; i < kMaskWords; ++i) g_program.mask[i].store(a.mask[i], std::memory_order_relaxed);
    g_program.seq.store(seq + 2, std::memory_order_release);
    g_program.writing.store(false, std::memory_order_release);
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

Action from_sigaction(const struct sigaction& sa) {
    Action a;
    a.handler = reinterpret_cast<void*>(sa.sa_handler);
    a.flags = sa.sa_flags;
    std::memcpy(a.mask, &sa.sa_mask, sizeof a.mask);
    return a;
}

// Whether the faulting access was a write. On a page DiME mapped read-only (a clean page with
// writeback) every fault is one; elsewhere it decides only whether a fetched page may stay clean.
bool is_write(const void* context) {
#if defined(__x86_64__)
    return (static_cast<const ucontext_t*>(context)->uc_mcontext.gregs[REG_ERR] & 0x2) != 0;
#else
    (void)context;
    return true;  // unknown: a write (the page is then dirty, which costs write-back, never data)
#endif
}

void on_segv(int sig, siginfo_t* info, void* context);

// Hands the signal to the program's action, as the kernel would have delivered it.
void chain(int sig, siginfo_t* info, void* context) {
    const Action a = read_program_action();
    const bool from_kernel = info != nullptr && info->si_code > 0;  // a fault, not kill()/raise()
    const auto handler = reinterpret_cast<void (*)(int)>(a.handler);
    if (handler == SIG_IGN && !from_kernel) return;
    if (handler == SIG_DFL || handler == SIG_IGN) {
        // The default action (the kernel also forces it on an ignored fault): DiME's handler
        // steps aside and the signal comes again, to the kernel's default this time: the same
        // fault when the instruction runs again, or the same signal raised once more.
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        __sigaction(sig, &dfl, nullptr);
        g_installed.store(false, std::memory_order_release);
        if (!from_kernel) raise(sig);  // pending (blocked here) until this handler returns
        return;
    }
    if (a.flags & SA_RESETHAND) write_program_action(Action{});
    // The mask the program's handler expects, except that SIGSEGV stays deliverable: its handler
    // may touch emulated memory that is not local, and that fault must reach DiME's handler.
    sigset_t mask;
    std::memcpy(&mask, &static_cast<ucontext_t*>(context)->uc_sigmask, sizeof mask);
    uint64_t words[kMaskWords];
    std::memcpy(words, &mask, sizeof words);
    for (size_t i = 0; i < kMaskWords; ++i) words[i] |= a.mask[i];
    std::memcpy(&mask, words, sizeof mask);
    sigdelset(&mask, SIGSEGV);
    pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    if (a.flags & SA_SIGINFO)
        reinterpret_cast<void (*)(int, siginfo_t*, void*)>(a.handler)(sig, info, context);
    else
        handler(sig);
}

void on_segv(int sig, siginfo_t* info, void* context) {
    const int saved_errno = errno;
    const bool outer = t_blocked;
    t_blocked = true;  // every signal is blocked while this runs (sa_mask)
    // SEGV_ACCERR: a mapped page without the access right, which is what a protected page is.
    if (info != nullptr && info->si_code == SEGV_ACCERR) {
        const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
        for (auto& slot : g_backends) {
            MprotectBackend* b = slot.load(std::memory_order_acquire);
            if (b == nullptr || !b->owns(addr)) continue;
            if (b->serve_fault(addr, is_write(context))) {
                t_blocked = outer;
                errno = saved_errno;
                return;  // the access runs again and finds its page
            }
            break;
        }
    }
    t_blocked = false;  // the program's handler runs with its own mask
    chain(sig, info, context);
    t_blocked = outer;
    errno = saved_errno;
}

}  // namespace

bool install(std::string* error) {
    std::lock_guard lock(g_install_lock);
    struct sigaction current {};
    if (__sigaction(SIGSEGV, nullptr, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
        current.sa_sigaction == &on_segv) {
        g_installed.store(true, std::memory_order_release);
        return true;
    }
    write_program_action(from_sigaction(current));
    struct sigaction ours {};
    ours.sa_sigaction = &on_segv;
    // SA_ONSTACK: a program's stack-overflow handler needs its alternate stack, and ours runs
    // first. No SA_NODEFER: a SIGSEGV inside DiME's own work would be a bug, and the kernel then
    // ends the process instead of recursing. Every signal blocked: a thread holding the backend's
    // lock must not run a handler that could fault on emulated memory.
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigfillset(&ours.sa_mask);
    if (__sigaction(SIGSEGV, &ours, nullptr) != 0) {
        if (error) *error = std::string("cannot install the SIGSEGV handler of the mprotect backend: ") + strerror(errno);
        return false;
    }
    g_installed.store(true, std::memory_order_release);
    return true;
}

bool installed() { return g_installed.load(std::memory_order_acquire); }

bool enlist(MprotectBackend* backend) {
    for (auto& slot : g_backends) {
        MprotectBackend* expected = nullptr;
        if (slot.compare_exchange_strong(expected, backend, std::memory_order_acq_rel)) return true;
    }
    return false;
}

void delist(MprotectBackend* backend) {
    for (auto& slot : g_backends) {
        MprotectBackend* expected = backend;
        slot.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel);
    }
}

int program_action(const struct sigaction* act, struct sigaction* old) {
    if (old != nullptr) {
        const Action a = read_program_action();
        std::memset(old, 0, sizeof *old);
        old->sa_handler = reinterpret_cast<void (*)(int)>(a.handler);
        old->sa_flags = a.flags;
        std::memcpy(&old->sa_mask, a.mask, sizeof a.mask);
    }
    if (act != nullptr) write_program_action(from_sigaction(*act));
    return 0;
}

bool signals_blocked_here() { return t_blocked; }

}  // namespace dime::segv
