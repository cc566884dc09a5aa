"""Protection against clients that abuse the daemon: a flood of silent
clients is closed at handshake_timeout while fresh clients are served, a
slowloris client is closed at idle_timeout, and clients that send garbage
and reset or vanish leave no descriptor behind.

  handshake_timeout_flood   handshake_timeout = 2s: 1000 silent clients
                            (Wine: 100) on an echo and on a forward listener
                            are all closed 1.5..6 s after connecting, while
                            fresh clients are served at once and are not
                            closed by the handshake timer once they spoke
  slowloris_idle_timeout    idle_timeout = 2s closes a client sending a byte
                            every 5 s before its second byte; one sending a
                            byte every second stays open
  garbage_and_resets        100 clients (Wine: 30) send random bytes and reset
                            or vanish (echo and forward): afterwards the
                            daemon holds as many descriptors as before and
                            still serves

The other protection scripts are listed in test_protection_limits.py.

Every sub-test starts its own daemon (readiness is its "running with N
workers" log line, not a probe connection, which would take a slot), has its
own time limit, releases everything in a finally block and ends by stopping
its daemon with Ctrl+C, which must give exit 0 without a sanitizer report
(harness/scope.py, limited_clean).

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_protection_abuse.py
[ProtectionAbuseTest.test_garbage_and_resets ...]. See harness/env.py for
IOCPD_WRAPPER, IOCPD_PLATFORM and IOCPD_TEST_SEED."""

import sys

sys.dont_write_bytecode = True

import errno
import os
import random
import selectors
import socket
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.clients import ECHO_WITHIN, client, echo_rtt
from harness.config import echo, fwd
from harness.env import SEED
from harness.procinfo import DescriptorCount, raise_fd_limit, relay_open_sockets
from harness.scope import limited_clean, say, start_quiet
from harness.sockets import abort_close, wait_end

HANDSHAKE_WINDOW = (1.5, t.pick(6.0, 8.0))
FLOOD = t.pick(1000, 100)
ABUSERS = t.pick(100, 30)
# How long the daemon may take to release what misbehaving clients left.
RELEASE_WITHIN = t.pick(5.0, 15.0)


