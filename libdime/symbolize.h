// symbolize.h — names for the return addresses of sampled allocation stacks, for the report at
// exit: function (libunwind, then dladdr), object file, and source file:line from binutils'
// addr2line when it is installed (one run per object file, in a clean environment: never under
// DiME itself). Runs on an application thread at exit, inside InternalScope; never on the fault
// path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dime::symbolize {

struct Frame {
    uintptr_t pc = 0;       // the return address as recorded
    uintptr_t offset = 0;   // the call's address in its object file (what addr2line takes); 0 if unknown
    std::string function;   // demangled; "" if unknown
    std::string library;    // basename of the object file
    std::string file;       // source file, "" if unknown (no debug info, no addr2line)
    int line = 0;
    bool runtime = false;   // libc, libstdc++, libdime...: an allocation wrapper, not the program
};

// One Frame per address, in order. With `lines`, addr2line is asked for file:line (and for
// function names libunwind did not know).
std::vector<Frame> frames(const std::vector<uintptr_t>& pcs, bool lines);

// "function (file:line)" or "function (library)" or "library+0x..." (a stripped object).
std::string describe(const Frame& f);

}  // namespace dime::symbolize
