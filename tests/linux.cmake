# Tests of iocpd as a Linux service. Included from tests/CMakeLists.txt
# after blackbox.cmake, whose iocpd_blackbox_test() registers them.
#
#   blackbox.notify   (native) systemd's Type=notify protocol: READY=1 once
#                     every listener accepts, RELOADING=1 then READY=1 on
#                     SIGHUP, STOPPING=1 before the drain, the abstract
#                     namespace, and a notify socket that is not there
#                     (tests/test_notify.py; exits 77 under Wine)

iocpd_blackbox_test(notify 60 60 LABELS linux)
