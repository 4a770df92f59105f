// fuzz_options_string.cpp — libFuzzer target: the key=value parser of DIME_OPTIONS and
// `dime run --set` (apply_options_string), then the cross-key checks.
//
// "Refused with a one-line message" is a correct answer; a crash, undefined behaviour, a leak or
// a message of several lines is a failure. An accepted string must also be accepted again when
// applied a second time to a fresh configuration (the parser keeps no state between calls).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    dime::Config cfg;
    const dime::ConfigResult r = dime::apply_options_string(cfg, text, "DIME_OPTIONS");
    if (!r.ok) {
        dime::fuzz::check_one_line_error(r.error);
        return 0;
    }
    dime::Config again;
    if (!dime::apply_options_string(again, text, "DIME_OPTIONS").ok)
        dime::fuzz::broken("accepted once, refused the second time", text);
    if (dime::to_json(cfg) != dime::to_json(again)) dime::fuzz::broken("the same string gave two configurations", text);
    // validate() dlopens policy_plugin when policy is plugin (see fuzz_yaml_config.cpp).
    if (cfg.policy != "plugin") {
        const dime::ConfigResult v = dime::validate(cfg);
        if (!v.ok) dime::fuzz::check_one_line_error(v.error);
    }
    return 0;
}
