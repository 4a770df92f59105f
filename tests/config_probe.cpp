// config_probe.cpp — test helper: loads the settings exactly as a DiME program does at start-up and prints the effective ones as JSON (exit 0), or the one-line error (exit 2).
#include <cstdio>

#include "config.h"

int main() {
    dime::Config cfg;
    dime::ConfigResult result = dime::load_from_environment(cfg);
    if (!result.ok) dime::exit_bad_config(result.error);
    std::printf("%s\n", dime::to_json(cfg).c_str());
    return 0;
}
