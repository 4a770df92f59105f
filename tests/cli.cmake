# cli.cmake — the `dime` command (cli/): exit statuses and signals of dime run, the environment it gives the
# program, --set precedence, reports, refusals of bad input, help, finding libdime.so, and the install tree
# with consumers through find_package(dime) and pkg-config. Included by tests/CMakeLists.txt.
foreach(case exit_status signal exec_not_fork environment set_overrides report_seqwalk bad_config
             check_config usage help missing_program library)
  add_test(NAME cli.${case}
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_cli.sh ${case}
      $<TARGET_FILE:dime> $<TARGET_FILE:dime_preload> $<TARGET_FILE:seqwalk>
      ${CMAKE_CURRENT_SOURCE_DIR}/cli ${CMAKE_CURRENT_BINARY_DIR}/cli)
  set_tests_properties(cli.${case} PROPERTIES TIMEOUT 180 SKIP_REGULAR_EXPRESSION "CLI-SKIPPED")
endforeach()

# Every row of the bad-configuration table, inherited through DIME_CONFIG / DIME_OPTIONS, must stop
# dime run itself before the program starts. With a DIME_LIBRARY that the loader ignores, a
# program started by mistake runs to main() and prints, instead of being stopped by libdime.so.
if(DEFINED DIME_BAD_CONFIG)
  add_test(NAME bad_config.dime_run
    COMMAND ${DIME_BAD_CONFIG} -- env DIME_LIBRARY=${CMAKE_CURRENT_SOURCE_DIR}/cli/not_a_library.so
            $<TARGET_FILE:dime> run -- /bin/echo main reached)
  # The same rows given on the command line: dime run -c FILE --set ... --report PATH, and
  # dime check-config FILE --set ... (whose output on stdout would mean it accepted the row).
  add_test(NAME bad_config.dime_run_arguments
    COMMAND ${DIME_BAD_CONFIG_DRIVER} --rename "DIME_CONFIG:=-c:" --rename "DIME_OPTIONS:=--set:"
            --rename "DIME_REPORT: report:=--report:" ${DIME_BAD_CONFIG_INPUTS} --
            env DIME_LIBRARY=${CMAKE_CURRENT_SOURCE_DIR}/cli/not_a_library.so
            ${CMAKE_CURRENT_SOURCE_DIR}/scripts/settings_as_arguments.sh $<TARGET_FILE:dime> run /bin/echo main reached)
  add_test(NAME bad_config.check_config
    COMMAND ${DIME_BAD_CONFIG_DRIVER} --rename "DIME_CONFIG: =" --rename "DIME_OPTIONS:=--set:"
            --rename "DIME_REPORT: report:=--set: report:" ${DIME_BAD_CONFIG_INPUTS} --
            ${CMAKE_CURRENT_SOURCE_DIR}/scripts/settings_as_arguments.sh $<TARGET_FILE:dime> check-config)
endif()

# dime doctor: every line, in order, and a verdict (exit status, backend) that agrees with what
# happens to a program under libdime.so, as this user and, when possible, as user nobody.
add_test(NAME cli.doctor
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_doctor.sh $<TARGET_FILE:dime> $<TARGET_FILE:dime_preload>)
set_tests_properties(cli.doctor PROPERTIES TIMEOUT 120)

# Install into a fresh prefix, build consumers with find_package(dime) and with pkg-config, run them,
# and run the installed dime (after moving the prefix, so it must find its own libdime.so).
add_test(NAME cli.install
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_install.sh
    ${PROJECT_BINARY_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/install_consumer ${CMAKE_CURRENT_BINARY_DIR}/cli/install
    ${CMAKE_COMMAND} ${CMAKE_C_COMPILER} ${PROJECT_VERSION})
set_tests_properties(cli.install PROPERTIES TIMEOUT 300 SKIP_REGULAR_EXPRESSION "CLI-SKIPPED")

# The environment variables: read in the sources => documented in docs/usage.md => shown by dime --help.
add_test(NAME docs.environment_variables
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_env_docs.sh ${PROJECT_SOURCE_DIR} $<TARGET_FILE:dime>)

# dime ctl against a running program (tests/scripts/check_ctl.py): list, set latency_ns (the
# measured delay follows within 1 s), set local_npages, stats, flush, refused requests.
add_executable(ctl_walker programs/ctl_walker.c)
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  add_test(NAME cli.ctl
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_ctl.py
      $<TARGET_FILE:dime> $<TARGET_FILE:dime_preload> $<TARGET_FILE:ctl_walker>)
  set_tests_properties(cli.ctl PROPERTIES TIMEOUT 120)
  # Every message in the sources (the fixed words of each failure(), logf(), fail(), ...) is in
  # docs/errors.md.
  add_test(NAME docs.error_messages
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_error_docs.py ${PROJECT_SOURCE_DIR})
endif()

# dime report: an HTML page from a report and a time series, checked in headless chromium.
add_test(NAME cli.report_html
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_report_html.sh
    $<TARGET_FILE:dime> $<TARGET_FILE:dime_preload> $<TARGET_FILE:attribution_sites>
    ${CMAKE_CURRENT_BINARY_DIR}/cli.report_html)
set_tests_properties(cli.report_html PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
