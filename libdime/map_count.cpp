// map_count.cpp — vm.max_map_count and the mappings in use, from /proc (see map_count.h).
#include "map_count.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace dime::vm {

long max_map_count() {
    const int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char text[32] = {};
    const ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    char* end = nullptr;
    const long value = std::strtol(text, &end, 10);
    return end != text && value > 0 ? value : -1;
}

long mappings_in_use() {
    const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    long lines = 0;
    char chunk[4096];
    for (ssize_t n; (n = read(fd, chunk, sizeof chunk)) > 0;)
        for (ssize_t i = 0; i < n; ++i) lines += chunk[i] == '\n';
    close(fd);
    return lines;
}

}  // namespace dime::vm
