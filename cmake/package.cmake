# Installing the engine as a CMake package: cmake --install puts the
# static library, the public headers (include/) and iocpdConfig.cmake in
# place, so that an embedding program builds with
#   find_package(iocpd REQUIRED)
#   target_link_libraries(app PRIVATE iocpd::core)
# (tests/test_package.py builds examples/ that way). Included from the top
# CMakeLists.txt.
include(CMakePackageConfigHelpers)

set(IOCPD_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/iocpd)
set_target_properties(iocpd_core PROPERTIES EXPORT_NAME core)
install(TARGETS iocpd_core EXPORT iocpdTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/iocpd.h include/iocpd_sys.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT iocpdTargets NAMESPACE iocpd:: DESTINATION ${IOCPD_PACKAGE_DIR})
configure_package_config_file(cmake/iocpdConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/iocpdConfig.cmake
  INSTALL_DESTINATION ${IOCPD_PACKAGE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/iocpdConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/iocpdConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/iocpdConfigVersion.cmake
        DESTINATION ${IOCPD_PACKAGE_DIR})
# The executable is the `runtime` component, which the Linux .deb packs
# (cmake/linux_package.cmake).
install(TARGETS iocpd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
