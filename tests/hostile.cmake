# hostile.cmake — programs that do what programs do and emulators forget (tests/programs/hostile_*):
# their own SIGSEGV/SIGBUS handlers and guard pages, mprotect/munmap/mremap of emulated memory in
# every direction, exit while threads are blocked on remote faults, fork from several threads at
# once, exec without closing anything, asking for too much memory. Each runs under libdime.so with
# a small pool (tests/preload.cmake's run_preload.cmake: exit 0 and a report with faults,
# re-fetches and evictions) and, where the program does not need DiME, natively too: the program
# checks the kernel's own semantics, so the native run shows its expectations are right.
foreach(prog hostile_signals hostile_mmap hostile_exit hostile_fork hostile_exec)
  add_executable(${prog} programs/${prog}.c)
  target_link_libraries(${prog} PRIVATE dime_api_static Threads::Threads)
endforeach()
add_executable(hostile_oom programs/hostile_oom.cpp)
target_link_libraries(hostile_oom PRIVATE dime_api_static Threads::Threads)

set(DIME_HOSTILE_OPTIONS "bandwidth_bps=1000000000000")  # plus latency_ns=0 unless OPTIONS sets it

# dime_hostile_test(<program> [NAME suffix] [ARGS a,b] [OPTIONS "k=v ..."] [POOL pages] [COUNTERS c,d] [NATIVE])
function(dime_hostile_test prog)
  cmake_parse_arguments(arg "NATIVE" "NAME;ARGS;OPTIONS;POOL;COUNTERS" "" ${ARGN})
  set(pool 256)
  if(arg_POOL)
    set(pool ${arg_POOL})
  endif()
  if(NOT arg_OPTIONS MATCHES "latency_ns=")
    set(arg_OPTIONS "latency_ns=0 ${arg_OPTIONS}")
  endif()
  set(name ${prog})
  if(arg_NAME)
    set(name ${prog}.${arg_NAME})
  endif()
  add_test(NAME hostile.${name}
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:${prog}>
      -DPRELOAD=$<TARGET_FILE:dime_preload>
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/hostile.${name}.json
      "-DOPTIONS=${DIME_HOSTILE_OPTIONS} ${arg_OPTIONS} local_npages=${pool}"
      -DPOOL=${pool}
      -DARGS=${arg_ARGS}
      -DCOUNTERS=${arg_COUNTERS}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_preload.cmake)
  set_tests_properties(hostile.${name} PROPERTIES TIMEOUT 120 SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
  if(arg_NATIVE)
    string(REPLACE "," ";" args "${arg_ARGS}")
    add_test(NAME hostile.${name}.native COMMAND env -u LD_PRELOAD $<TARGET_FILE:${prog}> ${args})
    set_tests_properties(hostile.${name}.native PROPERTIES TIMEOUT 120)
  endif()
endfunction()

# (a) The program's own SIGSEGV/SIGBUS handlers, guard pages, signals at threads asleep in remote
# faults (50 us fetches): each of those faults again, so duplicates must show in the report.
dime_hostile_test(hostile_signals NATIVE OPTIONS "latency_ns=50000" COUNTERS duplicate_faults)
# (b) mprotect, munmap and mremap of emulated memory in every direction (natively too).
dime_hostile_test(hostile_mmap NATIVE)
dime_hostile_test(hostile_mmap NAME 64KiB ARGS 65536 POOL 16 OPTIONS "page_size=64KiB")
dime_hostile_test(hostile_mmap NAME copy_path OPTIONS "uffd_move=false")
# (c) The end of a process while its threads sleep in 2 s fetches (latency_ns=1s): exit(), _exit(),
# exit() from a worker. The harness runs natively and starts the program under libdime.so. No
# source lines in the report: addr2line at exit alone took 0.65 s here, which is not what is measured.
# The buffers go remote by dime_evict; the pool is large so that nothing else does: glibc allocates
# each thread's TLS vector with malloc, and an exiting thread that finds its own evicted waits for it.
foreach(mode exit _exit exit-thread)
  add_test(NAME hostile.hostile_exit.${mode}
    COMMAND env -u LD_PRELOAD -u DIME_CONFIG
            "DIME_OPTIONS=latency_ns=1000000000 bandwidth_bps=1000000000000 overhead_ns=0 first_touch=local local_npages=4096 attribution_lines=false"
            $<TARGET_FILE:hostile_exit> $<TARGET_FILE:dime_preload> ${CMAKE_CURRENT_BINARY_DIR}/hostile.exit.${mode}.json
            ${mode})
  set_tests_properties(hostile.hostile_exit.${mode} PROPERTIES TIMEOUT 120 SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
endforeach()
# (d) fork() from four threads at once, while two more fault; children and grandchildren check.
dime_hostile_test(hostile_fork NATIVE)
set_tests_properties(hostile.hostile_fork PROPERTIES PROCESSORS 2)  # many processes copying pages
# (e) exec without closing anything, from a worker while the others fault: the image inherits the
# program's descriptors but none of DiME's (tests/scripts/run_lifecycle.cmake checks the reports:
# the exec'd image's own, none without the preload, the exec'd fork child's).
foreach(spec "keep|emulated" "drop|absent" "fork|emulated")
  string(REPLACE "|" ";" spec "${spec}")
  list(GET spec 0 mode)
  list(GET spec 1 report)
  add_test(NAME hostile.hostile_exec.${mode}
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:hostile_exec>
      -DPRELOAD=$<TARGET_FILE:dime_preload>
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/hostile.exec.${mode}.json
      "-DOPTIONS=local_npages=256 latency_ns=0 bandwidth_bps=1000000000000"
      -DARGS=${mode}
      -DEXPECT_REPORT=${report}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_lifecycle.cmake)
  set_tests_properties(hostile.hostile_exec.${mode} PROPERTIES TIMEOUT 120 SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
endforeach()
# (f) Too much memory: refusals as the kernel's (natively too); then a 64 MiB heap filled by new.
dime_hostile_test(hostile_oom NATIVE)
dime_hostile_test(hostile_oom NAME exhaust ARGS exhaust OPTIONS "heap_bytes=64MiB")

# The same programs on the mprotect backend, where DiME's SIGSEGV handler sits in front of the
# program's. A signal sent to a thread that waits in a fetch is blocked until the fetch ends, so it
# causes no duplicate fault there (no duplicate_faults counter).
dime_hostile_test(hostile_signals NAME mprotect OPTIONS "latency_ns=50000 backend=mprotect")
dime_hostile_test(hostile_mmap NAME mprotect OPTIONS "backend=mprotect")
dime_hostile_test(hostile_oom NAME mprotect OPTIONS "backend=mprotect")
dime_hostile_test(hostile_oom NAME exhaust.mprotect ARGS exhaust OPTIONS "heap_bytes=64MiB backend=mprotect")
foreach(mode exit _exit exit-thread)
  add_test(NAME hostile.hostile_exit.${mode}.mprotect
    COMMAND env -u LD_PRELOAD -u DIME_CONFIG
            "DIME_OPTIONS=backend=mprotect latency_ns=1000000000 bandwidth_bps=1000000000000 overhead_ns=0 first_touch=local local_npages=4096 attribution_lines=false"
            $<TARGET_FILE:hostile_exit> $<TARGET_FILE:dime_preload> ${CMAKE_CURRENT_BINARY_DIR}/hostile.exit.${mode}.mprotect.json
            ${mode})
  set_tests_properties(hostile.hostile_exit.${mode}.mprotect PROPERTIES TIMEOUT 120)
endforeach()
