# bad_config.cmake — every bad configuration in bad_config.table must stop a DiME program before it starts: exit status 2, one stderr line naming the culprit.
# Another program is checked the same way with:
#   add_test(NAME bad_config.<name> COMMAND ${DIME_BAD_CONFIG} -- <command> [args...])

# The settings layer alone: loads as a DiME program does, prints the effective settings.
add_executable(config_probe config_probe.cpp)
target_link_libraries(config_probe PRIVATE dime_engine)

# The driver and its inputs apart, for a test that gives the driver options (--rename) first.
set(DIME_BAD_CONFIG_DRIVER ${CMAKE_CURRENT_SOURCE_DIR}/bad_config.sh)
set(DIME_BAD_CONFIG_INPUTS ${CMAKE_CURRENT_SOURCE_DIR}/bad_config.table ${CMAKE_CURRENT_SOURCE_DIR}/bad_configs)
set(DIME_BAD_CONFIG ${DIME_BAD_CONFIG_DRIVER} ${DIME_BAD_CONFIG_INPUTS})

add_test(NAME bad_config.seqwalk COMMAND ${DIME_BAD_CONFIG} -- $<TARGET_FILE:seqwalk>)
add_test(NAME bad_config.config_probe COMMAND ${DIME_BAD_CONFIG} -- $<TARGET_FILE:config_probe>)

# The driver itself must catch programs that ignore the configuration (exit 0), that print
# the right shape but not the culprit, and that print more than one line.
add_test(NAME bad_config.driver_catches_exit_0
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bad_config.sh --expect-every-row-to-fail
          ${CMAKE_CURRENT_SOURCE_DIR}/bad_config.table ${CMAKE_CURRENT_SOURCE_DIR}/bad_configs -- true)
add_test(NAME bad_config.driver_catches_wrong_culprit
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bad_config.sh --expect-every-row-to-fail
          ${CMAKE_CURRENT_SOURCE_DIR}/bad_config.table ${CMAKE_CURRENT_SOURCE_DIR}/bad_configs --
          sh -c "echo 'dime: irrelevant' >&2; exit 2")
add_test(NAME bad_config.driver_catches_second_line
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bad_config.sh --expect-every-row-to-fail
          ${CMAKE_CURRENT_SOURCE_DIR}/bad_config.table ${CMAKE_CURRENT_SOURCE_DIR}/bad_configs --
          sh -c "\"$0\"; s=$?; echo 'dime: a second line' >&2; exit $s" $<TARGET_FILE:config_probe>)
