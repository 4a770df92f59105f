// cli.h — what the files of the `dime` command share: the subcommands, one-line errors, help text, finding libdime.so. Single-threaded; runs before the program it starts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dime::cli {

// Subcommands; argv[0] is the subcommand's own name. They return the exit status or do not return.
int run_main(int argc, char** argv);
int check_config_main(int argc, char** argv);
int ctl_main(int argc, char** argv);
int report_main(int argc, char** argv);
int doctor_main(int argc, char** argv);

// Help texts (each ends with a newline).
std::string top_help();
std::string run_help();
std::string check_config_help();
std::string ctl_help();
std::string report_help();
std::string doctor_help();

// Prints "dime: <message>" as one line on stderr and exits with `status`.
[[noreturn]] void fail(int status, std::string_view message);
// A bad command line: "dime: <message>; try '<help_command>'", exit status 2.
[[noreturn]] void usage_error(std::string_view message, std::string_view help_command);

// Recognises an option that takes a value at argv[i]: "-c VALUE", "-cVALUE" (short names only),
// "--name VALUE" and "--name=VALUE". On a match stores the value, moves i to the last argument
// consumed and returns true; a missing value is a usage error.
bool option_value(int argc, char** argv, int& i, std::string_view short_name,
                  std::string_view long_name, std::string& value, std::string_view help_command);

// Every setting of options.def with its default and help, wrapped for a terminal.
std::string settings_help();
// The environment variables DiME reads, as shown in the help texts.
std::string environment_help();

// Where libdime.so is, or why it was not found.
struct Library {
    std::string path;   // absolute, symbolic links resolved; empty if not found
    std::string error;  // the one-line problem when path is empty
    int status = 0;     // exit status for the problem: 2 for a bad DIME_LIBRARY, 1 otherwise
};
// $DIME_LIBRARY if set; else next to the dime executable; else in the library directory of its
// install prefix; else, for the dime of a build tree, that tree's libdime.so.
Library find_library();

}  // namespace dime::cli
