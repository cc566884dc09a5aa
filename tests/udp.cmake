# Black-box tests of UDP listeners (`protocol = udp`, issue #16):
# tests/test_udp_*.py drive the real iocpd with UDP clients and upstreams
# written in Python (tests/harness/udp.py) and, for DNS, Debian's dnsmasq
# and dig (tests/harness/dns.py), all on loopback.
#
# Included from tests/CMakeLists.txt after blackbox.cmake, whose
# iocpd_blackbox_test() registers the scripts, each also labelled `udp`
# (ctest -L udp). It uses the cache variables IOCPD_TEST_WRAPPER (command
# prefix that runs the binary: empty natively, the Wine wrapper for the
# Windows build) and IOCPD_TEST_PLATFORM ("native" or "wine", which selects
# smaller loads and longer waits).
#
#   blackbox.udp_echo     datagrams of 0 to 65,507 bytes echoed exactly;
#                         10,000 datagrams (1,000 under Wine) of random
#                         sizes paced at 10,000/s (1,000/s) with none lost
#                         or changed; TCP and UDP listeners on one port.
#                         Timed and heavy: runs alone
#   blackbox.udp_forward  1,000 sessions at once with no cross-wiring, idle
#                         expiry and its access log line, max_sessions,
#                         max_sessions_per_ip, deny, failover on ICMP port
#                         unreachable, (native) reloads: a kept listener
#                         keeps its session, a removed one ends it, a new
#                         idle_timeout applies to kept sessions. Timing
#                         windows of about 1 s: runs alone
#   blackbox.udp_dns      dig through iocpd to dnsmasq: A, AAAA, TXT and
#                         NXDOMAIN as answered directly; skipped (exit 77)
#                         when dnsmasq or dig is missing
#   blackbox.udp_service  (Wine only) the reload of a running Windows
#                         service (`iocpd reload`) keeps a UDP session;
#                         the service shares the prefix's one SCM with
#                         the other service tests, so it runs alone
#
# Each script's own watchdog (the time_limit at its end) fires first and
# prints where it hung; these limits are the backstop.
iocpd_blackbox_test(udp_echo 300 800 SERIAL LABELS udp)
iocpd_blackbox_test(udp_forward 480 1200 SERIAL LABELS udp)
iocpd_blackbox_test(udp_dns 120 300 LABELS udp)
if(IOCPD_TEST_PLATFORM STREQUAL "wine")
  iocpd_blackbox_test(udp_service 60 240 SERIAL LABELS udp service)
endif()
