# Tests of the config module, included from tests/CMakeLists.txt.
#
#   config_units   C unit test of config/ (units, iocpd_config_load on
#                  files in a scratch directory and iocpd_config_load_buffer
#                  on the same texts in memory) and of the engine options
#                  made from a config (service/settings.c); built when the tests can
#                  run on the build machine: natively, or in a cross build
#                  through CMAKE_CROSSCOMPILING_EMULATOR (the Wine wrapper),
#                  which also runs its host-name lookups through Winsock.
#   config_errors  black-box suite: runs the iocpd executable on every case in
#                  config-cases/ (and a few generated ones) and checks exit
#                  codes, messages and warnings. Under a cross build it runs
#                  the binary through IOCPD_TEST_WRAPPER (e.g. a Wine
#                  wrapper).
#
# The fuzzer (tests/fuzz/) is not built here: it needs clang's libFuzzer
# and runs for minutes, so scripts/fuzz.sh builds and runs it on its own.
#
# IOCPD_TEST_WRAPPER and IOCPD_TEST_PLATFORM are cache variables defined
# elsewhere (empty and "native" for a native build). The wrapper is passed
# through the environment and split like a shell command line, so it must
# not contain ';' (CMake's list separator).

if(NOT CMAKE_CROSSCOMPILING OR CMAKE_CROSSCOMPILING_EMULATOR)
  add_executable(test_config_units
    ${CMAKE_CURRENT_LIST_DIR}/test_config_units.c ${CMAKE_CURRENT_LIST_DIR}/test_config_values.c
    ${CMAKE_CURRENT_LIST_DIR}/test_config_forward.c ${CMAKE_CURRENT_LIST_DIR}/test_config_protection.c
    ${CMAKE_CURRENT_LIST_DIR}/test_config_observability.c ${CMAKE_CURRENT_LIST_DIR}/test_config_udp.c
    ${PROJECT_SOURCE_DIR}/service/settings.c)
  # settings.c: what the engine is given from a config (test_config_udp.c).
  target_include_directories(test_config_units PRIVATE ${PROJECT_SOURCE_DIR}/service)
  target_link_libraries(test_config_units PRIVATE iocpd_config)
  set(IOCPD_CONFIG_UNITS_DIR ${CMAKE_CURRENT_BINARY_DIR}/config_units_tmp)
  file(MAKE_DIRECTORY ${IOCPD_CONFIG_UNITS_DIR})
  add_test(NAME config_units
           COMMAND test_config_units ${IOCPD_CONFIG_UNITS_DIR})
  set_tests_properties(config_units PROPERTIES TIMEOUT 60 LABELS "config")
endif()

find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
  if(IOCPD_TEST_PLATFORM)
    set(_iocpd_config_platform ${IOCPD_TEST_PLATFORM})
  elseif(CMAKE_CROSSCOMPILING)
    set(_iocpd_config_platform wine)
  else()
    set(_iocpd_config_platform native)
  endif()
  add_test(NAME config_errors
           COMMAND ${Python3_EXECUTABLE}
                   ${CMAKE_CURRENT_LIST_DIR}/test_config_errors.py)
  # About 90 cases, the invalid ones run twice; under Wine the script itself trims the
  # second pass when process start-up is slow (see its docstring).
  if(_iocpd_config_platform STREQUAL "wine")
    set(_iocpd_config_timeout 900)
  else()
    set(_iocpd_config_timeout 180)
  endif()
  set_tests_properties(config_errors PROPERTIES
    ENVIRONMENT "IOCPD_BIN=$<TARGET_FILE:iocpd>;IOCPD_WRAPPER=${IOCPD_TEST_WRAPPER};IOCPD_PLATFORM=${_iocpd_config_platform};PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1"
    TIMEOUT ${_iocpd_config_timeout}
    LABELS "config")
else()
  message(WARNING "Python 3 not found: the config_errors test is not registered")
endif()
