// output_path.h — the files DiME writes (report, trace, time series): where a configured path
// leads (%p), and whether it can be written. Checked when the settings are read, so that a bad
// path stops the program before it starts instead of losing the report at exit. Not for the
// fault path.
#pragma once

#include <string>
#include <string_view>

namespace dime {

// `s` with control characters escaped (\n, \t, \xNN), so that a message quoting a user's
// string stays on one line.
std::string escape_control_characters(std::string_view s);

// `configured` with %p replaced by `pid` and %% by %; in a descendant process (a forked or
// exec'd child) a path without %p gets ".<pid>" appended. Empty stays empty (no file).
std::string expand_output_path(const std::string& configured, long pid, bool descendant);

// Empty when the file at `path` (%p expanded for this process; relative to the current
// directory) can be written the way DiME writes it: a temporary file in the same directory
// renamed over the path. Otherwise the problem as a phrase naming the path, e.g.
// "cannot write '/x/r.json': No such file or directory". An empty path is no file: no problem.
std::string output_path_problem(const std::string& path);

}  // namespace dime
