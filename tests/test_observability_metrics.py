"""Observability, the Prometheus endpoint ([service] metrics_listen), driven
through the real iocpd, and the start failures of both observability
settings.

MetricsTest
  values              traffic of known size on echo, denied and dead-
                      upstream listeners; a scrape with urllib, parsed by
                      prometheus_client, shows exactly that traffic.
  udp                 UDP listeners (protocol = udp): datagrams, drops by
                      reason (every reason present), sessions open and
                      made, their bytes; none of the connection families,
                      which a TCP listener beside them keeps.
  bad_requests        405 (with Allow), 404, 400 for garbage, 431 for an
                      oversized head, 408 and close for a request that
                      never ends (also one sent a byte at a time); HEAD
                      works; only the configured address answers.

StartFailureTest      an access log that cannot be opened, and a
                      metrics_listen that cannot be bound, stop the start
                      with exit 3 and a message naming them.

Every daemon here reads conf/iocpd.ini (harness/accesslog.py). The access
log itself: test_observability_access_log.py.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_observability_metrics.py
[CLASS ...]. Environment: see harness/env.py. The metrics are parsed with
the prometheus_client package (Debian: python3-prometheus-client); an
interpreter without it on its path gets Debian's system copy added
(harness/metrics.py).
"""

import sys

sys.dont_write_bytecode = True

import os
import random
import re
import socket
import threading
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.accesslog import ACCESS_LOG, CONF_DIR, CONFIG, LINE_WAIT, read_lines, start, stop
from harness.clients import connect_until_end
from harness.config import Listener, config_text_for, fwd, udp_echo, udp_fwd
from harness.metrics import metrics, raw_request, scrape, status_of, value
from harness.ports import free_port
from harness.scope import limited, say


