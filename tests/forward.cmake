# Black-box tests of `handler = forward`: tests/test_forward.py drives the
# real iocpd against upstream servers written in Python
# (tests/upstream_servers.py), over 127.0.0.1 and ::1.
#
# Included from tests/CMakeLists.txt after blackbox.cmake, whose
# iocpd_blackbox_test() registers the script. It uses the cache
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

# The script's own watchdog (150 s native, 420 s Wine) fires first and
# prints where it hung; these limits are the backstop.
iocpd_blackbox_test(forward 180 600 SERIAL NAME blackbox.forward ARGS ForwardTest)
iocpd_blackbox_test(forward 60 180 NAME blackbox.forward_ipv6 ARGS ForwardIPv6Test)
