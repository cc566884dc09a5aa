"""Port forwarding, choosing the upstream: a connect failure moves on to the
next upstream; when none is left the client is closed and a warning names
each upstream and its error; sequential clients are spread over the
upstreams.

  refused_upstream_is_skipped, all_refused, blackhole_connect_timeout
                        connect failures (refused, timed out) move on to the
                        next upstream; when none is left the client is
                        closed and a warning names each upstream and its
                        error
  round_robin           sequential clients are spread over the upstreams

Every sub-test starts its own daemon and upstreams (harness/upstreams.py),
has its own time limit and releases everything in a finally block
(harness/scope.py); see test_forward_integrity.py for the other forward
scripts.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_forward_failover.py
[ForwardFailoverTest.test_round_robin ...]. If the binary does not accept
`handler = forward` yet, the script says "forward not supported" and exits 1
at once. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import re
import socket
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.clients import connect_until_end
from harness.config import fwd
from harness.env import ONE_SECOND_WINDOW
from harness.logs import relaying_rx
from harness.procinfo import assert_released
from harness.runner import require_forward
from harness.scope import limited, say
from harness.sockets import sock_addr


class ForwardFailoverTest(unittest.TestCase):
    maxDiff = 4000

    # -- connect failures

    @limited(20, 60)
    def test_refused_upstream_is_skipped(self, sc):
        say("upstreams: a refusing port, then a live echo upstream; 4 clients in a "
            "row are all served by the live one")
        closed = sc.add(us.ClosedPort())
        echo = sc.add(us.EchoUpstream())
        d, ports = sc.start([fwd("skip", [closed.addr, echo.addr], connect_timeout="2s")])
        for i in range(4):
            with sc.connect(ports["skip"], timeout=t.pick(5, 15)) as c:
                token = b"client %d\n" % i
                c.sendall(token)
                c.shutdown(socket.SHUT_WR)
                try:
                    got = t.recv_until_eof(c, limit=len(token))
                except ConnectionResetError:
                    self.fail("client %d was reset instead of served" % i)
                self.assertEqual(got, token, "client %d" % i)
        self.assertEqual(echo.count(), 4, "connections at the live upstream")
        assert_released(self, sc, ports["skip"], [closed.port, echo.port])

    @limited(20, 60)
    def test_all_refused(self, sc):
        say("every upstream refuses: the client is closed within connect_timeout "
            "+ 1 s and a warning names each upstream and its error")
        a = sc.add(us.ClosedPort())
        b = sc.add(us.ClosedPort())
        d, ports = sc.start([fwd("web", [a.addr, b.addr], connect_timeout="2s")])
        client, how, took = connect_until_end(sc, ports["web"], 2 + 1 + t.pick(0, 2))
        say("client closed by %s after %.3f s" % (how, took))
        self.assertLess(took, 3.0)
        m = d.wait_log(t.log_rx("warning", r"listener web: no upstream reachable for %s: (.*)"
                                % re.escape(client)), timeout=t.pick(3, 10))
        detail = m.group(1)
        for u in (a, b):
            self.assertIn("%s (connection refused)" % u.addr, detail,
                          "warning does not name %s with its error" % u.addr)
        assert_released(self, sc, ports["web"], [a.port, b.port])

    @limited(30, 60)
    def test_blackhole_connect_timeout(self, sc):
        lo, hi = ONE_SECOND_WINDOW
        say("an upstream that never answers, connect_timeout = 1s: alone, the client "
            "is closed after %g..%g s with '(timed out)' logged; before a live "
            "upstream, both of 2 clients are served, one of them after %g..%g s"
            % (lo, hi, lo, hi))
        hole = sc.add(us.Blackhole())
        echo = sc.add(us.EchoUpstream())
        d, ports = sc.start([fwd("hole", [hole.addr], connect_timeout="1s"),
                             fwd("next", [hole.addr, echo.addr], connect_timeout="1s")])
        client, how, took = connect_until_end(sc, ports["hole"], hi + 5)
        say("alone: client closed by %s after %.3f s" % (how, took))
        self.assertGreaterEqual(took, lo, "gave up on the upstream before connect_timeout")
        self.assertLessEqual(took, hi, "connect_timeout not applied")
        m = d.wait_log(t.log_rx("warning", r"listener hole: no upstream reachable for %s: (.*)"
                                % re.escape(client)), timeout=t.pick(3, 10))
        self.assertIn("%s (timed out)" % hole.addr, m.group(1))
        self.assertTrue(hole.hangs(), "the blackhole stopped being one")
        times = []
        for i in range(2):
            with sc.connect(ports["next"]) as c:
                began = time.monotonic()
                token = b"next %d\n" % i
                c.sendall(token)
                got = t.recv_exact(c, len(token))
                times.append(time.monotonic() - began)
                self.assertEqual(got, token)
                c.shutdown(socket.SHUT_WR)
                self.assertEqual(t.recv_until_eof(c, limit=0), b"")
        say("with a live upstream after it: served after %s s"
            % ", ".join("%.3f" % x for x in times))
        self.assertEqual(echo.count(), 2)
        self.assertTrue(all(x <= hi for x in times), "a client waited too long: %s" % times)
        self.assertTrue(any(x >= lo for x in times),
                        "neither client waited for the blackhole: round robin never "
                        "tried it first? %s" % times)
        assert_released(self, sc, ports["hole"], [hole.port])
        assert_released(self, sc, ports["next"], [hole.port, echo.port])

    # -- round robin

    @limited(20, 60)
    def test_round_robin(self, sc):
        say("two echo upstreams, 10 clients one after another: each upstream "
            "gets >= 3, and each debug 'relaying' line names the one that served")
        a = sc.add(us.EchoUpstream())
        b = sc.add(us.EchoUpstream())
        d, ports = sc.start([fwd("rr", [a.addr, b.addr])])
        clients = []
        for i in range(10):
            with sc.connect(ports["rr"]) as c:
                token = b"rr-client-%02d\n" % i
                c.sendall(token)
                c.shutdown(socket.SHUT_WR)
                self.assertEqual(t.recv_until_eof(c, limit=len(token)), token)
                clients.append((sock_addr(c), token))
        # The upstream closes after the relay's FIN, so its record is done.
        for u in (a, b):
            for conn in u.snapshot():
                self.assertTrue(conn.done.wait(5))
        served = {}
        for u in (a, b):
            for conn in u.snapshot():
                served[conn.head] = u
        counts = (a.count(), b.count())
        say("connections per upstream: %d and %d" % counts)
        self.assertEqual(sum(counts), 10)
        self.assertGreaterEqual(min(counts), 3, "uneven split %s" % (counts,))
        err = d.stderr()
        for client, token in clients:
            self.assertIn(token, served, "no upstream got %r" % token)
            self.assertRegex(err, relaying_rx("rr", client, served[token].addr))
        assert_released(self, sc, ports["rr"], [a.port, b.port])


if __name__ == "__main__":
    require_forward()
    t.main(time_limit=(60, 200))
