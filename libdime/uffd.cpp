// uffd.cpp — thin wrappers over the userfaultfd syscall and ioctls (see uffd.h).
#include "uffd.h"

#include <algorithm>

#include <cerrno>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

namespace dime::uffd {
namespace {
int neg_errno() { return errno ? -errno : -EIO; }
}  // namespace

int open_route(Route route) {
    const int flags = O_CLOEXEC | O_NONBLOCK;
    if (route != Route::kDevNode) {
        const int mode = route == Route::kSyscallUserModeOnly ? UFFD_USER_MODE_ONLY : 0;
        const int fd = static_cast<int>(syscall(SYS_userfaultfd, flags | mode));
        return fd >= 0 ? fd : neg_errno();
    }
    const int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0) return neg_errno();
    const int fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
    const int err = neg_errno();
    close(dev);
    return fd >= 0 ? fd : err;
}

namespace {

// A raw descriptor without negotiated API: syscall first, /dev/userfaultfd second.
int open_raw(bool* via_dev_node) {
    // never UFFD_USER_MODE_ONLY: read()/write() must be served
    int fd = open_route(Route::kSyscall);
    if (fd >= 0) {
        *via_dev_node = false;
        return fd;
    }
    const int syscall_err = -fd;
    fd = open_route(Route::kDevNode);
    if (fd < 0) {
        errno = syscall_err == ENOSYS ? ENOSYS : EPERM;
        return -1;
    }
    *via_dev_node = true;
    return fd;
}

}  // namespace

int open_descriptor(Capabilities* caps, const char** why) {
    bool via_dev = false;
    // The API handshake may be done once per descriptor, so probe the kernel's feature set
    // on a throw-away descriptor, then ask the real one for exactly what is available.
    int probe = open_raw(&via_dev);
    if (probe < 0) {
        const int err = errno;
        if (why)
            *why = err == ENOSYS
                       ? "this kernel has no userfaultfd (CONFIG_USERFAULTFD is off)"
                       : "userfaultfd is not permitted for this process: run `sysctl "
                         "vm.unprivileged_userfaultfd=1` as root, or give this user read-write "
                         "access to /dev/userfaultfd (`dime doctor` shows what this machine allows)";
        return -err;
    }
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = 0;
    if (ioctl(probe, UFFDIO_API, &api) != 0) {
        const int err = neg_errno();
        close(probe);
        if (why) *why = "the userfaultfd API handshake failed";
        return err;
    }
    close(probe);
    const uint64_t offered = api.features;

    int fd = open_raw(&via_dev);
    if (fd < 0) {
        if (why) *why = "userfaultfd could be probed but not reopened";
        return neg_errno();
    }
    uffdio_api want{};
    want.api = UFFD_API;
    want.features = offered & (UFFD_FEATURE_MOVE | UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    if (ioctl(fd, UFFDIO_API, &want) != 0) {
        const int err = neg_errno();
        close(fd);
        if (why) *why = "the userfaultfd API handshake failed";
        return err;
    }
    if (caps) {
        caps->move = (want.features & UFFD_FEATURE_MOVE) != 0;
        caps->write_protect = (want.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) != 0;
        caps->via_dev_node = via_dev;
    }
    return fd;
}

int register_range(int fd, void* addr, size_t len, bool with_wp, uint64_t* ioctls) {
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uintptr_t>(addr);
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING | (with_wp ? UFFDIO_REGISTER_MODE_WP : 0);
    if (ioctl(fd, UFFDIO_REGISTER, &reg) != 0) return neg_errno();
    if (ioctls) *ioctls = reg.ioctls;
    return 0;
}

int unregister_range(int fd, void* addr, size_t len) {
    uffdio_range range{reinterpret_cast<uintptr_t>(addr), len};
    return ioctl(fd, UFFDIO_UNREGISTER, &range) == 0 ? 0 : neg_errno();
}

int copy(int fd, uintptr_t dst, uintptr_t src, size_t len, bool wake, bool write_protect) {
    uffdio_copy c{};
    c.dst = dst;
    c.src = src;
    c.len = len;
    c.mode = (wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE) | (write_protect ? UFFDIO_COPY_MODE_WP : 0);
    return ioctl(fd, UFFDIO_COPY, &c) == 0 ? 0 : neg_errno();
}

int zeropage(int fd, uintptr_t dst, size_t len, bool wake) {
    uffdio_zeropage z{};
    z.range.start = dst;
    z.range.len = len;
    z.mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE;
    return ioctl(fd, UFFDIO_ZEROPAGE, &z) == 0 ? 0 : neg_errno();
}

int move(int fd, uintptr_t dst, uintptr_t src, size_t len, bool wake, int64_t* moved) {
    uffdio_move m{};
    m.dst = dst;
    m.src = src;
    m.len = len;
    m.mode = wake ? 0 : UFFDIO_MOVE_MODE_DONTWAKE;
    const int rc = ioctl(fd, UFFDIO_MOVE, &m) == 0 ? 0 : neg_errno();
    if (moved) *moved = rc == 0 ? int64_t(len) : std::max<int64_t>(m.move, 0);
    return rc;
}

int move_range(int fd, uintptr_t dst, uintptr_t src, size_t len, size_t* done) {
    uffdio_move m{};
    m.dst = dst;
    m.src = src;
    m.len = len;
    m.mode = UFFDIO_MOVE_MODE_DONTWAKE | UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES;
    const int rc = ioctl(fd, UFFDIO_MOVE, &m) == 0 ? 0 : neg_errno();
    *done = rc == 0 ? len : (m.move > 0 ? static_cast<size_t>(m.move) : 0);
    return rc;
}

int write_protect(int fd, uintptr_t addr, size_t len, bool protect, bool wake_on_clear) {
    uffdio_writeprotect wp{};
    wp.range.start = addr;
    wp.range.len = len;
    wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : (wake_on_clear ? 0 : UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
    return ioctl(fd, UFFDIO_WRITEPROTECT, &wp) == 0 ? 0 : neg_errno();
}

bool copy_out_protected(int fd, uintptr_t src, uintptr_t dst, size_t len) {
    if (write_protect(fd, src, len, true) != 0) return false;
    if (copy(fd, dst, src, len, /*wake=*/false) != 0) {
        // Partly copied, perhaps: drop what arrived (the source is intact) and let writers go on.
        madvise(reinterpret_cast<void*>(dst), len, MADV_DONTNEED);
        write_protect(fd, src, len, false);
        return false;
    }
    // A writer that came in between sleeps on the protection; dropping the page also drops the
    // protection, and its access then faults on the missing page.
    madvise(reinterpret_cast<void*>(src), len, MADV_DONTNEED);
    return true;
}

int wake(int fd, uintptr_t addr, size_t len) {
    uffdio_range range{addr, len};
    return ioctl(fd, UFFDIO_WAKE, &range) == 0 ? 0 : neg_errno();
}

}  // namespace dime::uffd
