// trace_replay.cpp — replays a page-access trace (the policy lab's text format, e.g. from
// trace_gen) on live emulated memory: one anonymous mapping (emulated by libdime.so's mmap hooks)
// with one 4 KiB page per trace page number, touched in the trace's order (a one-byte write, or a
// read for lines marked "r"). Run under libdime.so (dime run); bench/live_vs_sim.sh compares its
// fault count with `dime sim` on the same trace. Single-threaded.
//
// The program keeps its own data out of emulated memory, so that the pool holds the replayed
// pages only: the parsed trace lives in a shared anonymous mapping (not emulated), output goes
// through write(2) from the stack, and nothing is malloc'd. It links nothing of DiME.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace {

[[noreturn]] void die(const char* what, const char* detail) {
    char line[512];
    const int n = std::snprintf(line, sizeof line, "trace_replay: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    [[maybe_unused]] ssize_t w = write(2, line, static_cast<size_t>(n));
    _exit(2);
}

void* shared_buffer(size_t bytes) {
    void* p = mmap(nullptr, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die("cannot map a buffer", std::strerror(errno));
    return p;
}

double seconds() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 || argv[1][0] == '-') die("usage: trace_replay TRACE (text: one 4 KiB page number per line, optionally r|w)", nullptr);
    const int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) die(argv[1], std::strerror(errno));
    const size_t size = static_cast<size_t>(st.st_size);
    auto* text = static_cast<char*>(shared_buffer(size + 1));
    for (size_t got = 0; got < size;) {
        const ssize_t r = read(fd, text + got, size - got);
        if (r <= 0) die(argv[1], r < 0 ? std::strerror(errno) : "short read");
        got += static_cast<size_t>(r);
    }
    close(fd);

    // At most one access per two bytes ("0\n"); each is a page number and a read bit.
    auto* pages = static_cast<uint32_t*>(shared_buffer((size / 2 + 1) * sizeof(uint32_t)));
    auto* reads = static_cast<uint8_t*>(shared_buffer(size / 2 + 1));
    size_t n = 0;
    uint64_t max_page = 0;
    for (char* line = text; line < text + size;) {
        char* end = static_cast<char*>(std::memchr(line, '\n', static_cast<size_t>(text + size - line)));
        if (!end) end = text + size;
        *end = '\0';
        char* p = line;
        while (*p == ' ' || *p == '\t') ++p;
        if (*p && *p != '#' && *p != '\r') {
            char* after = nullptr;
            errno = 0;
            const unsigned long long page = std::strtoull(p, &after, 10);
            if (after == p || errno || page > UINT32_MAX) die("not a decimal page number", line);
            while (*after == ' ' || *after == '\t') ++after;
            if (*after == 'e') {  // an eviction in a recorded trace: not an access
                line = end + 1;
                continue;
            }
            pages[n] = static_cast<uint32_t>(page);
            reads[n] = *after == 'r' || *after == 'R';
            if (page > max_page) max_page = page;
            ++n;
        }
        line = end + 1;
    }

    // The one emulated region: private anonymous read-write memory, which libdime.so emulates.
    const size_t region_bytes = (max_page + 1) * 4096;
    auto* region = static_cast<volatile unsigned char*>(
        mmap(nullptr, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (region == MAP_FAILED) die("cannot map the region", std::strerror(errno));

    const double t0 = seconds();
    unsigned sum = 0;
    for (size_t i = 0; i < n; ++i) {
        volatile unsigned char* at = region + size_t(pages[i]) * 4096 + (i % 64) * 8;
        if (reads[i]) sum += *at;
        else *at = static_cast<unsigned char>(i);
    }
    const double t1 = seconds();

    char line[256];
    const int len = std::snprintf(line, sizeof line,
                                  "trace_replay: %zu accesses over %llu pages (%.1f MiB region) in %.3f s (%.2f us per access)%s\n",
                                  n, static_cast<unsigned long long>(max_page + 1), double(region_bytes) / (1 << 20),
                                  t1 - t0, n ? (t1 - t0) * 1e6 / double(n) : 0.0, sum == 0xffffffffu ? " " : "");
    [[maybe_unused]] ssize_t w = write(1, line, static_cast<size_t>(len));
    return 0;
}
