"""Observability: the access log ([service] access_log) and the Prometheus
endpoint ([service] metrics_listen), driven through the real iocpd.

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
  Every daemon here reads conf/iocpd.ini with `access_log = access.log`, run
  from the directory above conf/: the log is looked for in conf/, which
  shows that a relative path is relative to the config file's directory.

MetricsTest
  values              traffic of known size on echo, denied and dead-
                      upstream listeners; a scrape with urllib, parsed by
                      prometheus_client, shows exactly that traffic.
  bad_requests        405 (with Allow), 404, 400 for garbage, 431 for an
                      oversized head, 408 and close for a request that
                      never ends (also one sent a byte at a time); HEAD
                      works; only the configured address answers.

StartFailureTest      an access log that cannot be opened, and a
                      metrics_listen that cannot be bound, stop the start
                      with exit 3 and a message naming them.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_observability.py [CLASS
...]. Environment: see iocpdtest.py. The metrics are parsed with the
prometheus_client package (Debian: python3-prometheus-client); an
interpreter without it on its path gets Debian's system copy added.
"""

import sys

sys.dont_write_bytecode = True

import calendar
import concurrent.futures
import os
import random
import re
import socket
import threading
import time
import unittest
import urllib.error
import urllib.request

import iocpdtest as t
import test_forward as tf
import upstream_servers as us

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # A Python of its own (pyenv, a venv) does not see Debian's packages.
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families

say = tf.say
Listener = tf.Listener
fwd = tf.fwd

CONF_DIR = "conf"
CONFIG = CONF_DIR + "/iocpd.ini"
# Relative to the config file's directory, so the file lands in conf/.
ACCESS_LOG = "access.log"

LINE_KEYS = ["time", "listener", "client", "upstream", "bytes_in", "bytes_out",
             "bytes_up", "bytes_down", "duration_ms", "end"]
END_REASONS = {"client_fin", "upstream_fin", "client_reset", "upstream_reset",
               "idle_timeout", "handshake_timeout", "connect_failed", "denied",
               "limit", "drain_abort", "shutdown"}
PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"=]+)(?: |$)')
TIME_RX = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$")

# Under Wine 8 a reset on an idle connection completes the zero-byte
# WSARecv the IOCP backend waits with successfully, and the recv that
# follows returns 0, as for a FIN (Windows completes it with
# WSAECONNRESET). The engine then records a FIN; under Wine that is
# accepted, with the bytes still checked exactly.
WINE_RESET_AS_FIN = {"client_reset": "client_fin", "upstream_reset": "upstream_fin"}

# How long the daemon may take to write a line after the connection ended.
LINE_WAIT = t.pick(10, 30)
# A timeout of 1 s fires within this window.
TIMEOUT_WINDOW = t.pick(5, 10)


# ---------------------------------------------------------------------------
# The access log


def parse_line(line):
    """One access log line (without its newline) -> dict; raises
    ValueError unless it is logfmt with exactly LINE_KEYS in order."""
    pairs = []
    pos = 0
    while pos < len(line):
        m = PAIR.match(line, pos)
        if m is None:
            raise ValueError("not logfmt at column %d: %r" % (pos, line))
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        pairs.append((m.group(1), value))
        pos = m.end()
    if [k for k, _ in pairs] != LINE_KEYS:
        raise ValueError("keys %s, expected %s: %r" % ([k for k, _ in pairs], LINE_KEYS, line))
    rec = dict(pairs)
    m = TIME_RX.match(rec["time"])
    if m is None:
        raise ValueError("bad time %r" % rec["time"])
    y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
    rec["time_ms"] = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms
    for k in ("bytes_in", "bytes_out", "bytes_up", "bytes_down", "duration_ms"):
        if not rec[k].isdigit():
            raise ValueError("%s is not a number: %r" % (k, line))
        rec[k] = int(rec[k])
    if rec["end"] not in END_REASONS:
        raise ValueError("unknown end %r" % rec["end"])
    return rec


def log_files(workdir):
    """{name: bytes} of access.log and its rotated files."""
    d = os.path.join(workdir.path, CONF_DIR)
    out = {}
    for name in os.listdir(d):
        if name == ACCESS_LOG or name.startswith(ACCESS_LOG + "."):
            with open(os.path.join(d, name), "rb") as f:
                out[name] = f.read()
    return out


