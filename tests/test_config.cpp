// test_config.cpp — unit tests of the settings layer: units, precedence, every kind of bad input, and that dime.yaml.example and docs/configuration.md cover options.def.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "config.h"

namespace {

using dime::Config;
using dime::ConfigResult;

// Every option with its default as fmt prints the field, straight from the X-macro table.
struct KeyDefault {
    std::string key;
    std::string value;
};

std::vector<KeyDefault> all_options() {
    const Config d;
    std::vector<KeyDefault> out;
#define DIME_OPTION(key, kind, c_type, def, lo, hi, help) out.push_back({#key, fmt::format("{}", d.key)});
#include "options.def"
#undef DIME_OPTION
    return out;
}

// Applies one DIME_OPTIONS-style setting to a default Config.
ConfigResult set(Config& cfg, const std::string& kv) { return dime::apply_options_string(cfg, kv, "DIME_OPTIONS"); }

// Applies YAML text to a default Config under the name "dime.yaml".
ConfigResult yaml(Config& cfg, const std::string& text) { return dime::apply_yaml_text(cfg, text, "dime.yaml"); }

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A file under /tmp that disappears with the test.
struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text) {
        char name[] = "/tmp/dime-config-test-XXXXXX";
        int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        path = name;
        REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
    }
    ~TempFile() { ::unlink(path.c_str()); }
};

// Sets (or, with nullptr, unsets) an environment variable for the scope of one test.
struct EnvVar {
    std::string name;
    std::optional<std::string> saved;
    EnvVar(const char* n, const char* value) : name(n) {
        if (const char* old = std::getenv(n)) saved = old;
        if (value)
            ::setenv(n, value, 1);
        else
            ::unsetenv(n);
    }
    ~EnvVar() {
        if (saved)
            ::setenv(name.c_str(), saved->c_str(), 1);
        else
            ::unsetenv(name.c_str());
    }
};

}  // namespace

TEST_CASE("defaults follow options.def and pass validation", "[config]") {
    Config cfg;
    CHECK(cfg.latency_ns == 1000);
    CHECK(cfg.bandwidth_bps == 10000000000ull);
    CHECK(cfg.local_npages == 65536);
    CHECK(cfg.policy == "fifo");
    CHECK(cfg.first_touch == "remote");
    CHECK(cfg.summary);
    ConfigResult r = dime::validate(cfg);
    INFO(r.error);
    CHECK(r.ok);
    CHECK(cfg.pool_pages() == 65536);
}

TEST_CASE("bytes accept 1024-based units", "[config][units]") {
    struct Row {
        const char* text;
        uint64_t bytes;
    };
    const Row rows[] = {
        {"4096", 4096},          {"8192B", 8192},          {"4K", 4096},
        {"4KB", 4096},           {"4KiB", 4096},           {"4kib", 4096},
        {"2MiB", 2ull << 20},    {"2MB", 2ull << 20},      {"3GiB", 3ull << 30},
        {"3G", 3ull << 30},      {"1TiB", 1ull << 40},     {"1tb", 1ull << 40},
        {"1_048_576", 1 << 20},  {"0", 0},
    };
    for (const Row& row : rows) {
        Config cfg;
        ConfigResult r = set(cfg, std::string("local_bytes=") + row.text);
        INFO(row.text << " -> " << r.error);
        REQUIRE(r.ok);
        CHECK(cfg.local_bytes == row.bytes);
    }
    Config cfg;
    REQUIRE(yaml(cfg, "local_bytes: 16 MiB\n").ok);  // one space is allowed in YAML
    CHECK(cfg.local_bytes == 16ull << 20);
}

TEST_CASE("bytes reject nonsense, naming the key", "[config][units]") {
    for (const char* text : {"4XB", "4KiBs", "-1", "1.5.2", "1.5G", "KiB", "4__0", "_4", "4_", "0x1000",
                             "1e6", "four", "4  KiB", "4 KiBs"}) {
        Config cfg;
        ConfigResult r = yaml(cfg, fmt::format("local_bytes: \"{}\"\n", text));
        INFO(text << " -> " << r.error);
        CHECK_FALSE(r.ok);
        CHECK(r.error.find("dime.yaml:1: local_bytes: ") == 0);
        CHECK(cfg.local_bytes == 0);  // a failed apply changes nothing
    }
    Config cfg;
    ConfigResult r = set(cfg, "local_bytes=4XB");
    CHECK(r.error == "DIME_OPTIONS: local_bytes: unknown unit 'XB' in '4XB'; units: B, K/KB/KiB, "
                     "M/MB/MiB, G/GB/GiB, T/TB/TiB (all 1024-based)");
}

