"""UDP forward listeners (`protocol = udp`, `handler = forward`): a session
per client address and port, each with its own socket to the upstream.
The upstream (harness/udp.py TagUpstream) answers every datagram with
the source address it saw, b"HOST:PORT|" + the datagram, so that both
the session's own upstream socket and any cross-wiring show in every
reply.

  many_sessions     1,000 clients at once (1,000 sockets, each its own
                    source port), three requests each (the later rounds in
                    a shuffled order): every reply a client gets answers
                    one of its own requests, all of them came from one
                    upstream-side port, a different one for each client;
                    the upstream saw exactly those 1,000 ports; the
                    metrics show 1,000 sessions open and every datagram
                    each way; after the stop the access log has one line
                    per session (end=shutdown) with its datagram counts
  idle_expiry       idle_timeout = 1s: datagrams 0.5 s apart keep one
                    session (one upstream-side port); 1 s of silence ends
                    it, with one access log line (proto=udp, the datagram
                    and byte counts, end=idle_timeout) written within the
                    window of a 1 s timeout; the next datagram makes a new
                    session with a new upstream-side port
  max_sessions      max_sessions = 3: a fourth client's datagrams are
                    dropped (not relayed, counted as reason="sessions"),
                    the three sessions go on undisturbed; once they have
                    expired, the fourth client is served
  max_sessions_per_ip
                    max_sessions_per_ip = 2: a third client from 127.0.0.2
                    is dropped (reason="per_ip") while two from 127.0.0.3
                    are served
  deny              deny = 127.0.0.3: its datagrams are dropped (counted
                    as denied, no session), 127.0.0.2 is served
  failover          upstreams [a UDP port nobody is bound to, a live one],
                    max_fails = 1: clients that send every 200 ms are
                    answered by the live upstream within a few tries (the
                    ICMP port unreachable moves a session on), the dead
                    upstream is marked down (iocpd_upstream_up = 0) and a
                    client after that is answered at its first try
  reload_keeps_session
                    (native: SIGHUP) a reload that keeps the UDP listener
                    and adds another keeps the open session: the same
                    upstream-side port before and after, no line logged;
                    a reload that removes the listener ends the session at
                    once (end=shutdown) and its port answers no more
  reload_idle_timeout
                    (native: SIGHUP) idle_timeout = 10s, then a reload to
                    1s: the session kept through it ends by idling within
                    the window of a 1 s timeout

Natively and with iocpd.exe under Wine (whose console has no reload
signal: reload_keeps_session is skipped there, and test_udp_service.py
reloads a UDP session's listener through the Windows service instead).
Every daemon reads conf/iocpd.ini, with metrics (harness/accesslog.py).

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_udp_forward.py
[UdpForwardTest.test_deny ...]. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import collections
import os
import random
import re
import selectors
import signal
import socket
import time
import unittest

import harness as t
from harness import udp
from harness.accesslog import ACCESS_LOG, CONFIG, LINE_WAIT, read_lines, start, stop
from harness.config import config_text_for, echo, udp_fwd
from harness.env import ONE_SECOND_WINDOW, SEED
from harness.metrics import metrics, value
from harness.ports import free_port
from harness.procinfo import raise_fd_limit
from harness.scope import limited, say

SESSIONS = 1000
ROUNDS = 3
# Requests unanswered at once in many_sessions, and how long one may wait.
WINDOW = 64
ANSWER_WAIT = t.pick(1.0, 3.0)
TRIES = 3
# A datagram that is answered, if at all, within this.
REPLY_WAIT = t.pick(1.0, 3.0)


def served_by(test, reply, request):
    """The upstream-side port of a TagUpstream answer to request; fails
    unless reply is that answer."""
    test.assertIsNotNone(reply, "no answer to %r" % request)
    host, port, payload = udp.parse_tag(reply)
    test.assertEqual(payload, request, "an answer to another request")
    test.assertEqual(host, "127.0.0.1")
    test.assertNotEqual(port, 0)
    return port


def ask(test, c, request, tries=1, interval=None):
    """Sends request from client c (again every interval, at most tries
    times) and returns the upstream-side port its answer names."""
    reply, _ = c.ask(request, tries=tries, interval=interval or REPLY_WAIT)
    test.assertIsNotNone(reply, "client %s: no answer to %r" % (c.addr, request))
    return served_by(test, reply, request)


def unserved(test, c, requests, gap=0.2, quiet=None):
    """Client c sends each of requests gap s apart, then waits quiet s: no
    answer may come."""
    for r in requests:
        c.send(r)
        got = c.silence(gap)
        test.assertEqual(got, [], "client %s was answered" % c.addr)
    got = c.silence(quiet if quiet is not None else REPLY_WAIT)
    test.assertEqual(got, [], "client %s was answered" % c.addr)


def lines_for(workdir, client_addr):
    return [r for r in read_lines(workdir) if r["client"] == client_addr]


def no_drops():
    return {r: 0 for r in udp.DROP_REASONS}


class Conversation:
    """SESSIONS clients, each with its own socket, talking through the
    relay at once: requests b"cNNNN rK", at most WINDOW unanswered, each
    sent again after ANSWER_WAIT s without an answer (at most TRIES
    times). Keeps every datagram each client got."""

    def __init__(self, clients):
        self.clients = clients
        self.sel = selectors.DefaultSelector()
        for i, c in enumerate(clients):
            c.sock.setblocking(False)
            self.sel.register(c.sock, selectors.EVENT_READ, i)
        self.replies = [[] for _ in clients]
        self.sent = [0] * len(clients)
        self.resent = 0
        self.unanswered = []

    @staticmethod
    def request(i, k):
        return b"c%04d r%d" % (i, k)

    def _send(self, i, k):
        self.clients[i].sock.send(self.request(i, k))
        self.sent[i] += 1

    def round(self, k, order):
        pending = {}  # client -> [deadline, tries]
        queue = collections.deque(order)
        while queue or pending:
            now = time.monotonic()
            while queue and len(pending) < WINDOW:
                i = queue.popleft()
                self._send(i, k)
                pending[i] = [now + ANSWER_WAIT, 1]
            for key, _ in self.sel.select(0.05):
                i = key.data
                while True:
                    try:
                        data = self.clients[i].sock.recv(udp.MAX_DATAGRAM + 1)
                    except BlockingIOError:
                        break
                    self.replies[i].append(data)
                    if data.endswith(b"|" + self.request(i, k)):
                        pending.pop(i, None)
            now = time.monotonic()
            for i, (deadline, tries) in list(pending.items()):
                if now < deadline:
                    continue
                if tries < TRIES:
                    self._send(i, k)
                    self.resent += 1
                    pending[i] = [now + ANSWER_WAIT, tries + 1]
                else:
                    del pending[i]
                    self.unanswered.append((i, k))

    def close(self):
        self.sel.close()


class UdpForwardTest(unittest.TestCase):
    maxDiff = 4000

    @limited(150, 400)
    def test_many_sessions(self, sc):
        say("%d clients at once, %d requests each, through one UDP forward listener: each "
            "gets only its own answers, all from one upstream-side port of its own"
            % (SESSIONS, ROUNDS))
        raise_fd_limit(4 * SESSIONS + 1000)
        up = sc.add(udp.TagUpstream())
        d, ports, mport = start(sc, [udp_fwd("f", [up.addr])], {"access_log": ACCESS_LOG})
        clients = [udp.client(sc, ports["f"]) for _ in range(SESSIONS)]
        self.assertEqual(len({c.port for c in clients}), SESSIONS)
        talk = Conversation(clients)
        rng = random.Random(SEED)
        began = time.monotonic()
        for k in range(ROUNDS):
            order = list(range(SESSIONS))
            if k:
                rng.shuffle(order)
            talk.round(k, order)
        took = time.monotonic() - began
        talk.close()
        sent = sum(talk.sent)
        got = sum(len(r) for r in talk.replies)
        say("%d requests (%d sent again) and %d answers in %.1f s; %d unanswered after %d "
            "tries" % (sent, talk.resent, got, took, len(talk.unanswered), TRIES))
        crossed = []
        port_of = {}
        for i, c in enumerate(clients):
            seen = set()
            for reply in talk.replies[i]:
                host, port, payload = udp.parse_tag(reply)
                if not payload.startswith(b"c%04d r" % i) or host != "127.0.0.1":
                    crossed.append((c.addr, reply))
                seen.add(port)
            if len(seen) != 1:
                crossed.append((c.addr, "answers from upstream-side ports %s" % sorted(seen)))
            elif seen:
                port_of[i] = seen.pop()
        self.assertEqual(crossed[:10], [], "%d clients got what was not theirs" % len(crossed))
        self.assertEqual(talk.unanswered[:10], [], "requests never answered (client, round)")
        self.assertEqual(len(port_of), SESSIONS, "clients that got no answer at all")
        self.assertEqual(len(set(port_of.values())), SESSIONS,
                         "clients sharing an upstream-side port (one socket per session)")
        self.assertNotIn(ports["f"], port_of.values(), "answers relayed by the listener's socket")
        received, answered, sources = up.snapshot()
        self.assertEqual(set(sources), {("127.0.0.1", p) for p in port_of.values()},
                         "the upstream saw other source ports than the clients' sessions")
        for i, p in port_of.items():
            if sources[("127.0.0.1", p)] != talk.sent[i]:
                self.fail("client %s sent %d datagrams, its session relayed %d; kernel drops "
                          "(drops, queued bytes) at the listener: %s"
                          % (clients[i].addr, talk.sent[i], sources[("127.0.0.1", p)],
                             udp.kernel_drops(ports["f"])))
        want = {"in": sent, "up": sent, "down": answered, "out": answered}
        c = udp.wait_counters(mport, "f", lambda c: all(c[k] == v for k, v in want.items()))
        say("counters: %s" % c)
        self.assertEqual(got, answered, "answers the upstream sent, the clients got")
        self.assertEqual(c["dropped"], no_drops())
        self.assertEqual((c["sessions_open"], c["sessions_total"]), (SESSIONS, SESSIONS))
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_bytes_total", listener="f", direction="in"),
                         sum(len(Conversation.request(0, 0)) * n for n in talk.sent))
        stop(self, d)
        # Every session ends with the daemon and is reported once.
        recs = [r for r in read_lines(sc.workdir) if r["listener"] == "f"]
        ends = collections.Counter(r["end"] for r in recs)
        say("access log: %d lines, end reasons %s" % (len(recs), dict(ends)))
        by_client = collections.Counter(r["client"] for r in recs)
        self.assertEqual(set(by_client), {c.addr for c in clients}, "clients in the access log")
        self.assertEqual(max(by_client.values()), 1, "a session reported twice")
        self.assertEqual(dict(ends), {"shutdown": SESSIONS}, "end reasons at the stop")
        index = {c.addr: i for i, c in enumerate(clients)}
        for r in recs:
            i = index[r["client"]]
            self.assertEqual((r["proto"], r["upstream"], r["dgrams_in"], r["dgrams_up"],
                              r["dgrams_out"], r["dgrams_down"]),
                             ("udp", up.addr, talk.sent[i], talk.sent[i],
                              len(talk.replies[i]), len(talk.replies[i])), r)

    @limited(40, 120)
    def test_idle_expiry(self, sc):
        lo, hi = ONE_SECOND_WINDOW
        say("idle_timeout = 1s: 3 datagrams 0.5 s apart keep one session; silence ends it "
            "after %g..%g s with one access log line; the next datagram opens a new one"
            % (lo, hi))
        up = sc.add(udp.TagUpstream())
        d, ports, mport = start(sc, [udp_fwd("f", [up.addr], idle_timeout="1s")],
                                {"access_log": ACCESS_LOG})
        c = udp.client(sc, ports["f"])
        requests = [b"one", b"two", b"three"]
        first = []
        replies = 0
        for n, r in enumerate(requests):
            if n:
                time.sleep(0.5)
            first.append(ask(self, c, r))
            replies += len(r) + len(b"127.0.0.1:%d|" % first[-1])
        last = time.monotonic()
        self.assertEqual(len(set(first)), 1, "datagrams 0.5 s apart did not keep the session: "
                         "upstream-side ports %s" % first)
        deadline = last + hi + LINE_WAIT
        while True:
            recs = lines_for(sc.workdir, c.addr)
            if recs or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        seen = time.monotonic() - last
        self.assertEqual(len(recs), 1, "access log lines for the idle session")
        r = recs[0]
        say("line after %.2f s of silence: %s" % (seen, {k: r[k] for k in r if k != "time_ms"}))
        self.assertGreaterEqual(seen, lo, "the session ended before idle_timeout")
        self.assertLessEqual(seen, hi, "the session outlived idle_timeout")
        sent = sum(len(x) for x in requests)
        self.assertEqual(
            {k: r[k] for k in ("listener", "upstream", "proto", "end", "dgrams_in", "dgrams_out",
                               "dgrams_up", "dgrams_down", "bytes_in", "bytes_out", "bytes_up",
                               "bytes_down")},
            {"listener": "f", "upstream": up.addr, "proto": "udp", "end": "idle_timeout",
             "dgrams_in": 3, "dgrams_out": 3, "dgrams_up": 3, "dgrams_down": 3,
             "bytes_in": sent, "bytes_out": replies, "bytes_up": sent, "bytes_down": replies})
        self.assertGreaterEqual(r["duration_ms"], 1000 + lo * 1000,
                                "duration: 1 s of datagrams and the idle time")
        self.assertLessEqual(r["duration_ms"], 1000 + hi * 1000 + 1000)
        second = ask(self, c, b"four")
        self.assertNotEqual(second, first[0], "no new session (new upstream-side port) after "
                            "the old one expired")
        cnt = udp.wait_counters(mport, "f", lambda x: x["sessions_total"] == 2)
        self.assertEqual(cnt["sessions_open"], 1)
        self.assertEqual(len(lines_for(sc.workdir, c.addr)), 1, "the open session was logged")
        stop(self, d)

    @limited(60, 180)
    def test_max_sessions(self, sc):
        lo, hi = ONE_SECOND_WINDOW
        # Long enough for the three sessions to outlive the fourth client's
        # wait for an answer (unserved(): about 1.6 s, 3.6 s under Wine).
        idle = t.pick(3, 8)
        say("max_sessions = 3, idle_timeout = %ds: a fourth client is dropped (3 datagrams "
            "counted as 'sessions'), the three are undisturbed; served once they expired" % idle)
        up = sc.add(udp.TagUpstream())
        d, ports, mport = start(sc, [udp_fwd("f", [up.addr], max_sessions=3,
                                             idle_timeout="%ds" % idle)], {})
        clients = [udp.client(sc, ports["f"]) for _ in range(4)]
        kept = [ask(self, c, b"hello %d" % i) for i, c in enumerate(clients[:3])]
        unserved(self, clients[3], [b"let me in %d" % i for i in range(3)])
        self.assertEqual(len(up.snapshot()[2]), 3, "the upstream heard from a fourth session")
        again = [ask(self, c, b"again %d" % i) for i, c in enumerate(clients[:3])]
        self.assertEqual(again, kept, "the open sessions changed (upstream-side ports)")
        cnt = udp.wait_counters(mport, "f", lambda x: x["dropped"]["sessions"] >= 3)
        say("counters: %s" % cnt)
        self.assertEqual(cnt["dropped"], dict(no_drops(), sessions=3))
        self.assertEqual((cnt["sessions_open"], cnt["sessions_total"]), (3, 3))
        # Whether a dropped datagram counts as "in" is the engine's choice;
        # relayed it is not.
        self.assertIn(cnt["in"], (6, 9), "datagrams in")
        self.assertEqual(cnt["up"], 6, "datagrams relayed up")
        udp.wait_counters(mport, "f", lambda x: x["sessions_open"] == 0, timeout=idle + hi + 5)
        port = ask(self, clients[3], b"now me")
        self.assertNotIn(port, kept)
        cnt = udp.wait_counters(mport, "f", lambda x: x["sessions_total"] == 4)
        self.assertEqual(cnt["dropped"]["sessions"], 3)
        stop(self, d)

    @limited(40, 120)
    def test_max_sessions_per_ip(self, sc):
        say("max_sessions_per_ip = 2: a third client from 127.0.0.2 is dropped ('per_ip'), "
            "two from 127.0.0.3 are served")
        up = sc.add(udp.TagUpstream())
        d, ports, mport = start(sc, [udp_fwd("f", [up.addr], max_sessions_per_ip=2)], {})
        two = [udp.client(sc, ports["f"], src="127.0.0.2") for _ in range(3)]
        three = [udp.client(sc, ports["f"], src="127.0.0.3") for _ in range(2)]
        kept = [ask(self, c, b"from .2 #%d" % i) for i, c in enumerate(two[:2])]
        unserved(self, two[2], [b"third from .2 #%d" % i for i in range(3)])
        others = [ask(self, c, b"from .3 #%d" % i) for i, c in enumerate(three)]
        self.assertEqual(len(set(kept + others)), 4)
        self.assertEqual([ask(self, c, b"again") for c in two[:2]], kept)
        cnt = udp.wait_counters(mport, "f", lambda x: x["dropped"]["per_ip"] >= 3)
        say("counters: %s" % cnt)
        self.assertEqual(cnt["dropped"], dict(no_drops(), per_ip=3))
        self.assertEqual((cnt["sessions_open"], cnt["sessions_total"]), (4, 4))
        stop(self, d)

    @limited(40, 120)
    def test_deny(self, sc):
        say("deny = 127.0.0.3: 3 datagrams from it dropped and counted as denied, no session; "
            "127.0.0.2 served")
        up = sc.add(udp.TagUpstream())
        d, ports, mport = start(sc, [udp_fwd("f", [up.addr], deny="127.0.0.3")], {})
        bad = udp.client(sc, ports["f"], src="127.0.0.3")
        good = udp.client(sc, ports["f"], src="127.0.0.2")
        unserved(self, bad, [b"denied %d" % i for i in range(3)])
        ask(self, good, b"welcome")
        unserved(self, bad, [b"still denied"], quiet=0.3)
        self.assertEqual(up.snapshot()[0], 1, "datagrams the upstream got")
        cnt = udp.wait_counters(mport, "f", lambda x: x["dropped"]["denied"] >= 4)
        say("counters: %s" % cnt)
        self.assertEqual(cnt["dropped"], dict(no_drops(), denied=4))
        self.assertEqual((cnt["sessions_open"], cnt["sessions_total"]), (1, 1))
        self.assertIn(cnt["in"], (1, 5), "datagrams in (with or without the denied)")
        self.assertEqual((cnt["up"], cnt["down"], cnt["out"]), (1, 1, 1))
        stop(self, d)

    @limited(60, 180)
    def test_failover(self, sc):
        tries = t.pick(10, 20)
        say("upstreams [nobody bound, live], max_fails = 1: clients asking every 200 ms are "
            "answered within %d tries; the dead one is marked down; the next client is "
            "answered at once" % tries)
        dead_port, dead = udp.closed_udp_addr()
        up = sc.add(udp.TagUpstream())
        d, ports, mport = start(sc, [udp_fwd("f", [dead, up.addr], max_fails=1,
                                             fail_timeout="60s")], {})
        used = []
        for i in range(2):
            c = udp.client(sc, ports["f"])
            request = b"client %d" % i
            reply, n = c.ask(request, tries=tries, interval=0.2)
            used.append(n)
            self.assertIsNotNone(reply, "client %d: no answer after %d tries, 200 ms apart"
                                 % (i, tries))
            served_by(self, reply, request)
        say("tries needed: %s" % used)
        self.assertGreater(sum(used), 2, "no datagram met the dead upstream: round robin "
                           "never chose it first?")
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_upstream_up", listener="f", upstream=dead), 0,
                         "the dead upstream is not marked down")
        self.assertEqual(value(values, "iocpd_upstream_up", listener="f", upstream=up.addr), 1)
        down_logged = re.search(r"listener f: upstream %s is down" % re.escape(dead),
                                d.stderr())
        say("'upstream %s is down' logged: %s" % (dead, bool(down_logged)))
        for i in range(2, 4):
            c = udp.client(sc, ports["f"])
            request = b"client %d" % i
            reply, n = c.ask(request, tries=tries, interval=0.2)
            self.assertIsNotNone(reply, "client %d: no answer" % i)
            served_by(self, reply, request)
            self.assertEqual(n, 1, "client %d needed %d tries with the dead upstream marked "
                             "down" % (i, n))
        stop(self, d)

    def _reloader(self, sc, d, ports, service):
        """A function (listeners, summary) that writes the config with
        listeners, sends SIGHUP and waits for the reload's log line, which
        must say "configuration reloaded: " + summary."""
        count = [0]

        def reload(listeners, summary):
            sc.workdir.write(CONFIG, config_text_for(listeners, ports, service))
            os.kill(d.pid, signal.SIGHUP)
            count[0] += 1
            deadline = time.monotonic() + t.pick(10, 30)
            while True:
                done = re.findall(r"configuration (?:not )?reloaded: [^\n]*", d.stderr())
                if len(done) >= count[0] or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            self.assertEqual(len(done), count[0], "reload %d not logged" % count[0])
            self.assertIn("configuration reloaded: " + summary, done[-1])
        return reload

    @limited(40, 60)
    def test_reload_keeps_session(self, sc):
        if t.WINE:
            self.skipTest("no reload signal in a Wine console (test_udp_service.py reloads "
                          "the Windows service)")
        say("SIGHUP reloads: one that keeps UDP listener 'f' and adds 'extra' keeps the open "
            "session (its upstream-side port); one that removes 'f' ends it with end=shutdown")
        up = sc.add(udp.TagUpstream())
        f = udp_fwd("f", [up.addr])
        service = {"access_log": ACCESS_LOG}
        d, ports, mport = start(sc, [f], service)
        ports["extra"] = free_port(socket.AF_INET)
        service["metrics_listen"] = t.addr(mport)
        reload = self._reloader(sc, d, ports, service)
        c = udp.client(sc, ports["f"])
        before = ask(self, c, b"before")
        reload([f, echo("extra")], "1 listeners kept, 1 added, 0 removed")
        self.assertTrue(t.port_accepts(ports["extra"]), "the added listener does not serve")
        after = ask(self, c, b"after")
        self.assertEqual(after, before, "the session did not survive the reload")
        cnt = udp.wait_counters(mport, "f", lambda x: x["in"] == 2)
        self.assertEqual((cnt["sessions_open"], cnt["sessions_total"]), (1, 1))
        self.assertEqual(lines_for(sc.workdir, c.addr), [], "the kept session was logged")
        # Removing the listener ends its sessions at once.
        reload([echo("extra")], "1 listeners kept, 0 added, 1 removed")
        recs = []
        deadline = time.monotonic() + LINE_WAIT
        while not recs and time.monotonic() < deadline:
            time.sleep(0.02)
            recs = lines_for(sc.workdir, c.addr)
        self.assertEqual([(r["end"], r["dgrams_in"], r["dgrams_out"]) for r in recs],
                         [("shutdown", 2, 2)], "the removed listener's session")
        try:
            got = c.ask(b"anybody?", tries=1, interval=0.5)[0]
        except ConnectionRefusedError:
            got = None
        self.assertIsNone(got, "the removed listener still answers")
        stop(self, d)
        self.assertEqual(len(lines_for(sc.workdir, c.addr)), 1)

    @limited(40, 60)
    def test_reload_idle_timeout(self, sc):
        if t.WINE:
            self.skipTest("no reload signal in a Wine console")
        lo, hi = ONE_SECOND_WINDOW
        old = 10
        say("idle_timeout = %ds, then a reload to 1s: the session kept through it ends "
            "%g..%g s later, by idling (README: the new idle_timeout applies to the kept "
            "sessions too)" % (old, lo, hi))
        up = sc.add(udp.TagUpstream())
        service = {"access_log": ACCESS_LOG}
        d, ports, mport = start(sc, [udp_fwd("f", [up.addr], idle_timeout="%ds" % old)],
                                service)
        service["metrics_listen"] = t.addr(mport)
        reload = self._reloader(sc, d, ports, service)
        c = udp.client(sc, ports["f"])
        first = ask(self, c, b"before")
        reload([udp_fwd("f", [up.addr], idle_timeout="1s")],
               "1 listeners kept, 0 added, 0 removed")
        began = time.monotonic()
        recs = []
        while not recs and time.monotonic() < began + old + LINE_WAIT:
            time.sleep(0.02)
            recs = lines_for(sc.workdir, c.addr)
        took = time.monotonic() - began
        self.assertEqual(len(recs), 1, "access log lines of the kept session")
        say("the kept session ended %.2f s after the reload: %s" % (took, recs[0]["end"]))
        self.assertEqual((recs[0]["end"], recs[0]["dgrams_in"]), ("idle_timeout", 1))
        self.assertLessEqual(took, hi, "the kept session ended %.2f s after a reload to "
                             "idle_timeout = 1s: the old idle_timeout (%ds) still applied to it"
                             % (took, old))
        second = ask(self, c, b"after")
        self.assertNotEqual(second, first)
        stop(self, d)


if __name__ == "__main__":
    t.main(time_limit=(400, 1100))
