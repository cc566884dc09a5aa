# Black-box tests of the protection settings: tests/test_protection.py
# drives the real iocpd with connection limits (listener and [service]
# max_connections, max_connections_per_ip), allow/deny lists, the rejection
# log's rate limit, handshake_timeout under a flood of silent clients,
# idle_timeout against a slowloris client, clients that send garbage and
# reset, port exclusivity and the warning for a public listener.
#
# Included from tests/CMakeLists.txt after blackbox.cmake, whose
# iocpd_blackbox_test() registers the script. It uses the cache
# variables IOCPD_TEST_WRAPPER (command prefix that runs the binary: empty
# natively, the Wine wrapper for the Windows build) and IOCPD_TEST_PLATFORM
# ("native" or "wine", which selects smaller loads and longer waits).
#
#   blackbox.protection       every IPv4 sub-test; the handshake flood opens
#                             about 2000 connections natively and every
#                             sub-test has timing windows, so it runs alone
#   blackbox.protection_ipv6  allow/deny on [::1] listeners; skipped (exit
#                             77) on a machine without ::1

# The script's own watchdog (120 s native, 420 s Wine) fires first and
# prints where it hung; these limits are the backstop.
iocpd_blackbox_test(protection 150 480 SERIAL NAME blackbox.protection ARGS ProtectionTest)
iocpd_blackbox_test(protection 60 180 NAME blackbox.protection_ipv6 ARGS ProtectionIPv6Test)