TEST_CASE("nanoseconds accept ns, us, µs, ms and s", "[config][units]") {
    struct Row {
        const char* text;
        uint64_t ns;
    };
    const Row rows[] = {{"20000", 20000}, {"20us", 20000},        {"20µs", 20000}, {"20 us", 20000},
                        {"7ns", 7},       {"3ms", 3000000},        {"1s", 1000000000}, {"0", 0},
                        {"1_500", 1500}};
    for (const Row& row : rows) {
        Config cfg;
        ConfigResult r = yaml(cfg, fmt::format("latency_ns: {}\n", row.text));
        INFO(row.text << " -> " << r.error);
        REQUIRE(r.ok);
        CHECK(cfg.latency_ns == row.ns);
    }
    for (const char* text : {"20US", "20 usec", "1min", "2s", "1.5us", "1e3", "-5"}) {
        Config cfg;
        ConfigResult r = yaml(cfg, fmt::format("latency_ns: \"{}\"\n", text));
        INFO(text << " -> " << r.error);
        CHECK_FALSE(r.ok);
        CHECK(r.error.find("dime.yaml:1: latency_ns: ") == 0);
    }
}

TEST_CASE("overhead_ns takes -1 (calibrate) but nothing below", "[config][units]") {
    Config cfg;
    REQUIRE(set(cfg, "overhead_ns=250").ok);
    CHECK(cfg.overhead_ns == 250);
    REQUIRE(set(cfg, "overhead_ns=-1").ok);
    CHECK(cfg.overhead_ns == -1);
    ConfigResult r = set(cfg, "overhead_ns=-2");
    CHECK(r.error == "DIME_OPTIONS: overhead_ns: '-2' is out of range; allowed -1 ns to 1000000000 ns (1s)");
}

TEST_CASE("bandwidth accepts bits per second with 1000-based multipliers", "[config][units]") {
    struct Row {
        const char* text;
        uint64_t bps;
    };
    const Row rows[] = {{"1000000000", 1000000000ull}, {"10Gbit", 10000000000ull}, {"10Gbps", 10000000000ull},
                        {"25Gbit/s", 25000000000ull},  {"100Mbit", 100000000ull},   {"64kbps", 64000ull},
                        {"64Kbps", 64000ull},          {"1Tbit", 1000000000000ull}, {"5000bps", 5000ull},
                        {"5000bit", 5000ull}};
    for (const Row& row : rows) {
        Config cfg;
        ConfigResult r = set(cfg, std::string("bandwidth_bps=") + row.text);
        INFO(row.text << " -> " << r.error);
        REQUIRE(r.ok);
        CHECK(cfg.bandwidth_bps == row.bps);
    }
    for (const char* text : {"10G", "10GB", "10GB/s", "10Gbs", "1e9", "1.5Gbit", "999", "0", "2000000Tbit"}) {
        Config cfg;
        ConfigResult r = set(cfg, std::string("bandwidth_bps=") + text);
        INFO(text << " -> " << r.error);
        CHECK_FALSE(r.ok);
        CHECK(r.error.find("DIME_OPTIONS: bandwidth_bps: ") == 0);
    }
}

