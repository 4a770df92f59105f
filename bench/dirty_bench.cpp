// dirty_bench.cpp — what knowing which pages are dirty costs, per candidate mechanism, on this
// kernel (docs/architecture.md, "Read vs write"). Prints, never asserts. Runs on its own threads.
//
//   (a) synchronous userfaultfd write protection, as the engine does with writeback: true — the
//       first write after a re-fetch by a read takes a WP fault that the handler resolves at once;
//       measured through the Engine, against the same walk with writeback: false;
//   (b) UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN (Linux >= 6.7): the kernel resolves the WP fault
//       itself and records PAGE_IS_WRITTEN; measured raw: the cost per first write, and one scan
//       (with re-protection) per page;
//   (c) soft-dirty (/proc/self/clear_refs, pagemap bit 55): present only with CONFIG_MEM_SOFT_DIRTY.
//
// Usage: dirty_bench [pages] [rounds]   (defaults 4096 pages, 5 rounds; medians are printed)
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"

// Linux 6.7's ABI; Debian 12's headers predate it.
#ifndef PAGEMAP_SCAN
struct page_region {
    __u64 start, end, categories;
};
struct pm_scan_arg {
    __u64 size, flags, start, end, walk_end, vec, vec_len, max_pages;
    __u64 category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGE_IS_WRITTEN (1 << 1)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

namespace {

constexpr size_t kPage = 4096;

double now_ns() {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

void write_walk(unsigned char* base, size_t pages, unsigned char value) {
    for (size_t p = 0; p < pages; ++p) reinterpret_cast<volatile unsigned char*>(base)[p * kPage + 8] = value;
}

unsigned read_walk(const unsigned char* base, size_t pages) {
    unsigned sum = 0;
    for (size_t p = 0; p < pages; ++p) sum += reinterpret_cast<const volatile unsigned char*>(base)[p * kPage];
    return sum;
}

// (a) One round through the engine: pages written, evicted, read back (re-fetch by a read: with
// writeback they are mapped write-protected, clean), then the timed write walk; then evicting them
// all again (dirty now). Returns {ns per write, ns per eviction}.
struct EngineRound {
    double write_ns, evict_dirty_ns, evict_clean_ns;
};
EngineRound engine_round(dime::Engine& engine, unsigned char* base, size_t pages, int round) {
    write_walk(base, pages, static_cast<unsigned char>(round));
    engine.evict_range(base, pages * kPage);
    unsigned sink = read_walk(base, pages);
    // Clean evictions first (read-only so far), then read back and time the first writes.
    double t0 = now_ns();
    engine.evict_range(base, pages * kPage);
    const double clean = (now_ns() - t0) / double(pages);
    sink += read_walk(base, pages);
    t0 = now_ns();
    write_walk(base, pages, static_cast<unsigned char>(round + 1));
    const double write = (now_ns() - t0) / double(pages);
    t0 = now_ns();
    engine.evict_range(base, pages * kPage);
    const double dirty = (now_ns() - t0) / double(pages);
    if (sink == 0xffffffff) std::puts("");  // keep the reads
    return {write, dirty, clean};
}

void bench_engine(size_t pages, int rounds) {
    std::printf("(a) synchronous write protection, through the engine (%zu pages, latency 0):\n", pages);
    for (const char* poll_mode : {"block", "busy"})
    for (bool writeback : {false, true}) {
        dime::Config cfg;
        cfg.poll_mode = poll_mode;
        cfg.summary = false;
        cfg.latency_ns = 0;
        cfg.overhead_ns = 0;
        cfg.local_npages = pages * 2;  // nothing is evicted but by evict_range
        cfg.writeback = writeback;
        std::string error;
        auto engine = dime::Engine::start(cfg, &error);
        if (!engine) {
            std::printf("    cannot start the engine: %s\n", error.c_str());
            return;
        }
        auto* base = static_cast<unsigned char*>(engine->map_region(pages * kPage, &error));
        std::vector<double> w, d, c;
        for (int r = 0; r < rounds; ++r) {
            const EngineRound e = engine_round(*engine, base, pages, 2 * r);
            w.push_back(e.write_ns);
            d.push_back(e.evict_dirty_ns);
            c.push_back(e.evict_clean_ns);
        }
        const dime::Totals t = engine->totals();
        std::printf("    poll_mode %-5s writeback %-5s  first write after a read re-fetch %7.0f ns   evict_range per page: "
                    "after writes %6.0f ns, after reads only %6.0f ns   (first-write faults %llu, clean %llu, "
                    "dirty %llu)\n",
                    poll_mode, writeback ? "true" : "false", median(w), median(d), median(c),
                    static_cast<unsigned long long>(t.first_write_faults),
                    static_cast<unsigned long long>(t.clean_evictions),
                    static_cast<unsigned long long>(t.dirty_evictions));
        engine->unmap_region(base);
    }
}

// (b) WP_ASYNC: the kernel resolves WP faults itself and records the write for PAGEMAP_SCAN.
void bench_wp_async(size_t pages, int rounds) {
    std::printf("(b) UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN, raw (%zu pages):\n", pages);
    const int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    if (uffd < 0) {
        std::printf("    no userfaultfd: %s\n", std::strerror(errno));
        return;
    }
    uffdio_api api{UFFD_API, UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, 0};
    if (ioctl(uffd, UFFDIO_API, &api) != 0) {
        std::printf("    this kernel refuses WP_ASYNC: %s\n", std::strerror(errno));
        close(uffd);
        return;
    }
    const size_t len = pages * kPage;
    auto* base = static_cast<unsigned char*>(mmap(nullptr, len, PROT_READ | PROT_WRITE,
                                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    madvise(base, len, MADV_NOHUGEPAGE);
    uffdio_register reg{{reinterpret_cast<uintptr_t>(base), len}, UFFDIO_REGISTER_MODE_WP, 0};
    const int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0 || pagemap < 0) {
        std::printf("    cannot register for WP or open pagemap: %s\n", std::strerror(errno));
        close(uffd);
        return;
    }
    std::vector<page_region> regions(pages);
    // Returns the pages written since the last scan, and write-protects them again.
    auto scan = [&]() -> long {
        pm_scan_arg arg{};
        arg.size = sizeof arg;
        arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
        arg.start = reinterpret_cast<uintptr_t>(base);
        arg.end = arg.start + len;
        arg.vec = reinterpret_cast<uintptr_t>(regions.data());
        arg.vec_len = regions.size();
        arg.category_mask = PAGE_IS_WRITTEN;
        arg.return_mask = PAGE_IS_WRITTEN;
        const long n = ioctl(pagemap, PAGEMAP_SCAN, &arg);
        if (n < 0) return -errno;
        long written = 0;
        for (long i = 0; i < n; ++i) written += long((regions[i].end - regions[i].start) / kPage);
        return written;
    };
    write_walk(base, pages, 1);  // populate
    if (const long first = scan(); first < 0) {
        std::printf("    PAGEMAP_SCAN failed: %s\n", std::strerror(int(-first)));
        close(uffd);
        return;
    }
    std::vector<double> plain, protected_write, scan_all, scan_none;
    long seen = 0;
    for (int r = 0; r < rounds; ++r) {
        double t0 = now_ns();
        write_walk(base, pages, static_cast<unsigned char>(r));  // all protected: an async WP fault each
        protected_write.push_back((now_ns() - t0) / double(pages));
        t0 = now_ns();
        write_walk(base, pages, static_cast<unsigned char>(r + 1));  // unprotected now: plain stores
        plain.push_back((now_ns() - t0) / double(pages));
        t0 = now_ns();
        seen = scan();  // every page written: reported and protected again
        scan_all.push_back((now_ns() - t0) / double(pages));
        t0 = now_ns();
        (void)scan();  // nothing written since
        scan_none.push_back((now_ns() - t0) / double(pages));
    }
    std::printf("    first write to a protected page %7.0f ns (a plain store %.0f ns)   PAGEMAP_SCAN + re-protect "
                "per page: all written %.0f ns, none %.0f ns   (last scan found %ld of %zu written)\n",
                median(protected_write), median(plain), median(scan_all), median(scan_none), seen, pages);
    close(pagemap);
    close(uffd);
    munmap(base, len);
}

// (c) soft-dirty needs CONFIG_MEM_SOFT_DIRTY: after clear_refs=4 a written page shows bit 55.
void probe_soft_dirty() {
    auto* page = static_cast<unsigned char*>(
        mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    page[0] = 1;
    const int clear = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    const bool cleared = clear >= 0 && write(clear, "4", 1) == 1;
    if (clear >= 0) close(clear);
    page[0] = 2;
    uint64_t entry = 0;
    const int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    const bool read_ok = pm >= 0 && pread(pm, &entry, sizeof entry,
                                          off_t(reinterpret_cast<uintptr_t>(page) / kPage * sizeof entry)) == 8;
    if (pm >= 0) close(pm);
    std::printf("(c) soft-dirty: %s\n",
                !cleared || !read_ok      ? "cannot clear or read (no /proc access)"
                : (entry >> 55) & 1       ? "available (bit 55 set after a write)"
                                          : "not available here (bit 55 never set: CONFIG_MEM_SOFT_DIRTY off)");
    munmap(page, kPage);
}

}  // namespace

int main(int argc, char** argv) {
    const size_t pages = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 4096;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    if (pages == 0 || rounds <= 0) {
        std::fprintf(stderr, "usage: dirty_bench [pages > 0] [rounds > 0]\n");
        return 2;
    }
    bench_engine(pages, rounds);
    bench_wp_async(pages, rounds);
    probe_soft_dirty();
    return 0;
}
