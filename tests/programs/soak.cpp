// soak.cpp — the soak test, run under libdime.so with a local pool a small fraction of its
// footprint (tests/soak.cmake). Worker threads make random malloc / calloc / aligned / dime_malloc /
// new[] / mmap allocations over several tiers, and realloc, mremap, free, munmap, read, write,
// memcpy and memmove them, move bytes through a pipe (the kernel reads and writes emulated pages),
// and evict and prefetch them — every byte checked against a shadow copy in memory DiME never
// sees. A chaos thread resizes the pool, evicts ranges (everything, now and then) and forks:
// each child checks a snapshot of blocks held still for the fork, then works on them under its own
// engine. A watchdog ends a stuck run naming what was stuck. At the end every block is checked and
// freed, and the process must hold the descriptors and threads it started with.
//
// Prints "soak: N ops, M mismatches" and exits 0 only with no mismatch, no failed child and no
// leak. A mismatch prints where the wrong bytes lie (address, block offset, page, unit, the
// mapping), whether the page reads zeros, what it reads on a second look and after a fresh fetch,
// and what the block went through before.
//
// Usage: soak [--seconds S] [--threads T] [--slots N] [--unit BYTES] [--pool PAGES] [--seed X]
//             [--tiers a:b:...]
// DIME_SOAK_SECONDS, when set, replaces --seconds (a longer run by hand).
#include <dime.h>

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "soak_support.h"

namespace {

using soak::say;

// ---- settings ------------------------------------------------------------------------------------

struct Settings {
    double seconds = 40;
    int threads = 4;
    long slots_per_thread = 128;
    size_t unit = 4096;   // DiME's page_size, for the mismatch report
    long pool = 256;      // local_npages the run was started with (the resizes return to it)
    uint64_t seed = 0;
    const char* tiers[8] = {"remote"};
    int tier_count = 1;
};
Settings g_set;

constexpr size_t kMaxBlock = 512 * 1024;
constexpr size_t kMmapMin = 64 * 1024;  // mmap_min_bytes' default: smaller mmaps are not emulated
constexpr size_t kPipeChunk = 16 * 1024;
constexpr int kMaxThreads = 16;

// ---- slots: a block under test and its shadow ------------------------------------------------------

enum Kind : uint8_t { kNone, kMalloc, kCalloc, kMemalign, kAligned, kTier, kNewArray, kMmap, kKinds };
const char* const kKindName[kKinds] = {"none", "malloc", "calloc", "posix_memalign", "aligned_alloc",
                                       "dime_malloc", "new[]", "mmap"};

struct Event {
    uint64_t op;        // the thread's op number
    const char* what;   // operation name
    uint32_t from, len; // byte range, or sizes
    int8_t thread;
};
constexpr int kHistory = 10;

struct Slot {
    std::atomic<int> owner{0};  // 0 free, else thread + 1 (the chaos thread is threads + 1)
    unsigned char* block = nullptr;
    size_t size = 0;
    Kind kind = kNone;
    unsigned char* shadow = nullptr;  // kMaxBlock bytes of plain memory
    Event history[kHistory] = {};
    uint32_t history_next = 0;
    void note(int thread, uint64_t op, const char* what, size_t from, size_t len) {
        history[history_next++ % kHistory] = {op, what, uint32_t(from), uint32_t(len), int8_t(thread)};
    }
};
Slot* g_slots = nullptr;  // plain memory
long g_slot_count = 0;

bool try_own(Slot& s, int who) {
    int expected = 0;
    return s.owner.compare_exchange_strong(expected, who + 1, std::memory_order_acquire);
}
void release(Slot& s) { s.owner.store(0, std::memory_order_release); }

// ---- what the run counts ---------------------------------------------------------------------------

enum Op { kAlloc, kFree, kRealloc, kRead, kWrite, kCopy, kMove, kPipe, kVerify, kEvictVerify, kPrefetch, kOps };
const char* const kOpName[kOps] = {"alloc", "free", "realloc", "read", "write", "memcpy", "memmove", "pipe",
                                   "verify", "evict+verify", "prefetch"};
std::atomic<uint64_t> g_op_count[kOps];
std::atomic<uint64_t> g_mismatches{0}, g_alloc_failures{0}, g_busy{0};
std::atomic<uint64_t> g_forks{0}, g_child_failures{0}, g_resizes{0}, g_evict_calls{0}, g_evicted_pages{0};
std::atomic<uint64_t> g_evict_all{0}, g_chaos_prefetches{0};
std::atomic<bool> g_stop{false};
std::atomic<uintptr_t> g_lo{UINTPTR_MAX}, g_hi{0};  // the range blocks have been seen in
char g_config[1024] = "";

// What the chaos thread did lately, for the mismatch report.
struct ChaosEvent {
    std::atomic<uint64_t> at_ns{0};
    std::atomic<const char*> what{""};
    std::atomic<long> arg{0};
};
constexpr int kChaosHistory = 12;
ChaosEvent g_chaos[kChaosHistory];
std::atomic<uint32_t> g_chaos_next{0};
void chaos_note(const char* what, long arg) {
    ChaosEvent& e = g_chaos[g_chaos_next.fetch_add(1) % kChaosHistory];
    e.what.store(what);
    e.arg.store(arg);
    e.at_ns.store(soak::now_ns());
}

soak::Activity g_acts[kMaxThreads + 1];  // workers, then the chaos thread

void seen(const void* p, size_t n) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    uintptr_t lo = g_lo.load(std::memory_order_relaxed);
    while (a < lo && !g_lo.compare_exchange_weak(lo, a)) {
    }
    uintptr_t hi = g_hi.load(std::memory_order_relaxed);
    while (a + n > hi && !g_hi.compare_exchange_weak(hi, a + n)) {
    }
}