TEST_CASE("booleans, choices, cpus and counts", "[config][units]") {
    for (const char* yes : {"true", "yes", "on", "1", "True", "YES"}) {
        Config cfg;
        cfg.summary = false;
        REQUIRE(set(cfg, std::string("summary=") + yes).ok);
        CHECK(cfg.summary);
    }
    for (const char* no : {"false", "no", "off", "0", "Off"}) {
        Config cfg;
        REQUIRE(set(cfg, std::string("summary=") + no).ok);
        CHECK_FALSE(cfg.summary);
    }
    Config cfg;
    CHECK(set(cfg, "summary=maybe").error ==
          "DIME_OPTIONS: summary: 'maybe' is not a boolean; expected true or false (also yes/no, on/off, 1/0)");
    CHECK_FALSE(set(cfg, "summary=2").ok);

    REQUIRE(yaml(cfg, "poll_mode: Hybrid\nfirst_touch: local\n").ok);
    CHECK(cfg.poll_mode == "hybrid");  // stored as the canonical word
    CHECK(cfg.first_touch == "local");
    CHECK(set(cfg, "poll_mode=bussy").error ==
          "DIME_OPTIONS: poll_mode: 'bussy' is not one of: busy, block, hybrid (did you mean 'busy'?)");
    CHECK(set(cfg, "policy=lru").error == "DIME_OPTIONS: policy: 'lru' is not one of: fifo, random, clock, lru2q, arc, plugin (did you mean 'lru2q'?)");

    REQUIRE(set(cfg, "handler_cpu=0").ok);
    CHECK(cfg.handler_cpu == 0);
    REQUIRE(set(cfg, "handler_cpu=-1").ok);
    CHECK(cfg.handler_cpu == -1);
    for (const char* bad : {"-2", "1.0", "x", "4096", "0us"}) {
        INFO(bad);
        CHECK(set(cfg, std::string("handler_cpu=") + bad).error.find("DIME_OPTIONS: handler_cpu: ") == 0);
    }

    REQUIRE(set(cfg, "local_npages=1_000").ok);
    CHECK(cfg.local_npages == 1000);
    for (const char* bad : {"1000pages", "1k", "10.0", "-3"}) {
        INFO(bad);
        CHECK(set(cfg, std::string("local_npages=") + bad).error.find("DIME_OPTIONS: local_npages: ") == 0);
    }
}

TEST_CASE("out-of-range values name the key and the allowed range", "[config][errors]") {
    Config cfg;
    CHECK(set(cfg, "local_npages=-1").error ==
          "DIME_OPTIONS: local_npages: '-1' is negative; allowed 1 to 17179869184");
    CHECK(set(cfg, "local_npages=0").error ==
          "DIME_OPTIONS: local_npages: '0' is out of range; allowed 1 to 17179869184");
    CHECK(set(cfg, "latency_ns=5s").error ==
          "DIME_OPTIONS: latency_ns: '5s' is out of range; allowed 0 ns to 1000000000 ns (1s)");
    CHECK(set(cfg, "heap_bytes=1KiB").error ==
          "DIME_OPTIONS: heap_bytes: '1KiB' is out of range; allowed 1048576 (1MiB) to 70368744177664 (64TiB)");
    CHECK(set(cfg, "page_size=4MiB").error ==
          "DIME_OPTIONS: page_size: '4MiB' is out of range; allowed 4096 (4KiB) to 2097152 (2MiB)");
    CHECK(set(cfg, "page_size=3000").error ==
          "DIME_OPTIONS: page_size: '3000' is out of range; allowed 4096 (4KiB) to 2097152 (2MiB)");
    // Overflow of uint64 while reading digits, and while applying the unit.
    CHECK(set(cfg, "bandwidth_bps=99999999999999999999999").error ==
          "DIME_OPTIONS: bandwidth_bps: '99999999999999999999999' is too large; "
          "allowed 1000 bit/s to 1000000000000000000 bit/s");
    CHECK(set(cfg, "local_bytes=99999999999TiB").error.find("local_bytes: '99999999999TiB' is too large") !=
          std::string::npos);
    CHECK(cfg.latency_ns == 1000);  // none of the above changed anything
}

