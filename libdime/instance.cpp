// instance.cpp — the shared segment of an instance: joining and leaving under the membership
// lock, slots kept alive by open-file-description locks, the fair-share limit and the shared
// links (see instance.h).
#include "instance.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "descriptors.h"

namespace dime {
namespace {

constexpr uint64_t kMagic = 0x74736e49454d6944ull;  // "DiMEInst"
constexpr uint32_t kLayoutVersion = 1;               // bump with any change of Segment below
constexpr uint32_t kFree = 0, kLive = 1;
constexpr off_t kMembershipByte = 0;  // byte 1 + i is slot i's
constexpr size_t kMaxNameLength = 64;

static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "the instance segment needs address-free atomics");

// Each on its own cache line: a member writes its slot on every admission and eviction.
struct alignas(64) Slot {
    std::atomic<uint32_t> state;  // kFree or kLive; changed only by the holder of the slot's byte lock
    std::atomic<int32_t> pid;
    std::atomic<uint64_t> pages;     // local or on their way
    std::atomic<uint64_t> resident;  // local
};

struct alignas(64) SharedLink {
    std::atomic<uint64_t> free_at;  // CLOCK_MONOTONIC ns: when the last booked transmission ends
    std::atomic<uint64_t> latency_ns;
    std::atomic<uint64_t> bandwidth_bps;
};

// Byte-range locks on the segment's file: the kernel drops them when the holder dies.
bool lock_byte(int fd, off_t byte, bool wait) {
    struct flock l{};
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    l.l_start = byte;
    l.l_len = 1;
    for (;;) {
        if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &l) == 0) return true;
        if (errno != EINTR) return false;
    }
}

void unlock_byte(int fd, off_t byte) {
    struct flock l{};
    l.l_type = F_UNLCK;
    l.l_whence = SEEK_SET;
    l.l_start = byte;
    l.l_len = 1;
    fcntl(fd, F_OFD_SETLK, &l);
}

off_t slot_byte(int i) { return 1 + i; }

// The segment's file must be this user's alone: another user could otherwise read the counts
// or steer the budget.
bool owned_privately(int fd, const std::string& path, std::string* error) {
    struct stat st{};
    if (fstat(fd, &st) != 0) {
        *error = fmt::format("{}: {}", path, strerror(errno));
        return false;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        *error = fmt::format("{} belongs to uid {} with mode {:o}; an instance's segment must be this user's ({}) "
                             "with mode 0600",
                             path, st.st_uid, st.st_mode & 0777, geteuid());
        return false;
    }
    return true;
}

std::string shm_name_for(const std::string& name) { return fmt::format("/dime-{}-{}", geteuid(), name); }
std::string path_of(const std::string& shm_name) { return "/dev/shm" + shm_name; }

}  // namespace

struct Instance::Segment {
    uint64_t magic;
    uint32_t layout;
    uint32_t bytes;
    // Changed under the membership lock only.
    uint32_t closed;  // the last member is removing the segment: a joiner must open anew
    uint32_t tiers;
    uint64_t page_size;
    alignas(64) std::atomic<uint64_t> capacity;
    std::atomic<uint32_t> generation;  // bumped by every change of the links' settings
    std::atomic<uint32_t> high_water;  // slots [0, high_water) have ever been used
    SharedLink links[kMaxTiers];
    Slot slots[kMaxMembers];
};

namespace {

using Segment = Instance::Segment;

// Frees slot i; the caller holds its byte lock.
void free_slot(Segment* s, int i) {
    s->slots[i].pages.store(0, std::memory_order_relaxed);
    s->slots[i].resident.store(0, std::memory_order_relaxed);
    s->slots[i].pid.store(0, std::memory_order_relaxed);
    s->slots[i].state.store(kFree, std::memory_order_release);
}

// If slot i is in use but nobody holds its byte, its member died: frees it. True if it did.
bool reclaim_if_dead(Segment* s, int fd, int i) {
    if (s->slots[i].state.load(std::memory_order_acquire) != kLive) return false;
    if (!lock_byte(fd, slot_byte(i), /*wait=*/false)) return false;  // held: the member lives
    const bool dead = s->slots[i].state.load(std::memory_order_acquire) == kLive;
    if (dead) free_slot(s, i);
    unlock_byte(fd, slot_byte(i));
    return dead;
}

// Reclaims every dead member's slot except `own`; returns how many live members remain besides it.
int reclaim_and_count(Segment* s, int fd, int own) {
    int live = 0;
    const int hw = static_cast<int>(std::min<uint32_t>(s->high_water.load(std::memory_order_acquire),
                                                       Instance::kMaxMembers));
    for (int i = 0; i < hw; ++i) {
        if (i == own || reclaim_if_dead(s, fd, i)) continue;
        if (s->slots[i].state.load(std::memory_order_acquire) == kLive) ++live;
    }
    return live;
}

// Removes the segment's name if it still names this segment (it does, unless removed by hand).
void unlink_if_same(int fd, const std::string& shm_name) {
    struct stat mine{}, named{};
    if (fstat(fd, &mine) == 0 && stat(path_of(shm_name).c_str(), &named) == 0 && mine.st_ino == named.st_ino &&
        mine.st_dev == named.st_dev)
        shm_unlink(shm_name.c_str());
}

}  // namespace

