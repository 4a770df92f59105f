# run_preload_mmap.cmake — run by ctest like run_preload.cmake (same -D arguments) plus
# -DMEMORY=<counter,...> -DMIN_REFETCH=<n>: runs the program under libdime.so with run_preload.cmake's
# checks, then requires each named counter of the report's "memory" object (what the mmap family
# did to emulated memory) to be > 0 and totals.refetch_faults to be at least MIN_REFETCH.
include(${CMAKE_CURRENT_LIST_DIR}/run_preload.cmake)
if(NOT EXISTS "${REPORT}")
  return()  # skipped (userfaultfd not usable); run_preload.cmake said so
endif()
file(READ "${REPORT}" json)
string(REPLACE "," ";" counters "${MEMORY}")
foreach(counter ${counters})
  string(JSON value ERROR_VARIABLE json_error GET "${json}" memory ${counter})
  if(json_error)
    message(FATAL_ERROR "${name}: the report has no memory.${counter} (${json_error})")
  endif()
  if(NOT value GREATER 0)
    message(FATAL_ERROR "${name}: memory.${counter} is ${value}: the mmap'd memory was not emulated")
  endif()
  message("${name}: memory.${counter} = ${value}")
endforeach()
string(JSON refetch GET "${json}" totals refetch_faults)
if(refetch LESS MIN_REFETCH)
  message(FATAL_ERROR "${name}: ${refetch} re-fetches, expected at least ${MIN_REFETCH}")
endif()
