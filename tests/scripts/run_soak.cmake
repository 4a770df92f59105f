# run_soak.cmake — run by ctest like run_preload.cmake (same -D arguments): runs the soak program
# under libdime.so with run_preload.cmake's checks (exit 0, a report with faults, re-fetches and
# evictions), then requires its last line, "soak: N ops, 0 mismatches" with N > 0, and no sign on
# stderr that the handler switched UFFDIO_MOVE off (every later eviction would have copied).
include(${CMAKE_CURRENT_LIST_DIR}/run_preload.cmake)
if(NOT EXISTS "${REPORT}")
  return()  # skipped (userfaultfd not usable); run_preload.cmake said so
endif()
if(NOT out MATCHES "soak: ([0-9]+) ops, 0 mismatches")
  message(FATAL_ERROR "${name}: no 'soak: N ops, 0 mismatches' line")
endif()
if(NOT CMAKE_MATCH_1 GREATER 1000)
  message(FATAL_ERROR "${name}: only ${CMAKE_MATCH_1} operations")
endif()
if(err MATCHES "refused UFFDIO_MOVE")
  message(FATAL_ERROR "${name}: the handler switched UFFDIO_MOVE off during the run")
endif()