bool valid_instance_name(const std::string& name) {
    if (name.empty() || name.size() > kMaxNameLength || name[0] == '.') return false;
    for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return false;
    return true;
}

std::unique_ptr<Instance> Instance::join(const std::string& name, const InstanceSettings& mine, std::string* error) {
    if (!valid_instance_name(name)) {
        *error = fmt::format("instance: '{}' is not a valid instance name", name);
        return nullptr;
    }
    std::unique_ptr<Instance> in(new Instance());
    in->name_ = name;
    in->shm_name_ = shm_name_for(name);
    if (!in->open_and_join(mine, error)) return nullptr;
    return in;
}

Instance::~Instance() { leave(); }

std::string Instance::segment_path() const { return path_of(shm_name_); }

// Opens (or creates) the segment and claims a slot under the membership lock.
bool Instance::open_and_join(const InstanceSettings& mine, std::string* error) {
    const std::string path = segment_path();
    auto fail = [&](std::string why) {
        *error = fmt::format("instance '{}': {}", name_, why);
        if (fd_ >= 0) unlock_byte(fd_, kMembershipByte);
        unmap_and_close();
        return false;
    };
    // A segment being removed by its last member is marked closed: open the name again.
    for (int attempt = 0; attempt < 100; ++attempt) {
        const int fd = shm_open(shm_name_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return fail(fmt::format("cannot open {}: {}", path, strerror(errno)));
        fd_ = descriptors::adopt(fd);
        std::string why;
        if (!owned_privately(fd_, path, &why)) return fail(why);
        if (!lock_byte(fd_, kMembershipByte, /*wait=*/true))
            return fail(fmt::format("cannot lock {}: {}", path, strerror(errno)));
        struct stat st{};
        if (fstat(fd_, &st) != 0) return fail(fmt::format("{}: {}", path, strerror(errno)));
        const bool created = st.st_size == 0;
        if (created && ftruncate(fd_, sizeof(Segment)) != 0)
            return fail(fmt::format("cannot size {}: {}", path, strerror(errno)));
        if (!created && static_cast<size_t>(st.st_size) != sizeof(Segment))
            return fail(fmt::format("{} was made by another version of DiME ({} bytes, {} expected); remove it or "
                                    "use another name",
                                    path, st.st_size, sizeof(Segment)));
        void* m = mmap(nullptr, sizeof(Segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
        if (m == MAP_FAILED) return fail(fmt::format("cannot map {}: {}", path, strerror(errno)));
        seg_ = static_cast<Segment*>(m);
        if (created) {
            seg_->layout = kLayoutVersion;
            seg_->bytes = sizeof(Segment);
            seg_->magic = kMagic;
        } else if (seg_->magic != kMagic || seg_->layout != kLayoutVersion || seg_->bytes != sizeof(Segment)) {
            return fail(fmt::format("{} was made by another version of DiME; remove it or use another name", path));
        }
        if (seg_->closed) {
            unlock_byte(fd_, kMembershipByte);
            unmap_and_close();
            continue;
        }
        const int others = reclaim_and_count(seg_, fd_, -1);
        if (others == 0) {  // the first member (or the first since every member died) sets the settings
            seg_->page_size = mine.page_size;
            seg_->tiers = static_cast<uint32_t>(mine.tiers);
            seg_->capacity.store(mine.capacity, std::memory_order_relaxed);
            for (int t = 0; t < kMaxTiers; ++t) {
                seg_->links[t].latency_ns.store(mine.latency_ns[t], std::memory_order_relaxed);
                seg_->links[t].bandwidth_bps.store(mine.bandwidth_bps[t], std::memory_order_relaxed);
                seg_->links[t].free_at.store(0, std::memory_order_relaxed);
            }
            seg_->generation.fetch_add(1, std::memory_order_release);
        } else if ((seg_->page_size != mine.page_size || seg_->tiers != static_cast<uint32_t>(mine.tiers))) {
            return fail(fmt::format("its members have page_size {} and {} tier(s); this process has page_size {} and "
                                    "{} tier(s) (use another instance name)",
                                    seg_->page_size, seg_->tiers, mine.page_size, mine.tiers));
        }
        if (!claim_slot(error)) return fail(*error);
        unlock_byte(fd_, kMembershipByte);
        return true;
    }
    return fail(fmt::format("{} kept being removed while joining", path));
}

// Under the membership lock: the first slot whose byte can be taken. A live member holds its
// slot's byte all its life, so a byte taken means a free slot or a member that died since
// reclaim_and_count looked; a byte held means a live member, or another member reclaiming.
bool Instance::claim_slot(std::string* error) {
    for (int i = 0; i < kMaxMembers; ++i) {
        if (!lock_byte(fd_, slot_byte(i), /*wait=*/false)) continue;
        Slot& s = seg_->slots[i];
        s.pid.store(static_cast<int32_t>(getpid()), std::memory_order_relaxed);
        s.pages.store(0, std::memory_order_relaxed);
        s.resident.store(0, std::memory_order_relaxed);
        s.state.store(kLive, std::memory_order_release);
        uint32_t hw = seg_->high_water.load(std::memory_order_relaxed);
        while (hw < static_cast<uint32_t>(i + 1) &&
               !seg_->high_water.compare_exchange_weak(hw, static_cast<uint32_t>(i + 1), std::memory_order_release)) {
        }
        slot_ = i;
        member_pid_ = getpid();
        return true;
    }
    *error = fmt::format("it has {} members already", kMaxMembers);
    return false;
}

void Instance::leave() {
    if (!seg_) return;
    if (slot_ >= 0) {
        lock_byte(fd_, kMembershipByte, /*wait=*/true);
        free_slot(seg_, slot_);
        unlock_byte(fd_, slot_byte(slot_));
        slot_ = -1;
        if (reclaim_and_count(seg_, fd_, -1) == 0) {  // the last one out removes the segment
            seg_->closed = 1;
            unlink_if_same(fd_, shm_name_);
        }
        unlock_byte(fd_, kMembershipByte);
    }
    unmap_and_close();
}

void Instance::unmap_and_close() {
    if (seg_) munmap(seg_, sizeof(Segment));
    seg_ = nullptr;
    if (fd_ >= 0) descriptors::release(fd_);
    fd_ = -1;
}

// The inherited descriptor shares the parent's open file description, and with it the parent's
// locks: the child must not lock or unlock through it, only drop its reference. The mapping stays
// (the shared links are booked through it); the child opens the same segment anew for locks of
// its own and claims a slot of its own.
bool Instance::rejoin_in_child(std::string* error) {
    auto fail = [&](std::string why) {
        *error = fmt::format("instance '{}': {}", name_, why);
        if (fd_ >= 0) descriptors::release(fd_);
        fd_ = -1;
        return false;
    };
    struct stat inherited{};
    const bool known = fd_ >= 0 && fstat(fd_, &inherited) == 0;
    if (fd_ >= 0) descriptors::release(fd_);  // the parent's locks stay: the parent still refers to them
    fd_ = -1;
    slot_ = -1;
    if (!known || !seg_) return fail("the parent's segment is unknown");
    const int fd = shm_open(shm_name_.c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return fail(fmt::format("cannot open {}: {}", segment_path(), strerror(errno)));
    fd_ = descriptors::adopt(fd);
    struct stat now{};
    if (fstat(fd_, &now) != 0 || now.st_ino != inherited.st_ino || now.st_dev != inherited.st_dev)
        return fail(fmt::format("{} is no longer the parent's segment", segment_path()));
    if (!lock_byte(fd_, kMembershipByte, /*wait=*/true))
        return fail(fmt::format("cannot lock {}: {}", segment_path(), strerror(errno)));
    const bool claimed = claim_slot(error);
    unlock_byte(fd_, kMembershipByte);
    if (!claimed) return fail(*error);
    return true;
}

void Instance::abandon_in_child() {
    if (slot_ >= 0 && member_pid_ == getpid()) return leave();  // rejoined, then could not emulate
    if (fd_ >= 0) descriptors::release(fd_);  // so that the parent's locks die with the parent
    fd_ = -1;
    slot_ = -1;  // the mapping stays unused; nothing is freed: the slot is the parent's
}

// ---- the fault path -------------------------------------------------------------------------------

void Instance::publish(uint64_t pages, uint64_t resident) {
    if (slot_ < 0) return;
    seg_->slots[slot_].pages.store(pages, std::memory_order_relaxed);
    seg_->slots[slot_].resident.store(resident, std::memory_order_relaxed);
}

uint64_t Instance::capacity() const { return seg_ ? seg_->capacity.load(std::memory_order_relaxed) : 0; }

void Instance::set_capacity(uint64_t pages) {
    if (seg_) seg_->capacity.store(pages, std::memory_order_relaxed);
}

uint64_t Instance::limit() const {
    if (!seg_) return 0;
    const uint32_t hw = std::min<uint32_t>(seg_->high_water.load(std::memory_order_relaxed), kMaxMembers);
    uint64_t others = 0;
    uint64_t live = 0;
    for (uint32_t i = 0; i < hw; ++i) {
        const Slot& s = seg_->slots[i];
        if (s.state.load(std::memory_order_relaxed) == kLive) ++live;
        if (static_cast<int>(i) != slot_) others += s.pages.load(std::memory_order_relaxed);
    }
    const uint64_t cap = capacity();
    const uint64_t share = std::max<uint64_t>(cap / std::max<uint64_t>(live, 1), 1);
    return std::max(share, cap > others ? cap - others : 0);
}

std::atomic<uint64_t>* Instance::link_free_at(int tier) {
    return seg_ && tier >= 0 && tier < kMaxTiers ? &seg_->links[tier].free_at : nullptr;
}

uint64_t Instance::latency_ns(int tier) const {
    return seg_ && tier >= 0 && tier < kMaxTiers ? seg_->links[tier].latency_ns.load(std::memory_order_relaxed) : 0;
}

uint64_t Instance::bandwidth_bps(int tier) const {
    return seg_ && tier >= 0 && tier < kMaxTiers ? seg_->links[tier].bandwidth_bps.load(std::memory_order_relaxed)
                                                 : 0;
}

void Instance::set_link(int tier, uint64_t latency_ns, uint64_t bandwidth_bps) {
    if (!seg_ || tier < 0 || tier >= kMaxTiers) return;
    seg_->links[tier].latency_ns.store(latency_ns, std::memory_order_relaxed);
    seg_->links[tier].bandwidth_bps.store(bandwidth_bps, std::memory_order_relaxed);
    seg_->generation.fetch_add(1, std::memory_order_release);
}

uint32_t Instance::settings_generation() const {
    return seg_ ? seg_->generation.load(std::memory_order_acquire) : 0;
}

int Instance::reclaim_dead() {
    if (!seg_ || slot_ < 0) return 0;
    int freed = 0;
    const int hw = static_cast<int>(std::min<uint32_t>(seg_->high_water.load(std::memory_order_acquire), kMaxMembers));
    for (int i = 0; i < hw; ++i)
        if (i != slot_ && reclaim_if_dead(seg_, fd_, i)) ++freed;
    return freed;
}

Instance::View Instance::view() const {
    View v;
    if (!seg_) return v;
    v.capacity = capacity();
    const uint32_t hw = std::min<uint32_t>(seg_->high_water.load(std::memory_order_acquire), kMaxMembers);
    for (uint32_t i = 0; i < hw; ++i) {
        const Slot& s = seg_->slots[i];
        v.pages += s.pages.load(std::memory_order_relaxed);
        v.resident += s.resident.load(std::memory_order_relaxed);
        if (s.state.load(std::memory_order_acquire) != kLive) continue;
        ++v.members;
        v.pids.push_back(s.pid.load(std::memory_order_relaxed));
    }
    return v;
}

// ---- dime ctl ------------------------------------------------------------------------------------

std::vector<std::string> remove_orphan_instances() {
    std::vector<std::string> removed;
    const std::string prefix = fmt::format("dime-{}-", geteuid());
    DIR* d = opendir("/dev/shm");
    if (!d) return removed;
    while (dirent* e = readdir(d)) {
        const std::string file = e->d_name;
        if (file.rfind(prefix, 0) != 0 || !valid_instance_name(file.substr(prefix.size()))) continue;
        const std::string shm_name = "/" + file;
        const int fd = shm_open(shm_name.c_str(), O_RDWR | O_CLOEXEC, 0);
        if (fd < 0) continue;
        std::string why;
        struct stat st{};
        // Busy (a member is joining or leaving): not an orphan now.
        if (owned_privately(fd, path_of(shm_name), &why) && fstat(fd, &st) == 0 &&
            static_cast<size_t>(st.st_size) == sizeof(Segment) && lock_byte(fd, kMembershipByte, /*wait=*/false)) {
            void* m = mmap(nullptr, sizeof(Segment), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (m != MAP_FAILED) {
                auto* seg = static_cast<Segment*>(m);
                if (seg->magic == kMagic && seg->layout == kLayoutVersion && !seg->closed &&
                    reclaim_and_count(seg, fd, -1) == 0) {
                    seg->closed = 1;
                    unlink_if_same(fd, shm_name);
                    removed.push_back(file.substr(prefix.size()));
                }
                munmap(m, sizeof(Segment));
            }
            unlock_byte(fd, kMembershipByte);
        }
        close(fd);
    }
    closedir(d);
    std::sort(removed.begin(), removed.end());
    return removed;
}

}  // namespace dime