class MetricsTest(unittest.TestCase):

    @limited(90, 300)
    def test_values(self, sc):
        k = t.pick(20, 6)
        n_denied = 3
        n_dead = 2
        say("%d echo connections of known size, %d denied, %d to two dead upstreams: "
            "the scrape shows exactly that" % (k, n_denied, n_dead))
        dead_a = sc.add(us.ClosedPort())
        dead_b = sc.add(us.ClosedPort())
        started = time.time()
        d, ports, mport = start(sc, [
            Listener("echo", "echo"),
            Listener("deny", "echo", deny="127.0.0.0/8"),
            fwd("dead", [dead_a.addr, dead_b.addr], connect_timeout="2s"),
        ], {"access_log": ACCESS_LOG})
        version = re.search(r"iocpd (\S+) starting", d.stderr()).group(1)

        # Before any traffic: every listener is there, at zero.
        values, _, _ = metrics(mport)
        for name in ("echo", "deny", "dead"):
            self.assertEqual(value(values, "iocpd_connections_total", listener=name), 0)

        rng = random.Random(99)
        total = 0
        for i in range(k):
            c = sc.connect(ports["echo"])
            data = os.urandom(rng.randint(1, 50000))
            total += len(data)
            c.sendall(data)
            if i < 2:
                time.sleep(0.4)  # two land beyond the 0.25 s bucket
            c.shutdown(socket.SHUT_WR)
            self.assertEqual(t.recv_until_eof(c), data)
            c.close()
        for _ in range(n_denied):
            connect_until_end(sc, ports["deny"], t.pick(5, 15))
        for _ in range(n_dead):
            connect_until_end(sc, ports["dead"], t.pick(10, 20))

        # Counters are final once every connection has closed.
        deadline = time.monotonic() + LINE_WAIT
        while True:
            values, families, headers = metrics(mport)
            done = [value(values, "iocpd_connection_duration_seconds_count", listener=name)
                    for name in ("echo", "dead")]
            if done == [k, n_dead]:
                break
            self.assertLess(time.monotonic(), deadline, "closed connections: %s" % done)
            time.sleep(0.1)

        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        self.assertEqual(value(values, "iocpd_build_info", version=version), 1)
        start_time = value(values, "iocpd_start_time_seconds")
        self.assertTrue(started - 5 <= start_time <= time.time(),
                        "start time %s, test started at %s" % (start_time, started))
        for name, accepted in (("echo", k), ("deny", 0), ("dead", n_dead)):
            self.assertEqual(value(values, "iocpd_connections_total", listener=name), accepted,
                             name)
            self.assertEqual(value(values, "iocpd_connections_active", listener=name), 0, name)
        self.assertEqual(value(values, "iocpd_connections_rejected_total", listener="deny",
                               reason="denied"), n_denied)
        self.assertEqual(value(values, "iocpd_connections_rejected_total", listener="deny",
                               reason="per_ip"), 0)
        self.assertEqual(value(values, "iocpd_connections_rejected_total", listener="echo",
                               reason="denied"), 0)
        for direction, want in (("in", total), ("out", total), ("up", 0), ("down", 0)):
            self.assertEqual(value(values, "iocpd_bytes_total", listener="echo",
                                   direction=direction), want, direction)
        for u in (dead_a, dead_b):
            self.assertEqual(value(values, "iocpd_upstream_connect_failures_total",
                                   listener="dead", upstream=u.addr), n_dead, u.addr)
            # n_dead failures in a row, under the default max_fails of 3.
            self.assertEqual(value(values, "iocpd_upstream_up", listener="dead",
                                   upstream=u.addr), 1, u.addr)
        self.assertEqual(value(values, "iocpd_accept_paused_total", listener="echo"), 0)
        self.assertEqual(value(values, "iocpd_access_log_dropped_total"), 0)

        # The histogram: cumulative buckets ending in +Inf = _count.
        bounds = ["0.005", "0.05", "0.25", "1", "5", "30", "60", "300", "1800", "3600", "+Inf"]
        counts = [value(values, "iocpd_connection_duration_seconds_bucket", listener="echo",
                        le=b) for b in bounds]
        say("echo duration buckets: %s" % counts)
        self.assertEqual(counts, sorted(counts), "buckets are not cumulative")
        self.assertEqual(counts[-1], k)
        self.assertLessEqual(counts[2], k - 2, "the two 0.4 s connections are in le=0.25")
        self.assertEqual(counts[bounds.index("30")], k)
        total_s = value(values, "iocpd_connection_duration_seconds_sum", listener="echo")
        self.assertGreaterEqual(total_s, 0.8)

        # Every family has HELP and TYPE lines.
        types = {"iocpd_build_info": "gauge", "iocpd_start_time_seconds": "gauge",
                 "iocpd_connections_active": "gauge", "iocpd_connections": "counter",
                 "iocpd_connections_rejected": "counter", "iocpd_accept_paused": "counter",
                 "iocpd_bytes": "counter", "iocpd_upstream_connect_failures": "counter",
                 "iocpd_upstream_up": "gauge",
                 "iocpd_connection_duration_seconds": "histogram",
                 "iocpd_access_log_dropped": "counter"}
        for name, kind in types.items():
            self.assertIn(name, families)
            self.assertEqual(families[name].type, kind, name)
            self.assertTrue(families[name].documentation, "%s has no HELP" % name)

        # The access log agrees: one line per accepted or rejected client.
        stop(self, d)
        recs = read_lines(sc.workdir)
        self.assertEqual(len(recs), k + n_denied + n_dead)
        self.assertEqual(sum(r["bytes_in"] for r in recs if r["listener"] == "echo"), total)

    @limited(60, 180)
    def test_udp(self, sc):
        say("UDP: 2 datagrams in a forward session, 1 beyond max_sessions, 3 denied on echo: "
            "the scrape shows them, every drop reason, and no connection family")
        up = sc.add(us.UdpEchoUpstream())
        d, ports, mport = start(sc, [
            udp_fwd("dns", [up.addr], max_sessions="1"),
            udp_echo("uecho", deny="127.0.0.0/8"),
            Listener("echo", "echo"),
        ], {})
        timeout = t.pick(5, 15)
        a = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        b = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.settimeout(timeout)
        for payload in (b"x" * 100, b"y" * 28):
            a.sendto(payload, ("127.0.0.1", ports["dns"]))
            self.assertEqual(a.recvfrom(65536)[0], payload)
        # A second client would be a second session: dropped, nothing back.
        b.sendto(b"z", ("127.0.0.1", ports["dns"]))
        for _ in range(3):
            b.sendto(b"denied", ("127.0.0.1", ports["uecho"]))
        b.settimeout(t.pick(0.5, 2))
        self.assertRaises(socket.timeout, b.recvfrom, 65536)
        deadline = time.monotonic() + timeout
        while True:
            values, families, _ = metrics(mport)
            dropped = {(l, r): value(values, "iocpd_udp_dropped_total", listener=l, reason=r)
                       for l, r in (("dns", "sessions"), ("uecho", "denied"))}
            if dropped == {("dns", "sessions"): 1, ("uecho", "denied"): 3}:
                break
            if time.monotonic() > deadline:
                break  # the assertions below say what is missing
            time.sleep(0.05)
        for l in ("dns", "uecho"):
            for r in ("denied", "sessions", "per_ip", "queue_full", "upstream", "no_memory"):
                want = {("dns", "sessions"): 1, ("uecho", "denied"): 3}.get((l, r), 0)
                self.assertEqual(value(values, "iocpd_udp_dropped_total", listener=l, reason=r),
                                 want, (l, r, dropped))
            for name in ("iocpd_connections_total", "iocpd_connections_active",
                         "iocpd_accept_paused_total"):
                self.assertNotIn((name, frozenset({"listener": l}.items())), values)
        for direction in ("out", "up", "down"):
            self.assertEqual(value(values, "iocpd_udp_datagrams_total", listener="dns",
                                   direction=direction), 2, direction)
            self.assertEqual(value(values, "iocpd_bytes_total", listener="dns",
                                   direction=direction), 128, direction)
        self.assertEqual(value(values, "iocpd_udp_datagrams_total", listener="uecho",
                               direction="out"), 0)
        self.assertEqual(value(values, "iocpd_udp_sessions_total", listener="dns"), 1)
        self.assertEqual(value(values, "iocpd_udp_sessions_open", listener="dns"), 1)
        self.assertEqual(value(values, "iocpd_connections_total", listener="echo"), 0)
        self.assertNotIn(("iocpd_udp_sessions_total", frozenset({"listener": "echo"}.items())),
                         values)
        for name, kind in (("iocpd_udp_datagrams", "counter"), ("iocpd_udp_dropped", "counter"),
                           ("iocpd_udp_sessions_open", "gauge"),
                           ("iocpd_udp_sessions", "counter")):
            self.assertEqual(families[name].type, kind, name)
            self.assertTrue(families[name].documentation, "%s has no HELP" % name)
        stop(self, d)

    @limited(90, 300)
    def test_bad_requests(self, sc):
        say("POST -> 405 with Allow, GET /other -> 404, garbage -> 400, an oversized "
            "head -> 431, a request that never ends -> 408 and closed in about 5 s")
        d, ports, mport = start(sc, [Listener("echo", "echo")], {})
        status, headers, body = scrape(mport, method="POST", data=b"a=b")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers["Allow"])
        self.assertEqual(headers["Connection"], "close")
        status, headers, body = scrape(mport, path="/other")
        self.assertEqual(status, 404)
        self.assertEqual(int(headers["Content-Length"]), len(body))
        status, headers, body = scrape(mport, method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertGreater(int(headers["Content-Length"]), 1000)
        status, _, _ = scrape(mport, path="/metrics?name[]=x")
        self.assertEqual(status, 200, "a query string is ignored")

        cases = [
            ("garbage", b"hello there\r\n\r\n", 400),
            ("binary", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64), 400),
            ("no colon", b"GET /metrics HTTP/1.1\r\nHost localhost\r\n\r\n", 400),
            ("HTTP/2", b"GET /metrics HTTP/2.0\r\n\r\n", 400),
            ("absolute", b"GET http://x/metrics HTTP/1.1\r\n\r\n", 400),
            ("lowercase method", b"get /metrics HTTP/1.1\r\n\r\n", 405),
            ("bare LF", b"GET /metrics HTTP/1.0\nHost: x\n\n", 200),
            ("oversized", b"GET /metrics HTTP/1.1\r\nX-Fill: " + b"a" * 9000 + b"\r\n\r\n", 431),
        ]
        for name, data, want in cases:
            with self.subTest(case=name):
                response, took, how = raw_request(mport, data)
                say("%-16s -> %s (%s after %.2f s)"
                    % (name, response.split(b"\r\n", 1)[0].decode("latin-1"), how, took))
                self.assertEqual(status_of(response), want, response[:200])
                self.assertIn(b"\r\nConnection: close\r\n", response)
                self.assertLess(took, 3, "answered but not closed promptly")

        # Slow requests: one that stops before its end, one that trickles a
        # byte every 0.5 s. Both are answered 408 and closed after about
        # 5 s from the connect, however much they still send.
        slow = {}

        def run(name, data, pause):
            slow[name] = raw_request(mport, data, pause=pause)

        ths = [threading.Thread(target=run, args=("stalled", b"GET /metrics HTTP/1.1\r\n", None)),
               threading.Thread(target=run, args=("trickle", b"GET /metrics HTTP/1.1\r\nX-A: "
                                                  + b"a" * 100, 0.5))]
        for th in ths:
            th.start()
        for th in ths:
            th.join(t.pick(20, 40))
        for name in ("stalled", "trickle"):
            self.assertIn(name, slow, "%s: no result" % name)
            response, took, how = slow[name]
            say("%-16s -> %s, closed after %.2f s" % (name, response.split(b"\r\n", 1)[0]
                                                      .decode("latin-1"), took))
            self.assertEqual(status_of(response), 408, response[:200])
            self.assertGreaterEqual(took, 4.5)
            self.assertLessEqual(took, t.pick(8, 12))

        # Only the configured address answers.
        other = socket.socket()
        other.settimeout(5)
        try:
            self.assertNotEqual(other.connect_ex(("127.0.0.2", mport)), 0,
                                "metrics answer on 127.0.0.2")
        finally:
            other.close()
        # And after all that it still serves.
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_connections_total", listener="echo"), 0)
        stop(self, d)


