# pool_control.cmake — include/dime.h's pool controls from C (dime_evict, dime_set_local_pages):
# api_pool under libdime.so, with and without writeback, then without the preload. Included by
# tests/CMakeLists.txt.
add_executable(api_pool programs/api_pool.c)
target_link_libraries(api_pool PRIVATE dime_api_static Threads::Threads)

foreach(writeback false true)
  add_test(NAME pool_control.api_pool.preloaded.writeback_${writeback}
    COMMAND env -u DIME_CONFIG -u DIME_REPORT LD_PRELOAD=$<TARGET_FILE:dime_preload>
            "DIME_OPTIONS=latency_ns=0 local_npages=4096 summary=false writeback=${writeback}"
            $<TARGET_FILE:api_pool> emulated)
  set_tests_properties(pool_control.api_pool.preloaded.writeback_${writeback} PROPERTIES
    TIMEOUT 120 PASS_REGULAR_EXPRESSION "all checks passed")
endforeach()
add_test(NAME pool_control.api_pool.without_preload
  COMMAND env -u LD_PRELOAD -u DIME_CONFIG -u DIME_OPTIONS $<TARGET_FILE:api_pool> plain)
set_tests_properties(pool_control.api_pool.without_preload PROPERTIES
  TIMEOUT 120 PASS_REGULAR_EXPRESSION "all checks passed")
