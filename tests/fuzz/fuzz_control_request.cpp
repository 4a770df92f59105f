// fuzz_control_request.cpp — libFuzzer target: the control socket's request parser and handler
// (control::handle_request, what `dime ctl` sends), driven against a running engine without the
// socket.
//
// Every reply must be "ok\n" + key=value lines or one "error: ...\n" line; a crash, undefined
// behaviour or a leak is a failure. The engine's emulated region holds a known pattern: whatever
// a request flushes or resizes, the data must read back unchanged (nothing lost). After each
// input the link and the pool go back to their starting values, so inputs do not depend on each
// other and a `set latency_ns=` cannot slow the following ones down.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "config.h"
#include "control.h"
#include "engine.h"
#include "fuzz_support.h"

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kRegionPages = 64;
constexpr uint64_t kPoolPages = 16;  // a quarter of the region: pages come and go

struct Fixture {
    std::unique_ptr<dime::Engine> engine;
    unsigned char* region = nullptr;
};

Fixture& fixture() {
    static Fixture f = [] {
        Fixture made;
        dime::Config cfg;
        cfg.latency_ns = 0;
        cfg.overhead_ns = 0;
        cfg.local_npages = kPoolPages;
        cfg.summary = false;
        cfg.control = false;  // no socket: the fuzzer calls the handler itself
        cfg.attribution = false;
        std::string error;
        made.engine = dime::Engine::start(cfg, &error);
        if (!made.engine) dime::fuzz::broken("the engine did not start (userfaultfd needed)", error);
        made.region = static_cast<unsigned char*>(made.engine->map_region(kRegionPages * kPage, &error));
        if (!made.region) dime::fuzz::broken("no emulated region", error);
        for (size_t i = 0; i < kRegionPages * kPage; ++i) made.region[i] = static_cast<unsigned char>(i * 7 + i / kPage);
        return made;
    }();
    return f;
}

void check_reply(std::string_view request, const std::string& reply) {
    if (reply.empty() || reply.back() != '\n') dime::fuzz::broken("a reply does not end in a newline", reply);
    if (reply.rfind("ok\n", 0) == 0) {
        for (std::string_view rest = std::string_view(reply).substr(3); !rest.empty();) {
            const size_t nl = rest.find('\n');
            const std::string_view line = rest.substr(0, nl);
            if (line.find('=') == std::string_view::npos || line.front() == '=')
                dime::fuzz::broken("an ok reply has a line that is not key=value", reply);
            rest.remove_prefix(nl + 1);
        }
        return;
    }
    if (reply.rfind("error: ", 0) != 0) dime::fuzz::broken("a reply is neither ok nor error", reply);
    dime::fuzz::check_one_line_error(std::string_view(reply).substr(0, reply.size() - 1));
    (void)request;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Fixture& f = fixture();
    dime::Engine& engine = *f.engine;
    const std::string_view request(reinterpret_cast<const char*>(data), size);
    check_reply(request, dime::control::handle_request(engine, request));

    engine.set_link(0, 0, dime::Config{}.bandwidth_bps);
    if (engine.local_pages() != kPoolPages && !engine.set_local_pages(kPoolPages))
        dime::fuzz::broken("the pool could not go back to its size", request);
    for (size_t i = 0; i < kRegionPages * kPage; ++i)
        if (f.region[i] != static_cast<unsigned char>(i * 7 + i / kPage))
            dime::fuzz::broken("emulated memory changed under a request", request);
    return 0;
}
