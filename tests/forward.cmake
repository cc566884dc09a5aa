# Black-box tests of `handler = forward`: tests/test_forward.py drives the
# real iocpd against upstream servers written in Python
# (tests/upstream_servers.py), over 127.0.0.1 and ::1.
#
# Included from tests/CMakeLists.txt. Like blackbox.cmake it uses the cache
# variables IOCPD_TEST_WRAPPER (command prefix that runs the binary: empty
# natively, the Wine wrapper for the Windows build) and IOCPD_TEST_PLATFORM
# ("native" or "wine", which selects smaller loads and longer waits).
#
#   blackbox.forward       every IPv4 sub-test (integrity, backpressure,
#                          half-close, resets, connect failures, round robin,
#                          idle timeout, graceful stop, config errors); heavy
#                          and timing-sensitive, so it runs alone
#   blackbox.forward_ipv6  relaying between 127.0.0.1 and ::1; skipped (exit
#                          77) on a machine without ::1

find_package(Python3 COMPONENTS Interpreter REQUIRED)

set(_iocpd_forward_script ${CMAKE_CURRENT_LIST_DIR}/test_forward.py)

# iocpd_forward_test(NAME NATIVE_TIMEOUT WINE_TIMEOUT [SERIAL] ARGS ARG...)
# Registers test_forward.py with ARGS (the unittest classes to run) as the
# test NAME, with the same environment, labels and skip code as the tests
# of blackbox.cmake.
function(iocpd_forward_test name native_timeout wine_timeout)
  cmake_parse_arguments(arg "SERIAL" "" "ARGS" ${ARGN})
  add_test(NAME ${name}
           COMMAND ${Python3_EXECUTABLE} ${_iocpd_forward_script} ${arg_ARGS})
  if(IOCPD_TEST_PLATFORM STREQUAL "wine")
    set(timeout ${wine_timeout})
  else()
    set(timeout ${native_timeout})
  endif()
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "IOCPD_BIN=$<TARGET_FILE:iocpd>;IOCPD_WRAPPER=${IOCPD_TEST_WRAPPER};IOCPD_PLATFORM=${IOCPD_TEST_PLATFORM};PYTHONDONTWRITEBYTECODE=1;PYTHONUNBUFFERED=1"
    TIMEOUT ${timeout}
    LABELS "blackbox;forward"
    SKIP_RETURN_CODE 77)
  if(arg_SERIAL)
    set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()

# The script's own watchdog (150 s native, 420 s Wine) fires first and
# prints where it hung; these limits are the backstop.
iocpd_forward_test(blackbox.forward 180 600 SERIAL ARGS ForwardTest)
iocpd_forward_test(blackbox.forward_ipv6 60 180 ARGS ForwardIPv6Test)
