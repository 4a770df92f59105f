// main.cpp — the `dime` command: dispatches to a subcommand, answers --help and --version, and holds the shared error and option helpers.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "cli.h"
#include "sim_main.h"

namespace dime::cli {

void fail(int status, std::string_view message) {
    std::string line = fmt::format("dime: {}", message);
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    line += '\n';
    std::fflush(stdout);
    if (::write(STDERR_FILENO, line.data(), line.size()) < 0) {
        // stderr is gone; the exit status still tells
    }
    std::exit(status);
}

void usage_error(std::string_view message, std::string_view help_command) {
    fail(2, fmt::format("{}; try '{}'", message, help_command));
}

bool option_value(int argc, char** argv, int& i, std::string_view short_name,
                  std::string_view long_name, std::string& value, std::string_view help_command) {
    std::string_view arg = argv[i];
    std::string_view shown;
    if (!short_name.empty() && arg.substr(0, short_name.size()) == short_name) {
        if (arg.size() > short_name.size()) {  // -cFILE
            value = std::string(arg.substr(short_name.size()));
            return true;
        }
        shown = short_name;
    } else if (arg.substr(0, long_name.size()) == long_name) {
        if (arg.size() == long_name.size()) {
            shown = long_name;
        } else if (arg[long_name.size()] == '=') {  // --name=VALUE
            value = std::string(arg.substr(long_name.size() + 1));
            return true;
        } else {
            return false;  // a longer option that merely starts the same way
        }
    } else {
        return false;
    }
    if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", shown), help_command);
    value = argv[++i];
    return true;
}

}  // namespace dime::cli

int main(int argc, char** argv) {
    using namespace dime::cli;
    if (argc < 2) usage_error("no command given", "dime --help");
    std::string_view command = argv[1];

    if (command == "-h" || command == "--help" || command == "help") {
        std::string_view topic = (command == "help" && argc > 2) ? argv[2] : "";
        if (topic.empty())
            fmt::print("{}", top_help());
        else if (topic == "run")
            fmt::print("{}", run_help());
        else if (topic == "check-config")
            fmt::print("{}", check_config_help());
        else if (topic == "ctl")
            fmt::print("{}", ctl_help());
        else if (topic == "report")
            fmt::print("{}", report_help());
        else if (topic == "doctor")
            fmt::print("{}", doctor_help());
        else if (topic == "sim")
            fmt::print("{}", dime::lab::sim_help());
        else
            usage_error(fmt::format("no help on '{}': the commands are run, check-config, ctl, report, sim and doctor", topic),
                        "dime --help");
        return 0;
    }
    if (command == "-V" || command == "--version") {
        fmt::print("dime {}\n", DIME_VERSION);
        Library lib = find_library();
        if (lib.path.empty())
            fmt::print("libdime.so: not found: {}\n", lib.error);
        else
            fmt::print("libdime.so: {}\n", lib.path);
        return 0;
    }
    if (command == "run") return run_main(argc - 1, argv + 1);
    if (command == "check-config") return check_config_main(argc - 1, argv + 1);
    if (command == "sim") return dime::lab::sim_main(argc - 1, argv + 1);
    if (command == "ctl") return ctl_main(argc - 1, argv + 1);
    if (command == "report") return report_main(argc - 1, argv + 1);
    if (command == "doctor") return doctor_main(argc - 1, argv + 1);
    if (!command.empty() && command[0] == '-')
        usage_error(fmt::format("unknown option '{}'", command), "dime --help");
    usage_error(fmt::format("unknown command '{}' (the commands are run, check-config, ctl, report, sim and doctor)", command),
                "dime --help");
}
