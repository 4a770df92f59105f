# check_backend_auto.cmake — run by ctest as `cmake -DDENY=<deny_uffd> -DPROGRAM=<exe>
# -DPRELOAD=<libdime.so> -DREPORT=<file> -P`: where userfaultfd is forbidden (deny_uffd's seccomp
# filter, as in a container), backend auto must say so in one line on stderr, run PROGRAM on the
# mprotect backend (its report says so and shows faults, re-fetches and evictions) and exit 0; the
# default backend, userfaultfd, must refuse to start with the line naming the fixes (exit status 1).
foreach(var DENY PROGRAM PRELOAD REPORT)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "usage: cmake -DDENY=<deny_uffd> -DPROGRAM=<exe> -DPRELOAD=<libdime.so> -DREPORT=<file> -P check_backend_auto.cmake")
  endif()
endforeach()
set(options "local_npages=256 latency_ns=0 bandwidth_bps=1Tbit")
set(run ${DENY} env -u DIME_CONFIG LD_PRELOAD=${PRELOAD} DIME_REPORT=${REPORT})

file(REMOVE "${REPORT}")
execute_process(COMMAND ${run} "DIME_OPTIONS=${options} backend=auto" ${PROGRAM}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("backend auto, userfaultfd denied: exit ${rc}\n${err}")
if(rc EQUAL 126)
  message("PRELOAD-SKIPPED: this machine does not let a process install a seccomp filter")
  return()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "backend auto without userfaultfd: the program exited with ${rc}")
endif()
string(REGEX MATCHALL "dime: backend auto: " notices "${err}")
list(LENGTH notices count)
if(NOT count EQUAL 1 OR NOT err MATCHES "dime: backend auto: [^\n]*using backend mprotect")
  message(FATAL_ERROR "backend auto without userfaultfd: expected one notice line naming mprotect, found ${count}")
endif()
file(READ "${REPORT}" json)
string(JSON backend GET "${json}" engine backend)
if(NOT backend STREQUAL "mprotect")
  message(FATAL_ERROR "backend auto without userfaultfd: the report says backend ${backend}, expected mprotect")
endif()
foreach(counter faults refetch_faults evictions)
  string(JSON value GET "${json}" totals ${counter})
  if(NOT value GREATER 0)
    message(FATAL_ERROR "backend auto without userfaultfd: totals.${counter} is ${value}: nothing was emulated")
  endif()
endforeach()

# The filter really denies userfaultfd: the default backend cannot start under it.
execute_process(COMMAND ${run} "DIME_OPTIONS=${options}" ${PROGRAM}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("backend userfaultfd, denied: exit ${rc}\n${err}")
if(NOT rc EQUAL 1 OR NOT err MATCHES "dime: userfaultfd is not permitted")
  message(FATAL_ERROR "backend userfaultfd under the filter: expected exit 1 and the line naming the fixes")
endif()
message("backend auto chose mprotect where userfaultfd is denied; userfaultfd alone refused to start")
