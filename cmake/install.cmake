# install.cmake — what `cmake --install build --prefix P` puts where (GNUInstallDirs): libdime.so, the
# headers of include/, the dime command, a CMake package (find_package(dime) -> dime::dime) and dime.pc.
# Every installed path is relative to P, so an installed tree may be moved as a whole.
include(CMakePackageConfigHelpers)

# libdime.so, exported as dime::dime: the shim and, with it, the API of include/.
set_target_properties(dime_preload PROPERTIES EXPORT_NAME dime)
install(TARGETS dime_preload EXPORT dimeTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The include directory always exists (dime::dime names it); include/ fills it once it has headers.
install(DIRECTORY DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} OPTIONAL
  FILES_MATCHING PATTERN "*.h")

# The CMake package: <libdir>/cmake/dime/{dimeConfig,dimeConfigVersion,dimeTargets}.cmake.
set(DIME_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/dime)
install(EXPORT dimeTargets NAMESPACE dime:: DESTINATION ${DIME_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/dimeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/dimeConfig.cmake
  INSTALL_DESTINATION ${DIME_CMAKE_DIR})
# Before 1.0 a minor version may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dimeConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/dimeConfig.cmake ${PROJECT_BINARY_DIR}/dimeConfigVersion.cmake
  DESTINATION ${DIME_CMAKE_DIR})

# pkg-config: <libdir>/pkgconfig/dime.pc, its prefix found from its own place (${pcfiledir}).
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(DIME_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(DIME_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(DIME_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH up "/P/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/P")
  string(REGEX REPLACE "/$" "" up "${up}")
  set(DIME_PC_PREFIX "\${pcfiledir}/${up}")
  set(DIME_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(DIME_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/dime.pc.in ${PROJECT_BINARY_DIR}/dime.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dime.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