class ProtectionAbuseTest(unittest.TestCase):
    maxDiff = 4000

    # -- handshake and idle timeouts

    @limited_clean(40, 120)
    def test_handshake_timeout_flood(self, sc):
        lo, hi = HANDSHAKE_WINDOW
        say("handshake_timeout = 2s: %d silent clients on an echo and %d on a forward "
            "listener are all closed %g..%g s after connecting; fresh clients 1 s and "
            "2 s into the flood echo within %g s and outlive the handshake timer"
            % (FLOOD, FLOOD, lo, hi, ECHO_WITHIN))
        need = 4 * FLOOD + 256
        have = raise_fd_limit(need)
        if have < need:
            self.skipTest("descriptor limit %d, %d needed" % (have, need))
        up = sc.add(us.SelectEchoUpstream())
        d, ports = start_quiet(sc, [echo("hs_echo", handshake_timeout="2s"),
                             fwd("hs_fwd", [up.addr], handshake_timeout="2s")])
        sel = selectors.DefaultSelector()
        flood = []
        try:
            began = time.monotonic()
            for name in ("hs_echo", "hs_fwd"):
                for i in range(FLOOD):
                    s = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    s.setblocking(False)
                    rec = {"listener": name, "index": i, "sock": s,
                           "at": time.monotonic(), "how": None, "end": None}
                    rc = s.connect_ex((t.HOST, ports[name]))
                    if rc not in (0, errno.EINPROGRESS):
                        self.fail("flood client %d of %s: connect error %s"
                                  % (i, name, os.strerror(rc)))
                    sel.register(s, selectors.EVENT_READ, rec)
                    flood.append(rec)
            say("%d clients connecting took %.2f s" % (len(flood), time.monotonic() - began))

            fresh = {}

            def fresh_client(name, at):
                time.sleep(max(0.0, began + at - time.monotonic()))
                s = client(sc, ports[name])
                return s, time.monotonic(), echo_rtt(s, b"fresh")

            for name in ("hs_echo", "hs_fwd"):
                for at in (1.0, 2.0):
                    fresh[(name, at)] = sc.task(lambda n=name, a=at: fresh_client(n, a),
                                                "fresh-%s-%g" % (name, at))

            open_count = len(flood)
            deadline = began + hi + 3
            while open_count and time.monotonic() < deadline:
                for key, _ in sel.select(0.2):
                    rec = key.data
                    s = rec["sock"]
                    try:
                        data = s.recv(4096)
                        rec["how"] = "data %r" % data[:16] if data else "eof"
                    except (ConnectionResetError, ConnectionAbortedError):
                        rec["how"] = "reset"
                    except OSError as e:
                        rec["how"] = "error %s" % e
                    rec["end"] = time.monotonic()
                    sel.unregister(s)
                    s.close()
                    open_count -= 1
        finally:
            sel.close()

        for (name, at), tk in sorted(fresh.items()):
            self.assertTrue(tk.join(5), "fresh client %s at %g s hangs" % (name, at))
            self.assertIsNone(tk.error, "fresh client on %s at %g s into the flood: %s"
                              % (name, at, tk.error))
            say("fresh client on %s at %g s: echo in %.3f s" % (name, at, tk.result[2]))

        for name in ("hs_echo", "hs_fwd"):
            recs = [r for r in flood if r["listener"] == name]
            still = [r for r in recs if r["how"] is None]
            self.assertFalse(still, "%s: %d of %d silent clients still open %g s after "
                             "connecting" % (name, len(still), len(recs), hi + 3))
            bad = [r for r in recs if r["how"] not in ("eof", "reset")]
            self.assertFalse(bad, "%s: %d clients ended otherwise, e.g. client %d: %s"
                             % (name, len(bad), bad[0]["index"] if bad else -1,
                                bad[0]["how"] if bad else ""))
            took = sorted(r["end"] - r["at"] for r in recs)
            kinds = {k: sum(1 for r in recs if r["how"] == k) for k in ("eof", "reset")}
            say("%s: %d closed by the server after %.2f..%.2f s (median %.2f); %s"
                % (name, len(recs), took[0], took[-1], took[len(took) // 2], kinds))
            self.assertGreaterEqual(took[0], lo, "%s: a silent client was closed after "
                                    "%.2f s, before handshake_timeout" % (name, took[0]))
            self.assertLessEqual(took[-1], hi, "%s: a silent client was closed only after "
                                 "%.2f s" % (name, took[-1]))

        # The fresh clients spoke at once: the handshake timer must be off for
        # them, so they are still open after their own 2 s.
        latest = max(tk.result[1] for tk in fresh.values())
        time.sleep(max(0.0, latest + 2.5 - time.monotonic()))
        for (name, at), tk in sorted(fresh.items()):
            s = tk.result[0]
            try:
                echo_rtt(s, b"alive")
            except AssertionError as e:
                self.fail("fresh client on %s (joined at %g s) that spoke at once was "
                          "closed within its handshake_timeout: %s" % (name, at, e))
            s.close()
        # The relay closed its upstream side of every silent client too.
        deadline = time.monotonic() + RELEASE_WITHIN
        while up.open_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(up.open_count(), 0, "upstream connections still open")
        self.assertEqual(up.accepted, FLOOD + 2, "connections relayed to the upstream")

    @limited_clean(30, 90)
    def test_slowloris_idle_timeout(self, sc):
        lo, hi = 1.5, 5.0
        say("idle_timeout = 2s on echo: a client sending a byte every 5 s is closed "
            "%g..%g s after its first byte (before its second); a client sending a "
            "byte every second stays open" % (lo, hi))
        d, ports = start_quiet(sc, [echo("slow", idle_timeout="2s")])
        slow = client(sc, ports["slow"])
        chatty = client(sc, ports["slow"])
        echo_rtt(slow, b"s")
        first = time.monotonic()
        ended_from = time.monotonic()
        ended = sc.task(lambda: wait_end(slow, hi + 1), "slowloris")
        # The chatty client talks once a second for 3.5 s, well past
        # idle_timeout, while the slow one is left alone.
        n = 0
        while time.monotonic() - first < 3.5:
            echo_rtt(chatty, b"c%d" % n)
            n += 1
            time.sleep(1.0)
        self.assertTrue(ended.join(max(0.1, hi + 1 - (time.monotonic() - first))),
                        "the slow client is still open")
        if isinstance(ended.error, AssertionError):
            self.fail("the slow client was still open when its second byte was due "
                      "(5 s after the first)")
        self.assertIsNone(ended.error)
        how, _ = ended.result
        took = ended.result[1] + ended_from - first
        say("slow client closed by %s %.2f s after its byte; the chatty one sent %d "
            "bytes meanwhile" % (how, took, n))
        self.assertGreaterEqual(took, lo, "closed before idle_timeout")
        self.assertLess(took, hi, "not closed before the slow client's second byte")
        # Sending the second byte now gets nothing back.
        try:
            slow.sendall(b"t")
            slow.settimeout(1.0)
            self.assertEqual(slow.recv(1), b"", "the slow client was served again")
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
        # The chatty one was never idle for 2 s.
        echo_rtt(chatty, b"still here")
        chatty.close()

    # -- misbehaving clients

    @limited_clean(40, 150)
    def test_garbage_and_resets(self, sc):
        say("%d clients send random bytes to echo and forward listeners and reset "
            "(SO_LINGER 0), close without reading (mid-write) or reset before "
            "sending; within %g s the daemon holds what it held before, and serves"
            % (ABUSERS, RELEASE_WITHIN))
        raise_fd_limit(4 * ABUSERS + 256)
        up = sc.add(us.SelectEchoUpstream())
        d, ports = start_quiet(sc, [echo("g_echo"), fwd("g_fwd", [up.addr])])
        counter = DescriptorCount(d)
        # Warm up first (lazily made things, e.g. Wine's per-thread state,
        # belong to the baseline), then take the baseline.
        for name in ports:
            for _ in range(3):
                s = client(sc, ports[name])
                echo_rtt(s, b"warm")
                s.shutdown(socket.SHUT_WR)
                t.recv_until_eof(s)
                s.close()
        base = self._steady(counter)
        say("baseline (%s): %s" % (counter.what(), base))

        rng = random.Random(SEED)
        modes = ("reset", "vanish", "reset-at-once")
        abusers = []
        for i in range(ABUSERS):
            name = ("g_echo", "g_fwd")[i % 2]
            mode = modes[(i // 2) % len(modes)]
            s = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.settimeout(t.pick(10, 30))
            s.connect((t.HOST, ports[name]))
            if mode == "reset-at-once":
                # Gone before the daemon has (probably) even accepted it.
                abort_close(s)
            else:
                s.setblocking(False)
                try:
                    s.send(os.urandom(rng.randint(1, 256 << 10)))
                except OSError:
                    pass
            abusers.append((s, mode))
        # The count must see the connections, or its return to the baseline
        # would prove nothing: wait until the daemon's descriptors (under
        # Wine: the wineserver's sockets) have risen by at least one per
        # connection still open.
        alive = [(s, m) for s, m in abusers if m != "reset-at-once"]
        deadline = time.monotonic() + RELEASE_WITHIN
        while True:
            peak = counter.now()
            if peak[-1] - base[-1] >= len(alive):
                break
            if time.monotonic() > deadline:
                self.fail("with %d clients connected the daemon's %s went only from %s "
                          "to %s: this count does not see connections"
                          % (len(alive), counter.what(), base, peak))
            time.sleep(0.05)
        say("with %d clients connected: %s" % (len(alive), peak))
        for s, mode in alive:
            if mode == "reset":
                abort_close(s)
            else:
                # A plain close with the echo unread: the kernel answers the
                # daemon's writes with a reset, mid-write.
                s.close()
        say("%d clients gone (%s)" % (len(abusers), ", ".join(
            "%d %s" % (sum(1 for _, m in abusers if m == k), k) for k in modes)))

        deadline = time.monotonic() + RELEASE_WITHIN
        while True:
            now = counter.now()
            if now == base:
                break
            if time.monotonic() > deadline:
                self.fail("%g s after the clients went, the daemon holds %s (%s), %s "
                          "before them: %s" % (RELEASE_WITHIN, now, counter.what(), base,
                                               counter.detail()))
            time.sleep(0.1)
        left = relay_open_sockets(ports["g_echo"], set()) + \
            relay_open_sockets(ports["g_fwd"], {up.port})
        self.assertEqual(left, [], "sockets still open in the daemon")
        say("back to %s" % (now,))
        for name in ports:
            s = client(sc, ports[name])
            echo_rtt(s, os.urandom(1000))
            s.close()

    def _steady(self, counter):
        """The descriptor count once it has not changed for a while."""
        last, since = counter.now(), time.monotonic()
        deadline = since + RELEASE_WITHIN
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = counter.now()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= t.pick(0.5, 1.5):
                return now
        self.fail("the daemon's descriptor count does not settle: %s" % (last,))


if __name__ == "__main__":
    sys.stderr.write("test_protection_abuse: seed %d (set IOCPD_TEST_SEED to repeat)\n" % SEED)
    t.main(time_limit=(90, 300))
