# json_get.cmake — prints one member of a JSON file: `cmake -DFILE=<json> -DKEYS=<a;b> -P json_get.cmake`
# prints the value of .a.b, or fails (exit status 1) when the file or the member is missing.
if(NOT FILE OR NOT KEYS)
  message(FATAL_ERROR "usage: cmake -DFILE=<json> -DKEYS=<member;member...> -P json_get.cmake")
endif()
if(NOT EXISTS "${FILE}")
  message(FATAL_ERROR "no file ${FILE}")
endif()
file(READ "${FILE}" json)
string(JSON value ERROR_VARIABLE error GET "${json}" ${KEYS})
if(error)
  message(FATAL_ERROR "${FILE}: ${error}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${value}")
