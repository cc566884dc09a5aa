# Black-box tests of the protection settings: tests/test_protection_*.py
# drive the real iocpd with connection limits (listener and [service]
# max_connections, max_connections_per_ip), allow/deny lists, the rejection
# log's rate limit, handshake_timeout under a flood of silent clients,
# idle_timeout against a slowloris client, clients that send garbage and
# reset, port exclusivity and the warning for a public listener.
#
# Included from tests/CMakeLists.txt after blackbox.cmake, whose
# iocpd_blackbox_test() registers the scripts, each also labelled
# `protection`. It uses the cache variables IOCPD_TEST_WRAPPER (command
# prefix that runs the binary: empty natively, the Wine wrapper for the
# Windows build) and IOCPD_TEST_PLATFORM ("native" or "wine", which selects
# smaller loads and longer waits).
#
#   blackbox.protection_limits   listener and [service] max_connections,
#                                max_connections_per_ip
#   blackbox.protection_lists    allow/deny, the rate-limited rejection log
#   blackbox.protection_abuse    the handshake flood (about 2000 connections
#                                natively), slowloris, garbage and resets
#   blackbox.protection_binding  port exclusivity, the public listener
#                                warning (binds 0.0.0.0 for a second)
#   blackbox.protection_ipv6     allow/deny on [::1] listeners; skipped (exit
#                                77) on a machine without ::1
# Every IPv4 script has timing windows of a second or so, so each runs
# alone.
#
# Each script's own watchdog (the time_limit at its end) fires first and
# prints where it hung; these limits are the backstop.
iocpd_blackbox_test(protection_limits 80 260 SERIAL LABELS protection)
iocpd_blackbox_test(protection_lists 80 260 SERIAL LABELS protection)
iocpd_blackbox_test(protection_abuse 110 360 SERIAL LABELS protection)
iocpd_blackbox_test(protection_binding 60 260 SERIAL LABELS protection)
iocpd_blackbox_test(protection_ipv6 60 180 LABELS protection)
