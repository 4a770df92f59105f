# realprogs.cmake — real Debian programs under libdime.so (label `realprogs`): python3, sort,
# sqlite3 and redis-server each run natively and under the shim with a local pool at most 1/8 of
# their heap; outputs (or data) must be identical and the JSON report must show remote faults.
# The scripts live in tests/realprogs/; they exit 77 (skipped) only when a program is not
# installed or userfaultfd is unusable, never under CI. Included by tests/CMakeLists.txt.
add_executable(realprogs_gen_lines realprogs/gen_lines.c)
add_executable(realprogs_free_port realprogs/free_port.c)

# dime_realprog_test(<name> [extra script arguments...]): runs tests/realprogs/<name>.sh; with
# DIME_REALPROG_BACKEND set, as realprogs.<name>.<backend> on that backend.
function(dime_realprog_test name)
  set(test realprogs.${name})
  if(DIME_REALPROG_BACKEND)
    set(test realprogs.${name}.${DIME_REALPROG_BACKEND})
  endif()
  add_test(NAME ${test}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/realprogs/${name}.sh
      $<TARGET_FILE:dime_preload>
      ${CMAKE_CURRENT_BINARY_DIR}/${test}
      ${CMAKE_CURRENT_SOURCE_DIR}/realprogs
      ${ARGN})
  # Each takes 10-40 s on a 2-core machine; the timeout leaves room for a loaded machine.
  set_tests_properties(${test} PROPERTIES
    LABELS realprogs
    TIMEOUT 600
    SKIP_RETURN_CODE 77)
  if(DIME_REALPROG_BACKEND)
    set_tests_properties(${test} PROPERTIES ENVIRONMENT RP_BACKEND=${DIME_REALPROG_BACKEND})
  endif()
endfunction()

dime_realprog_test(python)
dime_realprog_test(sort $<TARGET_FILE:realprogs_gen_lines>)
dime_realprog_test(sqlite)
dime_realprog_test(redis $<TARGET_FILE:realprogs_free_port>)
# python, sqlite and redis again on the mprotect backend (sort adds minutes of the same I/O).
set(DIME_REALPROG_BACKEND mprotect)
dime_realprog_test(python)
dime_realprog_test(sqlite)
dime_realprog_test(redis $<TARGET_FILE:realprogs_free_port>)
unset(DIME_REALPROG_BACKEND)

# A C++ program next to another allocator that exports operator new (Debian's libjemalloc.so.2,
# which redis-server links): new/delete must still agree with malloc/free. Before libdime.so
# defined them, new went to jemalloc and jemalloc's delete to DiME's free: preload_cxx crashed.
find_library(DIME_JEMALLOC NAMES libjemalloc.so.2 jemalloc)
if(DIME_JEMALLOC)
  add_test(NAME realprogs.cxx_beside_jemalloc
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:preload_cxx>
      "-DPRELOAD=$<TARGET_FILE:dime_preload>:${DIME_JEMALLOC}"
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/realprogs.cxx_beside_jemalloc.json
      "-DOPTIONS=local_npages=256 latency_ns=0 bandwidth_bps=1Tbit"
      -DPOOL=256
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_preload.cmake)
  set_tests_properties(realprogs.cxx_beside_jemalloc PROPERTIES
    LABELS realprogs
    TIMEOUT 300
    SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
endif()
