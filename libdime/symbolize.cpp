// symbolize.cpp — see symbolize.h. addr2line runs as a child process with posix_spawn: its
// output comes back through a pipe, two lines per address (function, file:line).
#include "symbolize.h"

#include <dlfcn.h>
#include <link.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>

#include <fmt/format.h>

#include "call_site.h"
#include "thread_role.h"

extern char** environ;

namespace dime::symbolize {
namespace {

// The object holding `ip`: its path (for addr2line) and the address addr2line expects, which
// is relative to the load address for position-independent objects (ET_DYN: shared libraries
// and PIE programs) and absolute for the others.
bool locate(uintptr_t ip, std::string* path, uintptr_t* address) {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(ip), &info) == 0 || info.dli_fbase == nullptr) return false;
    *path = info.dli_fname ? info.dli_fname : "";
    // The main program: the loader may know it by an empty or relative name.
    if (path->empty() || path->find('/') == std::string::npos) {
        char exe[4096];
        const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) return false;
        exe[n] = '\0';
        *path = exe;
    }
    const auto* header = static_cast<const ElfW(Ehdr)*>(info.dli_fbase);  // mapped at the base
    const bool relative = std::memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_type == ET_DYN;
    *address = relative ? ip - reinterpret_cast<uintptr_t>(info.dli_fbase) : ip;
    return true;
}

// The environment for addr2line: ours without the variables that would put it under DiME.
std::vector<char*> clean_environment() {
    std::vector<char*> env;
    for (char** e = environ; e && *e; ++e)
        if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0 && std::strncmp(*e, "DIME_", 5) != 0) env.push_back(*e);
    env.push_back(nullptr);
    return env;
}

// Runs addr2line on `object` for `addresses`; appends its output lines to *out. False if it
// could not run.
bool run_addr2line(const std::string& object, const std::vector<uintptr_t>& addresses, std::vector<std::string>* out) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    std::vector<std::string> args = {"addr2line", "-f", "-C", "-e", object};
    for (uintptr_t a : addresses) args.push_back(fmt::format("{:#x}", a));
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    std::vector<char*> env = clean_environment();
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, "addr2line", &actions, nullptr, argv.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return false;
    }
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0) {
            text.append(buf, static_cast<size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return false;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        out->push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out->size() == 2 * addresses.size();
}

// "file:line" or "file:line (discriminator N)" or "??:0" / "??:?".
void parse_location(const std::string& s, Frame* f) {
    const size_t colon = s.rfind(':');
    if (colon == std::string::npos || s.compare(0, 2, "??") == 0) return;
    // atoi's "no number" is 0, which is what addr2line's "?" means too; the number may be
    // followed by " (discriminator N)", which atoi stops at.
    const int line = std::atoi(s.c_str() + colon + 1);  // NOLINT(cert-err34-c): see above
    if (line <= 0) return;
    f->file = s.substr(0, colon);
    f->line = line;
}

}  // namespace

std::vector<Frame> frames(const std::vector<uintptr_t>& pcs, bool lines) {
    InternalScope internal;
    std::vector<Frame> out(pcs.size());
    // By object file: the frames' indices and the addresses addr2line wants.
    std::map<std::string, std::pair<std::vector<size_t>, std::vector<uintptr_t>>> by_object;
    for (size_t i = 0; i < pcs.size(); ++i) {
        Frame& f = out[i];
        f.pc = pcs[i];
        call_site::Description d;
        if (call_site::describe(pcs[i], &d)) {
            f.function = d.demangled;
            f.library = d.library;
            f.runtime = d.runtime;
        }
        std::string path;
        uintptr_t address = 0;
        // The call instruction, not the one after it: the line of the call.
        if (pcs[i] && locate(pcs[i] - 1, &path, &address)) f.offset = address;
        if (lines && f.offset) {
            auto& [indices, addresses] = by_object[path];
            indices.push_back(i);
            addresses.push_back(address);
        }
    }
    for (auto& [object, entry] : by_object) {
        std::vector<std::string> text;
        if (!run_addr2line(object, entry.second, &text)) continue;
        for (size_t k = 0; k < entry.first.size(); ++k) {
            Frame& f = out[entry.first[k]];
            if (f.function.empty() && text[2 * k] != "??") f.function = text[2 * k];
            parse_location(text[2 * k + 1], &f);
        }
    }
    return out;
}

std::string describe(const Frame& f) {
    if (f.function.empty() && f.file.empty())
        return f.library.empty() ? fmt::format("{:#x}", f.pc) : fmt::format("{}+{:#x}", f.library, f.offset);
    const std::string name = f.function.empty() ? fmt::format("{:#x}", f.pc) : f.function;
    if (!f.file.empty()) {
        const size_t slash = f.file.rfind('/');
        return fmt::format("{} ({}:{})", name, slash == std::string::npos ? f.file : f.file.substr(slash + 1), f.line);
    }
    return f.library.empty() ? name : fmt::format("{} ({})", name, f.library);
}

}  // namespace dime::symbolize