def read_lines(workdir, whole=True):
    """Every line of every log file, parsed. With whole, each file must end
    in a newline (nothing torn or half-written)."""
    recs = []
    for name, data in sorted(log_files(workdir).items()):
        if whole and data and not data.endswith(b"\n"):
            raise AssertionError("%s does not end in a newline: %r" % (name, data[-200:]))
        text = data.decode("utf-8")
        for line in text.split("\n")[:-1] if whole else text.split("\n"):
            if line:
                recs.append(parse_line(line))
    return recs


def wait_lines(workdir, count, timeout=LINE_WAIT):
    """Polls until the log files hold at least count lines; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            recs = read_lines(workdir)
        except (AssertionError, ValueError):
            recs = None  # a line being written right now
        if recs is not None and len(recs) >= count:
            return recs
        if time.monotonic() > deadline:
            raise AssertionError("%d access log lines after %g s, expected %d"
                                 % (len(recs or []), timeout, count))
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# Metrics


def scrape(port, path="/metrics", method="GET", data=None):
    """(status, headers, body) of one request with urllib, a real HTTP
    client; error statuses are returned, not raised."""
    req = urllib.request.Request("http://%s%s" % (t.addr(port), path), data=data,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=t.pick(10, 30)) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, e.headers, body


def metrics(port):
    """The parsed scrape: {(sample name, frozenset(labels.items())): value},
    and the families by name."""
    status, headers, body = scrape(port)
    if status != 200:
        raise AssertionError("GET /metrics: %d %r" % (status, body[:200]))
    families = {}
    values = {}
    for fam in text_string_to_metric_families(body.decode("utf-8")):
        families[fam.name] = fam
        for s in fam.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values, families, headers


def value(values, name, **labels):
    key = (name, frozenset(labels.items()))
    if key not in values:
        raise AssertionError("no sample %s%s" % (name, labels))
    return values[key]


def raw_request(port, data, timeout=None, pause=None):
    """Sends data (or, with pause, one byte every pause seconds) on a plain
    socket and reads until the server closes. Returns (response bytes,
    seconds from connect to the close, "eof" or "reset")."""
    if timeout is None:
        timeout = t.pick(15, 30)
    s = t.connect(port, timeout=timeout)
    began = time.monotonic()
    got = []
    how = "eof"
    stop = threading.Event()

    def drip():
        try:
            for i in range(len(data)):
                if stop.wait(pause):
                    return
                s.sendall(data[i:i + 1])
        except OSError:
            pass

    try:
        if pause is None:
            s.sendall(data)
        else:
            th = threading.Thread(target=drip, daemon=True)
            th.start()
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, ConnectionAbortedError):
                how = "reset"
                break
            if not chunk:
                break
            got.append(chunk)
    finally:
        stop.set()
        s.close()
    return b"".join(got), time.monotonic() - began, how


def status_of(response):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------
# The daemon


def start(sc, listeners, service, metrics_on=True):
    """Writes conf/iocpd.ini (listeners on fresh ports, [service] keys in
    order, metrics_listen on a fresh port if metrics_on) and runs `iocpd run
    -c conf/iocpd.ini` in the scope's work directory until it logs that it
    runs. Returns (daemon, {listener: port}, metrics port or None)."""
    os.makedirs(os.path.join(sc.workdir.path, CONF_DIR), exist_ok=True)

    def launch():
        ports = {l.name: tf.free_port(l.family) for l in listeners}
        svc = dict(service)
        mport = None
        if metrics_on:
            mport = tf.free_port(socket.AF_INET)
            svc["metrics_listen"] = t.addr(mport)
        sc.workdir.write(CONFIG, tf.config_text(listeners, ports, svc))
        d = t.Daemon(sc.workdir, ["run", "-c", CONFIG])
        d.expect_exit = False
        sc.daemons.append(d)
        return d, (d, ports, mport)

    return t.start_on_fresh_ports(launch, t.wait_running)


def stop(tc, d, timeout=None):
    """SIGINT, then the exit code must be 0; returns stderr."""
    d.expect_exit = True
    d.interrupt()
    rc = d.wait(timeout or t.pick(20, 60))
    tc.assertEqual(rc, 0, "iocpd did not stop cleanly\n%s" % d.stderr())
    err = d.stderr()
    tc.assertNotRegex(err, r"AddressSanitizer|LeakSanitizer|runtime error:")
    tc.assertNotIn("lines were lost", err)
    return err


def closed_cleanly(sock):
    """Half-closes, reads the rest until EOF, closes; returns what came."""
    sock.shutdown(socket.SHUT_WR)
    got = t.recv_until_eof(sock)
    sock.close()
    return got


# ---------------------------------------------------------------------------
# The tests


class AccessLogTest(unittest.TestCase):

    @tf.limited(90, 300)
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
        ]
        service = {"access_log": ACCESS_LOG, "drain_timeout": t.pick("2s", "6s"),
                   "log_level": "debug"}
        d, ports, mport = start(sc, listeners, service)
        expected = {}  # client address -> expected fields
        window = {}    # client address -> (wall clock before, after) in ms

        def expect(client, began, listener, end, upstream="-", bytes_in=0, bytes_out=0,
                   bytes_up=0, bytes_down=0):
            expected[client] = dict(listener=listener, upstream=upstream, bytes_in=bytes_in,
                                    bytes_out=bytes_out, bytes_up=bytes_up,
                                    bytes_down=bytes_down, end=end)
            window[client] = (began, time.time() * 1000)

        # client_fin, echo: the client holds the connection 0.3 s, so the
        # duration and the end time can be told from the start.
        began = time.time() * 1000
        c = sc.connect(ports["echo"])
        payload = os.urandom(3000)
        c.sendall(payload)
        self.assertEqual(t.recv_exact(c, len(payload)), payload)
        time.sleep(0.3)
        client = tf.sock_addr(c)
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
        client = tf.sock_addr(c)
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
        client = tf.sock_addr(c)
        c.close()
        expect(client, began, "fwd", "upstream_fin", up.addr, 15000, 25000, 15000, 25000)

        # client_reset: 10000 bytes reach the upstream, then RST.
        began = time.time() * 1000
        c = sc.connect(ports["fwd"])
        u = up.accept(t.pick(5, 15)).sock
        a = os.urandom(10000)
        c.sendall(a)
        self.assertEqual(t.recv_exact(u, len(a)), a)
        client = tf.sock_addr(c)
        tf.abort_close(c)
        tf.wait_end(u, t.pick(5, 15))
        u.close()
        expect(client, began, "fwd", "client_reset", up.addr, bytes_in=10000, bytes_up=10000)

        # upstream_reset: 12000 bytes reach the client, then RST.
        began = time.time() * 1000
        c = sc.connect(ports["fwd"])
        u = up.accept(t.pick(5, 15)).sock
        b = os.urandom(12000)
        u.sendall(b)
        self.assertEqual(t.recv_exact(c, len(b)), b)
        tf.abort_close(u)
        tf.wait_end(c, t.pick(5, 15))
        client = tf.sock_addr(c)
        c.close()
        expect(client, began, "fwd", "upstream_reset", up.addr, bytes_out=12000,
               bytes_down=12000)

        # connect_failed: the only upstream refuses.
        began = time.time() * 1000
        client, how, _ = tf.connect_until_end(sc, ports["dead"], t.pick(10, 20))
        expect(client, began, "dead", "connect_failed")

        # idle_timeout, echo: one byte each way, then silence.
        began = time.time() * 1000
        c = sc.connect(ports["idle"])
        c.sendall(b"x")
        self.assertEqual(t.recv_exact(c, 1), b"x")
        tf.wait_end(c, TIMEOUT_WINDOW)
        client = tf.sock_addr(c)
        c.close()
        expect(client, began, "idle", "idle_timeout", bytes_in=1, bytes_out=1)

        # handshake_timeout: the client never says anything.
        began = time.time() * 1000
        c = sc.connect(ports["hs"])
        tf.wait_end(c, TIMEOUT_WINDOW)
        client = tf.sock_addr(c)
        c.close()
        expect(client, began, "hs", "handshake_timeout")

        # idle_timeout, forward: one byte up, then silence both ways.
        began = time.time() * 1000
        c = sc.connect(ports["fwdidle"])
        u = up_idle.accept(t.pick(5, 15)).sock
        c.sendall(b"y")
        self.assertEqual(t.recv_exact(u, 1), b"y")
        tf.wait_end(c, TIMEOUT_WINDOW)
        client = tf.sock_addr(c)
        c.close()
        tf.wait_end(u, t.pick(5, 15))
        u.close()
        expect(client, began, "fwdidle", "idle_timeout", up_idle.addr, bytes_in=1, bytes_up=1)

        # denied: deny = 127.0.0.1.
        began = time.time() * 1000
        client, how, _ = tf.connect_until_end(sc, ports["deny"], t.pick(5, 15))
        expect(client, began, "deny", "denied")

        # limit: a second connection from 127.0.0.1 while one is open.
        began = time.time() * 1000
        first = sc.connect(ports["perip"])
        first.sendall(b"1")
        self.assertEqual(t.recv_exact(first, 1), b"1")
        first_began = began
        began = time.time() * 1000
        client, how, _ = tf.connect_until_end(sc, ports["perip"], t.pick(5, 15))
        expect(client, began, "perip", "limit")
        client = tf.sock_addr(first)
        self.assertEqual(closed_cleanly(first), b"")
        expect(client, first_began, "perip", "client_fin", bytes_in=1, bytes_out=1)

        # drain_abort: a client that stays idle past drain_timeout.
        began = time.time() * 1000
        c = sc.connect(ports["echo"])
        c.sendall(b"abc")
        self.assertEqual(t.recv_exact(c, 3), b"abc")
        client = tf.sock_addr(c)
        d.expect_exit = True
        d.interrupt()
        d.wait_log(t.log_rx("info", r"stop requested: 1 open connections"))
        # The metrics endpoint stays up during the drain.
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_connections_active", listener="echo"), 1)
        tf.wait_end(c, t.pick(10, 20))
        c.close()
        rc = d.wait(t.pick(15, 30))
        self.assertEqual(rc, 0, d.stderr())
        self.assertIn("drain finished: drained 0, aborted 1", d.stderr())
        self.assertNotRegex(d.stderr(), r"AddressSanitizer|LeakSanitizer|runtime error:")
        expect(client, began, "echo", "drain_abort", bytes_in=3, bytes_out=3)

        recs = read_lines(sc.workdir)
        by_client = {}
        for r in recs:
            self.assertNotIn(r["client"], by_client, "two lines for %s" % r["client"])
            by_client[r["client"]] = r
        say("%d lines, %d connections" % (len(recs), len(expected)))
        self.assertEqual(sorted(by_client), sorted(expected),
                         "lines for other clients than the test's:\n%s"
                         % "\n".join(str(r) for r in recs))
        reasons = set()
        wrong = []
        for client, want in expected.items():
            r = by_client[client]
            got = {k: r[k] for k in want}
            if t.WINE and want["end"] in WINE_RESET_AS_FIN and \
                    got == dict(want, end=WINE_RESET_AS_FIN[want["end"]]):
                say("%s: Wine reported the reset as a FIN (%s), see WINE_RESET_AS_FIN"
                    % (want["end"], got["end"]))
                got = want
            if got != want:
                wrong.append("%s (%s): got %s" % (client, want["end"], got))
                continue
            lo, hi = window[client]
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

    @tf.limited(120, 300)
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
                        sizes[tf.sock_addr(c)] = len(data)
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

    @tf.limited(60, 240)
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
            clients.append(tf.sock_addr(c))
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


class MetricsTest(unittest.TestCase):

    @tf.limited(90, 300)
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
            tf.connect_until_end(sc, ports["deny"], t.pick(5, 15))
        for _ in range(n_dead):
            tf.connect_until_end(sc, ports["dead"], t.pick(10, 20))

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

    @tf.limited(90, 300)
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

    @tf.limited(60, 180)
    def test_start_failures(self, sc):
        say("an access log in a missing directory, or a metrics_listen that is "
            "taken: exit 3 and a message naming it")
        os.makedirs(os.path.join(sc.workdir.path, CONF_DIR), exist_ok=True)
        port = tf.free_port(socket.AF_INET)
        sc.workdir.write(CONFIG, tf.config_text(
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
            sc.workdir.write(CONFIG, tf.config_text(
                [Listener("echo", "echo")], {"echo": port},
                {"metrics_listen": t.addr(mport)}))
            r = t.run_cli(["run", "-c", CONFIG], sc.workdir)
        finally:
            taken.close()
        self.assertEqual(r.rc, 3, r)
        self.assertRegex(r.stderr, t.log_rx("error", r"listener metrics_listen: .*%s"
                                            % re.escape(t.addr(mport))))


if __name__ == "__main__":
    t.main(time_limit=(150, 900))
