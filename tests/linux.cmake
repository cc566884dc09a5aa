# Tests of iocpd as a Linux service. Included from tests/CMakeLists.txt
# after blackbox.cmake, whose iocpd_blackbox_test() registers the first.
# Both are registered in every build and skip themselves under Wine.
#
#   blackbox.notify   (native) systemd's Type=notify protocol: READY=1 once
#                     every listener accepts, RELOADING=1 then READY=1 on
#                     SIGHUP, STOPPING=1 before the drain, the abstract
#                     namespace, and a notify socket that is not there
#                     (tests/test_notify.py; exits 77 under Wine)

iocpd_blackbox_test(notify 60 60 LABELS linux)

# linux.package: `cmake --install` of the runtime component (files, the
# config never overwritten, other prefixes), the unit's settings and
# `systemd-analyze verify`, and (as root, where no iocpd is installed) the
# .deb from CPack installed with dpkg -i and removed with dpkg -r and
# --purge (tests/test_linux_package.py; exits 77 under Wine). It changes
# the machine's packages for a moment: run alone.
add_test(NAME linux.package
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/test_linux_package.py)
set_tests_properties(linux.package PROPERTIES
  ENVIRONMENT "IOCPD_BUILD_DIR=${CMAKE_BINARY_DIR};IOCPD_PLATFORM=${IOCPD_TEST_PLATFORM};IOCPD_VERSION=${PROJECT_VERSION};CMAKE_COMMAND=${CMAKE_COMMAND};CPACK_COMMAND=${CMAKE_CPACK_COMMAND};PYTHONDONTWRITEBYTECODE=1"
  TIMEOUT 120 LABELS "linux" RUN_SERIAL TRUE SKIP_RETURN_CODE 77)
