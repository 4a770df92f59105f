# check_seqwalk.cmake — run by ctest with `cmake -DSEQWALK=<exe> -DPAGES=<n> -P`: runs seqwalk
# under the DIME_OPTIONS of the test, fails unless its table row shows faults == pages == PAGES,
# then checks that bad arguments exit 2 with one line and that --help exits 0.
if(NOT SEQWALK OR NOT PAGES)
  message(FATAL_ERROR "usage: cmake -DSEQWALK=<seqwalk> -DPAGES=<n> -P check_seqwalk.cmake")
endif()

execute_process(COMMAND ${SEQWALK} --pages ${PAGES}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  # A machine that forbids userfaultfd skips, unless CI demands it (DIME_REQUIRE_UFFD=1).
  if(err MATCHES "userfaultfd is not permitted|has no userfaultfd" AND NOT "$ENV{DIME_REQUIRE_UFFD}" STREQUAL "1")
    message("SEQWALK-SKIPPED: userfaultfd is not usable here")
    return()
  endif()
  message(FATAL_ERROR "seqwalk --pages ${PAGES} exited with ${rc}")
endif()

# The data row: pages, page faults, expected and actual delay per page, error.
if(NOT out MATCHES "\n *([0-9]+) +([0-9]+) +[0-9.]+ us +[0-9.]+ us +[-+0-9.%]+")
  message(FATAL_ERROR "no table row in seqwalk's output")
endif()
set(pages ${CMAKE_MATCH_1})
set(faults ${CMAKE_MATCH_2})
if(NOT pages EQUAL PAGES)
  message(FATAL_ERROR "seqwalk walked ${pages} pages, asked for ${PAGES}")
endif()
if(NOT faults EQUAL pages)
  message(FATAL_ERROR "seqwalk: ${faults} page faults for ${pages} pages (expected exactly one per page)")
endif()

foreach(bad "--pages;0" "--pages;banana" "--pages" "--frobnicate")
  execute_process(COMMAND ${SEQWALK} ${bad}
    RESULT_VARIABLE rc OUTPUT_VARIABLE bad_out ERROR_VARIABLE bad_err)
  string(STRIP "${bad_err}" line)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "seqwalk ${bad}: exit status ${rc}, expected 2")
  endif()
  if(line STREQUAL "" OR line MATCHES "\n" OR NOT bad_out STREQUAL "")
    message(FATAL_ERROR "seqwalk ${bad}: expected exactly one line on stderr, got:\n${bad_out}${bad_err}")
  endif()
endforeach()

execute_process(COMMAND ${SEQWALK} --help RESULT_VARIABLE rc OUTPUT_VARIABLE help_out)
if(NOT rc EQUAL 0 OR NOT help_out MATCHES "usage: seqwalk")
  message(FATAL_ERROR "seqwalk --help: exit status ${rc}, output:\n${help_out}")
endif()
message("seqwalk: ${faults} faults for ${pages} pages; bad arguments rejected")
