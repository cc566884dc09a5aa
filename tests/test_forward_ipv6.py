"""Port forwarding across address families: a client on 127.0.0.1 relayed
to an upstream on [::1], and a listener on [::1] relayed to 127.0.0.1.

  ipv4_to_ipv6 / ipv6_to_ipv4
                        256 KiB echoed byte-exact; the upstream sees the
                        relay come from its own family's loopback address,
                        and the debug 'relaying' line names both ends

Skipped (exit 77) on a machine without ::1. See test_forward_integrity.py
for the other forward scripts.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_forward_ipv6.py. If the
binary does not accept `handler = forward` yet, the script says "forward not
supported" and exits 1 at once. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import os
import socket
import unittest

import harness as t
from harness import upstreams as us
from harness.config import fwd
from harness.logs import relaying_rx
from harness.ports import ipv6_loopback_available, loopback
from harness.procinfo import assert_released
from harness.runner import require_forward
from harness.scope import limited, say
from harness.sockets import sock_addr

KiB = 1 << 10

IPV6 = ipv6_loopback_available()


class ForwardIPv6Test(unittest.TestCase):
    """Relaying across address families; skipped without ::1."""

    def _relay_family(self, sc, listen_family, upstream_family):
        echo = sc.add(us.EchoUpstream(family=upstream_family))
        d, ports = sc.start([fwd("cross", [echo.addr], family=listen_family)])
        payload = os.urandom(256 * KiB)
        c = sc.connect(ports["cross"], family=listen_family)
        client = sock_addr(c)
        sender = sc.task(lambda: (c.sendall(payload), c.shutdown(socket.SHUT_WR)), "send")
        got = t.recv_until_eof(c, limit=len(payload))
        self.assertTrue(sender.join(5))
        self.assertIsNone(sender.error)
        self.assertTrue(got == payload, "bytes differ (%d of %d)" % (len(got), len(payload)))
        self.assertEqual(echo.count(), 1)
        peer = echo.snapshot()[0].peer[0]
        self.assertEqual(peer, loopback(upstream_family),
                         "the upstream saw the relay come from %s" % peer)
        self.assertRegex(d.stderr(), relaying_rx("cross", client, echo.addr))
        c.close()
        assert_released(self, sc, ports["cross"], [echo.port])

    @unittest.skipUnless(IPV6, "::1 is not available on this machine")
    @limited(20, 60)
    def test_ipv4_to_ipv6(self, sc):
        say("client on 127.0.0.1, upstream on [::1]: 256 KiB echoed byte-exact")
        self._relay_family(sc, socket.AF_INET, socket.AF_INET6)

    @unittest.skipUnless(IPV6, "::1 is not available on this machine")
    @limited(20, 60)
    def test_ipv6_to_ipv4(self, sc):
        say("listener on [::1], upstream on 127.0.0.1: 256 KiB echoed byte-exact")
        self._relay_family(sc, socket.AF_INET6, socket.AF_INET)


if __name__ == "__main__":
    if not IPV6:
        print("test_forward_ipv6: skipped: ::1 is not available on this machine")
        sys.exit(77)
    require_forward()
    t.main(time_limit=(50, 150))