// ---- checking ------------------------------------------------------------------------------------

const char* tier_name(const void* p) {
    const char* t = dime_tier_of(p);
    return t ? t : "plain memory";
}

// The slot's history and the chaos thread's recent actions, newest first.
void describe_history(const Slot& s, char* out, size_t cap) {
    size_t used = 0;
    for (int i = 1; i <= kHistory && used + 80 < cap; ++i) {
        const Event& e = s.history[(s.history_next - uint32_t(i)) % kHistory];
        if (e.what == nullptr) break;
        used += size_t(snprintf(out + used, cap - used, "%s[t%d op %llu %s %u+%u]", i > 1 ? " " : "", e.thread,
                                (unsigned long long)e.op, e.what, e.from, e.len));
    }
    const uint64_t now = soak::now_ns();
    const uint32_t next = g_chaos_next.load();
    used += size_t(snprintf(out + used, cap - used, "; chaos:"));
    for (uint32_t i = 1; i <= kChaosHistory && i <= next && used + 80 < cap; ++i) {
        const ChaosEvent& e = g_chaos[(next - i) % kChaosHistory];
        const uint64_t at = e.at_ns.load();
        used += size_t(snprintf(out + used, cap - used, " [%s %ld, %.1f ms ago]", e.what.load(), e.arg.load(),
                                at && now > at ? double(now - at) / 1e6 : 0.0));
    }
}

// Compares [off, off + len) of the slot's block with its shadow; on a difference prints the
// report, counts a mismatch and takes the block's bytes as the new truth (so one loss counts once).
bool check(Slot& s, long index, size_t off, size_t len, const char* who_what, int thread, uint64_t op) {
    if (len == 0 || std::memcmp(s.block + off, s.shadow + off, len) == 0) return true;
    char who[128], what[256], history[2048];
    snprintf(who, sizeof who, "%s %d, op %llu (%s)", thread < g_set.threads ? "thread" : thread == 99 ? "fork child" : "chaos",
             thread, (unsigned long long)op, who_what);
    snprintf(what, sizeof what, "slot %ld: block %p (%zu bytes, %s, tier %s)", index, (void*)s.block, s.size,
             kKindName[s.kind], tier_name(s.block));
    describe_history(s, history, sizeof history);
    soak::Mismatch m{who, what, s.block + off, s.shadow + off, len, off, g_set.unit, &dime_evict, history, g_config};
    soak::report_mismatch(m);
    g_mismatches.fetch_add(1);
    std::memcpy(s.shadow + off, s.block + off, len);
    return false;
}

// ---- allocation ----------------------------------------------------------------------------------

size_t pick_size(soak::Rng& rng) {
    const uint64_t r = rng.below(100);
    if (r < 35) return rng.log_size(1, 512);
    if (r < 65) return rng.log_size(512, 8192);
    if (r < 93) return rng.log_size(8192, 64 * 1024);
    return rng.log_size(64 * 1024, kMaxBlock);
}

