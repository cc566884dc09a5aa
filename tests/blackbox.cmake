# Black-box tests: Python scripts (standard library only) that run the real
# iocpd executable and talk to it over sockets on 127.0.0.1.
#
# Included from tests/CMakeLists.txt. It uses two cache variables defined
# there: IOCPD_TEST_WRAPPER, a command prefix that runs the binary (empty
# natively, a Wine wrapper script for the Windows build), and
# IOCPD_TEST_PLATFORM, "native" or "wine", which selects smaller loads and
# longer waits in the scripts.

find_package(Python3 COMPONENTS Interpreter REQUIRED)

if(IOCPD_TEST_PLATFORM STREQUAL "wine")
  set(_iocpd_bb_wine TRUE)
else()
  set(_iocpd_bb_wine FALSE)
endif()

set(_iocpd_tests_dir ${CMAKE_CURRENT_LIST_DIR})

# iocpd_blackbox_test(AREA NATIVE_TIMEOUT WINE_TIMEOUT [SERIAL] [NAME name]
#                     [ARGS arg...] [ENV VAR=value...] [LABELS label...])
# Registers tests/test_AREA.py (with ARGS, e.g. the unittest classes to run)
# as the test NAME (default blackbox.AREA), labelled blackbox, AREA and
# LABELS (e.g. the area a split script belongs to, so that `ctest -L
# forward` runs every forward script), with the environment every
# black-box script reads plus ENV. SERIAL marks the heavy ones, which
# should not share the two cores with other tests. The other *.cmake files
# of tests/ register their scripts through this too. The scripts share
# their code through tests/harness/, never by importing one another
# (layout.imports checks that).
function(iocpd_blackbox_test area native_timeout wine_timeout)
  cmake_parse_arguments(arg "SERIAL" "NAME" "ARGS;ENV;LABELS" ${ARGN})
  if(arg_NAME)
    set(name ${arg_NAME})
  else()
    set(name blackbox.${area})
  endif()
  add_test(NAME ${name}
           COMMAND ${Python3_EXECUTABLE} ${_iocpd_tests_dir}/test_${area}.py
                   ${arg_ARGS})
  if(_iocpd_bb_wine)
    set(timeout ${wine_timeout})
  else()
    set(timeout ${native_timeout})
  endif()
  set(env "IOCPD_BIN=$<TARGET_FILE:iocpd>" "IOCPD_WRAPPER=${IOCPD_TEST_WRAPPER}"
          "IOCPD_PLATFORM=${IOCPD_TEST_PLATFORM}" PYTHONDONTWRITEBYTECODE=1
          PYTHONUNBUFFERED=1 ${arg_ENV})
  set(labels blackbox ${area} ${arg_LABELS})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "${env}"
    TIMEOUT ${timeout}
    LABELS "${labels}"
    # A script exits 77 when its area cannot be tested on this platform
    # (e.g. no way to deliver Ctrl+C under Wine).
    SKIP_RETURN_CODE 77)
  if(arg_SERIAL)
    set_tests_properties(${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endfunction()

iocpd_blackbox_test(cli 90 400)
iocpd_blackbox_test(listeners 90 240)
iocpd_blackbox_test(half_close 90 240)
iocpd_blackbox_test(echo 150 360 SERIAL)
iocpd_blackbox_test(drain 120 300 SERIAL)
# Reloads under load (SIGHUP); exits 77 under Wine, whose console has no
# reload signal (test_service_reload.py covers the service there).
iocpd_blackbox_test(reload 150 60 SERIAL)
# PROXY headers to and from HAProxy and nginx (the Debian programs, run by
# the test on loopback), with iocpd native or under Wine.
iocpd_blackbox_test(proxy_interop 90 300)
# ipv6_only = no: IPv4 clients of a [::] listener, seen as IPv4; exits 77
# without ::1.
iocpd_blackbox_test(dual_stack 90 300)
# import-portproxy: netsh rules put in Wine's registry become a config
# that relays (natively: the command says it is for Windows).
iocpd_blackbox_test(portproxy_import 90 300)
# Upstream names resolved again, in a mount namespace with its own
# /etc/hosts (root, Linux); skips itself elsewhere.
iocpd_blackbox_test(resolve 60 60 SERIAL)

# Running out of descriptors (native only: exits 77 under Wine).
iocpd_blackbox_test(fd_exhaustion 60 60 SERIAL)

# No connection starves: 50, then 3 x 300 bulk echo streams (30 under
# Wine) with workers = 1, each within 10% to 10x of the median's bytes.
# Natively the streams come from bench/loadgen/ (a C client fast enough to
# keep one worker saturated); under Wine from the script itself. Heavy and
# timed: run alone.
if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
  add_executable(loadgen
    ${PROJECT_SOURCE_DIR}/bench/loadgen/main.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/conn.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/stats.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/echo.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/bulk.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/connrate.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/idle.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/stream.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/churn.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/udp.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/udpecho.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/udpstream.c
    ${PROJECT_SOURCE_DIR}/bench/loadgen/udpidle.c)
  iocpd_blackbox_test(fairness 120 400 SERIAL ENV "IOCPD_LOADGEN=$<TARGET_FILE:loadgen>")
  # The UDP bench tools (U1-U3 of bench/run.sh) work: loadgen's udp- modes
  # against bench/udp_echo.c, a fraction of a second each.
  add_executable(bench_udp_echo ${PROJECT_SOURCE_DIR}/bench/udp_echo.c)
  iocpd_blackbox_test(bench_udp 60 60
    ENV "IOCPD_LOADGEN=$<TARGET_FILE:loadgen>" "IOCPD_UDP_ECHO=$<TARGET_FILE:bench_udp_echo>")
else()
  iocpd_blackbox_test(fairness 120 400 SERIAL)
endif()

# Config, access log and service names in Cyrillic and CJK. Under Wine it
# also installs a service in the shared prefix's one SCM: run alone.
iocpd_blackbox_test(unicode 60 300 SERIAL)

# Regression tests for defects found in review (tests/test_reliability.py):
# the handshake deadline with idle_timeout = 0, stuck /metrics scrapers,
# the "no upstream reachable" log rate, no failover after a drain abort,
# and (native) a reset in the middle of a spliced upload.
iocpd_blackbox_test(reliability 150 400 SERIAL)
