# Black-box tests of the access log and the Prometheus endpoint:
# tests/test_observability_access_log.py drives the real iocpd with
# [service] access_log (one line per end reason, byte counts, rotation
# under load, access_log_keep), tests/test_observability_metrics.py with
# metrics_listen (values cross-checked against the traffic, parsed with
# prometheus_client; bad and slow HTTP requests) and checks that an access
# log or metrics address that cannot be used stops the start.
#
# Included from tests/CMakeLists.txt. Like blackbox.cmake it uses the cache
# variables IOCPD_TEST_WRAPPER (command prefix that runs the binary: empty
# natively, the Wine wrapper for the Windows build) and IOCPD_TEST_PLATFORM
# ("native" or "wine", which selects smaller loads and longer waits).
#
#   blackbox.observability_access_log  the end reasons, rotation (2000
#                                      connections natively, 200 under
#                                      Wine), access_log_keep, a UDP
#                                      session's line
#   blackbox.observability_metrics     the values, UDP listeners' families,
#                                      bad requests, start failures
# Both have timing windows (timeouts of 1 s, a 5 s request deadline), so
# each runs alone; both are also labelled `observability`.
#
# The scripts need the prometheus_client package (Debian:
# python3-prometheus-client, installed by scripts/deps.sh); an interpreter
# that does not see it gets Debian's dist-packages added
# (tests/harness/metrics.py).

# Each script's own watchdog (the time_limit at its end) fires first and
# prints where it hung; these limits are the backstop.
iocpd_blackbox_test(observability_access_log 150 700 SERIAL LABELS observability)
iocpd_blackbox_test(observability_metrics 120 600 SERIAL LABELS observability)
