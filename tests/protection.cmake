# Black-box tests of the protection settings: tests/test_protection.py
# drives the real iocpd with connection limits (listener and [service]
# max_connections, max_connections_per_ip), allow/deny lists, the rejection
# log's rate limit, handshake_timeout under a flood of silent clients,
# idle_timeout against a slowloris client, clients that send garbage and
# reset, port exclusivity and the warning for a public listener.
#
# Included from tests/CMakeLists.txt. Like blackbox.cmake it uses the cache
# variables IOCPD_TEST_WRAPPER (command prefix that runs the binary: empty
# natively, the Wine wrapper for the Windows build) and IOCPD_TEST_PLATFORM
# ("native" or "wine", which selects smaller loads and longer waits).
#
#   blackbox.protection       every IPv4 sub-test; the handshake flood opens
#                             about 2000 connections natively and every
#                             sub-test has timing windows, so it runs alone
#   blackbox.protection_ipv6  allow/deny on [::1] listeners; skipped (exit
#                             77) on a machine without ::1

find_package(Python3 COMPONENTS Interpreter REQUIRED)

set(_iocpd_protection_script ${CMAKE_CURRENT_LIST_DIR}/test_protection.py)

# iocpd_protection_test(NAME NATIVE_TIMEOUT WINE_TIMEOUT [SERIAL] ARGS ARG...)
# Registers test_protection.py with ARGS (the unittest classes to run) as
# the test NAME, with the environment, labels and skip code of the other
# black-box tests.
function(iocpd_protection_test name native_timeout wine_timeout)
  cmake_parse_arguments(arg "SERIAL" "" "ARGS" ${ARGN})
  add_test(NAME ${name}
           COMMAND ${Python3_EXECUTABLE} ${_iocpd_protection_script} ${arg_ARGS})
  if(IOCPD_TEST_PLATFORM STREQUAL "wine")
    set(timeout ${wine_timeout})
  else()
    set(timeout ${native_timeout})
  endif()
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "IOCPD_BIN=$<TARGET_FILE:iocpd>;IOCPD_WRAPPER=${IOCPD_TEST_WRAPPER};IOCPD_PLATFORM=${IOCPD_TEST_PLATFORM};PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1"
    TIMEOUT ${timeout}
    LABELS "blackbox;protection"
    SKIP_RETURN_CODE 77)
  if(arg_SERIAL)
    set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()

# The script's own watchdog (120 s native, 420 s Wine) fires first and
# prints where it hung; these limits are the backstop.
iocpd_protection_test(blackbox.protection 150 480 SERIAL ARGS ProtectionTest)
iocpd_protection_test(blackbox.protection_ipv6 60 180 ARGS ProtectionIPv6Test)
