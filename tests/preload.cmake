# preload.cmake — libdime.so on real programs: each test program runs with the shim preloaded and a
# small local pool, checks every byte it wrote itself, and its report must show faults, re-fetches
# and evictions (so a heap that silently was not emulated fails). Included by tests/CMakeLists.txt.
set(DIME_PRELOAD_PROGRAMS preload_heap preload_threads preload_fork preload_syscalls)
foreach(prog ${DIME_PRELOAD_PROGRAMS})
  add_executable(${prog} programs/${prog}.c)
endforeach()
add_executable(preload_cxx programs/preload_cxx.cpp)
target_link_libraries(preload_threads PRIVATE Threads::Threads)
target_link_libraries(preload_fork PRIVATE Threads::Threads)
target_link_libraries(preload_syscalls PRIVATE Threads::Threads)
target_link_libraries(preload_cxx PRIVATE Threads::Threads)
list(APPEND DIME_PRELOAD_PROGRAMS preload_cxx)

# 256 pages = 1 MiB of local memory; every program uses at least 8x that. No injected delay, so
# the tests measure correctness, not time.
set(DIME_PRELOAD_POOL 256)
set(DIME_PRELOAD_OPTIONS "local_npages=${DIME_PRELOAD_POOL} latency_ns=0 bandwidth_bps=1000000000000")

foreach(prog ${DIME_PRELOAD_PROGRAMS})
  add_test(NAME preload.${prog}
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:${prog}>
      -DPRELOAD=$<TARGET_FILE:dime_preload>
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/preload.${prog}.json
      -DOPTIONS=${DIME_PRELOAD_OPTIONS}
      -DPOOL=${DIME_PRELOAD_POOL}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_preload.cmake)
  set_tests_properties(preload.${prog} PROPERTIES
    TIMEOUT 300
    SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
endforeach()

# Bad configuration: the shim must stop the program before main() (exit 2, one line naming the
# culprit, nothing on stdout — /bin/echo would print if main ran).
if(DEFINED DIME_BAD_CONFIG)
  add_test(NAME bad_config.preload
    COMMAND ${DIME_BAD_CONFIG} -- env LD_PRELOAD=$<TARGET_FILE:dime_preload> /bin/echo main reached)
endif()

# Without the right to use userfaultfd: one line naming the fixes, exit status 1, before main().
add_test(NAME preload.unprivileged_message
  COMMAND ${CMAKE_COMMAND} -DPRELOAD=$<TARGET_FILE:dime_preload>
          -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_preload_unprivileged.cmake)
set_tests_properties(preload.unprivileged_message PROPERTIES
  TIMEOUT 60
  SKIP_REGULAR_EXPRESSION "PRELOAD-UNPRIVILEGED-SKIPPED")
