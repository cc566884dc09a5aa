# Installing iocpd as a Windows service: tests/test_install.py drives
# `iocpd install` and `iocpd uninstall`, tests/test_install_msi.py the MSI,
# against Wine's service control manager, each in a Wine prefix of its own
# (see harness/install.py).
#
# Included from tests/CMakeLists.txt; registered only when the tests run
# under Wine (IOCPD_TEST_PLATFORM=wine), since natively there is no service
# manager to install into (the script would exit 77, skipped). It needs the
# MSI: cmake/installer.cmake makes the `msi` target part of ALL in such
# builds when wixl (or WiX) is found; without one the test fails and says
# how to build it.
#
#   blackbox.install, blackbox.install_msi
#                      RUN_SERIAL: they install services, and the MSI's
#                      listens on 127.0.0.1:7007, the example config's port
#
# sdtool (tests/sdtool.c), a Windows test helper that reads and sets the
# owner and DACL of a file, lets the script plant a config with a
# permissive DACL and read back what the install left (Wine's cacls and
# icacls are stubs).

if(IOCPD_TEST_PLATFORM STREQUAL "wine")
  find_package(Python3 COMPONENTS Interpreter REQUIRED)
  add_executable(sdtool ${CMAKE_CURRENT_LIST_DIR}/sdtool.c)
  target_link_libraries(sdtool PRIVATE advapi32 shell32)
  get_filename_component(_iocpd_example "${CMAKE_CURRENT_LIST_DIR}/../iocpd.ini.example" ABSOLUTE)
  # The script stops itself at 280 s, after cleaning up.
  foreach(_area install install_msi)
    iocpd_blackbox_test(${_area} 300 300 SERIAL
                        ENV "IOCPD_MSI=${IOCPD_MSI}" "IOCPD_EXAMPLE_CONFIG=${_iocpd_example}"
                            "IOCPD_SD_TOOL=$<TARGET_FILE:sdtool>")
  endforeach()
endif()
