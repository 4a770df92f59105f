# seqwalk.cmake — DiME's verification (report, section 4) as ctest cases: a sequential walk of
# 3000 pages with local_npages=1000 must report exactly one fault per page, and seqwalk's own
# command line must reject bad input with exit status 2. Included by tests/CMakeLists.txt.
add_test(NAME seqwalk_faults_equal_pages
  COMMAND ${CMAKE_COMMAND}
    -DSEQWALK=$<TARGET_FILE:seqwalk>
    -DPAGES=3000
    -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_seqwalk.cmake)
set_tests_properties(seqwalk_faults_equal_pages PROPERTIES
  ENVIRONMENT "DIME_OPTIONS=latency_ns=0 local_npages=1000"
  SKIP_REGULAR_EXPRESSION "SEQWALK-SKIPPED"
  TIMEOUT 120)
