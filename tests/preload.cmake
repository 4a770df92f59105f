# preload.cmake — libdime.so on real programs: each test program runs with the shim preloaded and a
# small local pool, checks every byte it wrote itself, and its report must show faults, re-fetches
# and evictions (so a heap that silently was not emulated fails). Included by tests/CMakeLists.txt.
foreach(prog preload_heap preload_threads preload_fork preload_fork_nss preload_fork_file preload_syscalls
             preload_arena_full preload_exit_race preload_segv_chain preload_map_count)
  add_executable(${prog} programs/${prog}.c)
  target_link_libraries(${prog} PRIVATE Threads::Threads)
endforeach()
add_executable(preload_cxx programs/preload_cxx.cpp)
target_link_libraries(preload_cxx PRIVATE Threads::Threads)

# 256 pages = 1 MiB of local memory; every program uses at least 8x that. No injected delay, so
# the tests measure correctness, not time.
set(DIME_PRELOAD_POOL 256)
set(DIME_PRELOAD_OPTIONS "latency_ns=0 bandwidth_bps=1000000000000")

# dime_preload_test(<program> [ARGS a,b,...] [OPTIONS "key=value ..."] [NAME suffix] [POOL units]
# [PAGE_SIZE bytes] [BACKEND name]): runs the program under libdime.so with the options above (plus
# OPTIONS; POOL replaces local_npages; BACKEND adds backend=<name>) and checks its exit status and
# report (PAGE_SIZE: its config.page_size; BACKEND: its engine.backend).
function(dime_preload_test prog)
  cmake_parse_arguments(arg "" "ARGS;OPTIONS;NAME;POOL;PAGE_SIZE;BACKEND" "" ${ARGN})
  if(arg_BACKEND)
    string(APPEND arg_OPTIONS " backend=${arg_BACKEND}")
  endif()
  set(pool ${DIME_PRELOAD_POOL})
  if(arg_POOL)
    set(pool ${arg_POOL})
  endif()
  set(name ${prog})
  if(arg_NAME)
    set(name ${prog}.${arg_NAME})
  endif()
  add_test(NAME preload.${name}
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:${prog}>
      -DPRELOAD=$<TARGET_FILE:dime_preload>
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/preload.${name}.json
      "-DOPTIONS=${DIME_PRELOAD_OPTIONS} ${arg_OPTIONS} local_npages=${pool}"
      -DPOOL=${pool}
      -DPAGE_SIZE=${arg_PAGE_SIZE}
      -DARGS=${arg_ARGS}
      -DBACKEND=${arg_BACKEND}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_preload.cmake)
  set_tests_properties(preload.${name} PROPERTIES
    TIMEOUT 300
    SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
endfunction()

dime_preload_test(preload_heap)                # (a) single thread, realloc, calloc, aligned family
dime_preload_test(preload_threads)             # (b) 4 threads freeing each other's blocks
dime_preload_test(preload_cxx)                 # (c) new/delete, vector, string, map
dime_preload_test(preload_fork)                # (d) fork: both sides check every byte
dime_preload_test(preload_syscalls ARGS 4,${CMAKE_CURRENT_BINARY_DIR})  # (e) read()/write() on evicted pages
dime_preload_test(preload_exit_race)           # main returns while threads still fault
# Large units (page_size): the heap in 2 MiB units (40 MiB through a pool of 4 units = 8 MiB), and
# 4 threads on 64 KiB units (12 MiB through 16 units = 1 MiB).
dime_preload_test(preload_heap NAME 2MiB ARGS 40 POOL 4 PAGE_SIZE 2097152 OPTIONS "page_size=2MiB")
dime_preload_test(preload_threads NAME 64KiB POOL 16 PAGE_SIZE 65536 OPTIONS "page_size=64KiB")
# fork() while glibc's own heap data is evicted: glibc reads it inside fork(), outside the atfork
# hooks. NSS state after getpwuid() (the parent hung), an open FILE (the child crashed). A hang
# must fail, not stall the suite: the programs arm a 45 s alarm, ctest stops at 60 s.
dime_preload_test(preload_fork_nss)
dime_preload_test(preload_fork_file ARGS ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(preload.preload_fork_nss preload.preload_fork_file PROPERTIES TIMEOUT 60)
# A full heap: NULL / ENOMEM, no crash, no other memory.
dime_preload_test(preload_arena_full ARGS 64 OPTIONS "heap_bytes=64MiB")

# The same programs on the mprotect backend (backend: mprotect, docs/architecture.md): faults served
# in the faulting thread's SIGSEGV handler, the buffers of read()/write() and the like made resident
# by the system-call hooks, fork children going on with the parent's protections.
dime_preload_test(preload_heap NAME mprotect BACKEND mprotect)
dime_preload_test(preload_threads NAME mprotect BACKEND mprotect)
dime_preload_test(preload_cxx NAME mprotect BACKEND mprotect)
dime_preload_test(preload_fork NAME mprotect BACKEND mprotect)
dime_preload_test(preload_syscalls NAME mprotect BACKEND mprotect ARGS 4,${CMAKE_CURRENT_BINARY_DIR})
dime_preload_test(preload_exit_race NAME mprotect BACKEND mprotect)
dime_preload_test(preload_heap NAME 2MiB.mprotect BACKEND mprotect ARGS 40 POOL 4 PAGE_SIZE 2097152
                  OPTIONS "page_size=2MiB")
dime_preload_test(preload_threads NAME 64KiB.mprotect BACKEND mprotect POOL 16 PAGE_SIZE 65536
                  OPTIONS "page_size=64KiB")
dime_preload_test(preload_fork_nss NAME mprotect BACKEND mprotect)
dime_preload_test(preload_fork_file NAME mprotect BACKEND mprotect ARGS ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(preload.preload_fork_nss.mprotect preload.preload_fork_file.mprotect PROPERTIES TIMEOUT 60)
dime_preload_test(preload_arena_full NAME mprotect BACKEND mprotect ARGS 64 OPTIONS "heap_bytes=64MiB")
# A program with SIGSEGV handlers and guard pages of its own: with the mprotect backend DiME's handler
# sits in front of the program's, which must see exactly the faults it would see without DiME.
dime_preload_test(preload_segv_chain)
dime_preload_test(preload_segv_chain NAME mprotect BACKEND mprotect)
# vm.max_map_count nearly used up by the program itself, then scattered local pages: with the
# mprotect backend each costs two mappings, and a fetch the kernel refuses must evict to make room.
dime_preload_test(preload_map_count NAME mprotect BACKEND mprotect)

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

# At exit stderr may be closed or full: the summary must not turn the program's exit into an abort.
add_test(NAME preload.stderr_closed_at_exit
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_preload_stderr_closed.sh $<TARGET_FILE:dime_preload>)
set_tests_properties(preload.stderr_closed_at_exit PROPERTIES TIMEOUT 60 SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")

# Attribution: the report names the hot one of two allocation sites first, by function and line.
add_executable(attribution_sites programs/attribution_sites.c)
target_compile_options(attribution_sites PRIVATE -O0 -g)
add_test(NAME preload.attribution_sites
  COMMAND ${CMAKE_COMMAND}
    -DPROGRAM=$<TARGET_FILE:attribution_sites>
    -DSOURCE=${CMAKE_CURRENT_SOURCE_DIR}/programs/attribution_sites.c
    -DPRELOAD=$<TARGET_FILE:dime_preload>
    -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/preload.attribution_sites.json
    -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_attribution.cmake)
set_tests_properties(preload.attribution_sites PROPERTIES TIMEOUT 120 SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
