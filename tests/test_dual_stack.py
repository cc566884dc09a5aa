"""Dual stack: a listener on [::] with ipv6_only = no serves IPv4 clients
too, and every part of iocpd sees them as IPv4 (never ::ffff:a.b.c.d);
without it (the default) it serves IPv6 only.

  ipv4_and_ipv6         echo from 127.0.0.1, 127.0.0.2 and ::1 on one [::]
                        listener; deny = 127.0.0.3 resets 127.0.0.3 (an
                        IPv4 rule matches an IPv4 client); the per-address
                        limit counts 127.0.0.2 as itself; the access log
                        has client=127.0.0.1:PORT and client=[::1]:PORT
  proxy_header_is_ipv4  a forward listener on [::] with send_proxy = v1
                        tells its upstream "PROXY TCP4 127.0.0.1 127.0.0.1
                        ..." for an IPv4 client
  ipv6_only_default     the same [::] listener without ipv6_only refuses an
                        IPv4 client and serves ::1

Natively and with iocpd.exe under Wine (both backends). Skipped (exit 77)
where ::1 is not available. Run: IOCPD_BIN=/path/to/iocpd python3
tests/test_dual_stack.py. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import socket
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.accesslog import ACCESS_LOG, start, stop, wait_lines
from harness.clients import expect_rejected
from harness.config import Listener, fwd
from harness.interop import bound_from
from harness.ports import ipv6_loopback_available
from harness.scope import limited, say

IPV6 = ipv6_loopback_available()


def echo_from(src, family, port, payload):
    """Connects from src (None: any) to the loopback of family and returns
    (the client's address as iocpd writes it, the echo)."""
    if family == socket.AF_INET:
        s = bound_from(src or "127.0.0.1")
        s.connect(("127.0.0.1", port))
        me = "%s:%d" % s.getsockname()[:2]
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(t.pick(10, 30))
        s.connect(("::1", port))
        me = "[::1]:%d" % s.getsockname()[1]
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return me, t.recv_until_eof(s)
    finally:
        s.close()


class DualStackTest(unittest.TestCase):

    @limited(40, 120)
    def test_ipv4_and_ipv6(self, sc):
        say("[::] with ipv6_only = no: IPv4 and IPv6 clients, IPv4 rules and log lines")
        listeners = [Listener("dual", "echo", family=socket.AF_INET6, bind="[::]",
                              ipv6_only="no", deny="127.0.0.3/32, ::2/128",
                              max_connections_per_ip="1")]
        d, ports, _ = start(sc, listeners, {"access_log": ACCESS_LOG}, metrics_on=False)
        port = ports["dual"]
        want = {}
        for src, family in (("127.0.0.1", socket.AF_INET), (None, socket.AF_INET6)):
            me, got = echo_from(src, family, port, b"dual stack")
            self.assertEqual(got, b"dual stack", me)
            want[me] = "client_fin"
        # deny = 127.0.0.3/32 is an IPv4 rule: it matches the IPv4 client.
        me, how, _ = expect_rejected(sc, port, "127.0.0.3")
        say("127.0.0.3 ended by %s" % how)
        want[me] = "denied"
        # One connection per address: 127.0.0.2 is counted as itself.
        held = sc.sock(bound_from("127.0.0.2"))
        held.connect(("127.0.0.1", port))
        held.sendall(b"x")
        self.assertEqual(t.recv_exact(held, 1), b"x")
        time.sleep(1.1)  # one rejection line a second
        me, how, _ = expect_rejected(sc, port, "127.0.0.2")
        want[me] = "limit"
        held.close()
        recs = {}
        deadline = time.monotonic() + t.pick(10, 30)
        while len(recs) < len(want) + 1 and time.monotonic() < deadline:
            recs = {r["client"]: r for r in wait_lines(sc.workdir, 1)}
            time.sleep(0.05)
        for me, end in want.items():
            self.assertIn(me, recs, "no line for %s in %s" % (me, sorted(recs)))
            self.assertEqual(recs[me]["end"], end, me)
        self.assertFalse([c for c in recs if "ffff" in c], "an IPv4-mapped client in the log")
        say("log clients: %s" % ", ".join(sorted(recs)))
        stop(self, d)

    @limited(40, 120)
    def test_proxy_header_is_ipv4(self, sc):
        say("[::] with ipv6_only = no and send_proxy = v1: an IPv4 client goes out as TCP4")
        up = sc.add(us.ManualUpstream())
        d, ports = sc.start([fwd("dualfwd", [up.addr], family=socket.AF_INET6, bind="[::]",
                                 ipv6_only="no", send_proxy="v1")])
        port = ports["dualfwd"]
        c = sc.sock(bound_from("127.0.0.1"))
        c.connect(("127.0.0.1", port))
        me_port = c.getsockname()[1]
        c.sendall(b"hi")
        u = up.accept(t.pick(5, 15)).sock
        want = b"PROXY TCP4 127.0.0.1 127.0.0.1 %d %d\r\nhi" % (me_port, port)
        got = t.recv_exact(u, len(want))
        say("the upstream got %r" % got)
        self.assertEqual(got, want)

    @limited(40, 120)
    def test_ipv6_only_default(self, sc):
        say("[::] by default: IPv6 only, an IPv4 client is refused")
        d, ports = sc.start([Listener("v6", "echo", family=socket.AF_INET6, bind="[::]")])
        port = ports["v6"]
        me, got = echo_from(None, socket.AF_INET6, port, b"v6")
        self.assertEqual(got, b"v6")
        with self.assertRaises(ConnectionRefusedError):
            s = sc.sock(socket.create_connection(("127.0.0.1", port), timeout=5))
            s.close()


if __name__ == "__main__":
    if not IPV6:
        print("test_dual_stack: skipped: ::1 is not available on this machine")
        sys.exit(77)
    t.main(time_limit=(90, 300))
