"""Protection on [::1] listeners: allow = ::1/128 serves ::1, deny =
::1/128 resets it, and an IPv4-only allow list resets it.

  ipv6_allow_deny           allow = ::1/128, deny = ::1/128 and an IPv4-only
                            allow on [::1] listeners

Skipped (exit 77) on a machine without ::1. The other protection scripts
are listed in test_protection_limits.py.

Every sub-test starts its own daemon (readiness is its "running with N
workers" log line, not a probe connection, which would take a slot), has its
own time limit, releases everything in a finally block and ends by stopping
its daemon with Ctrl+C, which must give exit 0 without a sanitizer report
(harness/scope.py, limited_clean).

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_protection_ipv6.py. See
harness/env.py for IOCPD_WRAPPER and IOCPD_PLATFORM."""

import sys

sys.dont_write_bytecode = True

import socket
import unittest

import harness as t
from harness.clients import client, echo_rtt, expect_rejected
from harness.config import echo
from harness.logs import assert_rejection_logged, rejections
from harness.ports import ipv6_loopback_available
from harness.scope import limited_clean, say, start_quiet

IPV6 = ipv6_loopback_available()


class ProtectionIPv6Test(unittest.TestCase):
    """allow/deny on [::1] listeners; skipped without ::1."""

    @unittest.skipUnless(IPV6, "::1 is not available on this machine")
    @limited_clean(30, 90)
    def test_ipv6_allow_deny(self, sc):
        say("[::1] listeners: allow = ::1/128 serves ::1; deny = ::1/128 resets it; "
            "allow = 127.0.0.0/8 (IPv4 only) resets it")
        v6 = socket.AF_INET6
        d, ports = start_quiet(sc, [echo("v6allow", v6, allow="::1/128"),
                             echo("v6deny", v6, deny="::1/128"),
                             echo("v4only", v6, allow="127.0.0.0/8")])
        s = client(sc, ports["v6allow"], family=v6)
        echo_rtt(s, b"v6 welcome")
        s.close()
        me, how, took = expect_rejected(sc, ports["v6deny"], family=v6)
        say("denied ::1 client ended by %s after %.3f s" % (how, took))
        assert_rejection_logged(self, d, "v6deny", me, "denied")
        me, how, took = expect_rejected(sc, ports["v4only"], family=v6)
        assert_rejection_logged(self, d, "v4only", me, "denied")
        self.assertEqual(rejections(d.stderr(), "v6allow"), [])


if __name__ == "__main__":
    if not IPV6:
        print("test_protection_ipv6: skipped: ::1 is not available on this machine")
        sys.exit(77)
    t.main(time_limit=(45, 150))
