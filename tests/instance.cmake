# instance.cmake — instances (process groups) with real processes: tests/scripts/check_instance.py
# runs tests/programs/instance_walker under libdime.so, alone and two in one instance (the link's
# throughput shared, the budget kept), with a forked child, a member killed with SIGKILL and an
# orphaned segment. test_instance.cpp (in dime_tests) spawns the walker too. Included by
# tests/CMakeLists.txt.
add_executable(instance_walker programs/instance_walker.c)
add_dependencies(dime_tests instance_walker)
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME instance.processes
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_instance.py
      $<TARGET_FILE:dime> $<TARGET_FILE:dime_preload> $<TARGET_FILE:instance_walker>)
  # It measures page throughput: alone, not beside other tests.
  set_tests_properties(instance.processes PROPERTIES TIMEOUT 120 RUN_SERIAL TRUE)
endif()
