"""Observability, the access log ([service] access_log), driven through the
real iocpd.

AccessLogTest
  end_reasons         one daemon, one connection per way to end: client_fin
                      (echo and forward), upstream_fin, client_reset,
                      upstream_reset, connect_failed, idle_timeout (echo and
                      forward), handshake_timeout, denied, limit (per-IP)
                      and drain_abort (SIGINT with a short drain_timeout
                      while a client stays idle). Each gives exactly one
                      line with the right end reason, listener, client,
                      upstream, and byte counts equal to what the test sent
                      and received; time is the connection's end. While the
                      drain runs, the metrics endpoint still answers.
                      `shutdown` cannot be reached from the daemon: it
                      always drains before it destroys the engine, and the
                      drain aborts what is left as drain_abort, so no
                      connection is still open when `shutdown` would be
                      recorded (only an embedding program that destroys a
                      server without draining it sees that reason).
                      Under Wine a reset may be logged as the FIN of the
                      same side (see WINE_RESET_AS_FIN).
  rotation_under_load 2000 connections (Wine: 200) from 16 threads (Wine: 8)
                      with access_log_max_size = 8k (Wine: 2k): exactly one
                      whole, parseable line per connection across
                      access.log and access.log.N, each file within the
                      limit, and iocpd_access_log_dropped_total stays 0.
  rotation_keep       access_log_keep = 2: only access.log, .1 and .2 are
                      left, holding the newest lines.
  udp_session         a UDP forward session (protocol = udp) of three
                      datagrams each way gets one line when idle_timeout
                      ends it: the TCP keys, then proto=udp and its
                      datagram counts; UDP echo writes none, and a TCP
                      line beside it has no proto key.
  Every daemon here reads conf/iocpd.ini with `access_log = access.log`, run
  from the directory above conf/: the log is looked for in conf/, which
  shows that a relative path is relative to the config file's directory
  (harness/accesslog.py).

The metrics endpoint and start failures: test_observability_metrics.py.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_observability_access_log.py
[AccessLogTest.test_end_reasons ...]. Environment: see harness/env.py. The
metrics are parsed with the prometheus_client package (Debian:
python3-prometheus-client); an interpreter without it on its path gets
Debian's system copy added (harness/metrics.py).
"""

import sys

sys.dont_write_bytecode = True

import concurrent.futures
import os
import random
import socket
import threading
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.accesslog import (ACCESS_LOG, END_REASONS, LINE_WAIT, log_files, parse_line,
                               read_lines, start, stop, wait_lines)
from harness.clients import closed_cleanly, connect_until_end
from harness.config import Listener, fwd, udp_echo, udp_fwd
from harness.interop import connect_from
from harness.metrics import metrics, value
from harness.scope import limited, say
from harness.sockets import abort_close, sock_addr, wait_end

# Under Wine 8 a reset on an idle connection completes the zero-byte
# WSARecv the IOCP backend waits with successfully, and the recv that
# follows returns 0, as for a FIN (Windows completes it with
# WSAECONNRESET). The engine then records a FIN; under Wine that is
# accepted, with the bytes still checked exactly.
WINE_RESET_AS_FIN = {"client_reset": "client_fin", "upstream_reset": "upstream_fin"}

# A timeout of 1 s fires within this window.
TIMEOUT_WINDOW = t.pick(5, 10)