TEST_CASE("YAML errors name the file, the 1-based line and the key", "[config][errors][yaml]") {
    Config cfg;
    CHECK(yaml(cfg, "latency_ns: 20us\nbandwidth_bps: 1Gbit\nlatency_nss: 5\n").error ==
          "dime.yaml:3: unknown key 'latency_nss' (did you mean 'latency_ns'?)");
    CHECK(yaml(cfg, "bandwidth: 5\n").error == "dime.yaml:1: unknown key 'bandwidth' (did you mean 'bandwidth_bps'?)");
    CHECK(yaml(cfg, "colour: blue\n").error == "dime.yaml:1: unknown key 'colour'");
    CHECK(yaml(cfg, "pid: 1234\n").error.find("dime.yaml:1: unknown key 'pid' (instance_id and pid") == 0);
    CHECK(yaml(cfg, "# a comment\n\nlatency_ns: [1, 2]\n").error ==
          "dime.yaml:3: latency_ns: expected a single value, got a list");
    CHECK(yaml(cfg, "policy:\n  name: fifo\n").error == "dime.yaml:1: policy: expected a single value, got a mapping");
    CHECK(yaml(cfg, "latency_ns:\n").error ==
          "dime.yaml:1: latency_ns: no value given; expected a duration such as 20000 (ns), 20us or 1ms");
    CHECK(yaml(cfg, "latency_ns: 1\nspin_ns: 2\nlatency_ns: 3\n").error ==
          "dime.yaml:3: latency_ns: given twice (first at dime.yaml:1)");
    CHECK(yaml(cfg, "- latency_ns: 1\n").error ==
          "dime.yaml:1: the top level must be a mapping of settings (key: value), not a list");
    CHECK(yaml(cfg, "latency_ns=20000\n").error ==
          "dime.yaml:1: the top level must be a mapping of settings (key: value), not a scalar");
    CHECK(yaml(cfg, "latency_ns: 1\n---\nlatency_ns: 2\n").error ==
          "dime.yaml:3: a second YAML document; the configuration is one mapping");
    CHECK(yaml(cfg, "[a, b]: 1\n").error == "dime.yaml:1: a key must be a plain word, not a list");
    CHECK(yaml(cfg, "local_npages: 4\nlocal_bytes: 16MiB\nsummary: perhaps\n").error.find("dime.yaml:3: summary: ") == 0);

    // Malformed YAML: file:line and yaml-cpp's own reason.
    ConfigResult r = yaml(cfg, "latency_ns: 1\nspin_ns: [1, 2\n");
    CHECK(r.error.find("dime.yaml:") == 0);
    CHECK(r.error.find(": malformed YAML: ") != std::string::npos);
    CHECK(r.error.find("end of sequence flow not found") != std::string::npos);
    CHECK(yaml(cfg, "latency_ns: 1\n  spin_ns: 2\n").error == "dime.yaml:2: malformed YAML: illegal map value");

    // None of the failures above touched the Config.
    CHECK(dime::to_json(cfg) == dime::to_json(Config{}));
}

TEST_CASE("YAML: empty documents are no settings; text may be null", "[config][yaml]") {
    Config cfg;
    CHECK(yaml(cfg, "").ok);
    CHECK(yaml(cfg, "# nothing but a comment\n").ok);
    cfg.report = "old.json";
    REQUIRE(yaml(cfg, "report:\nsummary: no\nlatency_ns: 20 us\n").ok);
    CHECK(cfg.report.empty());
    CHECK_FALSE(cfg.summary);
    CHECK(cfg.latency_ns == 20000);
    REQUIRE(yaml(cfg, "report: \"/tmp/r e.json\"\n").ok);
    CHECK(cfg.report == "/tmp/r e.json");
}

