// call_site.h — what DiME knows of a code address in an allocation's call stack: its function
// name, its object file, and whether it belongs to the C/C++ runtime (libc, libstdc++, libgcc_s,
// the dynamic loader, libdime itself), whose frames are skipped to find the program's own call
// site. Runs on application threads inside the allocation hooks, only when the placement cache
// misses; every allocation it makes goes to glibc (it enters InternalScope itself).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dime::call_site {

struct Description {
    bool runtime = false;  // in libc, libstdc++, libgcc_s, ld.so or libdime: an allocation wrapper
    std::string function;  // symbol name as in the object ("" if unknown), e.g. _Z5parsev
    std::string demangled; // C++ names demangled (same as function for C)
    std::string library;   // basename of the object file, e.g. libsqlite3.so.0 or the program's name
};

// Describes the code at return address `ret` (the instruction after a call: the call itself is
// at ret - 1). Allocates (names) through glibc. False if the address is in no loaded object.
bool describe(uintptr_t ret, Description* out);

// Whether an object file's basename is one of the runtime's (see Description::runtime).
bool is_runtime_library(const char* basename) noexcept;

// Up to `max` return addresses of the calling thread's stack, innermost first (libunwind's
// unw_backtrace). Returns how many were stored.
int backtrace(void** frames, int max) noexcept;

}  // namespace dime::call_site