size_t page_round(size_t n) { return (n + soak::kKernelPage - 1) & ~(soak::kKernelPage - 1); }

// Allocates a block for an empty slot; the shadow learns what the block must hold.
void allocate(Slot& s, soak::Rng& rng) {
    size_t n = pick_size(rng);
    Kind kind = Kind(kMalloc + rng.below(kMmap - kMalloc + 1));
    if (kind == kMmap && n < kMmapMin) kind = kMalloc;
    errno = 0;
    void* p = nullptr;
    switch (kind) {
        case kMalloc: p = malloc(n); break;
        case kCalloc: {
            const size_t count = 1 + rng.below(4);
            n = n / count ? n / count : 1;
            p = calloc(count, n);
            n *= count;
            break;
        }
        case kMemalign: {
            const size_t align = size_t(16) << rng.below(9);  // 16 .. 4096
            if (posix_memalign(&p, align, n) != 0) p = nullptr;
            break;
        }
        case kAligned: {
            const size_t align = size_t(64) << rng.below(5);  // 64 .. 1024
            n = (n + align - 1) / align * align;
            p = aligned_alloc(align, n);
            break;
        }
        case kTier: p = dime_malloc(n, g_set.tiers[rng.below(uint64_t(g_set.tier_count))]); break;
        case kNewArray: p = new (std::nothrow) unsigned char[n]; break;
        case kMmap: {
            p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) p = nullptr;
            break;
        }
        default: break;
    }
    if (p == nullptr) {
        g_alloc_failures.fetch_add(1);
        return;
    }
    s.block = static_cast<unsigned char*>(p);
    s.size = n;
    s.kind = kind;
    seen(p, n);
    if (kind == kCalloc || kind == kMmap) {
        std::memset(s.shadow, 0, page_round(n));  // the fresh block (and a mapping's last page) reads zeros
    } else {
        rng.fill(s.shadow, n);
        std::memcpy(s.block, s.shadow, n);
    }
}

void release_block(Slot& s) {
    switch (s.kind) {
        case kNewArray: delete[] s.block; break;
        case kMmap: munmap(s.block, s.size); break;
        default: free(s.block); break;
    }
    // The shadow's pages go back to the kernel, all of them (a shrunk block left bytes beyond its
    // end): zeros from here on. The raw call, not the preload's madvise.
    syscall(SYS_madvise, s.shadow, kMaxBlock, MADV_DONTNEED);
    s.block = nullptr;
    s.size = 0;
    s.kind = kNone;
}

// A new size for the block; realloc (or mremap) keeps the old contents up to the smaller size.
void resize(Slot& s, long index, soak::Rng& rng, int thread, uint64_t op) {
    if (s.kind == kNewArray) return;
    size_t n = pick_size(rng);
    unsigned char* q;
    if (s.kind == kMmap) {
        n = n < soak::kKernelPage ? soak::kKernelPage : n;
        void* r = mremap(s.block, page_round(s.size), page_round(n), MREMAP_MAYMOVE);
        q = r == MAP_FAILED ? nullptr : static_cast<unsigned char*>(r);
        if (q) n = page_round(n);  // the whole last page is the program's: zeros beyond the old end
    } else {
        q = static_cast<unsigned char*>(realloc(s.block, n));
    }
    if (q == nullptr) {
        g_alloc_failures.fetch_add(1);
        return;
    }
    const size_t old = s.kind == kMmap ? page_round(s.size) : s.size;
    s.block = q;
    seen(q, n);
    const size_t kept = old < n ? old : n;
    s.size = n;
    check(s, index, 0, kept, "contents kept by realloc", thread, op);
    if (n > kept) {
        if (s.kind == kMmap) {
            std::memset(s.shadow + kept, 0, n - kept);  // grown mapping: zeros
        } else {
            rng.fill(s.shadow + kept, n - kept);
            std::memcpy(s.block + kept, s.shadow + kept, n - kept);
        }
    }
    if (s.kind == kCalloc) s.kind = kMalloc;
}

// ---- the worker's operations ---------------------------------------------------------------------

struct Worker {
    int id;
    soak::Rng rng;
    int pipe_fd[2];
    uint64_t op = 0;
};

