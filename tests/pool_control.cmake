# pool_control.cmake — include/dime.h's pool controls from C (dime_evict, dime_set_local_pages):
# api_pool under libdime.so, with and without writeback, then without the preload; and the preload
# test programs of preload.cmake again with writeback: true (threads, fork, read()/write()), whose
# reports must show dirty and clean evictions. Included by tests/CMakeLists.txt.
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

foreach(spec "preload_threads" "preload_fork" "preload_syscalls|4,${CMAKE_CURRENT_BINARY_DIR}")
  string(REPLACE "|" ";" spec "${spec}")
  list(GET spec 0 prog)
  list(LENGTH spec n)
  set(args "")
  if(n GREATER 1)
    list(GET spec 1 args)
  endif()
  add_test(NAME pool_control.writeback.${prog}
    COMMAND ${CMAKE_COMMAND}
      -DPROGRAM=$<TARGET_FILE:${prog}>
      -DPRELOAD=$<TARGET_FILE:dime_preload>
      -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/pool_control.writeback.${prog}.json
      "-DOPTIONS=local_npages=256 latency_ns=0 bandwidth_bps=1000000000000 writeback=true"
      -DPOOL=256
      -DARGS=${args}
      -DCOUNTERS=dirty_evictions,clean_evictions,writeback_bytes
      -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_preload.cmake)
  set_tests_properties(pool_control.writeback.${prog} PROPERTIES TIMEOUT 120 SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
endforeach()