TEST_CASE("DIME_OPTIONS: DiME's key=value syntax", "[config][options]") {
    Config cfg;
    REQUIRE(set(cfg, "latency_ns=20000 bandwidth_bps=1000000000 local_npages=1000").ok);  // as in DiME
    CHECK(cfg.latency_ns == 20000);
    CHECK(cfg.bandwidth_bps == 1000000000ull);
    CHECK(cfg.local_npages == 1000);
    REQUIRE(set(cfg, " ,\tpolicy=fifo,first_touch=local\n\nreport=/tmp/x.json,, ").ok);
    CHECK(cfg.first_touch == "local");
    CHECK(cfg.report == "/tmp/x.json");
    REQUIRE(set(cfg, "report=").ok);
    CHECK(cfg.report.empty());
    CHECK(set(cfg, "").ok);

    CHECK(set(cfg, "instance_id=0 latency_ns=1000").error.find("DIME_OPTIONS: unknown key 'instance_id' (") == 0);
    CHECK(set(cfg, "latency_ns=1 pid=1234,5678").error.find("DIME_OPTIONS: unknown key 'pid' (") == 0);
    CHECK(set(cfg, "local_npage=5").error == "DIME_OPTIONS: unknown key 'local_npage' (did you mean 'local_npages'?)");
    CHECK(set(cfg, "hello").error ==
          "DIME_OPTIONS: 'hello' is not key=value (settings are separated by spaces or commas, so a value "
          "cannot contain them)");
    CHECK(set(cfg, "local_bytes=4 GiB").error.find("DIME_OPTIONS: 'GiB' is not key=value") == 0);
    CHECK(set(cfg, "latency_ns = 5").error ==
          "DIME_OPTIONS: latency_ns: no value; write latency_ns=VALUE with no spaces around '='");
    CHECK(set(cfg, "=5").error == "DIME_OPTIONS: '=5' has no key; write key=value with no spaces around '='");
    CHECK(set(cfg, "latency_ns=").error ==
          "DIME_OPTIONS: latency_ns: no value given; expected a duration such as 20000 (ns), 20us or 1ms");
    CHECK(set(cfg, "latency_ns=1 latency_ns=2").error == "DIME_OPTIONS: latency_ns: given twice");
    CHECK(set(cfg, "latency_ns=5 summary=maybe").error.find("DIME_OPTIONS: summary: ") == 0);
    CHECK(cfg.latency_ns == 20000);  // the failed string applied nothing, not even its valid head
}

TEST_CASE("DIME_OPTIONS: a second '=' belongs only to a path", "[config][options]") {
    Config cfg;
    CHECK(set(cfg, "a=b=c").error.find("DIME_OPTIONS: 'a=b=c' has more than one '='") == 0);
    CHECK(set(cfg, "latency_ns=5=6").error.find("DIME_OPTIONS: 'latency_ns=5=6' has more than one '='") == 0);
    REQUIRE(set(cfg, "report=/tmp/a=b.json policy_plugin=/opt/x=y.so").ok);
    CHECK(cfg.report == "/tmp/a=b.json");
    CHECK(cfg.policy_plugin == "/opt/x=y.so");
}

TEST_CASE("YAML: a quoted string left open is an error, not the rest of the file", "[config][errors][yaml]") {
    Config cfg;
    // yaml-cpp alone would read policy_plugin as "/opt/x.so local_npages: 5" and ignore local_npages.
    CHECK(yaml(cfg, "latency_ns: 2us\npolicy_plugin: \"/opt/x.so\nlocal_npages: 5\n").error ==
          "dime.yaml:2: malformed YAML: a quoted string opens here and is never closed");
    CHECK(yaml(cfg, "'latency_ns: 2us\n").error.find("dime.yaml:1: malformed YAML: a quoted string") == 0);
    CHECK(yaml(cfg, "tiers:\n  far:\n    latency_ns: '5us\n").error.find("dime.yaml:3: malformed YAML") == 0);
    // Closed strings with escaped quotes inside are fine.
    REQUIRE(yaml(cfg, "policy_plugin: \"/opt/a\\\"b.so\"\nreport: 'it''s.json'\n").ok);
    CHECK(cfg.policy_plugin == "/opt/a\"b.so");
    CHECK(cfg.report == "it's.json");
}

TEST_CASE("output paths (report, trace, series) are checked when read", "[config][errors]") {
    Config cfg;
    CHECK(set(cfg, "report=/nonexistent/r.json").error ==
          "DIME_OPTIONS: report: cannot write '/nonexistent/r.json': No such file or directory");
    CHECK(set(cfg, "trace=/tmp").error == "DIME_OPTIONS: trace: cannot write '/tmp': Is a directory");
    // Not a device, a pipe or a link, which the rename would replace (as root, /dev/null itself):
    // a fifo and a symbolic link of the test's own stand for them.
    char dir[] = "/tmp/dime-config-test-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string fifo = std::string(dir) + "/fifo", link = std::string(dir) + "/link";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    REQUIRE(::symlink("/tmp/elsewhere.json", link.c_str()) == 0);
    const std::string fifo_error = set(cfg, "series=" + fifo).error, link_error = set(cfg, "report=" + link).error;
    ::unlink(fifo.c_str());
    ::unlink(link.c_str());
    ::rmdir(dir);
    CHECK(fifo_error == "DIME_OPTIONS: series: cannot write '" + fifo +
                            "': not a regular file (the file is written beside it and renamed over it, replacing it)");
    CHECK(link_error.find("DIME_OPTIONS: report: cannot write '" + link + "': a symbolic link") == 0);
    CHECK(yaml(cfg, "summary: no\nreport: /nonexistent/%p.json\n").error ==
          "dime.yaml:2: report: cannot write '/nonexistent/%p.json': No such file or directory");
    // Writable places, a file that does not exist yet, %p, and none at all are accepted.
    REQUIRE(set(cfg, "report=/tmp/dime-config-test-%p.json trace=/tmp/dime-t.txt series=").ok);
    CHECK(cfg.report == "/tmp/dime-config-test-%p.json");
    REQUIRE(yaml(cfg, "report:\n").ok);
    CHECK(cfg.report.empty());
}

