# Black-box tests of `handler = forward`: tests/test_forward_*.py drive the
# real iocpd against upstream servers written in Python
# (tests/harness/upstreams.py), over 127.0.0.1 and ::1.
#
# Included from tests/CMakeLists.txt after blackbox.cmake, whose
# iocpd_blackbox_test() registers the scripts, each also labelled
# `forward`. It uses the cache variables IOCPD_TEST_WRAPPER (command prefix
# that runs the binary: empty natively, the Wine wrapper for the Windows
# build) and IOCPD_TEST_PLATFORM ("native" or "wine", which selects smaller
# loads and longer waits).
#
#   blackbox.forward_integrity  bulk both ways, 100 connections at once,
#                               backpressure with a memory bound, graceful
#                               stop; heavy and timing-sensitive, so it
#                               runs alone
#   blackbox.forward_close      half-close, resets, idle timeout; timing
#                               windows of about 1 s, so it runs alone
#   blackbox.forward_failover   connect failures (refused, blackhole) and
#                               round robin; timing windows, so it runs alone
#   blackbox.forward_health     passive health: max_fails, fail_timeout,
#                               iocpd_upstream_up; timing windows, so it runs
#                               alone
#   blackbox.forward_config     check-config on forward-specific mistakes
#   blackbox.forward_ipv6       relaying between 127.0.0.1 and ::1; skipped
#                               (exit 77) on a machine without ::1
#
# Each script's own watchdog (the time_limit at its end) fires first and
# prints where it hung; these limits are the backstop.
iocpd_blackbox_test(forward_integrity 120 400 SERIAL LABELS forward)
iocpd_blackbox_test(forward_close 80 300 SERIAL LABELS forward)
iocpd_blackbox_test(forward_failover 80 260 SERIAL LABELS forward)
iocpd_blackbox_test(forward_health 80 260 SERIAL LABELS forward)
iocpd_blackbox_test(forward_config 60 300 SERIAL LABELS forward)
iocpd_blackbox_test(forward_ipv6 60 180 LABELS forward)
