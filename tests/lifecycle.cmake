# lifecycle.cmake — the process life cycle under libdime.so: fork children that go on under
# emulation (or not), vfork, fork+exec, posix_spawn and system() with no descriptor leaking, programs
# that close every descriptor, exits from any thread and by signals, dlopen with RTLD_DEEPBIND,
# DIME_DISABLE, DIME_LOG, set-user-ID programs. Included by tests/CMakeLists.txt; the programs
# announce their children, tests/scripts/run_lifecycle.cmake checks every report.
foreach(prog preload_fork_child preload_close_all preload_spawn preload_exit_paths preload_dlopen)
  add_executable(${prog} programs/${prog}.c)
  target_link_libraries(${prog} PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
endforeach()
add_library(dime_test_plugin MODULE programs/dime_test_plugin.c)
set_target_properties(dime_test_plugin PROPERTIES PREFIX lib OUTPUT_NAME dime_test_plugin
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/plugins)
# Found only through the program's RUNPATH, never through LD_LIBRARY_PATH or the cwd.
set_target_properties(preload_dlopen PROPERTIES BUILD_RPATH ${CMAKE_CURRENT_BINARY_DIR}/plugins)
add_dependencies(preload_dlopen dime_test_plugin)
add_executable(lifecycle_setuid programs/lifecycle_setuid.c)
target_link_libraries(lifecycle_setuid PRIVATE ${CMAKE_DL_LIBS})

# Same pool and link as tests/preload.cmake: 256 pages (1 MiB), no injected delay.
set(DIME_LIFECYCLE_OPTIONS "local_npages=256 latency_ns=0 bandwidth_bps=1000000000000")

# dime_lifecycle_test(<name> <program> [ARGS a,b] [OPTIONS "k=v"] [ENV K=V,...] [EXPECT_STATUS re]
#                     [EXPECT_REPORT emulated|none|absent] [EXPECT_STDERR re] [FORBID_STDERR re]
#                     [SUMMARY_LINES n] [HEAVY])
function(dime_lifecycle_test name prog)
  cmake_parse_arguments(arg "HEAVY" "ARGS;OPTIONS;ENV;EXPECT_STATUS;EXPECT_REPORT;EXPECT_STDERR;FORBID_STDERR;SUMMARY_LINES" "" ${ARGN})
  set(extra)
  foreach(key ARGS ENV EXPECT_STATUS EXPECT_REPORT EXPECT_STDERR FORBID_STDERR SUMMARY_LINES)
    if(DEFINED arg_${key})
      list(APPEND extra "-D${key}=${arg_${key}}")
    endif()
  endforeach()
  add_test(NAME lifecycle.${name}
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:${prog}>
      -DPRELOAD=$<TARGET_FILE:dime_preload>
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/lifecycle.${name}.json
      "-DOPTIONS=${DIME_LIFECYCLE_OPTIONS} ${arg_OPTIONS}"
      ${extra}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_lifecycle.cmake)
  set_tests_properties(lifecycle.${name} PROPERTIES TIMEOUT 120 SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
  if(arg_HEAVY)
    # Several processes copying pages on both cores: under ctest -j2 they would push the engine's
    # timing tests (loose bounds, but bounds) over the edge, so they take both slots.
    set_tests_properties(lifecycle.${name} PROPERTIES PROCESSORS 2)
  endif()
endfunction()

# fork: the child checks every byte and keeps working under emulation (its own report, faults > 0);
# with fork_child=plain it runs unemulated and writes none. vfork children read the parent's heap.
dime_lifecycle_test(fork_child_emulated preload_fork_child HEAVY ARGS emulate SUMMARY_LINES 3)
dime_lifecycle_test(fork_child_plain preload_fork_child HEAVY ARGS plain OPTIONS "fork_child=plain" SUMMARY_LINES 1)
# The child's evictions with the copy path only (shared pages refuse MOVE anyway; here every one copies).
dime_lifecycle_test(fork_child_copy_path preload_fork_child HEAVY ARGS emulate OPTIONS "uffd_move=false")

# Closing every descriptor, as daemons do, then 10x the pool: DiME's descriptors survive.
foreach(mode loop proc close_range closefrom dup2 daemonize)
  dime_lifecycle_test(close_all_${mode} preload_close_all ARGS ${mode})
endforeach()
# DIME_LOG: the ignored close is said at debug, and not at the default level.
dime_lifecycle_test(close_all_log_debug preload_close_all ARGS loop ENV DIME_LOG=debug
  EXPECT_STDERR "dime: close\\([0-9]+\\) ignored")
dime_lifecycle_test(close_all_log_default preload_close_all ARGS loop FORBID_STDERR "dime: close\\(")

# fork+exec, posix_spawn, vfork+exec, system(): no DiME descriptor in any exec'd child but its own.
dime_lifecycle_test(spawn preload_spawn HEAVY)

# Ends of a process while threads fault: nothing hangs, a report (if any) written once.
dime_lifecycle_test(exit_from_thread preload_exit_paths ARGS thread-exit SUMMARY_LINES 1)
dime_lifecycle_test(exit_from_signal_handler preload_exit_paths ARGS signal-exit SUMMARY_LINES 1)
dime_lifecycle_test(exit_with_program_atexit preload_exit_paths ARGS atexit SUMMARY_LINES 1)
dime_lifecycle_test(underscore_exit preload_exit_paths ARGS _exit EXPECT_REPORT absent SUMMARY_LINES 0)
dime_lifecycle_test(sigterm_default preload_exit_paths ARGS sigterm-default EXPECT_STATUS "[A-Za-z]"
  EXPECT_REPORT absent SUMMARY_LINES 0)

# dlopen by RUNPATH, with RTLD_DEEPBIND: the plugin's malloc stays DiME's.
dime_lifecycle_test(dlopen_deepbind preload_dlopen ENV DIME_LOG=info EXPECT_STDERR "RTLD_DEEPBIND removed")

# The mprotect backend through the same life cycle: fork children go on with the parent's
# protections (or on plain memory), exec and spawn children start afresh, exits while threads wait
# in the SIGSEGV handler for their fetches.
dime_lifecycle_test(fork_child_emulated.mprotect preload_fork_child HEAVY ARGS emulate OPTIONS "backend=mprotect"
  SUMMARY_LINES 3)
dime_lifecycle_test(fork_child_plain.mprotect preload_fork_child HEAVY ARGS plain
  OPTIONS "backend=mprotect fork_child=plain" SUMMARY_LINES 1)
dime_lifecycle_test(spawn.mprotect preload_spawn HEAVY OPTIONS "backend=mprotect")
dime_lifecycle_test(exit_from_thread.mprotect preload_exit_paths ARGS thread-exit OPTIONS "backend=mprotect"
  SUMMARY_LINES 1)
dime_lifecycle_test(exit_from_signal_handler.mprotect preload_exit_paths ARGS signal-exit OPTIONS "backend=mprotect"
  SUMMARY_LINES 1)
dime_lifecycle_test(close_all_daemonize.mprotect preload_close_all ARGS daemonize,0 OPTIONS "backend=mprotect")

# DIME_DISABLE=1: the allocator on plain memory, no userfaultfd, report backend "none".
dime_lifecycle_test(disabled preload_spawn ARGS --list-fds,0,close ENV DIME_DISABLE=1 EXPECT_REPORT none)
dime_lifecycle_test(disabled_close_all preload_close_all ARGS close_range,0 ENV DIME_DISABLE=1 EXPECT_REPORT none)

# Bad DIME_LOG / DIME_DISABLE: one line naming the variable, exit 2, before main().
add_test(NAME lifecycle.bad_environment
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_bad_environment.sh $<TARGET_FILE:dime_preload>)
set_tests_properties(lifecycle.bad_environment PROPERTIES TIMEOUT 60)

# A set-user-ID program is left alone (needs root; skips on a nosuid file system).
add_test(NAME lifecycle.setuid_left_alone
  COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:lifecycle_setuid> -DPRELOAD=$<TARGET_FILE:dime_preload>
          -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_setuid.cmake)
set_tests_properties(lifecycle.setuid_left_alone PROPERTIES TIMEOUT 60 SKIP_REGULAR_EXPRESSION "SETUID-SKIPPED")