TEST_CASE("validate: cross-key checks and bounds of a Config built in code", "[config][validate]") {
    Config cfg;
    cfg.local_bytes = 10000;
    CHECK(dime::validate(cfg).error == "local_bytes: 10000 is not a multiple of page_size (4096)");
    cfg.local_bytes = 8192;
    CHECK(dime::validate(cfg).ok);
    CHECK(cfg.pool_pages() == 2);

    cfg = Config{};
    cfg.heap_bytes = (1ull << 20) + 100;
    CHECK(dime::validate(cfg).error == "heap_bytes: 1048676 is not a multiple of page_size (4096)");

    cfg = Config{};
    cfg.local_npages = 0;
    CHECK(dime::validate(cfg).error.find("local_npages: 0 is out of range") == 0);

    cfg = Config{};
    cfg.latency_ns = 5000000000ull;
    CHECK(dime::validate(cfg).error.find("latency_ns: 5000000000 is out of range") == 0);

    cfg = Config{};
    cfg.policy = "lru";
    CHECK(dime::validate(cfg).error == "policy: 'lru' is not one of: fifo, random, clock, lru2q, arc, plugin");

    cfg = Config{};
    cfg.handler_cpu = static_cast<int64_t>(::sysconf(_SC_NPROCESSORS_CONF));
    CHECK(dime::validate(cfg).error.find("handler_cpu: ") == 0);
    cfg.handler_cpu = 0;
    CHECK(dime::validate(cfg).ok);
}

TEST_CASE("load_from_environment: defaults < DIME_CONFIG < DIME_OPTIONS < DIME_REPORT", "[config][env]") {
    TempFile file("latency_ns: 5us\nlocal_npages: 100\nreport: from-yaml.json\npolicy: fifo\n");
    {
        EnvVar c("DIME_CONFIG", file.path.c_str()), o("DIME_OPTIONS", "latency_ns=7us"), r("DIME_REPORT", nullptr);
        Config cfg;
        ConfigResult res = dime::load_from_environment(cfg);
        INFO(res.error);
        REQUIRE(res.ok);
        CHECK(cfg.latency_ns == 7000);    // DIME_OPTIONS over the file
        CHECK(cfg.local_npages == 100);   // the file over the default
        CHECK(cfg.report == "from-yaml.json");
        CHECK(cfg.bandwidth_bps == Config{}.bandwidth_bps);  // the default where nobody spoke
    }
    {
        EnvVar c("DIME_CONFIG", file.path.c_str()), o("DIME_OPTIONS", "report=from-options.json"),
            r("DIME_REPORT", "from-env.json");
        Config cfg;
        REQUIRE(dime::load_from_environment(cfg).ok);
        CHECK(cfg.report == "from-env.json");  // DIME_REPORT over everything
    }
    {
        EnvVar c("DIME_CONFIG", nullptr), o("DIME_OPTIONS", "trace=from-options.txt"), t("DIME_TRACE", "from-env.txt");
        Config cfg;
        REQUIRE(dime::load_from_environment(cfg).ok);
        CHECK(cfg.trace == "from-env.txt");  // DIME_TRACE over DIME_OPTIONS
    }
    {
        EnvVar c("DIME_CONFIG", ""), o("DIME_OPTIONS", nullptr), r("DIME_REPORT", "");
        Config cfg;
        cfg.report = "x";
        REQUIRE(dime::load_from_environment(cfg).ok);  // empty DIME_CONFIG = no file
        CHECK(cfg.report.empty());                     // empty DIME_REPORT = no report
        CHECK(cfg.latency_ns == Config{}.latency_ns);
    }
}

