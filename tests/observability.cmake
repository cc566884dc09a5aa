# Black-box tests of the access log and the Prometheus endpoint:
# tests/test_observability.py drives the real iocpd with [service]
# access_log (one line per end reason, byte counts, rotation under load,
# access_log_keep) and metrics_listen (values cross-checked against the
# traffic, parsed with prometheus_client; bad and slow HTTP requests), and
# checks that an access log or metrics address that cannot be used stops
# the start.
#
# Included from tests/CMakeLists.txt. Like blackbox.cmake it uses the cache
# variables IOCPD_TEST_WRAPPER (command prefix that runs the binary: empty
# natively, the Wine wrapper for the Windows build) and IOCPD_TEST_PLATFORM
# ("native" or "wine", which selects smaller loads and longer waits).
#
#   blackbox.observability  every sub-test; the rotation test opens 2000
#                           connections natively (200 under Wine) and the
#                           timeouts have timing windows, so it runs alone
#
# The script needs the prometheus_client package (Debian:
# python3-prometheus-client, installed by scripts/deps.sh); an interpreter
# that does not see it gets Debian's dist-packages added by the script.

# The script's own watchdog (150 s native, 900 s Wine) fires first and
# prints where it hung; this limit is the backstop.
iocpd_blackbox_test(observability 180 1000 SERIAL)
