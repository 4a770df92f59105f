# tiers.cmake — tiers, placement and include/dime.h: the dime.h programs in C (static libdime_api)
# and C++ (shared libdime_api) run with libdime.so and tests/tiers/tiers.yaml, then without the
# preload; placement_sites is run by test_placement.cpp. Included by tests/CMakeLists.txt.
add_executable(api_c programs/api_c.c)
target_link_libraries(api_c PRIVATE dime_api_static)
add_executable(api_cxx programs/api_cxx.cpp)
target_link_libraries(api_cxx PRIVATE dime_api_shared)

add_library(placement_lib SHARED programs/placement_lib.c)
add_executable(placement_sites programs/placement_sites.cpp)
target_link_libraries(placement_sites PRIVATE placement_lib dime_api_static Threads::Threads)
# test_placement.cpp runs these.
add_dependencies(dime_tests placement_sites dime_preload)

foreach(prog api_c api_cxx)
  add_test(NAME tiers.${prog}.preloaded
    COMMAND env -u DIME_OPTIONS -u DIME_REPORT LD_PRELOAD=$<TARGET_FILE:dime_preload>
            DIME_CONFIG=${CMAKE_CURRENT_SOURCE_DIR}/tiers/tiers.yaml $<TARGET_FILE:${prog}> emulated)
  add_test(NAME tiers.${prog}.without_preload
    COMMAND env -u LD_PRELOAD -u DIME_CONFIG -u DIME_OPTIONS $<TARGET_FILE:${prog}> plain)
  set_tests_properties(tiers.${prog}.preloaded tiers.${prog}.without_preload PROPERTIES
    TIMEOUT 120 PASS_REGULAR_EXPRESSION "all checks passed")
endforeach()
# DIME_DISABLE: the allocator places blocks per tier on plain memory; dime_active() says 0.
add_test(NAME tiers.api_c.disabled
  COMMAND env -u DIME_OPTIONS -u DIME_REPORT DIME_DISABLE=1 LD_PRELOAD=$<TARGET_FILE:dime_preload>
          DIME_CONFIG=${CMAKE_CURRENT_SOURCE_DIR}/tiers/tiers.yaml $<TARGET_FILE:api_c> disabled)
set_tests_properties(tiers.api_c.disabled PROPERTIES TIMEOUT 120 PASS_REGULAR_EXPRESSION "all checks passed")
