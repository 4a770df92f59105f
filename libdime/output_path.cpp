// output_path.cpp — expanding and checking the paths DiME writes (see output_path.h).
#include "output_path.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace dime {

std::string expand_output_path(const std::string& configured, long pid, bool descendant) {
    if (configured.empty()) return {};
    std::string out;
    bool has_pid = false;
    for (size_t i = 0; i < configured.size(); ++i) {
        if (configured[i] == '%' && i + 1 < configured.size() && configured[i + 1] == 'p') {
            out += std::to_string(pid);
            has_pid = true;
            ++i;
        } else if (configured[i] == '%' && i + 1 < configured.size() && configured[i + 1] == '%') {
            out += '%';
            ++i;
        } else {
            out += configured[i];
        }
    }
    if (descendant && !has_pid) {
        out += '.';
        out += std::to_string(pid);
    }
    return out;
}

std::string escape_control_characters(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c < 0x20 || c == 0x7f)
            out += fmt::format("\\x{:02x}", c);
        else
            out += static_cast<char>(c);
    }
    return out;
}

std::string output_path_problem(const std::string& configured) {
    const std::string path = expand_output_path(configured, ::getpid(), false);
    if (path.empty()) return {};
    auto problem = [&](const char* why) {
        return fmt::format("cannot write '{}': {}", escape_control_characters(configured), why);
    };
    const size_t slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (slash != std::string::npos && slash + 1 == path.size()) return problem(std::strerror(EISDIR));
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) return problem(std::strerror(EISDIR));
        // The file is replaced by a rename: a device, pipe or symbolic link there would be
        // replaced too, not written through.
        if (!S_ISREG(st.st_mode))
            return problem(S_ISLNK(st.st_mode)
                               ? "a symbolic link (the file is written beside it and renamed over it, replacing the link)"
                               : "not a regular file (the file is written beside it and renamed over it, replacing it)");
    }
    if (::stat(dir.c_str(), &st) != 0) return problem(std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return problem(std::strerror(ENOTDIR));
    if (::access(dir.c_str(), W_OK | X_OK) != 0) return problem(std::strerror(errno));
    return {};
}

}  // namespace dime
