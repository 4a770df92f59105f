# soak.cmake — the soak test (tests/programs/soak.cpp) under libdime.so: worker threads churn the
# heap and emulated mmaps over three tiers (tests/soak/soak.yaml) with a pool of 1 MiB against about
# 12 MiB of blocks, while a chaos thread resizes the pool, evicts and forks. Each run must end with
# "soak: N ops, 0 mismatches", no failed fork child, no leaked descriptor or thread, a report
# showing faults, re-fetches and evictions, and UFFDIO_MOVE still on (scripts/run_soak.cmake).
add_executable(soak programs/soak.cpp)
target_link_libraries(soak PRIVATE dime_api_static Threads::Threads)

set(DIME_SOAK_RUN_SECONDS 30)  # per run; three runs, about 2 minutes with start-up and the final checks
# DIME_SOAK_SECONDS in the environment lengthens each run; given when configuring, ctest's limit follows.
set(DIME_SOAK_TIMEOUT 300)
if(DEFINED ENV{DIME_SOAK_SECONDS} AND "$ENV{DIME_SOAK_SECONDS}" MATCHES "^[0-9]+$")
  math(EXPR DIME_SOAK_TIMEOUT "$ENV{DIME_SOAK_SECONDS} + 300")
endif()

# dime_soak_test(<name> POOL units [PAGE_SIZE bytes] [OPTIONS "key=value ..."] [COUNTERS c,d] [BACKEND name])
function(dime_soak_test name)
  cmake_parse_arguments(arg "" "POOL;PAGE_SIZE;OPTIONS;COUNTERS;BACKEND" "" ${ARGN})
  if(arg_BACKEND)
    string(APPEND arg_OPTIONS " backend=${arg_BACKEND}")
  endif()
  set(unit 4096)
  if(arg_PAGE_SIZE)
    set(unit ${arg_PAGE_SIZE})
  endif()
  add_test(NAME soak.${name}
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:soak>
      -DPRELOAD=$<TARGET_FILE:dime_preload>
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/soak.${name}.json
      -DCONFIG=${CMAKE_CURRENT_SOURCE_DIR}/soak/soak.yaml
      "-DOPTIONS=${arg_OPTIONS} local_npages=${arg_POOL}"
      -DPOOL=${arg_POOL}
      -DPAGE_SIZE=${arg_PAGE_SIZE}
      -DCOUNTERS=${arg_COUNTERS}
      -DBACKEND=${arg_BACKEND}
      -DARGS=--seconds,${DIME_SOAK_RUN_SECONDS},--threads,4,--slots,128,--pool,${arg_POOL},--unit,${unit},--tiers,remote:far:local
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_soak.cmake)
  # The watchdog ends a stuck run 90 s past its length; ctest's timeout is the last resort.
  set_tests_properties(soak.${name} PROPERTIES
    TIMEOUT ${DIME_SOAK_TIMEOUT}
    PROCESSORS 2
    SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
endfunction()

# MOVE eviction, FIFO, write-back off: the engine's defaults.
dime_soak_test(defaults POOL 256)
# Dirty tracking (clean pages dropped under writers), CLOCK with access sampling, adaptive prefetch.
dime_soak_test(writeback_clock_prefetch POOL 256 OPTIONS "writeback=true policy=clock prefetch=auto"
               COUNTERS dirty_evictions,clean_evictions)
# 64 KiB units, and the copy path for every eviction (no MOVE): 16 units = 1 MiB.
dime_soak_test(64KiB_copy_path POOL 16 PAGE_SIZE 65536 OPTIONS "page_size=64KiB uffd_move=false")
# The mprotect backend: faults served in the faulting threads' SIGSEGV handler, clean pages
# read-only, the workers' read()/write() buffers held resident by the shim.
dime_soak_test(mprotect_writeback POOL 256 BACKEND mprotect OPTIONS "writeback=true"
               COUNTERS dirty_evictions,clean_evictions)
