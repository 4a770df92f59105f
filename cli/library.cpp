// library.cpp — finds the libdime.so that `dime run` preloads: $DIME_LIBRARY, else beside the dime executable, else in its install prefix's library directory, else (for a build tree's dime) that tree's library.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <fmt/format.h>

#include "cli.h"

// Compile-time facts from cli/CMakeLists.txt:
//   DIME_LIBRARY_NAME         the shim's file name (libdime.so)
//   DIME_LIBDIR_FROM_BINDIR   the install library directory relative to the install binary directory
//   DIME_BUILD_CLI_DIR        where the build tree's dime is
//   DIME_BUILD_LIBRARY        where the build tree's libdime.so is

namespace dime::cli {
namespace {

bool is_readable_file(const std::string& path, int* err) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return *err = errno, false;
    if (S_ISDIR(st.st_mode)) return *err = EISDIR, false;
    if (!S_ISREG(st.st_mode)) return *err = EINVAL, false;
    if (::access(path.c_str(), R_OK) != 0) return *err = errno, false;
    return true;
}

std::string resolved(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? std::string(buf) : std::string();
}

bool same_directory(const std::string& a, const std::string& b) {
    struct stat sa {}, sb {};
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

// ld.so splits LD_PRELOAD at spaces and colons; such a path cannot be preloaded.
Library checked(std::string path) {
    if (path.find_first_of(" :") != std::string::npos)
        return {"", fmt::format("libdime.so is at '{}', a path LD_PRELOAD cannot hold (it contains a "
                                "space or a colon); install DiME elsewhere or copy libdime.so and set "
                                "DIME_LIBRARY", path),
                1};
    return {std::move(path), "", 0};
}

}  // namespace

Library find_library() {
    if (const char* env = std::getenv("DIME_LIBRARY"); env && *env) {
        int err = 0;
        std::string path = env;
        if (!is_readable_file(path, &err))
            return {"", fmt::format("DIME_LIBRARY: cannot use '{}': {}", path, std::strerror(err)), 2};
        return checked(resolved(path));
    }

    std::string exe = resolved("/proc/self/exe");
    if (exe.empty())
        return {"", fmt::format("cannot find libdime.so: /proc/self/exe: {}; set DIME_LIBRARY",
                                std::strerror(errno)),
                1};
    std::string dir = exe.substr(0, exe.find_last_of('/'));

    std::vector<std::string> candidates = {
        dir + "/" DIME_LIBRARY_NAME,
        dir + "/" DIME_LIBDIR_FROM_BINDIR "/" DIME_LIBRARY_NAME,
    };
    if (same_directory(dir, DIME_BUILD_CLI_DIR)) candidates.push_back(DIME_BUILD_LIBRARY);
    for (const std::string& c : candidates) {
        int err = 0;
        if (is_readable_file(c, &err)) return checked(resolved(c));
    }
    return {"", fmt::format("cannot find {} (looked at {}); set DIME_LIBRARY to its path",
                            DIME_LIBRARY_NAME, fmt::join(candidates, ", ")),
            1};
}

}  // namespace dime::cli
