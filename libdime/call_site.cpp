// call_site.cpp — names and objects of code addresses (libunwind's ELF symbol lookup, then the
// loader's dladdr) and stack walks with unw_backtrace. Runs on application threads, on a
// placement-cache miss only; inside InternalScope so its own allocations go to glibc.
#define UNW_LOCAL_ONLY
#include "call_site.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <libunwind.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "thread_role.h"

namespace dime::call_site {
namespace {

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

const char* basename_of(const char* path) {
    const char* slash = std::strrchr(path, '/');
    return slash ? slash + 1 : path;
}

}  // namespace

bool is_runtime_library(const char* name) noexcept {
    static constexpr const char* kRuntime[] = {"libc.so", "libstdc++.so", "libgcc_s.so", "ld-linux",
                                               "libdime.so", "libm.so", "libunwind"};
    for (const char* prefix : kRuntime)
        if (starts_with(name, prefix)) return true;
    return false;
}

bool describe(uintptr_t ret, Description* out) {
    InternalScope internal;
    *out = Description{};
    const uintptr_t ip = ret ? ret - 1 : 0;  // inside the call instruction, not after it
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(ip), &info) == 0 || info.dli_fname == nullptr) return false;
    out->library = basename_of(info.dli_fname);
    // The main program's dli_fname may be empty (the loader has no name for it).
    if (out->library.empty()) {
        char path[4096];
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n > 0) {
            path[n] = '\0';
            out->library = basename_of(path);
        }
    }
    out->runtime = is_runtime_library(out->library.c_str());

    // libunwind reads the object's full symbol table (static functions too); dladdr knows only
    // exported symbols.
    char name[512];
    unw_word_t offset = 0;
    unw_accessors_t* acc = unw_get_accessors(unw_local_addr_space);
    if (acc && acc->get_proc_name &&
        acc->get_proc_name(unw_local_addr_space, ip, name, sizeof name, &offset, nullptr) == 0)
        out->function = name;
    else if (info.dli_sname)
        out->function = info.dli_sname;
    out->demangled = out->function;
    if (!out->function.empty()) {
        int status = 0;
        char* plain = abi::__cxa_demangle(out->function.c_str(), nullptr, nullptr, &status);
        if (status == 0 && plain) out->demangled = plain;
        std::free(plain);
    }
    return true;
}

int backtrace(void** frames, int max) noexcept {
    InternalScope internal;
    const int n = unw_backtrace(frames, max);
    return n < 0 ? 0 : n;
}

}  // namespace dime::call_site
