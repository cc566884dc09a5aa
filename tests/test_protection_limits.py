"""Protection, connection limits: a listener or the service at its
max_connections stops accepting (clients wait in the backlog, untouched)
and lets exactly one in per close; max_connections_per_ip rejects the
address over its count.

  listener_max_connections  max_connections = 3 on a listener: 3 clients are
                            served; more connect (kernel backlog) but get no
                            byte, no EOF and no reset while they wait; each
                            close lets exactly one waiting client in
  service_max_connections   the same with [service] max_connections = 3
                            shared by two listeners
  per_ip_limit              max_connections_per_ip = 2: a third client from
                            127.0.0.1 is reset at once, 127.0.0.2 has its own
                            count, a closed connection frees its place

The other protection scripts: test_protection_lists.py (allow/deny, the
rejection log), test_protection_abuse.py (handshake flood, slowloris,
garbage), test_protection_binding.py (port exclusivity, public listeners),
test_protection_ipv6.py.

Every sub-test starts its own daemon (readiness is its "running with N
workers" log line, not a probe connection, which would take a slot), has its
own time limit, releases everything in a finally block and ends by stopping
its daemon with Ctrl+C, which must give exit 0 without a sanitizer report
(harness/scope.py, limited_clean).

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_protection_limits.py
[ProtectionLimitsTest.test_per_ip_limit ...]. See harness/env.py for
IOCPD_WRAPPER and IOCPD_PLATFORM."""

import sys

sys.dont_write_bytecode = True

import socket
import time
import unittest

import harness as t
from harness.clients import (REJECT_WITHIN, assert_unserved, client, echo_rtt,
                             expect_rejected, wait_served)
from harness.config import echo
from harness.logs import assert_rejection_logged
from harness.scope import limited_clean, say, start_quiet

# A limit-paused client gets nothing for this long (no byte, EOF or reset).
UNSERVED_FOR = 1.0
# After a close, a waiting client is served within this long.
RESUME_WITHIN = t.pick(2.0, 3.0)


class ProtectionLimitsTest(unittest.TestCase):
    maxDiff = 4000

    # -- connection limits

    @limited_clean(30, 90)
    def test_listener_max_connections(self, sc):
        say("max_connections = 3 on a listener: 3 clients echo; 2 more connect but "
            "get no byte, EOF or reset for %g s; each close lets exactly one in "
            "within %g s" % (UNSERVED_FOR, RESUME_WITHIN))
        d, ports = start_quiet(sc, [echo("lim", max_connections=3)])
        self._limit_scenario(d, sc, [ports["lim"]] * 3, [ports["lim"]] * 2)

    @limited_clean(30, 90)
    def test_service_max_connections(self, sc):
        say("[service] max_connections = 3 over two listeners: 2 + 1 clients echo; "
            "one more on each listener waits; each close lets exactly one in")
        d, ports = start_quiet(sc, [echo("a"), echo("b")], max_connections=3)
        self._limit_scenario(d, sc, [ports["a"], ports["a"], ports["b"]],
                             [ports["a"], ports["b"]])

    def _limit_scenario(self, d, sc, served_ports, waiting_ports):
        names = {p: n for n, p in sc.ports.items()}
        served = []
        for i, port in enumerate(served_ports):
            s = client(sc, port)
            try:
                echo_rtt(s, b"first %d" % i)
            except AssertionError as e:
                raise AssertionError(
                    "client %d, on listener %s, was not served although only %d "
                    "connection(s) were open, below the limit of %d: %s"
                    % (i, names[port], i, len(served_ports), e)) from None
            served.append(s)
        waiting = []
        for i, port in enumerate(waiting_ports):
            # connect() completes in the kernel's backlog: no accept needed.
            try:
                w = client(sc, port, timeout=UNSERVED_FOR + 2)
            except OSError as e:
                self.fail("waiting client %d could not even connect: %r" % (i, e))
            w.sendall(b"w")
            waiting.append(w)
        assert_unserved(waiting, UNSERVED_FOR, "the limit of 3 is reached")
        # The limit never touches the connections already open.
        for i, s in enumerate(served):
            echo_rtt(s, b"still %d" % i)
        say("the waiting clients got nothing for %g s; the open ones still echo"
            % UNSERVED_FOR)
        left = list(range(len(waiting)))
        for k in range(len(waiting)):
            closed_at = time.monotonic()
            served[k].close()
            i = wait_served([waiting[j] for j in left], b"w",
                            RESUME_WITHIN)
            took = time.monotonic() - closed_at
            who = left.pop(i)
            say("closed an open client: waiting client %d served %.3f s later" % (who, took))
            echo_rtt(waiting[who], b"in now")
            if left:
                # Exactly one was let in: the limit holds again.
                assert_unserved([waiting[j] for j in left], UNSERVED_FOR,
                                "only one connection was closed")
        for s in served[len(waiting):] + waiting:
            echo_rtt(s, b"last")
            s.close()

    # -- per-address limit

    @limited_clean(30, 90)
    def test_per_ip_limit(self, sc):
        say("max_connections_per_ip = 2: a third client from 127.0.0.1 is reset "
            "within %g s and logged; 127.0.0.2 has its own count; after a close, "
            "127.0.0.1 gets in again" % REJECT_WITHIN)
        d, ports = start_quiet(sc, [echo("pip", max_connections_per_ip=2)])
        port = ports["pip"]
        a = [client(sc, port, "127.0.0.1") for _ in range(2)]
        for i, s in enumerate(a):
            echo_rtt(s, b"a%d" % i)
        me, how, took = expect_rejected(sc, port, "127.0.0.1")
        logged_at = time.monotonic()
        say("third client from 127.0.0.1 ended by %s after %.3f s" % (how, took))
        assert_rejection_logged(self, d, "pip", me, "per_ip")
        b = [client(sc, port, "127.0.0.2") for _ in range(2)]
        for i, s in enumerate(b):
            echo_rtt(s, b"b%d" % i)
        # Rejections are logged once a second at most: wait for the next
        # line to be due, so that this one is logged with its address.
        time.sleep(max(0.0, logged_at + 1.1 - time.monotonic()))
        me, how, took = expect_rejected(sc, port, "127.0.0.2")
        assert_rejection_logged(self, d, "pip", me, "per_ip")
        # The first ones are untouched by the rejections.
        for s in a + b:
            echo_rtt(s, b"still")
        # A graceful close: the daemon's EOF says it has ended the
        # connection; its count may drop a moment later, so a rejected
        # attempt is retried for a short while.
        a[0].shutdown(socket.SHUT_WR)
        self.assertEqual(t.recv_until_eof(a[0]), b"")
        a[0].close()
        deadline = time.monotonic() + RESUME_WITHIN
        attempts = 0
        while True:
            attempts += 1
            c = None
            try:
                c = client(sc, port, "127.0.0.1")
                echo_rtt(c, b"again")
                break
            except (AssertionError, OSError) as e:
                if c is not None:
                    c.close()
                if time.monotonic() > deadline:
                    self.fail("after closing one of two connections from 127.0.0.1, "
                              "a new one is still refused %g s later: %s"
                              % (RESUME_WITHIN, e))
                time.sleep(0.1)
        say("a new client from 127.0.0.1 was served after the close (attempt %d)" % attempts)
        # ... and it took the freed place: the limit still holds.
        expect_rejected(sc, port, "127.0.0.1")


if __name__ == "__main__":
    t.main(time_limit=(60, 200))
