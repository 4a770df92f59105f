# backend.cmake — the `backend` setting where userfaultfd is forbidden: deny_uffd runs a program
# under a seccomp filter that fails userfaultfd(2) and /dev/userfaultfd's ioctl with EPERM (as a
# container's profile does); backend auto must fall back to mprotect with a notice, and the default
# backend must refuse to start. Included by tests/CMakeLists.txt.
add_executable(deny_uffd programs/deny_uffd.c)

add_test(NAME backend.auto_without_userfaultfd
  COMMAND ${CMAKE_COMMAND}
    -DDENY=$<TARGET_FILE:deny_uffd>
    -DPROGRAM=$<TARGET_FILE:preload_heap>
    -DPRELOAD=$<TARGET_FILE:dime_preload>
    -DREPORT=${CMAKE_CURRENT_BINARY_DIR}/backend.auto_without_userfaultfd.json
    -P ${CMAKE_CURRENT_SOURCE_DIR}/scripts/check_backend_auto.cmake)
set_tests_properties(backend.auto_without_userfaultfd PROPERTIES
  TIMEOUT 120
  SKIP_REGULAR_EXPRESSION "PRELOAD-SKIPPED")