class StartFailureTest(unittest.TestCase):

    @limited(60, 180)
    def test_start_failures(self, sc):
        say("an access log in a missing directory, or a metrics_listen that is "
            "taken: exit 3 and a message naming it")
        os.makedirs(os.path.join(sc.workdir.path, CONF_DIR), exist_ok=True)
        port = free_port(socket.AF_INET)
        sc.workdir.write(CONFIG, config_text_for(
            [Listener("echo", "echo")], {"echo": port},
            {"access_log": "missing/access.log"}))
        r = t.run_cli(["run", "-c", CONFIG], sc.workdir)
        self.assertEqual(r.rc, 3, r)
        self.assertRegex(r.stderr, t.log_rx("error", r"access log: cannot open "
                                            r"conf/missing/access\.log: \S"))

        taken = socket.socket()
        try:
            taken.bind((t.HOST, 0))
            taken.listen(1)
            mport = taken.getsockname()[1]
            sc.workdir.write(CONFIG, config_text_for(
                [Listener("echo", "echo")], {"echo": port},
                {"metrics_listen": t.addr(mport)}))
            r = t.run_cli(["run", "-c", CONFIG], sc.workdir)
        finally:
            taken.close()
        self.assertEqual(r.rc, 3, r)
        self.assertRegex(r.stderr, t.log_rx("error", r"listener metrics_listen: .*%s"
                                            % re.escape(t.addr(mport))))


if __name__ == "__main__":
    t.main(time_limit=(90, 500))
