// page_backend.h — what the engine asks of the part that serves its faults. Two backends exist
// (the `backend` setting): the userfaultfd handler thread (fault_handler.h) and the mprotect
// backend, which serves faults in the faulting thread's SIGSEGV handler (mprotect_backend.h).
// The engine calls these on application threads; the page-range requests under its control
// mutex (they share one argument slot in the userfaultfd backend).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "page_table.h"

namespace dime {

class Attribution;
class TraceRecorder;
class Instance;

// DiME's own cost per fault as the application sees it with no injected delay.
struct Overhead {
    uint64_t first_touch_ns = 0;
    uint64_t refetch_ns = 0;
};

class PageBackend {
public:
    virtual ~PageBackend() = default;

    // Begins serving faults. False + *error on failure.
    virtual bool start(std::string* error) = 0;
    // Resolves what is in flight and stops serving faults.
    virtual void stop() = 0;

    // While calibrating, faults are resolved as soon as they arrive, with no delay.
    virtual void set_calibrating(bool on) = 0;
    // While calibration measures DiME's own cost, write-backs book no link time.
    virtual void set_writeback_free(bool on) = 0;
    virtual void set_overhead(Overhead o) = 0;
    virtual Overhead overhead() const = 0;
    // A new latency and bandwidth for tier `tier`'s link (dime ctl set), from any thread.
    virtual void set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps) = 0;
    // Faults are charged to allocation sites here (before start(); nullptr = attribution off).
    virtual void set_attribution(Attribution* a) = 0;
    virtual void reset_stats() = 0;
    // The fault/eviction stream when `trace` is set (trace_recorder.h); inactive otherwise.
    virtual const TraceRecorder& trace() const = 0;

    // fork(): before it, after it in the parent, and in a child that goes on under emulation
    // (false + *error: the child falls back to plain memory and abandon_in_child() is called).
    virtual void prepare_fork() = 0;
    virtual void fork_done() = 0;
    virtual bool start_in_child(std::string* error) = 0;
    virtual void abandon_in_child() = 0;

    // Page ranges [first, first + count) for the mmap family and the pool controls; see
    // FaultHandler for each one's contract, which both backends keep.
    virtual int discard_pages(PageId first, PageId count, bool inaccessible = false) = 0;
    virtual void move_pages(PageId first, PageId count, PageId dst) = 0;
    virtual int detach_pages(PageId first, PageId count) = 0;
    virtual int prefetch_pages(PageId first, PageId count) = 0;
    virtual uint64_t evict_range(PageId first, PageId count) = 0;
    virtual void resize_pool(uint64_t pages) = 0;

    // Kernel-mode access (the mprotect backend only): a system call given an evicted or
    // never-touched buffer fails with EFAULT instead of faulting, so the buffer's pages are
    // fetched first, as faults would, and kept local until release_resident(). Returns a hold
    // to release, or -1 (nothing to release). The userfaultfd backend needs none of this: the
    // kernel's own access faults and is served.
    virtual int hold_resident(uintptr_t /*addr*/, size_t /*len*/, bool /*write*/) { return -1; }
    virtual void release_resident(int /*hold*/) {}

    // Instances (the userfaultfd backend only; configuration refuses `instance` with mprotect):
    // from now on the pool counts against `in`'s budget (nullptr: this process's own again).
    virtual void attach_instance(Instance* /*in*/) {}
    // In a fork child that could not rejoin its parent's instance: a private pool from now on.
    virtual void detach_instance_in_child() {}
};

}  // namespace dime
