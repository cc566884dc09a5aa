"""Port forwarding, how a relayed connection ends: a FIN is passed on in
either direction while the other keeps flowing, a reset on one side ends
the other, and a silent connection is closed at idle_timeout.

  half_close_*          a FIN is passed on after every byte before it, and
                        the other direction keeps flowing
  client_rst / upstream_rst
                        a reset on one side ends the other side within 1 s,
                        and the relay keeps no socket of that pair
  idle_timeout          a silent connection is closed on both sides, a
                        talking one is not (forward and echo listeners)

Every sub-test starts its own daemon and upstreams (harness/upstreams.py),
has its own time limit and releases everything in a finally block
(harness/scope.py); see test_forward_integrity.py for the other forward
scripts.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_forward_close.py
[ForwardCloseTest.test_client_rst ...]. If the binary does not accept
`handler = forward` yet, the script says "forward not supported" and exits 1
at once. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import functools
import os
import socket
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.config import Listener, fwd
from harness.env import ONE_SECOND_WINDOW
from harness.procinfo import assert_released
from harness.runner import require_forward
from harness.scope import limited, say
from harness.sockets import abort_close, wait_end

KiB = 1 << 10
MiB = 1 << 20

HALF_BYTES = 1 * MiB
# A reset on one side must end the other side within this many seconds.
RST_WITHIN = t.pick(1.0, 1.0)


class ForwardCloseTest(unittest.TestCase):
    maxDiff = 4000

    # -- half-close

    @limited(20, 60)
    def test_half_close_client_first(self, sc):
        say("client sends 1 MiB and SHUT_WR; upstream reads all of it, then EOF; "
            "then the upstream sends 1 MiB and closes; the client reads all, then EOF")
        up = sc.add(us.ManualUpstream())
        d, ports = sc.start([fwd("hc", [up.addr])])
        c = sc.connect(ports["hc"])
        u = up.accept(t.pick(5, 15)).sock
        up_payload = os.urandom(HALF_BYTES)
        payload = os.urandom(HALF_BYTES)
        c.sendall(payload)
        c.shutdown(socket.SHUT_WR)
        got = t.recv_until_eof(u, limit=HALF_BYTES)
        self.assertEqual(len(got), HALF_BYTES, "bytes before the upstream's EOF")
        self.assertTrue(got == payload, "bytes differ")
        # The client's direction is closed; the other one still carries data.
        try:
            u.sendall(up_payload)
        except OSError as e:
            self.fail("the upstream could not send after the client's FIN: %r (the "
                      "relay closed the upstream's receiving side too)" % e)
        u.close()
        try:
            back = t.recv_until_eof(c, limit=HALF_BYTES)
        except ConnectionResetError:
            self.fail("the relay reset the client instead of delivering and closing")
        self.assertEqual(len(back), HALF_BYTES, "bytes before the client's EOF")
        self.assertTrue(back == up_payload, "bytes differ")
        self.assertEqual(c.recv(1), b"")
        c.close()
        assert_released(self, sc, ports["hc"], [up.port])

    @limited(20, 60)
    def test_half_close_upstream_first(self, sc):
        say("upstream sends 1 MiB and SHUT_WR; the client reads all, then EOF; "
            "the client then sends 1 MiB, which the upstream receives, then EOF")
        up = sc.add(us.ManualUpstream())
        d, ports = sc.start([fwd("hc", [up.addr])])
        c = sc.connect(ports["hc"])
        u = up.accept(t.pick(5, 15)).sock
        up_payload = os.urandom(HALF_BYTES)
        payload = os.urandom(HALF_BYTES)
        u.sendall(up_payload)
        u.shutdown(socket.SHUT_WR)
        got = t.recv_until_eof(c, limit=HALF_BYTES)
        self.assertEqual(len(got), HALF_BYTES, "bytes before the client's EOF")
        self.assertTrue(got == up_payload, "bytes differ")
        time.sleep(0.2)
        try:
            c.sendall(payload)
            c.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.fail("the client could not send after the upstream's FIN: %r "
                      "(the relay closed the client's receiving side too)" % e)
        back = t.recv_until_eof(u, limit=HALF_BYTES)
        self.assertEqual(len(back), HALF_BYTES, "bytes before the upstream's EOF")
        self.assertTrue(back == payload, "bytes differ")
        u.close()
        self.assertEqual(c.recv(1), b"")
        c.close()
        assert_released(self, sc, ports["hc"], [up.port])

    # -- resets

    def _transfer_under_way(self, sc, port, up):
        """A relayed connection with data in flight both ways: the client
        has sent 512 KiB that the upstream read, and the upstream is sending
        1 MiB that the client does not read. Returns (client, upstream conn,
        upstream sender task)."""
        c = sc.connect(port)
        conn = up.accept(t.pick(5, 15))
        u = conn.sock
        sender = sc.task(lambda: u.sendall(os.urandom(1 * MiB)), "upsend")
        reader = sc.task(lambda: t.recv_exact(u, 512 * KiB), "upread")
        c.sendall(os.urandom(512 * KiB))
        self.assertTrue(reader.join(t.pick(5, 15)), "upstream did not get 512 KiB")
        self.assertIsNone(reader.error)
        return c, conn, sender

    @limited(20, 60)
    def test_client_rst(self, sc):
        say("client resets (SO_LINGER 0) mid-transfer: the upstream's connection "
            "ends within %g s; no relay socket is left" % RST_WITHIN)
        up = sc.add(us.ManualUpstream())
        d, ports = sc.start([fwd("rst", [up.addr])])
        c, conn, sender = self._transfer_under_way(sc, ports["rst"], up)
        abort_close(c)
        how, took = wait_end(conn.sock, RST_WITHIN + 5)
        say("upstream side ended by %s after %.3f s" % (how, took))
        self.assertLess(took, RST_WITHIN, "upstream side ended only after %.2f s" % took)
        self.assertTrue(sender.join(t.pick(5, 15)), "upstream's send still blocked")
        conn.sock.close()
        assert_released(self, sc, ports["rst"], [up.port])

    @limited(20, 60)
    def test_upstream_rst(self, sc):
        say("upstream resets (SO_LINGER 0) mid-transfer: the client's connection "
            "ends within %g s; no relay socket is left" % RST_WITHIN)
        up = sc.add(us.ManualUpstream())
        d, ports = sc.start([fwd("rst", [up.addr])])
        c, conn, sender = self._transfer_under_way(sc, ports["rst"], up)
        # The client takes the upstream's 1 MiB, so that no thread of ours
        # is blocked on the upstream socket when it is closed (a close would
        # not send the RST until that call returned).
        self.assertEqual(len(t.recv_exact(c, 1 * MiB)), 1 * MiB)
        self.assertTrue(sender.join(t.pick(5, 15)), "upstream's send still blocked")
        # The client now sends more that the upstream never reads, so the
        # relay has data queued towards the upstream when the reset comes.
        csend = sc.task(lambda: c.sendall(os.urandom(2 * MiB)), "csend")
        time.sleep(0.2)
        abort_close(conn.sock)
        # Reads what the relay had already passed on, then EOF or reset.
        how, took = wait_end(c, RST_WITHIN + 5)
        say("client side ended by %s after %.3f s" % (how, took))
        self.assertLess(took, RST_WITHIN, "client side ended only after %.2f s" % took)
        self.assertTrue(csend.join(t.pick(5, 15)), "client's send still blocked")
        c.close()
        assert_released(self, sc, ports["rst"], [up.port])

    # -- idle timeout

    @limited(25, 60)
    def test_idle_timeout(self, sc):
        lo, hi = ONE_SECOND_WINDOW
        say("idle_timeout = 1s: a silent relayed connection is closed on both "
            "sides after %g..%g s, as is a silent echo connection; one that sends a "
            "byte every 0.3 s stays open" % (lo, hi))
        up = sc.add(us.ManualUpstream())
        d, ports = sc.start([fwd("idle", [up.addr], idle_timeout="1s"),
                             Listener("idlecho", "echo", idle_timeout="1s")])
        quiet = sc.connect(ports["idle"])
        quiet_up = up.accept(t.pick(5, 15)).sock
        quiet.sendall(b"q")
        self.assertEqual(t.recv_exact(quiet_up, 1), b"q")
        quiet_at = time.monotonic()
        talk = sc.connect(ports["idle"])
        talk_up = up.accept(t.pick(5, 15)).sock
        echo = sc.connect(ports["idlecho"])
        echo.sendall(b"e")
        self.assertEqual(t.recv_exact(echo, 1), b"e")
        echo_at = time.monotonic()

        def ended_at(sock):
            how, _ = wait_end(sock, hi + 5)
            return how, time.monotonic()

        watch = {}
        for label, s, since in (("client", quiet, quiet_at), ("upstream", quiet_up, quiet_at),
                                ("echo", echo, echo_at)):
            watch[label] = (sc.task(functools.partial(ended_at, s), label), since)
        # Keep the other relayed connection busy, alternating directions.
        until = time.monotonic() + 2.5
        n = 0
        while time.monotonic() < until:
            src, dst = (talk, talk_up) if n % 2 == 0 else (talk_up, talk)
            src.sendall(b"t")
            self.assertEqual(t.recv_exact(dst, 1), b"t", "busy connection broken")
            n += 1
            time.sleep(0.3)
        for label, (tk, since) in watch.items():
            self.assertTrue(tk.join(hi + 5), "%s still open" % label)
            self.assertIsNone(tk.error, "%s: %r" % (label, tk.error))
            how, at = tk.result
            took = at - since
            say("%s side closed by %s %.2f s after the last byte" % (label, how, took))
            self.assertGreaterEqual(took, lo, "%s closed too soon: %.2f s" % (label, took))
            self.assertLessEqual(took, hi, "%s closed late: %.2f s" % (label, took))
        # The busy one is still open both ways.
        talk.sendall(b"z")
        self.assertEqual(t.recv_exact(talk_up, 1), b"z", "busy connection was closed")
        talk_up.sendall(b"y")
        self.assertEqual(t.recv_exact(talk, 1), b"y", "busy connection was closed")
        # ... until it falls silent too.
        how, took = wait_end(talk, hi + 5)
        self.assertLessEqual(took, hi)
        for s in (quiet, quiet_up, talk, talk_up, echo):
            s.close()
        assert_released(self, sc, ports["idle"], [up.port])


if __name__ == "__main__":
    require_forward()
    t.main(time_limit=(60, 240))
