# run_preload.cmake — run by ctest with `cmake -DPROGRAM=<exe> -DPRELOAD=<libdime.so> -DREPORT=<file>
# -DOPTIONS=<DIME_OPTIONS> -DPOOL=<local_npages> [-DARGS=a,b] -P`: runs PROGRAM with libdime.so
# preloaded, fails unless it exits 0 and its JSON report shows the emulation really worked (faults,
# re-fetches and evictions all > 0, and the pool size the test asked for).
foreach(var PROGRAM PRELOAD REPORT OPTIONS POOL)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "usage: cmake -DPROGRAM=<exe> -DPRELOAD=<libdime.so> -DREPORT=<file> "
                        "-DOPTIONS=<DIME_OPTIONS> -DPOOL=<local_npages> [-DARGS=a,b] -P run_preload.cmake")
  endif()
endforeach()
string(REPLACE "," ";" args "${ARGS}")

file(REMOVE "${REPORT}")
set(ENV{LD_PRELOAD} "${PRELOAD}")
set(ENV{DIME_OPTIONS} "${OPTIONS}")
set(ENV{DIME_REPORT} "${REPORT}")
unset(ENV{DIME_CONFIG})
execute_process(COMMAND ${PROGRAM} ${args}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
unset(ENV{LD_PRELOAD})
message("${out}${err}")
get_filename_component(name "${PROGRAM}" NAME)
if(NOT rc EQUAL 0)
  # A machine that forbids userfaultfd skips, unless CI demands it (DIME_REQUIRE_UFFD=1).
  if(err MATCHES "userfaultfd is not permitted|has no userfaultfd" AND NOT "$ENV{DIME_REQUIRE_UFFD}" STREQUAL "1")
    message("PRELOAD-SKIPPED: userfaultfd is not usable here")
    return()
  endif()
  message(FATAL_ERROR "${name} under libdime.so exited with ${rc}")
endif()

if(NOT EXISTS "${REPORT}")
  message(FATAL_ERROR "${name}: no report at ${REPORT} (DIME_REPORT was ignored, or the exit handler did not run)")
endif()
file(READ "${REPORT}" json)
string(JSON pool ERROR_VARIABLE json_error GET "${json}" config local_npages)
if(json_error)
  message(FATAL_ERROR "${name}: the report is not the expected JSON (${json_error}):\n${json}")
endif()
if(NOT pool EQUAL POOL)
  message(FATAL_ERROR "${name}: the report says local_npages=${pool}, the test asked for ${POOL}")
endif()
foreach(counter faults refetch_faults evictions)
  string(JSON value ERROR_VARIABLE json_error GET "${json}" totals ${counter})
  if(json_error)
    message(FATAL_ERROR "${name}: the report has no totals.${counter} (${json_error})")
  endif()
  if(NOT value GREATER 0)
    message(FATAL_ERROR "${name}: totals.${counter} is ${value}: the heap was not emulated")
  endif()
  set(${counter} ${value})
endforeach()
message("${name}: exit 0; ${faults} faults (${refetch_faults} re-fetches), ${evictions} evictions "
        "with a pool of ${pool} pages")
