// overcommit.cpp — reads the kernel's overcommit policy and the machine's RAM + swap once (see
// overcommit.h). Runs at start-up on the thread that starts the engine.
#include "overcommit.h"

#include <fcntl.h>
#include <sys/sysinfo.h>
#include <unistd.h>

namespace dime::overcommit {

void init() {
    int mode = 0;  // the kernel's default when the setting cannot be read
    if (const int fd = open("/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC); fd >= 0) {
        char c = '0';
        if (read(fd, &c, 1) == 1 && c >= '0' && c <= '2') mode = c - '0';
        close(fd);
    }
    struct sysinfo si {};
    if (mode == 1 || sysinfo(&si) != 0) {  // 1: always overcommit, nothing is refused
        detail::g_largest.store(~size_t(0), std::memory_order_relaxed);
        return;
    }
    const size_t unit = si.mem_unit ? si.mem_unit : 1;
    detail::g_largest.store((size_t(si.totalram) + size_t(si.totalswap)) * unit, std::memory_order_relaxed);
    detail::g_noreserve_counts.store(mode == 2, std::memory_order_relaxed);
}

}  // namespace dime::overcommit
