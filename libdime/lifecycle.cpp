// lifecycle.cpp — decisions behind the preload's life-cycle hooks (see lifecycle.h). Runs on
// application threads; may_close/may_replace are async-signal-safe.
#include "lifecycle.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "descriptors.h"
#include "log.h"

namespace dime::lifecycle {

bool may_close(int fd) {
    if (!descriptors::is_protected(fd)) return true;
    logf(LogLevel::kDebug, "close({}) ignored: the descriptor is DiME's (reported as closed)", fd);
    return false;
}

bool may_replace(int fd) {
    if (!descriptors::is_protected(fd)) return true;
    logf(LogLevel::kWarn, "dup2/dup3 onto descriptor {} refused (EBADF): the descriptor is DiME's", fd);
    return false;
}

int dlopen_flags(const char* file, int flags) {
    if (!(flags & RTLD_DEEPBIND)) return flags;
    logf(LogLevel::kInfo, "dlopen('{}'): RTLD_DEEPBIND removed, so the library allocates through DiME",
         file ? file : "(main program)");
    return flags & ~RTLD_DEEPBIND;
}

bool claim_report_root() {
    const long me = static_cast<long>(getpid());
    if (const char* root = std::getenv("DIME_ROOT_PID"); root && *root) {
        char* end = nullptr;
        const long pid = std::strtol(root, &end, 10);
        if (end && *end == '\0' && pid > 0 && pid != me) return true;
    }
    setenv("DIME_ROOT_PID", std::to_string(me).c_str(), 1);
    return false;
}

}  // namespace dime::lifecycle
