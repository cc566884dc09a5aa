"""Port forwarding, passive health of upstreams: an upstream that fails
max_fails connects in a row is marked down and tried last for
fail_timeout; a connect that succeeds marks it up again; a client is never
refused for that bookkeeping while some upstream answers.

  down_is_skipped       max_fails = 2: once a refusing upstream has failed
                        twice in a row, later clients go straight to the
                        live one (its failure counter stops at 2), the
                        warning says it is down and iocpd_upstream_up is 0
  comes_back            once fail_timeout is over, the address is tried
                        again; when it answers it serves clients, the info
                        line says it is up again and iocpd_upstream_up is 1
  all_down_still_tried  every upstream marked down: each client still tries
                        them all, so the first one to come back serves the
                        next client at once
  never_with_zero       max_fails = 0: an upstream is never marked down
  active_checks         health_check = connect (every 200 ms, fall 2, rise
                        2): a refusing upstream goes down with no client
                        at all, clients then go straight to the live one
                        (no failed attempt), and once it answers it comes
                        back after two passed checks; the checks are not
                        traffic (no connection counted, no failure)

Every sub-test starts its own daemon and upstreams (harness/upstreams.py)
with a metrics endpoint, has its own time limit and releases everything
(harness/scope.py). Run: IOCPD_BIN=/path/to/iocpd python3
tests/test_forward_health.py [ForwardHealthTest.test_comes_back ...].
Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import re
import socket
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.accesslog import start
from harness.config import fwd
from harness.metrics import metrics, value
from harness.runner import require_forward
from harness.scope import limited, say


def served(sc, port, token):
    """True if a client through port gets token echoed back, then EOF;
    False if it is closed or reset without it."""
    try:
        with sc.connect(port, timeout=t.pick(10, 30)) as c:
            c.sendall(token)
            c.shutdown(socket.SHUT_WR)
            return t.recv_until_eof(c, limit=len(token)) == token
    except (ConnectionResetError, BrokenPipeError):
        # A relay with no upstream resets its client, possibly before
        # connect() has even returned here.
        return False


def failures(mport, listener, upstream):
    values, _, _ = metrics(mport)
    try:
        return value(values, "iocpd_upstream_connect_failures_total", listener=listener,
                     upstream=upstream)
    except AssertionError:
        return 0


def up(mport, listener, upstream):
    values, _, _ = metrics(mport)
    return value(values, "iocpd_upstream_up", listener=listener, upstream=upstream)


class ForwardHealthTest(unittest.TestCase):

    @limited(30, 90)
    def test_down_is_skipped(self, sc):
        say("upstreams: a refusing port and a live echo, max_fails = 2, fail_timeout = 1h; "
            "10 clients in a row: all served, the refusing one tried exactly twice")
        dead = sc.add(us.ClosedPort())
        live = sc.add(us.EchoUpstream())
        d, ports, mport = start(sc, [fwd("h", [dead.addr, live.addr], max_fails="2",
                                         fail_timeout="1h")], {"log_level": "info"})
        self.assertEqual(up(mport, "h", dead.addr), 1, "down before any attempt")
        for i in range(10):
            self.assertTrue(served(sc, ports["h"], b"client %d\n" % i), "client %d" % i)
        self.assertEqual(failures(mport, "h", dead.addr), 2,
                         "the refusing upstream was tried after it was marked down")
        self.assertEqual(live.count(), 10)
        self.assertEqual(up(mport, "h", dead.addr), 0)
        self.assertEqual(up(mport, "h", live.addr), 1)
        d.wait_log(t.log_rx("warning", r"listener h: upstream %s is down after 2 failed "
                            r"connects in a row; tried last for 3600000 ms"
                            % re.escape(dead.addr)), timeout=t.pick(3, 10))

    @limited(30, 90)
    def test_comes_back(self, sc):
        say("max_fails = 1, fail_timeout = 1s: the refusing upstream is marked down; "
            "it starts answering; after fail_timeout clients reach it again, "
            "'up again' is logged and iocpd_upstream_up is 1")
        dead = sc.add(us.ClosedPort())
        live = sc.add(us.EchoUpstream())
        d, ports, mport = start(sc, [fwd("h", [dead.addr, live.addr], max_fails="1",
                                         fail_timeout="1s")], {"log_level": "info"})
        for i in range(4):
            self.assertTrue(served(sc, ports["h"], b"before %d\n" % i))
        self.assertEqual(failures(mport, "h", dead.addr), 1)
        self.assertEqual(up(mport, "h", dead.addr), 0)
        dead.close()
        revived = sc.add(us.EchoUpstream(port=dead.port))
        # While fail_timeout runs the address is skipped even though it
        # would answer now.
        for i in range(4):
            self.assertTrue(served(sc, ports["h"], b"skipped %d\n" % i))
        self.assertEqual(revived.count(), 0, "a down upstream was tried before fail_timeout")
        time.sleep(1.2)
        for i in range(6):
            self.assertTrue(served(sc, ports["h"], b"after %d\n" % i))
        say("after fail_timeout: %d of 6 clients at the revived upstream" % revived.count())
        self.assertGreaterEqual(revived.count(), 2, "round robin did not return to it")
        self.assertEqual(up(mport, "h", dead.addr), 1)
        d.wait_log(t.log_rx("info", r"listener h: upstream %s is up again"
                            % re.escape(dead.addr)), timeout=t.pick(3, 10))

    @limited(30, 90)
    def test_all_down_still_tried(self, sc):
        say("two refusing upstreams, max_fails = 1, fail_timeout = 1h: each client "
            "still tries both; when one answers, the next client is served at once")
        a = sc.add(us.ClosedPort())
        b = sc.add(us.ClosedPort())
        d, ports, mport = start(sc, [fwd("h", [a.addr, b.addr], max_fails="1",
                                         fail_timeout="1h", connect_timeout="2s")],
                                {"log_level": "info"})
        for i in range(3):
            self.assertFalse(served(sc, ports["h"], b"nobody %d\n" % i))
        self.assertEqual(up(mport, "h", a.addr), 0)
        self.assertEqual(up(mport, "h", b.addr), 0)
        self.assertEqual(failures(mport, "h", a.addr), 3, "a down upstream was not tried")
        self.assertEqual(failures(mport, "h", b.addr), 3, "a down upstream was not tried")
        b.close()
        back = sc.add(us.EchoUpstream(port=b.port))
        self.assertTrue(served(sc, ports["h"], b"first back\n"),
                        "refused although an upstream answered")
        self.assertEqual(back.count(), 1)
        self.assertEqual(up(mport, "h", b.addr), 1)
        self.assertEqual(up(mport, "h", a.addr), 0)

    @limited(30, 90)
    def test_active_checks(self, sc):
        say("health_check = connect every 200 ms, fall 2, rise 2: a refusing upstream is "
            "down before any client, and up again after it answers")
        dead = sc.add(us.ClosedPort())
        live = sc.add(us.EchoUpstream())
        d, ports, mport = start(sc, [fwd("h", [dead.addr, live.addr], health_check="connect",
                                         health_interval="200ms", health_timeout="200ms",
                                         rise="2", fall="2", max_fails="0")],
                                {"log_level": "info"})
        d.wait_log(t.log_rx("warning", r"listener h: upstream %s is down: 2 health checks "
                            r"failed in a row" % re.escape(dead.addr)), timeout=t.pick(5, 15))
        self.assertEqual(up(mport, "h", dead.addr), 0)
        self.assertEqual(up(mport, "h", live.addr), 1)
        for i in range(6):
            self.assertTrue(served(sc, ports["h"], b"client %d\n" % i))
        self.assertEqual(failures(mport, "h", dead.addr), 0,
                         "a client tried the upstream the checks found down")
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_connections_total", listener="h"), 6,
                         "health checks were counted as connections")
        dead.close()
        sc.add(us.EchoUpstream(port=dead.port))
        d.wait_log(t.log_rx("info", r"listener h: upstream %s is up again: 2 health checks "
                            r"passed in a row" % re.escape(dead.addr)), timeout=t.pick(5, 15))
        self.assertEqual(up(mport, "h", dead.addr), 1)

    @limited(30, 90)
    def test_never_with_zero(self, sc):
        say("max_fails = 0: a refusing upstream is tried by every other client "
            "and never shown down")
        dead = sc.add(us.ClosedPort())
        live = sc.add(us.EchoUpstream())
        d, ports, mport = start(sc, [fwd("h", [dead.addr, live.addr], max_fails="0")],
                                {"log_level": "info"})
        for i in range(8):
            self.assertTrue(served(sc, ports["h"], b"client %d\n" % i))
        self.assertEqual(failures(mport, "h", dead.addr), 4)
        self.assertEqual(up(mport, "h", dead.addr), 1)
        self.assertNotIn("is down", d.stderr())


if __name__ == "__main__":
    require_forward()
    t.main(time_limit=(150, 400))
