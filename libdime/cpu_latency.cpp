// cpu_latency.cpp — the PM QoS request; see cpu_latency.h for why.
#include "cpu_latency.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "descriptors.h"

namespace dime {

bool CpuLatencyHold::hold(int64_t max_us, std::string* why) {
    release();
    const int fd = ::open("/dev/cpu_dma_latency", O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        if (why) *why = std::string("cannot open /dev/cpu_dma_latency: ") + strerror(errno) +
                        (errno == EACCES ? " (it needs root)" : "");
        return false;
    }
    // The device takes the latency as a 32-bit binary value (or as hex text).
    const int32_t value = static_cast<int32_t>(max_us);
    if (::write(fd, &value, sizeof value) != static_cast<ssize_t>(sizeof value)) {
        if (why) *why = std::string("cannot write /dev/cpu_dma_latency: ") + strerror(errno);
        ::close(fd);
        return false;
    }
    fd_ = descriptors::adopt(fd);
    held_us_ = max_us;
    return true;
}

void CpuLatencyHold::release() {
    if (fd_ < 0) return;
    descriptors::release(fd_);
    fd_ = -1;
    held_us_ = -1;
}

}  // namespace dime
