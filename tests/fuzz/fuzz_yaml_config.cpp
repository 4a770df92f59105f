// fuzz_yaml_config.cpp — libFuzzer target: DIME_CONFIG's YAML loader (apply_yaml_text), then the
// cross-key checks and the report's rendering of whatever it accepted.
//
// "Refused with a one-line message" is a correct answer; a crash, undefined behaviour, a leak, an
// escaping exception or a message of several lines is a failure.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    dime::Config cfg;
    const dime::ConfigResult r = dime::apply_yaml_text(cfg, text, "fuzz.yaml");
    if (!r.ok) {
        dime::fuzz::check_one_line_error(r.error);
        return 0;
    }
    // validate() dlopens policy_plugin when policy is plugin: an input naming a library would
    // run that library's constructors in the fuzzer, which tests the library, not DiME.
    if (cfg.policy != "plugin") {
        const dime::ConfigResult v = dime::validate(cfg);
        if (!v.ok) dime::fuzz::check_one_line_error(v.error);
    }
    (void)dime::to_json(cfg);
    (void)dime::describe(cfg);
    return 0;
}