TEST_CASE("load_from_environment: every failure is one line naming the culprit", "[config][env]") {
    EnvVar r("DIME_REPORT", nullptr);
    {
        EnvVar c("DIME_CONFIG", "/nonexistent/dime.yaml"), o("DIME_OPTIONS", nullptr);
        Config cfg;
        CHECK(dime::load_from_environment(cfg).error ==
              std::string("DIME_CONFIG: cannot read '/nonexistent/dime.yaml': ") + std::strerror(ENOENT));
    }
    {
        EnvVar c("DIME_CONFIG", "/"), o("DIME_OPTIONS", nullptr);
        Config cfg;
        CHECK(dime::load_from_environment(cfg).error ==
              std::string("DIME_CONFIG: cannot read '/': ") + std::strerror(EISDIR));
    }
    TempFile bad("latency_ns: 1\nlatency_nss: 2\n");
    {
        EnvVar c("DIME_CONFIG", bad.path.c_str()), o("DIME_OPTIONS", nullptr);
        Config cfg;
        CHECK(dime::load_from_environment(cfg).error ==
              bad.path + ":2: unknown key 'latency_nss' (did you mean 'latency_ns'?)");
    }
    TempFile good("local_npages: 4\n");
    {
        EnvVar c("DIME_CONFIG", good.path.c_str()), o("DIME_OPTIONS", "local_bytes=1000");
        Config cfg;
        CHECK(dime::load_from_environment(cfg).error == "local_bytes: 1000 is not a multiple of page_size (4096)");
        CHECK(cfg.local_npages == Config{}.local_npages);  // nothing applied on failure
    }
    {
        EnvVar c("DIME_CONFIG", nullptr), o("DIME_OPTIONS", "local_npages=0");
        Config cfg;
        CHECK(dime::load_from_environment(cfg).error ==
              "DIME_OPTIONS: local_npages: '0' is out of range; allowed 1 to 17179869184");
    }
}

TEST_CASE("to_json lists every setting and escapes strings", "[config][json]") {
    Config cfg;
    std::string json = dime::to_json(cfg);
    CHECK(json.front() == '{');
    CHECK(json.back() == '}');
    for (const KeyDefault& o : all_options()) {
        INFO(o.key);
        CHECK(json.find("\"" + o.key + "\":") != std::string::npos);
    }
    CHECK(json.find("\"latency_ns\":1000,") != std::string::npos);
    CHECK(json.find("\"handler_cpu\":-1,") != std::string::npos);
    CHECK(json.find("\"policy\":\"fifo\"") != std::string::npos);
    CHECK(json.find("\"summary\":true") != std::string::npos);

    cfg.report = "a\"b\\c\nd\x01\xc3\xa9\xff/e";
    json = dime::to_json(cfg);
    CHECK(json.find(R"("report":"a\"b\\c\nd\u0001)" "\xc3\xa9" R"(\ufffd/e")") != std::string::npos);
}

TEST_CASE("fetch_cost_ns: 2 x latency + page transmission, rounded to the nearest ns", "[config]") {
    Config cfg;
    cfg.latency_ns = 20000;
    cfg.bandwidth_bps = 1000000000ull;
    CHECK(cfg.fetch_cost_ns() == 40000 + 32768);
    cfg.bandwidth_bps = 10000000000ull;  // 3276.8 ns on the wire
    CHECK(cfg.fetch_cost_ns() == 40000 + 3277);
    cfg.bandwidth_bps = 7000000000ull;  // 4681.14 ns
    CHECK(cfg.fetch_cost_ns() == 40000 + 4681);
    cfg.latency_ns = 1000000000ull;  // the extremes: no overflow
    cfg.bandwidth_bps = 1000;
    CHECK(cfg.fetch_cost_ns() == 2000000000ull + 32768000000ull);
    cfg.latency_ns = 0;
    cfg.bandwidth_bps = 1000000000000000000ull;
    CHECK(cfg.fetch_cost_ns() == 0);
}

TEST_CASE("exit_bad_config prints one line and exits with status 2", "[config]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(fds[1], STDERR_FILENO);
        dime::exit_bad_config("latency_ns: bad\nsecond line");
    }
    ::close(fds[1]);
    std::string out;
    char buf[256];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 2);
    CHECK(out == "dime: latency_ns: bad second line\n");
}

