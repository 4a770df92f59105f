// instance.h — instances (process groups): processes started with the same `instance` name share
// one local page budget and one link per tier, as the programs on one memory blade do. The
// sharing goes through a POSIX shared-memory segment per instance, /dev/shm/dime-<uid>-<name>:
// a header with the instance's settings, one slot per member (pid, pages held) and the time each
// tier's link is booked until.
//
// Liveness without a daemon: every member holds an open-file-description lock (F_OFD_SETLK) on
// the byte of its slot, which the kernel drops when the process dies however it dies; a slot in
// use whose byte nobody holds belongs to a dead member, and whoever takes the byte frees the slot
// and its pages. Joining and leaving serialise on byte 0 (the membership lock); the last member
// to leave removes the segment. Nothing here is shared across users: the segment is 0600 and
// must belong to the user.
//
// Threads: join, leave and the fork calls on application threads; publish, limit, capacity and
// the link on the handler thread (lock-free atomics in the segment, no allocation, no syscall);
// reclaim_dead on the handler thread too (one fcntl per other member, no allocation, no lock a
// fault could need); the views from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config.h"

namespace dime {

// The settings an instance shares: those of its first member (the first live one, if the
// segment outlived every member).
struct InstanceSettings {
    uint64_t capacity = 0;   // local pages of the whole instance
    uint64_t page_size = 0;  // every member counts pages of this size
    int tiers = 0;           // every member has this many tiers, each with its own shared link
    uint64_t latency_ns[kMaxTiers] = {};
    uint64_t bandwidth_bps[kMaxTiers] = {};
};

class Instance {
public:
    static constexpr int kMaxMembers = 64;
    struct Segment;  // the layout in shared memory (instance.cpp)

    // Joins the instance `name` of this user, creating it with `mine` if it does not exist (or
    // has no live member left). nullptr + *error (one line) when it cannot.
    static std::unique_ptr<Instance> join(const std::string& name, const InstanceSettings& mine, std::string* error);
    ~Instance();  // leave()
    Instance(const Instance&) = delete;
    Instance& operator=(const Instance&) = delete;

    // Frees this member's slot; the last member removes the segment. Idempotent.
    void leave();
    // In a fork child that joins its parent's instance: a slot of its own (the parent's slot and
    // lock stay the parent's). False + *error on failure (then abandon_in_child()).
    bool rejoin_in_child(std::string* error);
    // In a fork child that does not emulate: lets go of the parent's descriptor and frees nothing
    // of the parent's (a slot the child claimed itself is left as leave() does).
    void abandon_in_child();

    const std::string& name() const { return name_; }
    // The path of the segment (/dev/shm/... for messages and tests).
    std::string segment_path() const;

    // ---- the fault path: lock-free, no syscall ----
    // This member holds `pages` (local or on their way) of which `resident` are local.
    void publish(uint64_t pages, uint64_t resident);
    uint64_t capacity() const;
    void set_capacity(uint64_t pages);
    // Pages this member may hold now: its fair share (capacity / live members) or whatever the
    // others leave free, the larger.
    uint64_t limit() const;
    // The time (CLOCK_MONOTONIC ns) tier `tier`'s shared link is booked until.
    std::atomic<uint64_t>* link_free_at(int tier);
    uint64_t latency_ns(int tier) const;
    uint64_t bandwidth_bps(int tier) const;
    // A new link for every member (dime ctl set): each applies it when its generation changes.
    void set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps);
    uint32_t settings_generation() const;

    // ---- the handler's periodic tick ----
    // Frees the slots of members that died (their lock is gone); returns how many.
    int reclaim_dead();

    // ---- views (any thread) ----
    struct View {
        int members = 0;     // live slots (a dead member counts until it is reclaimed)
        uint64_t pages = 0;  // pages the members hold, local or on their way
        uint64_t resident = 0;
        uint64_t capacity = 0;
        std::vector<long> pids;  // of the live slots, in slot order
    };
    View view() const;

private:
    Instance() = default;
    bool open_and_join(const InstanceSettings& mine, std::string* error);
    bool claim_slot(std::string* error);
    void unmap_and_close();

    std::string name_;
    std::string shm_name_;  // "/dime-<uid>-<name>"
    int fd_ = -1;           // a protected descriptor (descriptors.h): its locks are this member's
    Segment* seg_ = nullptr;
    int slot_ = -1;
    long member_pid_ = 0;  // the process that claimed slot_ (a fork child's copy names its parent)
};

// `name` is a valid instance name: 1 to 64 characters from [A-Za-z0-9_.-], not starting with '.'.
bool valid_instance_name(const std::string& name);

// dime ctl: removes this user's instance segments that no live process belongs to (all members
// were killed); returns their names.
std::vector<std::string> remove_orphan_instances();

}  // namespace dime
