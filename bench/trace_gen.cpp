// trace_gen.cpp — synthetic page-access traces for the policy lab (`dime sim`), in its text
// format (one page number per line, docs/policies.md). Four workloads: a sequential scan, a loop
// slightly larger than the pool, Zipf(0.99), and a scan mixed into a hot set. Deterministic for
// a given --seed. Offline, single-threaded.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

const char* kUsage =
    "usage: trace_gen KIND [--OPTION VALUE]... > trace.txt\n"
    "  scan     --pages N [--passes P]             pages 0..N-1 in order, P times (default 1)\n"
    "  loop     --pages N [--passes P]             the same; meant for N slightly above the pool\n"
    "  zipf     --pages N --accesses A [--theta T] page ranks drawn from Zipf(T) (default 0.99),\n"
    "                                              ranks shuffled over the page numbers\n"
    "  scanhot  --hot H --hot-run R --scan-run S --accesses A\n"
    "                                              R uniform accesses to H hot pages, then S pages\n"
    "                                              of a scan that never repeats, alternately\n"
    "  common:  [--seed S] (default 1)\n";

// splitmix64: small, fast, and the same on every platform (std distributions are not).
struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double unit() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    uint64_t below(uint64_t n) { return uint64_t((unsigned __int128)next() * n >> 64); }
};

[[noreturn]] void usage_error(const std::string& message) {
    std::fprintf(stderr, "trace_gen: %s\n%s", message.c_str(), kUsage);
    std::exit(2);
}

struct Args {
    std::string kind;
    uint64_t pages = 0, passes = 1, accesses = 0, hot = 0, hot_run = 0, scan_run = 0, seed = 1;
    double theta = 0.99;
};

uint64_t number(const char* name, const char* text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (errno || !*text || *end || *text == '-') usage_error(std::string(name) + ": '" + text + "' is not a count");
    return v;
}

Args parse(int argc, char** argv) {
    if (argc < 2) usage_error("no trace kind given");
    Args a;
    a.kind = argv[1];
    for (int i = 2; i < argc; i += 2) {
        std::string_view opt = argv[i];
        if (i + 1 >= argc) usage_error(std::string(opt) + " needs a value");
        const char* v = argv[i + 1];
        if (opt == "--pages") a.pages = number(argv[i], v);
        else if (opt == "--passes") a.passes = number(argv[i], v);
        else if (opt == "--accesses") a.accesses = number(argv[i], v);
        else if (opt == "--hot") a.hot = number(argv[i], v);
        else if (opt == "--hot-run") a.hot_run = number(argv[i], v);
        else if (opt == "--scan-run") a.scan_run = number(argv[i], v);
        else if (opt == "--seed") a.seed = number(argv[i], v);
        else if (opt == "--theta") {
            char* end = nullptr;
            a.theta = std::strtod(v, &end);
            if (*end || !(a.theta > 0 && a.theta < 10)) usage_error("--theta: '" + std::string(v) + "' is not in (0, 10)");
        } else usage_error("unknown option '" + std::string(opt) + "'");
    }
    return a;
}

void emit(std::vector<char>& out, uint64_t page) {
    char buf[24];
    const int n = std::snprintf(buf, sizeof buf, "%llu\n", static_cast<unsigned long long>(page));
    out.insert(out.end(), buf, buf + n);
    if (out.size() > (1u << 20)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::string_view(argv[1]) == "-h" || std::string_view(argv[1]) == "--help")) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    const Args a = parse(argc, argv);
    Rng rng{a.seed};
    std::vector<char> out;
    if (a.kind == "scan" || a.kind == "loop") {
        if (a.pages == 0) usage_error(a.kind + " needs --pages N");
        std::printf("# %s: pages 0..%llu, %llu passes\n", a.kind.c_str(), (unsigned long long)a.pages - 1,
                    (unsigned long long)a.passes);
        for (uint64_t pass = 0; pass < a.passes; ++pass)
            for (uint64_t p = 0; p < a.pages; ++p) emit(out, p);
    } else if (a.kind == "zipf") {
        if (a.pages == 0 || a.accesses == 0) usage_error("zipf needs --pages N and --accesses A");
        // Cumulative weights of ranks 1..N, weight(k) = 1 / k^theta; a draw is a binary search.
        std::vector<double> cdf(a.pages);
        double sum = 0;
        for (uint64_t k = 0; k < a.pages; ++k) cdf[k] = (sum += 1.0 / std::pow(double(k + 1), a.theta));
        // Rank k lives on page perm[k], so popular pages are spread over the address range.
        std::vector<uint64_t> perm(a.pages);
        for (uint64_t k = 0; k < a.pages; ++k) perm[k] = k;
        for (uint64_t k = a.pages - 1; k > 0; --k) std::swap(perm[k], perm[rng.below(k + 1)]);
        std::printf("# zipf: %llu pages, theta %.3f, %llu accesses, seed %llu\n", (unsigned long long)a.pages, a.theta,
                    (unsigned long long)a.accesses, (unsigned long long)a.seed);
        for (uint64_t i = 0; i < a.accesses; ++i) {
            const double u = rng.unit() * sum;
            const uint64_t k = std::min<uint64_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin(), a.pages - 1);
            emit(out, perm[k]);
        }
    } else if (a.kind == "scanhot") {
        if (a.hot == 0 || a.hot_run == 0 || a.scan_run == 0 || a.accesses == 0)
            usage_error("scanhot needs --hot H --hot-run R --scan-run S --accesses A");
        std::printf("# scanhot: %llu hot pages, runs of %llu hot accesses and %llu scanned pages, %llu accesses, seed %llu\n",
                    (unsigned long long)a.hot, (unsigned long long)a.hot_run, (unsigned long long)a.scan_run,
                    (unsigned long long)a.accesses, (unsigned long long)a.seed);
        uint64_t scan_next = a.hot;  // scanned pages follow the hot set and never repeat
        for (uint64_t i = 0; i < a.accesses;) {
            for (uint64_t r = 0; r < a.hot_run && i < a.accesses; ++r, ++i) emit(out, rng.below(a.hot));
            for (uint64_t s = 0; s < a.scan_run && i < a.accesses; ++s, ++i) emit(out, scan_next++);
        }
    } else {
        usage_error("unknown trace kind '" + a.kind + "'");
    }
    std::fflush(stdout);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
}