class AccessLogTest(unittest.TestCase):

    @limited(90, 300)
    def test_end_reasons(self, sc):
        say("one connection per end reason; each leaves one line with its reason and "
            "the bytes that really moved")
        up = sc.add(us.ManualUpstream())
        up_idle = sc.add(us.ManualUpstream())
        dead = sc.add(us.ClosedPort())
        listeners = [
            Listener("echo", "echo"),
            fwd("fwd", [up.addr]),
            fwd("dead", [dead.addr], connect_timeout="2s"),
            Listener("idle", "echo", idle_timeout="1s"),
            Listener("hs", "echo", handshake_timeout="1s"),
            Listener("deny", "echo", deny="127.0.0.1"),
            Listener("perip", "echo", max_connections_per_ip="1"),
            fwd("fwdidle", [up_idle.addr], idle_timeout="1s"),
            Listener("px", "echo", accept_proxy="v1", proxy_trusted="127.0.0.2"),
        ]
        service = {"access_log": ACCESS_LOG, "drain_timeout": t.pick("2s", "6s"),
                   "log_level": "debug"}
        d, ports, mport = start(sc, listeners, service)
        # Keyed by (listener, client address): where iocpd closes first, the
        # client's port is free at once, and Linux may give it to a later
        # connection to another listener.
        expected = {}  # (listener, client) -> expected fields
        window = {}    # (listener, client) -> (wall clock before, after) in ms

        def expect(client, began, listener, end, upstream="-", bytes_in=0, bytes_out=0,
                   bytes_up=0, bytes_down=0):
            expected[listener, client] = dict(listener=listener, upstream=upstream, bytes_in=bytes_in,
                                    bytes_out=bytes_out, bytes_up=bytes_up,
                                    bytes_down=bytes_down, end=end)
            window[listener, client] = (began, time.time() * 1000)

        # client_fin, echo: the client holds the connection 0.3 s, so the
        # duration and the end time can be told from the start.
        began = time.time() * 1000
        c = sc.connect(ports["echo"])
        payload = os.urandom(3000)
        c.sendall(payload)
        self.assertEqual(t.recv_exact(c, len(payload)), payload)
        time.sleep(0.3)
        client = sock_addr(c)
        self.assertEqual(closed_cleanly(c), b"")
        expect(client, began, "echo", "client_fin", bytes_in=3000, bytes_out=3000)

        # client_fin, forward: 20000 bytes up, 30000 down.
        began = time.time() * 1000
        c = sc.connect(ports["fwd"])
        u = up.accept(t.pick(5, 15)).sock
        a, b = os.urandom(20000), os.urandom(30000)
        c.sendall(a)
        c.shutdown(socket.SHUT_WR)
        self.assertEqual(t.recv_until_eof(u), a)
        u.sendall(b)
        u.close()
        self.assertEqual(t.recv_until_eof(c), b)
        client = sock_addr(c)
        c.close()
        expect(client, began, "fwd", "client_fin", up.addr, 20000, 30000, 20000, 30000)

        # upstream_fin: the upstream says all and closes first.
        began = time.time() * 1000
        c = sc.connect(ports["fwd"])
        u = up.accept(t.pick(5, 15)).sock
        a, b = os.urandom(15000), os.urandom(25000)
        u.sendall(b)
        u.shutdown(socket.SHUT_WR)
        self.assertEqual(t.recv_until_eof(c), b)
        c.sendall(a)
        c.shutdown(socket.SHUT_WR)
        self.assertEqual(t.recv_until_eof(u), a)
        u.close()
        client = sock_addr(c)
        c.close()
        expect(client, began, "fwd", "upstream_fin", up.addr, 15000, 25000, 15000, 25000)

        # client_reset: 10000 bytes reach the upstream, then RST.
        began = time.time() * 1000
        c = sc.connect(ports["fwd"])
        u = up.accept(t.pick(5, 15)).sock
        a = os.urandom(10000)
        c.sendall(a)
        self.assertEqual(t.recv_exact(u, len(a)), a)
        client = sock_addr(c)
        abort_close(c)
        wait_end(u, t.pick(5, 15))
        u.close()
        expect(client, began, "fwd", "client_reset", up.addr, bytes_in=10000, bytes_up=10000)

        # upstream_reset: 12000 bytes reach the client, then RST.
        began = time.time() * 1000
        c = sc.connect(ports["fwd"])
        u = up.accept(t.pick(5, 15)).sock
        b = os.urandom(12000)
        u.sendall(b)
        self.assertEqual(t.recv_exact(c, len(b)), b)
        abort_close(u)
        wait_end(c, t.pick(5, 15))
        client = sock_addr(c)
        c.close()
        expect(client, began, "fwd", "upstream_reset", up.addr, bytes_out=12000,
               bytes_down=12000)

        # connect_failed: the only upstream refuses.
        began = time.time() * 1000
        client, how, _ = connect_until_end(sc, ports["dead"], t.pick(10, 20))
        expect(client, began, "dead", "connect_failed")

        # idle_timeout, echo: one byte each way, then silence.
        began = time.time() * 1000
        c = sc.connect(ports["idle"])
        c.sendall(b"x")
        self.assertEqual(t.recv_exact(c, 1), b"x")
        wait_end(c, TIMEOUT_WINDOW)
        client = sock_addr(c)
        c.close()
        expect(client, began, "idle", "idle_timeout", bytes_in=1, bytes_out=1)

        # handshake_timeout: the client never says anything.
        began = time.time() * 1000
        c = sc.connect(ports["hs"])
        wait_end(c, TIMEOUT_WINDOW)
        client = sock_addr(c)
        c.close()
        expect(client, began, "hs", "handshake_timeout")

        # idle_timeout, forward: one byte up, then silence both ways.
        began = time.time() * 1000
        c = sc.connect(ports["fwdidle"])
        u = up_idle.accept(t.pick(5, 15)).sock
        c.sendall(b"y")
        self.assertEqual(t.recv_exact(u, 1), b"y")
        wait_end(c, TIMEOUT_WINDOW)
        client = sock_addr(c)
        c.close()
        wait_end(u, t.pick(5, 15))
        u.close()
        expect(client, began, "fwdidle", "idle_timeout", up_idle.addr, bytes_in=1, bytes_up=1)

        # denied: deny = 127.0.0.1.
        began = time.time() * 1000
        client, how, _ = connect_until_end(sc, ports["deny"], t.pick(5, 15))
        expect(client, began, "deny", "denied")

        # proxy_error: a trusted peer whose first bytes are no PROXY header.
        # From 127.0.0.2: a client port of 127.0.0.1 may come round again.
        began = time.time() * 1000
        c = sc.sock(connect_from("127.0.0.2", ports["px"]))
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wait_end(c, t.pick(5, 15))
        client = sock_addr(c)
        c.close()
        expect(client, began, "px", "proxy_error")

        # limit: a second connection from 127.0.0.1 while one is open.
        began = time.time() * 1000
        first = sc.connect(ports["perip"])
        first.sendall(b"1")
        self.assertEqual(t.recv_exact(first, 1), b"1")
        first_began = began
        began = time.time() * 1000
        client, how, _ = connect_until_end(sc, ports["perip"], t.pick(5, 15))
        expect(client, began, "perip", "limit")
        client = sock_addr(first)
        self.assertEqual(closed_cleanly(first), b"")
        expect(client, first_began, "perip", "client_fin", bytes_in=1, bytes_out=1)

        # drain_abort: a client that stays idle past drain_timeout.
        began = time.time() * 1000
        c = sc.connect(ports["echo"])
        c.sendall(b"abc")
        self.assertEqual(t.recv_exact(c, 3), b"abc")
        client = sock_addr(c)
        d.expect_exit = True
        d.interrupt()
        d.wait_log(t.log_rx("info", r"stop requested: 1 open connections"))
        # The metrics endpoint stays up during the drain.
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_connections_active", listener="echo"), 1)
        wait_end(c, t.pick(10, 20))
        c.close()
        rc = d.wait(t.pick(15, 30))
        self.assertEqual(rc, 0, d.stderr())
        self.assertIn("drain finished: drained 0, aborted 1", d.stderr())
        self.assertNotRegex(d.stderr(), r"AddressSanitizer|LeakSanitizer|runtime error:")
        expect(client, began, "echo", "drain_abort", bytes_in=3, bytes_out=3)

        recs = read_lines(sc.workdir)
        by_client = {}
        for r in recs:
            key = r["listener"], r["client"]
            self.assertNotIn(key, by_client, "two lines for %s on %s; all lines:\n%s"
                             % (key[1], key[0], "\n".join(str(r) for r in recs)))
            by_client[key] = r
        say("%d lines, %d connections" % (len(recs), len(expected)))
        self.assertEqual(sorted(by_client), sorted(expected),
                         "lines for other clients than the test's:\n%s"
                         % "\n".join(str(r) for r in recs))
        reasons = set()
        wrong = []
        for key, want in expected.items():
            r = by_client[key]
            client = "%s on %s" % (key[1], key[0])
            got = {k: r[k] for k in want}
            if t.WINE and want["end"] in WINE_RESET_AS_FIN and \
                    got == dict(want, end=WINE_RESET_AS_FIN[want["end"]]):
                say("%s: Wine reported the reset as a FIN (%s), see WINE_RESET_AS_FIN"
                    % (want["end"], got["end"]))
                got = want
            if got != want:
                wrong.append("%s (%s): got %s" % (client, want["end"], got))
                continue
            lo, hi = window[key]
            self.assertGreaterEqual(r["time_ms"], lo - 1000, "%s ended before it began" % client)
            self.assertLessEqual(r["time_ms"], hi + 1000, "%s: time %s is after the test "
                                 "saw the end" % (client, r["time"]))
            self.assertLessEqual(r["duration_ms"], hi - lo + 1000)
            self.assertGreaterEqual(r["time_ms"] - r["duration_ms"], lo - 1000,
                                    "%s: time is not start + duration" % client)
            reasons.add(want["end"])
        say("reasons seen: %s" % ", ".join(sorted(reasons)))
        self.assertEqual(wrong, [], "lines that differ from what happened")
        echo_fin = [r for c, r in by_client.items()
                    if expected[c]["end"] == "client_fin" and expected[c]["listener"] == "echo"]
        self.assertGreaterEqual(echo_fin[0]["duration_ms"], 250,
                                "a connection held 0.3 s lasted %d ms"
                                % echo_fin[0]["duration_ms"])
        if t.WINE:
            reasons |= set(WINE_RESET_AS_FIN) & {w["end"] for w in expected.values()}
        self.assertEqual(reasons, END_REASONS - {"shutdown"})

    @limited(120, 300)
    def test_rotation_under_load(self, sc):
        n = t.pick(2000, 200)
        threads = t.pick(16, 8)
        max_k = t.pick(8, 2)  # about 50 (Wine: 15) files of lines
        say("%d connections from %d threads, access_log_max_size = %dk: %d whole lines "
            "across the rotated files, none dropped" % (n, threads, max_k, n))
        d, ports, mport = start(sc, [Listener("echo", "echo")],
                                {"access_log": ACCESS_LOG, "access_log_max_size": "%dk" % max_k,
                                 "access_log_keep": "100"})
        sizes = {}
        lock = threading.Lock()
        rng = random.Random(1234)
        plan = [rng.randint(1, 200) for _ in range(n)]

        def worker(k):
            for i in range(k, n, threads):
                c = t.connect(ports["echo"])
                try:
                    data = os.urandom(plan[i])
                    c.sendall(data)
                    c.shutdown(socket.SHUT_WR)
                    got = t.recv_until_eof(c)
                    if got != data:
                        raise AssertionError("connection %d: echo differs" % i)
                    with lock:
                        sizes[sock_addr(c)] = len(data)
                finally:
                    c.close()

        began = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(worker, k) for k in range(threads)]:
                f.result()
        say("%d connections in %.1f s" % (n, time.monotonic() - began))
        self.assertEqual(len(sizes), n, "client addresses repeated")
        wait_lines(sc.workdir, n)
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_access_log_dropped_total"), 0)
        self.assertEqual(value(values, "iocpd_connections_total", listener="echo"), n)
        stop(self, d)

        files = log_files(sc.workdir)
        recs = read_lines(sc.workdir)
        numbers = sorted(int(name.rsplit(".", 1)[1]) for name in files if name != ACCESS_LOG)
        say("%d lines in %d files (access.log and .1 to .%d)"
            % (len(recs), len(files), numbers[-1] if numbers else 0))
        self.assertEqual(len(recs), n, "lines across the files")
        self.assertIn(ACCESS_LOG, files)
        self.assertEqual(numbers, list(range(1, len(numbers) + 1)), "gaps in the rotation")
        # A file is rotated before a line would take it past the limit, so
        # each is at least the limit less one line long.
        written = sum(len(data) for data in files.values())
        self.assertGreaterEqual(len(numbers), written // (max_k * 1024) - 1,
                                "too few rotations for %d bytes: %s" % (written, sorted(files)))
        for name, data in files.items():
            self.assertLessEqual(len(data), max_k * 1024, "%s is larger than %dk" % (name, max_k))
        seen = set()
        for r in recs:
            self.assertEqual(r["listener"], "echo")
            self.assertEqual(r["end"], "client_fin")
            self.assertIn(r["client"], sizes, "line for an unknown client")
            self.assertNotIn(r["client"], seen, "two lines for %s" % r["client"])
            seen.add(r["client"])
            size = sizes[r["client"]]
            self.assertEqual((r["bytes_in"], r["bytes_out"], r["bytes_up"], r["bytes_down"]),
                             (size, size, 0, 0), r["client"])

    @limited(60, 180)
    def test_udp_session(self, sc):
        say("a UDP forward session of 3 datagrams each way: one line with proto=udp and "
            "its datagram counts once idle_timeout ends it; none for UDP echo")
        up = sc.add(us.UdpEchoUpstream())
        d, ports, _ = start(sc, [
            udp_fwd("dns", [up.addr], idle_timeout="1s"),
            udp_echo("uecho"),
            Listener("echo", "echo"),
        ], {"access_log": ACCESS_LOG}, metrics_on=False)
        c = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        c.bind(("127.0.0.1", 0))  # so that its address is the one iocpd logs
        c.settimeout(t.pick(5, 15))
        sizes = [10, 200, 1400]
        began = time.time()
        for i, n in enumerate(sizes):
            payload = bytes([65 + i]) * n
            c.sendto(payload, ("127.0.0.1", ports["dns"]))
            self.assertEqual(c.recvfrom(65536), (payload, ("127.0.0.1", ports["dns"])))
        c.sendto(b"ping", ("127.0.0.1", ports["uecho"]))
        self.assertEqual(c.recvfrom(65536), (b"ping", ("127.0.0.1", ports["uecho"])))
        tcp = t.connect(ports["echo"])
        tcp.sendall(b"tcp")
        tcp.shutdown(socket.SHUT_WR)
        self.assertEqual(t.recv_until_eof(tcp), b"tcp")
        tcp.close()
        wait_lines(sc.workdir, 2, timeout=LINE_WAIT + 1)
        # Nothing more comes (UDP echo keeps no sessions): give it a moment.
        time.sleep(t.pick(0.5, 2))
        stop(self, d)
        recs = read_lines(sc.workdir)
        self.assertEqual(sorted(r["listener"] for r in recs), ["dns", "echo"], recs)
        udp = [r for r in recs if r["listener"] == "dns"][0]
        total = sum(sizes)
        self.assertEqual((udp["client"], udp["upstream"], udp["end"], udp["proxy"]),
                         (sock_addr(c), up.addr, "idle_timeout", "-"))
        self.assertEqual((udp["bytes_in"], udp["bytes_out"], udp["bytes_up"],
                          udp["bytes_down"]), (total, total, total, total))
        self.assertEqual((udp["proto"], udp["dgrams_in"], udp["dgrams_out"],
                          udp["dgrams_up"], udp["dgrams_down"]), ("udp", 3, 3, 3, 3))
        # It ended idle_timeout after its last datagram, within this run.
        self.assertGreaterEqual(udp["duration_ms"], 1000)
        self.assertGreaterEqual(udp["time_ms"] / 1000.0, began)
        self.assertLessEqual(udp["time_ms"] / 1000.0, time.time())
        tcp_rec = [r for r in recs if r["listener"] == "echo"][0]
        self.assertNotIn("proto", tcp_rec)
        self.assertEqual(up.received, 3)

    @limited(60, 240)
    def test_rotation_keep(self, sc):
        n = 40
        say("access_log_max_size = 1k, access_log_keep = 2, %d connections: exactly "
            "access.log, .1 and .2 remain, with the newest lines" % n)
        d, ports, _ = start(sc, [Listener("echo", "echo")],
                            {"access_log": ACCESS_LOG, "access_log_max_size": "1k",
                             "access_log_keep": "2"}, metrics_on=False)
        clients = []
        for i in range(n):
            c = t.connect(ports["echo"])
            clients.append(sock_addr(c))
            c.sendall(b"%d" % i)
            c.shutdown(socket.SHUT_WR)
            t.recv_until_eof(c)
            c.close()
        stop(self, d)
        files = log_files(sc.workdir)
        self.assertEqual(sorted(files), [ACCESS_LOG, ACCESS_LOG + ".1", ACCESS_LOG + ".2"])
        for name, data in files.items():
            self.assertLessEqual(len(data), 1024, name)
        kept = [r["client"] for r in read_lines(sc.workdir)]
        say("%d of %d lines kept" % (len(kept), n))
        self.assertLess(len(kept), n)
        self.assertNotIn(clients[0], kept, "the oldest line survived")
        current = [parse_line(l)["client"] for l in
                   files[ACCESS_LOG].decode().splitlines()]
        self.assertIn(clients[-1], current, "the newest line is not in access.log")


if __name__ == "__main__":
    t.main(time_limit=(120, 600))