void pick_range(soak::Rng& rng, size_t size, size_t max_len, size_t* off, size_t* len) {
    *off = rng.below(size);
    size_t room = size - *off;
    *len = 1 + rng.below(room < max_len ? room : max_len);
}

void write_range(Slot& s, soak::Rng& rng, size_t off, size_t len) {
    switch (rng.below(3)) {
        case 0:  // bulk: memcpy from the shadow
            rng.fill(s.shadow + off, len);
            std::memcpy(s.block + off, s.shadow + off, len);
            break;
        case 1: {  // memset
            const int v = int(rng.below(256));
            std::memset(s.shadow + off, v, len);
            std::memset(s.block + off, v, len);
            break;
        }
        default: {  // sparse single-byte stores, one per 509 bytes: many pages, few bytes each
            volatile unsigned char* b = s.block;
            for (size_t i = off; i < off + len; i += 509) {
                const auto v = static_cast<unsigned char>(rng.next());
                s.shadow[i] = v;
                b[i] = v;
            }
        }
    }
}

// One operation on one slot (and, for memcpy, a second one).
void operate(Worker& w) {
    const long index = long(w.rng.below(uint64_t(g_slot_count)));
    Slot& s = g_slots[index];
    if (!try_own(s, w.id)) {
        g_busy.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    soak::Activity& act = g_acts[w.id];
    ++w.op;
    Op op;
    if (s.block == nullptr) {
        op = kAlloc;
    } else {
        const uint64_t r = w.rng.below(100);
        op = r < 9 ? kFree : r < 17 ? kRealloc : r < 40 ? kRead : r < 60 ? kWrite : r < 69 ? kCopy : r < 74 ? kMove
           : r < 80 ? kPipe : r < 86 ? kVerify : r < 92 ? kEvictVerify : r < 94 ? kPrefetch : kRead;
    }
    act.begin(kOpName[op], s.block, s.size, index);
    size_t off = 0, len = 0;
    switch (op) {
        case kAlloc:
            allocate(s, w.rng);
            if (s.block) {
                s.note(w.id, w.op, kKindName[s.kind], 0, s.size);
                if (s.kind == kCalloc || s.kind == kMmap) check(s, index, 0, s.size, "a fresh block reads zeros", w.id, w.op);
            }
            break;
        case kFree:
            check(s, index, 0, s.size, "before free", w.id, w.op);
            s.note(w.id, w.op, "free", 0, s.size);
            release_block(s);
            break;
        case kRealloc: {
            const size_t before = s.size;
            resize(s, index, w.rng, w.id, w.op);
            s.note(w.id, w.op, "realloc", uint32_t(before), s.size);
            break;
        }
        case kRead:
            pick_range(w.rng, s.size, 64 * 1024, &off, &len);
            check(s, index, off, len, "read", w.id, w.op);
            break;
        case kWrite:
            pick_range(w.rng, s.size, 64 * 1024, &off, &len);
            write_range(s, w.rng, off, len);
            s.note(w.id, w.op, "write", off, len);
            break;
        case kCopy: {
            const long other_index = long(w.rng.below(uint64_t(g_slot_count)));
            Slot& o = g_slots[other_index];
            if (other_index == index || !try_own(o, w.id)) break;
            if (o.block) {
                size_t src = 0;
                pick_range(w.rng, o.size, s.size, &src, &len);
                off = w.rng.below(s.size - len + 1);
                if (check(o, other_index, src, len, "memcpy source", w.id, w.op)) {
                    std::memcpy(s.block + off, o.block + src, len);
                    std::memcpy(s.shadow + off, o.shadow + src, len);
                    s.note(w.id, w.op, "memcpy in", off, len);
                }
            }
            release(o);
            break;
        }
        case kMove: {
            pick_range(w.rng, s.size, 32 * 1024, &off, &len);
            const size_t dst = w.rng.below(s.size - len + 1);
            std::memmove(s.block + dst, s.block + off, len);
            std::memmove(s.shadow + dst, s.shadow + off, len);
            s.note(w.id, w.op, "memmove", dst, len);
            break;
        }
        case kPipe: {
            // write(2) reads the block, read(2) writes it: the kernel faults on emulated pages.
            pick_range(w.rng, s.size, kPipeChunk, &off, &len);
            const size_t dst = w.rng.below(s.size - len + 1);
            const ssize_t wrote = write(w.pipe_fd[1], s.block + off, len);
            size_t got = 0;
            while (wrote > 0 && got < size_t(wrote)) {
                const ssize_t r = read(w.pipe_fd[0], s.block + dst + got, size_t(wrote) - got);
                if (r <= 0) break;
                got += size_t(r);
            }
            if (wrote != ssize_t(len) || got != len) {
                say("soak: thread %d: pipe round trip of %zu bytes moved %zd/%zu: %s\n", w.id, len, wrote, got,
                    strerror(errno));
                g_mismatches.fetch_add(1);
                std::memcpy(s.shadow, s.block, s.size);  // resynchronised: the failure is counted
            } else {
                std::memmove(s.shadow + dst, s.shadow + off, len);
            }
            s.note(w.id, w.op, "pipe", dst, len);
            break;
        }
        case kVerify:
            check(s, index, 0, s.size, "verify", w.id, w.op);
            break;
        case kEvictVerify: {
            const long pages = dime_evict(s.block, s.size);
            g_evict_calls.fetch_add(1, std::memory_order_relaxed);
            g_evicted_pages.fetch_add(uint64_t(pages > 0 ? pages : 0), std::memory_order_relaxed);
            s.note(w.id, w.op, "dime_evict", 0, s.size);
            check(s, index, 0, s.size, "read back after dime_evict", w.id, w.op);
            break;
        }
        case kPrefetch:
            dime_prefetch(s.block, s.size);
            s.note(w.id, w.op, "dime_prefetch", 0, s.size);
            pick_range(w.rng, s.size, 64 * 1024, &off, &len);
            check(s, index, off, len, "read after dime_prefetch", w.id, w.op);
            break;
        default: break;
    }
    release(s);
    g_op_count[op].fetch_add(1, std::memory_order_relaxed);
    act.end();
}

void worker_main(Worker* w) {
    g_acts[w->id].tid.store(int(gettid()));
    while (!g_stop.load(std::memory_order_relaxed)) operate(*w);
    g_acts[w->id].tid.store(0);
}

// ---- the chaos thread: pool resizes, evictions, fork --------------------------------------------------

volatile sig_atomic_t g_child_step = 0;
const char* const kChildSteps[] = {"starting", "checking the snapshot", "rewriting the blocks", "reallocating",
                                   "allocating anew", "freeing", "counting descriptors"};

void on_child_alarm(int) {
    soak::say("soak: WATCHDOG: fork child %d stuck %s for 60 s\n", int(getpid()), kChildSteps[g_child_step]);
    _exit(4);
}

// In a fork child: the held blocks must be as they were at the fork; then the child works on them
// under its own engine. Exit status: 0, 1 (mismatch), 5 (descriptors or threads not as expected).
[[noreturn]] void fork_child(const long* held, int n, int parent_fds, int expected_threads, uint64_t seed) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a parent ended by its watchdog takes the child along
    signal(SIGALRM, on_child_alarm);
    alarm(60);
    soak::Rng rng(seed);
    const uint64_t before = g_mismatches.load();
    g_child_step = 1;
    for (int i = 0; i < n; ++i) {
        Slot& s = g_slots[held[i]];
        if (s.block) check(s, held[i], 0, s.size, "fork snapshot", 99, uint64_t(i));
    }
    g_child_step = 2;
    for (int i = 0; i < n; ++i) {
        Slot& s = g_slots[held[i]];
        if (!s.block) continue;
        write_range(s, rng, 0, s.size);
        check(s, held[i], 0, s.size, "fork child's rewrite", 99, uint64_t(i));
    }
    g_child_step = 3;
    for (int i = 0; i < n; ++i) {
        Slot& s = g_slots[held[i]];
        if (s.block) resize(s, held[i], rng, 99, uint64_t(i));
    }
    g_child_step = 4;
    for (int i = 0; i < n; ++i) {
        Slot& s = g_slots[held[i]];
        if (!s.block) allocate(s, rng);
        if (s.block) check(s, held[i], 0, s.size, "fork child's block", 99, uint64_t(i));
    }
    g_child_step = 5;
    for (int i = 0; i < n; ++i)
        if (g_slots[held[i]].block) release_block(g_slots[held[i]]);
    g_child_step = 6;
    char fds[2048], threads[1024];
    const int child_fds = soak::count_fds(fds, sizeof fds);
    const int child_threads = soak::count_threads(threads, sizeof threads);
    int status = g_mismatches.load() != before ? 1 : 0;
    if (status == 0 && (child_fds != parent_fds || child_threads != expected_threads)) {
        say("soak: fork child %d holds %d descriptors (the parent %d) and %d threads (expected %d):%s /%s\n",
            int(getpid()), child_fds, parent_fds, child_threads, expected_threads, fds, threads);
        status = 5;
    }
    _exit(status);
}

