# sanitize.cmake — the checking builds' compiler flags (DIME_SANITIZE, DIME_BUILD_FUZZERS).
#
# DIME_SANITIZE instruments every target of the build, so that the engine, the unit tests and
# Catch2's main agree (ASan and TSan need the whole program built alike). Any sanitizer report is
# fatal (-fno-sanitize-recover): a test that provokes undefined behaviour fails instead of
# printing a warning nobody reads.
set(dime_sanitizers_allowed address undefined "address,undefined" "undefined,address" thread)
if(DIME_SANITIZE)
  if(NOT DIME_SANITIZE IN_LIST dime_sanitizers_allowed)
    message(FATAL_ERROR "DIME_SANITIZE=${DIME_SANITIZE}: expected address, undefined, address,undefined or thread")
  endif()
  add_compile_options(-fsanitize=${DIME_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${DIME_SANITIZE})
endif()

# DIME_BUILD_FUZZERS: libFuzzer's coverage instrumentation (fuzzer-no-link) plus ASan and UBSan on
# everything, so the parsers the fuzz targets drive report crashes, undefined behaviour and leaks.
# The fuzz targets themselves link -fsanitize=fuzzer (tests/fuzz/CMakeLists.txt).
if(DIME_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DIME_BUILD_FUZZERS=ON needs clang (libFuzzer), not ${CMAKE_CXX_COMPILER_ID}: "
                        "configure with -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  if(DIME_SANITIZE)
    message(FATAL_ERROR "DIME_BUILD_FUZZERS=ON brings its own sanitizers (address,undefined); leave DIME_SANITIZE empty")
  endif()
  set(DIME_FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_compile_options(-fsanitize=fuzzer-no-link ${DIME_FUZZ_FLAGS})
  add_link_options(${DIME_FUZZ_FLAGS})
endif()
