// fuzz_support.h — what the fuzz targets share: the promise every parser's answer must keep.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace dime::fuzz {

// A broken promise is a crash, so libFuzzer keeps the input that caused it.
[[noreturn]] inline void broken(const char* what, std::string_view detail) {
    std::fprintf(stderr, "fuzz: %s: [%.*s]\n", what, static_cast<int>(detail.size()), detail.data());
    std::abort();
}

// A refused input is answered by one line naming the culprit (docs/errors.md): never empty,
// never several lines.
inline void check_one_line_error(std::string_view error) {
    if (error.empty()) broken("an input was refused with an empty message", error);
    if (error.find('\n') != std::string_view::npos) broken("an error message spans several lines", error);
}

}  // namespace dime::fuzz