int g_baseline_threads = 0;  // the process's threads before the test's own (main + DiME's)
soak::Watchdog* g_watchdog = nullptr;  // kills a hung fork child along with the run

void fork_with_snapshot(soak::Rng& rng, soak::Activity& act) {
    // Hold some blocks still across the fork: the child checks exactly those.
    long held[64];
    int n = 0;
    act.begin("taking blocks to hold across fork");
    for (int tries = 0; tries < 2000 && n < 48; ++tries) {
        const long i = long(rng.below(uint64_t(g_slot_count)));
        if (try_own(g_slots[i], g_set.threads)) held[n++] = i;
    }
    const int fds = soak::count_fds();
    act.begin("fork");
    fflush(nullptr);
    const pid_t pid = fork();
    if (pid == 0) fork_child(held, n, fds, g_baseline_threads, rng.next());
    for (int i = 0; i < n; ++i) release(g_slots[held[i]]);
    if (pid < 0) {
        say("soak: fork failed: %s\n", strerror(errno));
        g_child_failures.fetch_add(1);
        return;
    }
    g_forks.fetch_add(1);
    chaos_note("fork", pid);
    act.begin("waiting for a fork child");
    g_watchdog->child.store(pid);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    g_watchdog->child.store(0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        say("soak: fork child %d ended with %s %d\n", int(pid), WIFEXITED(status) ? "status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        g_child_failures.fetch_add(1);
    }
}

void chaos_main(uint64_t seed) {
    soak::Activity& act = g_acts[g_set.threads];
    act.tid.store(int(gettid()));
    soak::Rng rng(seed);
    uint64_t next_fork = soak::now_ns() + 500000000ull;
    int resizes_since_restore = 0;
    while (!g_stop.load()) {
        const timespec pace = {0, 20000000};  // 20 ms between actions
        nanosleep(&pace, nullptr);
        const uint64_t r = rng.below(100);
        if (soak::now_ns() >= next_fork) {
            fork_with_snapshot(rng, act);
            next_fork = soak::now_ns() + 1000000000ull + rng.below(1000000000ull);
        } else if (r < 30) {
            // Shrink or grow the pool; every few resizes back to the size the run started with.
            const long pages = ++resizes_since_restore >= 4 ? g_set.pool : g_set.pool / 8 + long(rng.below(uint64_t(2 * g_set.pool)));
            if (resizes_since_restore >= 4) resizes_since_restore = 0;
            act.begin("dime_set_local_pages", nullptr, size_t(pages));
            if (dime_set_local_pages(size_t(pages)) != 0) {
                say("soak: dime_set_local_pages(%ld) failed: %s\n", pages, strerror(errno));
                g_mismatches.fetch_add(1);
            }
            g_resizes.fetch_add(1);
            chaos_note("resize", pages);
        } else if (r < 40) {
            // Everything at once: every local page of the process leaves.
            act.begin("dime_evict of everything");
            const long pages = dime_evict(reinterpret_cast<void*>(4096), size_t(1) << 47);
            g_evict_all.fetch_add(1);
            g_evicted_pages.fetch_add(uint64_t(pages > 0 ? pages : 0));
            chaos_note("evict all", pages);
        } else if (r < 80) {
            // A random stretch of where blocks live, without holding them: writers race it.
            const uintptr_t lo = g_lo.load(), hi = g_hi.load();
            if (hi > lo) {
                const uintptr_t at = lo + rng.below(hi - lo);
                const size_t len = 1 + rng.below(size_t(4) << 20);
                act.begin("dime_evict of a range", reinterpret_cast<void*>(at), len);
                const long pages = dime_evict(reinterpret_cast<void*>(at), len);
                g_evict_calls.fetch_add(1);
                g_evicted_pages.fetch_add(uint64_t(pages > 0 ? pages : 0));
                chaos_note("evict range", pages);
            }
        } else if (r < 90) {
            const uintptr_t lo = g_lo.load(), hi = g_hi.load();
            if (hi > lo) {
                const uintptr_t at = lo + rng.below(hi - lo);
                act.begin("dime_prefetch of a range", reinterpret_cast<void*>(at), 1 << 20);
                chaos_note("prefetch", dime_prefetch(reinterpret_cast<void*>(at), 1 << 20));
                g_chaos_prefetches.fetch_add(1);
            }
        }
        act.end();
    }
    dime_set_local_pages(size_t(g_set.pool));
    act.tid.store(0);
}

// ---- main ----------------------------------------------------------------------------------------

void parse(int argc, char** argv) {
    g_set.seed = soak::now_ns();
    for (int i = 1; i + 1 < argc; i += 2) {
        const char* k = argv[i];
        const char* v = argv[i + 1];
        if (!std::strcmp(k, "--seconds")) g_set.seconds = atof(v);
        else if (!std::strcmp(k, "--threads")) g_set.threads = atoi(v);
        else if (!std::strcmp(k, "--slots")) g_set.slots_per_thread = atol(v);
        else if (!std::strcmp(k, "--unit")) g_set.unit = size_t(atol(v));
        else if (!std::strcmp(k, "--pool")) g_set.pool = atol(v);
        else if (!std::strcmp(k, "--seed")) g_set.seed = strtoull(v, nullptr, 0);
        else if (!std::strcmp(k, "--tiers")) {
            // Names are kept in plain memory: argv lives as long as the process.
            g_set.tier_count = 0;
            for (char* t = strtok(argv[i + 1], ",:"); t && g_set.tier_count < 8; t = strtok(nullptr, ",:"))
                g_set.tiers[g_set.tier_count++] = t;
        } else {
            say("soak: unknown option '%s'\n", k);
            _exit(2);
        }
    }
    if (const char* s = getenv("DIME_SOAK_SECONDS"); s && *s) g_set.seconds = atof(s);
    if (g_set.threads < 1 || g_set.threads > kMaxThreads || g_set.slots_per_thread < 1 || g_set.seconds <= 0 ||
        g_set.pool < 8 || g_set.unit < 4096 || g_set.tier_count < 1) {
        say("soak: bad settings (threads 1..%d, slots >= 1, seconds > 0, pool >= 8, unit >= 4096, a tier)\n",
            kMaxThreads);
        _exit(2);
    }
}

}  // namespace

