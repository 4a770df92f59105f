# check_setuid.cmake — run by ctest with `cmake -DPROGRAM=<lifecycle_setuid> -DPRELOAD=<libdime.so> -P`:
# a set-user-ID copy of PROGRAM (owner nobody) run by root gets AT_SECURE; it loads libdime.so and
# must find DiME inactive although DIME_OPTIONS is garbage and DIME_REPORT names a writable file
# (no exit 2, no userfaultfd, no report). Skips without root or on a nosuid file system.
execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT uid STREQUAL "0")
  message("SETUID-SKIPPED: needs root to make a set-user-ID copy owned by nobody")
  return()
endif()
execute_process(COMMAND mktemp -d /tmp/dime-setuid.XXXXXX OUTPUT_VARIABLE dir OUTPUT_STRIP_TRAILING_WHITESPACE)
file(CHMOD ${dir} DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_WRITE GROUP_EXECUTE
     WORLD_READ WORLD_WRITE WORLD_EXECUTE)
file(COPY ${PROGRAM} ${PRELOAD} DESTINATION ${dir}
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
get_filename_component(prog_name ${PROGRAM} NAME)
get_filename_component(lib_name ${PRELOAD} NAME)
execute_process(COMMAND chown 65534 ${dir}/${prog_name} RESULT_VARIABLE chown_rc)
execute_process(COMMAND chmod 4755 ${dir}/${prog_name})
execute_process(
  COMMAND env -u LD_PRELOAD "DIME_OPTIONS=this is garbage" DIME_REPORT=${dir}/report.json DIME_LOG=debug
          ${dir}/${prog_name} ${dir}/${lib_name}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(report_written FALSE)
if(EXISTS ${dir}/report.json)
  set(report_written TRUE)
endif()
file(REMOVE_RECURSE ${dir})
message("exit ${rc}\nstdout: ${out}\nstderr: ${err}")
if(NOT chown_rc EQUAL 0 OR out MATCHES "SETUID-NOT-SECURE")
  message("SETUID-SKIPPED: the copy did not run set-user-ID (nosuid mount?)")
  return()
endif()
if(NOT rc EQUAL 0 OR NOT out MATCHES "left alone: ok")
  message(FATAL_ERROR "the set-user-ID program was not left alone (exit ${rc})")
endif()
if(report_written)
  message(FATAL_ERROR "DiME wrote a report for a set-user-ID program")
endif()
if(err MATCHES "dime: ")
  message(FATAL_ERROR "DiME spoke in a set-user-ID program: ${err}")
endif()
