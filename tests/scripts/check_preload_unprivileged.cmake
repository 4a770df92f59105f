# check_preload_unprivileged.cmake — run by ctest with `cmake -DPRELOAD=<libdime.so> -P`: a program
# started under libdime.so by a user who may not use userfaultfd must stop before main() with exit
# status 1 and one stderr line naming both fixes. Needs root (to drop to user nobody) on a machine
# where unprivileged userfaultfd is off; elsewhere it skips, saying why.
if(NOT PRELOAD)
  message(FATAL_ERROR "usage: cmake -DPRELOAD=<libdime.so> -P check_preload_unprivileged.cmake")
endif()
execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT uid STREQUAL "0")
  message("PRELOAD-UNPRIVILEGED-SKIPPED: needs root to run a program as user nobody")
  return()
endif()
find_program(SETPRIV setpriv)
if(NOT SETPRIV)
  message("PRELOAD-UNPRIVILEGED-SKIPPED: setpriv (util-linux) is not installed")
  return()
endif()
file(READ /proc/sys/vm/unprivileged_userfaultfd sysctl)
string(STRIP "${sysctl}" sysctl)
if(NOT sysctl STREQUAL "0")
  message("PRELOAD-UNPRIVILEGED-SKIPPED: vm.unprivileged_userfaultfd=${sysctl} lets every user use userfaultfd")
  return()
endif()

# The build tree may sit where user nobody cannot read (a clone under /root): preload a copy
# from a fresh directory everyone can read.
execute_process(COMMAND mktemp -d /tmp/dime-unprivileged.XXXXXX OUTPUT_VARIABLE copy_dir OUTPUT_STRIP_TRAILING_WHITESPACE)
file(CHMOD ${copy_dir} DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
file(COPY ${PRELOAD} DESTINATION ${copy_dir}
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
get_filename_component(preload_name ${PRELOAD} NAME)
set(PRELOAD ${copy_dir}/${preload_name})

execute_process(
  COMMAND ${SETPRIV} --reuid=65534 --regid=65534 --clear-groups
          env -u DIME_CONFIG LD_PRELOAD=${PRELOAD} DIME_OPTIONS=local_npages=256 /bin/echo main reached
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(REMOVE_RECURSE ${copy_dir})
message("exit ${rc}\nstdout: ${out}\nstderr: ${err}")
if(err MATCHES "cannot be preloaded")
  message("PRELOAD-UNPRIVILEGED-SKIPPED: user nobody cannot read ${PRELOAD}")
  return()
endif()
if(rc EQUAL 0 AND out MATCHES "main reached")
  message("PRELOAD-UNPRIVILEGED-SKIPPED: user nobody may use userfaultfd here (/dev/userfaultfd is open to it)")
  return()
endif()
string(REGEX REPLACE "\n$" "" line "${err}")
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "exit status ${rc}, expected 1")
endif()
if(NOT out STREQUAL "")
  message(FATAL_ERROR "the program ran (stdout: ${out})")
endif()
if(line MATCHES "\n" OR NOT line MATCHES "^dime: ")
  message(FATAL_ERROR "expected exactly one stderr line starting with 'dime: ', got:\n${err}")
endif()
if(NOT line MATCHES "vm\\.unprivileged_userfaultfd=1" OR NOT line MATCHES "/dev/userfaultfd")
  message(FATAL_ERROR "the message does not name both fixes (the sysctl and /dev/userfaultfd): ${line}")
endif()
message("refused before main with: ${line}")