TEST_CASE("dime.yaml.example sets every key in options.def to its default", "[config][docs]") {
    const std::string path = std::string(DIME_SOURCE_DIR) + "/dime.yaml.example";
    const std::string text = read_text(path);
    REQUIRE_FALSE(text.empty());
    for (const KeyDefault& o : all_options()) {
        INFO(o.key);
        CHECK((text.rfind(o.key + ":", 0) == 0 || text.find("\n" + o.key + ":") != std::string::npos));
    }
    // It parses (no unknown key, no bad value) and, applied on top of the defaults, changes
    // nothing: so every value it shows is the default.
    Config cfg;
    ConfigResult r = dime::apply_yaml_file(cfg, path);
    INFO(r.error);
    REQUIRE(r.ok);
    CHECK(dime::to_json(cfg) == dime::to_json(Config{}));
}

TEST_CASE("docs/configuration.md documents every key with its default", "[config][docs]") {
    const std::string text = read_text(std::string(DIME_SOURCE_DIR) + "/docs/configuration.md");
    REQUIRE_FALSE(text.empty());
    for (const KeyDefault& o : all_options()) {
        INFO(o.key);
        size_t row = text.find("\n| `" + o.key + "` |");
        REQUIRE(row != std::string::npos);
        std::string line = text.substr(row + 1, text.find('\n', row + 1) - row - 1);
        std::string shown = o.value.empty() ? "\"\"" : o.value;
        INFO(line);
        CHECK(line.find("`" + shown + "`") != std::string::npos);
    }
    for (const char* var : {"DIME_CONFIG", "DIME_OPTIONS", "DIME_REPORT"}) CHECK(text.find(var) != std::string::npos);
}

namespace {

// What apply_yaml_text says of a fuzzer's input, NUL bytes inside it included; the input must be
// refused.
template <size_t N>
std::string refusal_of_fuzz_input(const char (&input)[N]) {
    dime::Config cfg;
    const dime::ConfigResult r = dime::apply_yaml_text(cfg, std::string(input, N - 1), "fuzz.yaml");
    CHECK_FALSE(r.ok);
    return r.error;
}

}  // namespace

// Found by fuzz_yaml_config: yaml-cpp's message ("unknown escape character: ...") quoted a
// control character of the input raw, and the error spanned two lines.
TEST_CASE("a malformed-YAML message quoting the input's own characters stays on one line", "[config][errors]") {
    const std::string error =
        refusal_of_fuzz_input("tiers:\n  heap_bytescemenT\0\n  - tier: localA    min_bytes: v4KiB\n    max_bytes: 4KiB\n");
    INFO(error);
    CHECK(error.find("malformed YAML") != std::string::npos);
    CHECK(error.find('\n') == std::string::npos);
}

// Found by fuzz_yaml_config (in CI): an output path with a control character in it (here a tab
// and a NUL, as a YAML value may carry) was quoted raw in "cannot write '...'".
TEST_CASE("an unwritable output path with control characters is named on one line", "[config][errors]") {
    const std::string error = refusal_of_fuzz_input("report: \ts  tiiste\0nt/duffd_move.json\n");
    INFO(error);
    CHECK(error.find("cannot write") != std::string::npos);
    CHECK(error.find('\n') == std::string::npos);
    CHECK(error.find('\0') == std::string::npos);
}

// Found by fuzz_yaml_config: a ',' at the top level made yaml-cpp's LoadAll yield empty documents
// forever, memory growing, so the program never started. A bound (ctest's timeout) is the check.
TEST_CASE("YAML: a stray ',' at the top level is refused, not parsed forever", "[config][errors]") {
    dime::Config cfg;
    const dime::ConfigResult r = dime::apply_yaml_text(cfg, ",#x: y\nlatency_ns: 0us\n", "stray.yaml");
    CHECK_FALSE(r.ok);
    INFO(r.error);
    CHECK(r.error.rfind("stray.yaml", 0) == 0);
    CHECK(r.error.find('\n') == std::string::npos);
}
