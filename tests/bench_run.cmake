# bench_run.cmake — bench/run's smoke test (label `bench`): every experiment of docs/experiments.md
# at tiny sizes, asserting only that each produced its rows and plots (the figures are not
# checked: smoke sizes and a shared CI machine make them meaningless). About 1-2 minutes.
# Included by tests/CMakeLists.txt.
add_test(NAME bench_run_smoke
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/run_bench_smoke.sh
    ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR}/bench_run_smoke)
set_tests_properties(bench_run_smoke PROPERTIES
  LABELS bench
  TIMEOUT 900
  SKIP_RETURN_CODE 77)