int main(int argc, char** argv) {
    parse(argc, argv);
    // What the process holds before the test adds anything: DiME's descriptors and threads.
    char fds_before[2048], threads_before[1024];
    const int fd_count = soak::count_fds(fds_before, sizeof fds_before);
    g_baseline_threads = soak::count_threads(threads_before, sizeof threads_before);
    snprintf(g_config, sizeof g_config, "DIME_CONFIG=%s DIME_OPTIONS=\"%s\" seed %llu, %d threads, %ld slots",
             getenv("DIME_CONFIG") ? getenv("DIME_CONFIG") : "", getenv("DIME_OPTIONS") ? getenv("DIME_OPTIONS") : "",
             (unsigned long long)g_set.seed, g_set.threads, g_set.slots_per_thread * g_set.threads);
    say("soak: %.0f s; %s; %d descriptors and %d threads at the start:%s /%s\n", g_set.seconds, g_config, fd_count,
        g_baseline_threads, fds_before, threads_before);
    if (!dime_active()) {
        say("soak: FAIL: not running under DiME's emulation (LD_PRELOAD=libdime.so?)\n");
        return 1;
    }

    g_slot_count = g_set.slots_per_thread * g_set.threads;
    g_slots = static_cast<Slot*>(soak::plain_memory(sizeof(Slot) * size_t(g_slot_count)));
    for (long i = 0; i < g_slot_count; ++i) new (&g_slots[i]) Slot();
    auto* shadows = static_cast<unsigned char*>(soak::plain_memory(kMaxBlock * size_t(g_slot_count)));
    if (dime_tier_of(shadows) != nullptr || dime_tier_of(g_slots) != nullptr) {
        say("soak: FAIL: the shadow copies landed in emulated memory\n");
        return 1;
    }
    for (long i = 0; i < g_slot_count; ++i) g_slots[i].shadow = shadows + size_t(i) * kMaxBlock;

    auto* workers = static_cast<Worker*>(soak::plain_memory(sizeof(Worker) * size_t(g_set.threads)));
    for (int t = 0; t < g_set.threads; ++t) {
        new (&workers[t]) Worker{t, soak::Rng(g_set.seed + uint64_t(t) * 7919), {-1, -1}};
        if (pipe2(workers[t].pipe_fd, O_CLOEXEC) != 0) {
            say("soak: pipe2: %s\n", strerror(errno));
            return 1;
        }
        snprintf(g_acts[t].name, sizeof g_acts[t].name, "thread %d", t);
    }
    snprintf(g_acts[g_set.threads].name, sizeof g_acts[g_set.threads].name, "chaos");

    const uint64_t t0 = soak::now_ns();
    const uint64_t run_ns = uint64_t(g_set.seconds * 1e9);
    int exit_status = 0;
    {
        soak::Watchdog watchdog(g_acts, g_set.threads + 1, /*stall_ns=*/30000000000ull, t0 + run_ns + 90000000000ull);
        g_watchdog = &watchdog;
        std::thread chaos(chaos_main, g_set.seed ^ 0xc4a05);
        std::thread threads[kMaxThreads];
        for (int t = 0; t < g_set.threads; ++t) threads[t] = std::thread(worker_main, &workers[t]);
        const timespec tick = {0, 100000000};
        while (soak::now_ns() - t0 < run_ns) nanosleep(&tick, nullptr);  // the run's length, not a synchronisation
        g_stop.store(true);
        for (int t = 0; t < g_set.threads; ++t) threads[t].join();
        chaos.join();

        // Every block once more, then freed.
        soak::Activity& act = g_acts[0];
        act.tid.store(int(gettid()));
        for (long i = 0; i < g_slot_count; ++i) {
            Slot& s = g_slots[i];
            if (!s.block) continue;
            act.begin("final check", s.block, s.size, i);
            check(s, i, 0, s.size, "final check", 0, 0);
            release_block(s);
            act.end();
        }
        act.tid.store(0);
    }
    for (int t = 0; t < g_set.threads; ++t) {
        close(workers[t].pipe_fd[0]);
        close(workers[t].pipe_fd[1]);
    }
    const double secs = double(soak::now_ns() - t0) / 1e9;

    uint64_t ops = 0;
    char per_op[1024];
    size_t used = 0;
    for (int o = 0; o < kOps; ++o) {
        ops += g_op_count[o].load();
        used += size_t(snprintf(per_op + used, sizeof per_op - used, "%s%s %llu", o ? ", " : "", kOpName[o],
                                (unsigned long long)g_op_count[o].load()));
    }
    char fds_after[2048], threads_after[1024];
    const int fd_count_after = soak::count_fds(fds_after, sizeof fds_after);
    const int threads_after_count = soak::count_threads(threads_after, sizeof threads_after);
    say("soak: %.1f s: %s; %llu allocation failures, %llu busy picks\n", secs, per_op,
        (unsigned long long)g_alloc_failures.load(), (unsigned long long)g_busy.load());
    say("soak: chaos: %llu forks (%llu children failed), %llu pool resizes, %llu range evictions, %llu evictions of "
        "everything, %llu pages evicted on request, %llu prefetches\n",
        (unsigned long long)g_forks.load(), (unsigned long long)g_child_failures.load(),
        (unsigned long long)g_resizes.load(), (unsigned long long)g_evict_calls.load(),
        (unsigned long long)g_evict_all.load(), (unsigned long long)g_evicted_pages.load(),
        (unsigned long long)g_chaos_prefetches.load());
    if (fd_count_after != fd_count || threads_after_count != g_baseline_threads) {
        say("soak: FAIL: leak: %d descriptors and %d threads at the end, %d and %d at the start:%s /%s\n",
            fd_count_after, threads_after_count, fd_count, g_baseline_threads, fds_after, threads_after);
        exit_status = 1;
    }
    if (g_child_failures.load() != 0 || g_forks.load() == 0) exit_status = 1;
    if (g_mismatches.load() != 0) exit_status = 1;
    std::printf("soak: %llu ops, %llu mismatches\n", (unsigned long long)ops, (unsigned long long)g_mismatches.load());
    return exit_status;
}
