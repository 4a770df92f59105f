// ctl_walker.c — the target of tests/scripts/check_ctl.py: walks a region far larger than its
// local pool (so every access is a remote fault) and prints, per window of 256 accesses, the
// mean time per access and the wall-clock time, until its standard input closes. The script
// changes the running emulation with dime ctl and watches the printed times follow.
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

enum { kPage = 4096, kPages = 4096, kWindow = 256 };

static uint64_t now_ns(int clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(void) {
    unsigned char* region = malloc((size_t)kPages * kPage);
    if (!region) return 1;
    printf("region %p %d\n", (void*)region, kPages * kPage);
    fflush(stdout);
    const int in_flags = fcntl(0, F_GETFL);
    fcntl(0, F_SETFL, in_flags | O_NONBLOCK);
    size_t next = 0;
    unsigned long pass = 0;
    for (;;) {
        const uint64_t t0 = now_ns(CLOCK_MONOTONIC);
        for (int i = 0; i < kWindow; ++i) {
            region[next * kPage] = (unsigned char)(region[next * kPage] + 1);
            if (++next == kPages) next = 0, ++pass;
        }
        const uint64_t t1 = now_ns(CLOCK_MONOTONIC);
        printf("ns_per_access %llu at %llu\n", (unsigned long long)((t1 - t0) / kWindow),
               (unsigned long long)(now_ns(CLOCK_REALTIME) / 1000));
        fflush(stdout);
        char c;
        const ssize_t n = read(0, &c, 1);
        if (n == 0) break;  // stdin closed: done
    }
    // Every page was incremented once per pass it was reached in: check what is knowable.
    size_t wrong = 0;
    for (size_t i = 0; i < kPages; ++i) {
        const unsigned expect = (unsigned)((pass + (i < next ? 1 : 0)) & 0xff);
        wrong += region[i * kPage] != expect;
    }
    printf("ctl_walker: %zu wrong pages after %lu passes\n", wrong, pass);
    return wrong ? 1 : 0;
}
