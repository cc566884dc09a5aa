"""Port forwarding: `handler = forward` relays each client connection to an
upstream, both ways, and these sub-tests check that it does so faithfully.

  integrity_bulk        64 MiB each way at once (Wine: 8 MiB), sha256 on
                        both ends, clean EOF on both ends
  integrity_concurrent  100 relayed connections at once (Wine: 20) to an echo
                        upstream, random write sizes, each byte-exact
  backpressure          a slow upstream reader slows the client down, every
                        byte arrives, and (natively) the relay's resident
                        memory stays within what buffer_size allows
  half_close_*          a FIN is passed on after every byte before it, and
                        the other direction keeps flowing
  client_rst / upstream_rst
                        a reset on one side ends the other side within 1 s,
                        and the relay keeps no socket of that pair
  refused_*, blackhole  connect failures move on to the next upstream; when
                        none is left the client is closed and a warning names
                        each upstream and its error
  round_robin           sequential clients are spread over the upstreams
  idle_timeout          a silent connection is closed on both sides, a
                        talking one is not (forward and echo listeners)
  ipv4_to_ipv6 / ipv6_to_ipv4 (class ForwardIPv6Test)
                        relaying across address families
  graceful_stop         SIGINT drains relayed transfers to completion
  config_errors         check-config on forward-specific mistakes

Every sub-test starts its own daemon and upstreams (Python servers from
upstream_servers.py), prints what it checks, has its own time limit (when it
passes, its sockets are shut down, its daemon killed and the test fails) and
releases everything in a finally block.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_forward.py [ForwardTest |
ForwardIPv6Test | ForwardTest.test_round_robin ...]. Selecting only
ForwardIPv6Test exits 77 (skipped) when ::1 is not available. If the binary
does not accept `handler = forward` yet, the script says "forward not
supported" and exits 1 at once. Environment: see iocpdtest.py; also
IOCPD_TEST_SEED (repeat a run's random data) and IOCPD_WINE_NO_CTRL_C=1 (skip
graceful_stop under Wine)."""

import sys

sys.dont_write_bytecode = True

import functools
import hashlib
import os
import random
import re
import selectors
import socket
import threading
import time
import unittest

import iocpdtest as t
import upstream_servers as us

SEED = int(os.environ.get("IOCPD_TEST_SEED", "0")) or random.randrange(1, 1 << 30)
KiB = 1 << 10
MiB = 1 << 20

# Sizes. Under Wine every socket operation goes through the wineserver, so
# loads are smaller; the checks are the same.
BULK_BYTES = t.pick(64 * MiB, 8 * MiB)
CONCURRENT = t.pick(100, 20)
CONCURRENT_BYTES = t.pick(256 * KiB, 64 * KiB)
CONCURRENT_MAX_WRITE = 64 * KiB

# Backpressure: the client sends BP_BYTES to an upstream reading BP_RATE
# bytes/s. The kernel alone holds several MiB on the way: measured here, the
# relay's socket towards the upstream autotunes its send queue up to about
# 3.8 MiB natively (tcp_wmem max is 4 MiB) and 2.8 MiB under Wine, plus a
# few hundred KiB in the other buffers. So the load must be far larger than
# that (4 MiB would pass through kernel buffers alone, relay or not), and
# BP_SLACK, a generous bound on what those buffers can hold, is subtracted
# before computing how long the client must at least be held up. At 256
# KiB/s, 32 MiB would take 128 s, more than the whole native budget: the
# rate is 2 MiB/s natively (32 MiB in 16 s) and 1 MiB/s under Wine (16 MiB
# in 16 s; Wine relays bulk data fast enough, the limit there is time).
BP_BYTES = t.pick(32 * MiB, 16 * MiB)
BP_RATE = t.pick(2 * MiB, 1 * MiB)
BP_SLACK = t.pick(12 * MiB, 8 * MiB)
BP_BUFFER = 64 * KiB
# Resident memory the relay may add beyond its buffers (allocator slack,
# thread stacks touched, log formatting).
RSS_ALLOWANCE = 8 * MiB

HALF_BYTES = 1 * MiB
# A reset on one side must end the other side within this many seconds.
RST_WITHIN = t.pick(1.0, 1.0)
# How long a closed connection may take to disappear from the relay.
RELEASE_WITHIN = t.pick(2.0, 5.0)
# Timing windows for timeouts of about 1 s (connect_timeout, idle_timeout).
ONE_SECOND_WINDOW = (0.8, t.pick(3.0, 4.0))

STOP_CLIENTS = 5
STOP_BYTES = t.pick(2 * MiB, 512 * KiB)
STOP_CHUNK = 64 * KiB
STOP_PAUSE = t.pick(0.04, 0.15)

IPV6 = us.ipv6_loopback_available()


def say(text):
    sys.stderr.write("    %s\n" % text)
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# Config and daemon


class Listener:
    """One [listener:NAME] section: listen address family, handler, and
    further keys written in order (values as text)."""

    def __init__(self, name, handler="forward", family=socket.AF_INET, **keys):
        self.name = name
        self.handler = handler
        self.family = family
        self.keys = keys


def fwd(name, upstreams, family=socket.AF_INET, **keys):
    """A forward listener to the given upstream addresses."""
    keys = dict(upstream=", ".join(upstreams), **keys)
    return Listener(name, "forward", family, **keys)


def config_text(listeners, ports, service):
    lines = []
    if service:
        lines.append("[service]")
        for k, v in service.items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    for l in listeners:
        lines.append("[listener:%s]" % l.name)
        lines.append("listen = %s" % us.format_addr(l.family, ports[l.name]))
        lines.append("handler = %s" % l.handler)
        for k, v in l.keys.items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    return "\n".join(lines)


def free_port(family):
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((us.loopback(family), 0))
        return s.getsockname()[1]
    finally:
        s.close()


def connect(family, port, timeout=None, sndbuf=None):
    """A blocking client socket connected to the loopback port."""
    if timeout is None:
        timeout = t.pick(20, 60)
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sndbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        s.settimeout(timeout)
        s.connect((us.loopback(family), port))
    except BaseException:
        s.close()
        raise
    return s


def abort_close(sock):
    """Closes with SO_LINGER 0: the peer gets a RST."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def wait_end(sock, timeout):
    """Reads (and drops) until the peer's FIN or a reset; returns ("eof" or
    "reset", seconds waited) or fails after timeout."""
    began = time.monotonic()
    deadline = began + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("connection still open after %g s" % timeout)
        sock.settimeout(left)
        try:
            data = sock.recv(262144)
        except socket.timeout:
            continue
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return "reset", time.monotonic() - began
        if not data:
            return "eof", time.monotonic() - began


def sanitized_binary():
    """True if IOCPD_BIN is built with AddressSanitizer (its runtime or its
    hooks are named in the file)."""
    try:
        with open(os.environ.get("IOCPD_BIN", ""), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def connect_until_end(sc, port, timeout):
    """Connects a client that sends nothing and waits for the relay to end
    it. Returns (the client's address, "eof" or "reset", seconds from the
    start of connect). The client is bound before connecting so that its
    address is known even when the relay resets it so early that connect()
    itself reports the reset (the RST arrived between the handshake and the
    check of the connect's result)."""
    c = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    c.bind((t.HOST, 0))
    client = sock_addr(c)
    c.settimeout(timeout)
    began = time.monotonic()
    try:
        c.connect((t.HOST, port))
    except (ConnectionResetError, ConnectionAbortedError):
        return client, "reset during connect", time.monotonic() - began
    how, _ = wait_end(c, timeout)
    c.close()
    return client, how, time.monotonic() - began


def vm_rss(pid):
    """Resident set size of pid in bytes, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


# ---------------------------------------------------------------------------
# Sockets the relay still holds, from /proc/net/tcp{,6} (Wine uses host
# sockets, so this works for both builds).

TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
              "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK",
              "0A": "LISTEN", "0B": "CLOSING"}
# A socket in one of these states is still open in the process holding it.
OPEN_STATES = {"ESTABLISHED", "SYN_SENT", "SYN_RECV", "CLOSE_WAIT"}


def tcp_table():
    """(local port, remote port, state, inode) of every TCP socket."""
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            lport = int(fields[1].rsplit(":", 1)[1], 16)
            rport = int(fields[2].rsplit(":", 1)[1], 16)
            rows.append((lport, rport, TCP_STATES.get(fields[3], fields[3]), fields[9]))
    return rows


def own_socket_inodes():
    """Inodes of the sockets this test process holds."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def relay_open_sockets(listen_port, upstream_ports):
    """The relay's sockets that are still open: accepted ones (local port =
    the listen port) and upstream ones (remote port = an upstream port).
    Sockets of this test process (clients, upstream servers, blackhole
    fillers) are not counted."""
    ours = own_socket_inodes()
    return [(lp, rp, st) for lp, rp, st, inode in tcp_table()
            if st in OPEN_STATES and inode not in ours
            and (lp == listen_port or rp in upstream_ports)]


# ---------------------------------------------------------------------------
# Per-sub-test resources and time limit


class Task:
    """A thread running fn() whose exception is kept in .error."""

    def __init__(self, fn, name):
        self.error = None
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True, name=name)
        self.thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def join(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()


class Scope:
    """Everything one sub-test opens. abort() (the time limit) shuts every
    socket down and kills the daemons so that blocked calls return; close()
    releases everything and reports threads that did not end."""

    def __init__(self, name, limit):
        self.name = name
        self.limit = limit
        self.expired = False
        self.workdir = t.Workdir()
        self.daemons = []
        self.upstreams = []
        self.sockets = []
        self.tasks = []
        self._timer = threading.Timer(limit, self.abort)
        self._timer.daemon = True
        self._timer.start()

    def add(self, upstream):
        self.upstreams.append(upstream)
        return upstream

    def sock(self, s):
        self.sockets.append(s)
        return s

    def connect(self, port, family=socket.AF_INET, **kw):
        return self.sock(connect(family, port, **kw))

    def task(self, fn, name="task"):
        tk = Task(fn, "%s-%s" % (self.name, name))
        self.tasks.append(tk)
        return tk

    def abort(self):
        self.expired = True
        sys.stderr.write("\n%s: time limit of %g s exceeded: aborting it\n"
                         % (self.name, self.limit))
        for s in list(self.sockets):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for u in list(self.upstreams):
            try:
                u.close()
            except Exception:  # noqa: BLE001
                pass
        for d in list(self.daemons):
            try:
                sys.stderr.write("--- iocpd stderr (tail) ---\n%s\n" % d.stderr()[-3000:])
                d.kill(grace=0.5)
            except Exception:  # noqa: BLE001
                pass

    def close(self):
        self._timer.cancel()
        stuck = []
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        for u in self.upstreams:
            stuck += u.close()
        for d in self.daemons:
            d.kill()
        for tk in self.tasks:
            if not tk.join(5.0):
                stuck.append(tk.thread.name)
        self.workdir.cleanup()
        return stuck

    # -- the daemon

    def start(self, listeners, service=None):
        """Writes the config and runs `iocpd run` until it logs that it is
        running (every listener is bound then). The readiness check is the
        log line, not a probe connection: a probe would be relayed to an
        upstream and disturb the test. Returns (daemon, {name: port})."""
        service = dict({"log_level": "debug"}, **(service or {}))

        def launch():
            ports = {l.name: free_port(l.family) for l in listeners}
            self.workdir.write("iocpd.ini", config_text(listeners, ports, service))
            d = t.Daemon(self.workdir, ["run", "-c", "iocpd.ini"])
            d.expect_exit = False
            self.daemons.append(d)
            return d, (d, ports)

        d, ports = t.start_on_fresh_ports(launch, t.wait_running)
        d.base_fds = None if t.WINE else fd_count(d.pid)
        return d, ports

    def check_daemons(self):
        for d in self.daemons:
            if not d.expect_exit and not d.running():
                raise AssertionError("iocpd died during the test (exit %r)\n--- stderr ---\n%s"
                                     % (d.proc.returncode, d.stderr()))


def limited(native, wine):
    """Runs the test method as fn(self, scope) with a Scope whose time limit
    is native or wine seconds."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self):
            name = fn.__name__[len("test_"):]
            limit = t.pick(native, wine)
            sc = Scope(name, limit)
            began = time.monotonic()
            failure = None
            try:
                fn(self, sc)
                sc.check_daemons()
            except BaseException as e:
                failure = e
            finally:
                stuck = sc.close()
            took = time.monotonic() - began
            say("(%s took %.1f s)" % (name, took))
            if sc.expired:
                raise AssertionError("%s exceeded its time limit of %g s" % (name, limit)) \
                    from failure
            if failure is not None:
                raise failure
            if stuck:
                raise AssertionError("threads still running after the test: %s" % stuck)
        return wrapper
    return deco


def fd_count(pid):
    """Open file descriptors of pid, or None if it cannot be read."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def assert_released(tc, sc, listen_port, upstream_ports):
    """Fails if, RELEASE_WITHIN seconds from now, the relay still holds an
    open socket of the listener or towards the upstreams, or (natively) has
    more file descriptors open than right after it started. The second check
    catches a socket that was never closed although both of its directions
    ended (TCP then shows no open state for it). Under Wine a socket's
    descriptors are spread over the Wine process and the wineserver, so only
    the TCP states are checked there."""
    deadline = time.monotonic() + RELEASE_WITHIN
    while True:
        left = relay_open_sockets(listen_port, set(upstream_ports))
        fds = {}
        for d in sc.daemons:
            base = getattr(d, "base_fds", None)
            now = fd_count(d.pid) if d.running() else None
            if base is not None and now is not None and now > base:
                fds[d.pid] = (base, now)
        if not left and not fds:
            return
        if time.monotonic() > deadline:
            if left:
                tc.fail("the relay still holds %d socket(s) %g s after the connections "
                        "ended (local port, remote port, state): %s"
                        % (len(left), RELEASE_WITHIN, left))
            pid, (base, now) = next(iter(fds.items()))
            targets = []
            try:
                for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
                    targets.append("%s->%s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
            except OSError:
                pass
            tc.fail("the relay has %d file descriptors open %g s after every connection "
                    "ended, %d right after it started (a socket not closed?): %s"
                    % (now, RELEASE_WITHIN, base, " ".join(targets[:24])
                       + (" ..." if len(targets) > 24 else "")))
        time.sleep(0.05)


def relaying_rx(listener, client, upstream):
    return t.log_rx("debug", r"listener %s: relaying %s to %s\s" % (
        re.escape(listener), re.escape(client), re.escape(upstream)))


def sock_addr(sock):
    host, port = sock.getsockname()[:2]
    return us.format_addr(sock.family, port) if host in ("127.0.0.1", "::1") \
        else "%s:%d" % (host, port)


# ---------------------------------------------------------------------------
# The tests


class ForwardTest(unittest.TestCase):
    maxDiff = 4000

    # -- integrity

    @limited(50, 150)
    def test_integrity_bulk_both_ways(self, sc):
        say("%d MiB each way at the same time through the relay; sha256 of each "
            "direction must match on both ends, both ends see a clean EOF"
            % (BULK_BYTES // MiB))
        up = sc.add(us.ExchangeUpstream(BULK_BYTES, SEED + 1000))
        d, ports = sc.start([fwd("bulk", [up.addr])])
        c = sc.connect(ports["bulk"])
        source = us.StreamSource(BULK_BYTES, SEED)
        got = us.StreamResult()
        began = time.monotonic()
        deadline = began + sc.limit - 5
        sender = sc.task(lambda: us.send_stream(c, source), "send")
        us.recv_stream(c, got, deadline)
        self.assertTrue(sender.join(max(0.1, deadline - time.monotonic())), "client still sending")
        took = time.monotonic() - began
        self.assertTrue(up.wait_count(1, 1), "upstream got no connection")
        conn = up.snapshot()[0]
        self.assertTrue(conn.done.wait(max(0.1, deadline - time.monotonic())),
                        "upstream did not finish: received %r" % conn.received)
        say("relayed %d MiB both ways in %.2f s" % (BULK_BYTES // MiB, took))
        self.assertIsNone(sender.error, "client send failed")
        self.assertIsNone(got.error, "client receive failed")
        self.assertIsNone(conn.send_error, "upstream send failed")
        self.assertIsNone(conn.received.error, "upstream receive failed")
        self.assertEqual(conn.received.count, BULK_BYTES, "bytes at the upstream")
        self.assertEqual(conn.received.hexdigest(), source.hexdigest(),
                         "client -> upstream bytes differ (seed %d)" % SEED)
        self.assertTrue(conn.received.eof, "upstream saw no clean EOF")
        self.assertEqual(got.count, BULK_BYTES, "bytes at the client")
        self.assertEqual(got.hexdigest(), conn.sent_hash,
                         "upstream -> client bytes differ (seed %d)" % SEED)
        self.assertTrue(got.eof, "client saw no clean EOF")
        self.assertEqual(up.count(), 1)
        assert_released(self, sc, ports["bulk"], [up.port])

    @limited(50, 150)
    def test_integrity_concurrent_echo(self, sc):
        say("%d concurrent relayed connections to an echo upstream, %d KiB each "
            "in random writes of 1..%d KiB; every connection byte-exact"
            % (CONCURRENT, CONCURRENT_BYTES // KiB, CONCURRENT_MAX_WRITE // KiB))
        up = sc.add(us.EchoUpstream(max_conns=CONCURRENT + 10))
        d, ports = sc.start([fwd("many", [up.addr])], service={"log_level": "info"})
        sel = selectors.DefaultSelector()
        clients = []
        try:
            for i in range(CONCURRENT):
                s = sc.connect(ports["many"])
                s.setblocking(False)
                c = _EchoClient(i, s)
                clients.append(c)
                sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            open_count = len(clients)
            deadline = time.monotonic() + sc.limit - 5
            while open_count:
                if time.monotonic() > deadline:
                    stuck = [c for c in clients if not c.ended]
                    self.fail("%d of %d clients unfinished, e.g. client %d sent %d "
                              "received %d" % (len(stuck), CONCURRENT, stuck[0].index,
                                               stuck[0].sent, stuck[0].received))
                for key, events in sel.select(timeout=0.5):
                    c = key.data
                    if events & selectors.EVENT_READ:
                        c.on_readable()
                    if events & selectors.EVENT_WRITE and not c.shut:
                        c.on_writable()
                    if c.ended:
                        sel.unregister(c.sock)
                        open_count -= 1
                    elif c.shut:
                        sel.modify(c.sock, selectors.EVENT_READ, c)
        finally:
            sel.close()
        for c in clients:
            self.assertIsNone(c.error, "client %d (seed %d)" % (c.index, SEED))
            self.assertEqual(c.sent, CONCURRENT_BYTES)
            self.assertEqual(c.received, c.sent, "client %d length" % c.index)
            self.assertEqual(c.recv_hash.hexdigest(), c.sent_hash.hexdigest(),
                             "client %d (seed %d) got different bytes back" % (c.index, SEED))
        self.assertEqual(up.count(), CONCURRENT, "upstream connections")
        for s in sc.sockets:
            s.close()
        assert_released(self, sc, ports["many"], [up.port])

    # -- backpressure

    @limited(60, 90)
    def test_backpressure(self, sc):
        expect = BP_BYTES / BP_RATE
        lower = (BP_BYTES - BP_SLACK) / BP_RATE
        say("client sends %d MiB to an upstream reading %d KiB/s through a relay "
            "with buffer_size %dk: all bytes arrive, the client needs >= %.1f s "
            "(about %.0f s at the sink's rate)" % (
                BP_BYTES // MiB, BP_RATE // KiB, BP_BUFFER // KiB, lower, expect))
        sink = sc.add(us.SlowSinkUpstream(BP_RATE))
        listeners = [fwd("bp", [sink.addr], buffer_size="%dk" % (BP_BUFFER // KiB))]
        if not t.WINE and sanitized_binary():
            # The relay frees each chunk's buffer once it is sent and takes a
            # new one for the next read; ASan's quarantine keeps every freed
            # chunk resident, which would grow VmRSS with the bytes relayed.
            # Without a quarantine the RSS bound means what it means for the
            # plain build.
            say("ASan build: running this daemon with quarantine_size_mb=0")
            saved = os.environ.get("ASAN_OPTIONS")
            os.environ["ASAN_OPTIONS"] = ((saved + ":") if saved else "") + "quarantine_size_mb=0"
            try:
                d, ports = sc.start(listeners)
            finally:
                if saved is None:
                    del os.environ["ASAN_OPTIONS"]
                else:
                    os.environ["ASAN_OPTIONS"] = saved
        else:
            d, ports = sc.start(listeners)
        rss = {"base": None, "max": 0}
        stop = threading.Event()
        if not t.WINE:
            time.sleep(0.2)
            rss["base"] = vm_rss(d.pid)

            def sample():
                while not stop.is_set():
                    try:
                        rss["max"] = max(rss["max"], vm_rss(d.pid))
                    except (OSError, AssertionError):
                        return
                    stop.wait(0.05)
            sampler = sc.task(sample, "rss")
        else:
            say("under Wine the RSS part is skipped: the Wine process's memory "
                "says little about iocpd's buffers")
        c = sc.connect(ports["bp"], sndbuf=64 * KiB)
        source = us.StreamSource(BP_BYTES, SEED + 2, max_chunk=64 * KiB)
        began = time.monotonic()
        us.send_stream(c, source)
        send_took = time.monotonic() - began
        say("client's sends took %.2f s" % send_took)
        self.assertTrue(sink.wait_count(1, 1))
        conn = sink.snapshot()[0]
        self.assertTrue(conn.done.wait(expect * 1.5 + t.pick(10, 20)),
                        "sink did not get everything: %r" % conn.received)
        total_took = time.monotonic() - began
        stop.set()
        if not t.WINE:
            sampler.join(2)
        say("sink had everything after %.2f s" % total_took)
        self.assertIsNone(conn.received.error)
        self.assertTrue(conn.received.eof, "sink saw no clean EOF")
        self.assertEqual(conn.received.count, BP_BYTES, "bytes at the sink")
        self.assertEqual(conn.received.hexdigest(), source.hexdigest(), "bytes differ")
        self.assertGreaterEqual(
            send_took, lower,
            "the client sent %d MiB in %.2f s although the sink reads only %d KiB/s: "
            "at most %.1f MiB can wait in kernel buffers, so the relay must have "
            "buffered the rest (no backpressure)" % (
                BP_BYTES // MiB, send_took, BP_RATE // KiB, BP_SLACK / MiB))
        if not t.WINE:
            bound = rss["base"] + 2 * BP_BUFFER * 1 + RSS_ALLOWANCE
            say("relay VmRSS: %.1f MiB at start, at most %.1f MiB during the transfer "
                "(bound %.1f MiB)" % (rss["base"] / MiB, rss["max"] / MiB, bound / MiB))
            self.assertLessEqual(
                rss["max"], bound,
                "the relay's VmRSS grew from %.1f to %.1f MiB, over baseline + "
                "2 x buffer_size x 1 connection + %d MiB = %.1f MiB: it buffers "
                "more than buffer_size per direction" % (
                    rss["base"] / MiB, rss["max"] / MiB, RSS_ALLOWANCE // MiB, bound / MiB))
        # The sink closed after our FIN: the client gets EOF.
        how, _ = wait_end(c, t.pick(3, 6))
        self.assertEqual(how, "eof")
        c.close()
        assert_released(self, sc, ports["bp"], [sink.port])

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

    # -- graceful stop

    @unittest.skipIf(t.WINE and os.environ.get("IOCPD_WINE_NO_CTRL_C") == "1",
                     "Ctrl+C cannot be delivered under this Wine setup")
    @limited(40, 120)
    def test_graceful_stop(self, sc):
        say("SIGINT while %d relayed transfers (%d KiB each, about 1.5 s) are under "
            "way: all finish byte-exact and the log says 'drained %d, aborted 0'"
            % (STOP_CLIENTS, STOP_BYTES // KiB, STOP_CLIENTS))
        echo = sc.add(us.EchoUpstream())
        d, ports = sc.start([fwd("stop", [echo.addr])], service={"drain_timeout": "20s"})
        clients = [_SlowClient(sc, ports["stop"], i) for i in range(STOP_CLIENTS)]
        for c in clients:
            c.start()
        deadline = time.monotonic() + t.pick(10, 30)
        while not all(c.received >= STOP_BYTES // 5 for c in clients):
            self.assertLess(time.monotonic(), deadline, "transfers did not get going")
            self.assertFalse([c.error for c in clients if c.error])
            time.sleep(0.01)
        self.assertTrue(all(c.sent < STOP_BYTES for c in clients),
                        "a transfer finished before the stop: test too fast")
        d.expect_exit = True
        d.interrupt()
        for c in clients:
            self.assertTrue(c.join(t.pick(30, 90)), "client %d still transferring" % c.index)
        for c in clients:
            self.assertIsNone(c.error, "client %d" % c.index)
            self.assertTrue(c.eof, "client %d: no EOF" % c.index)
            self.assertEqual(c.received, STOP_BYTES, "client %d length" % c.index)
            self.assertEqual(c.recv_hash.hexdigest(), hashlib.sha256(c.payload).hexdigest(),
                             "client %d got different bytes back" % c.index)
        rc = d.wait(t.pick(10, 30))
        self.assertEqual(rc, 0, d.stderr())
        err = d.stderr()
        self.assertIn("drain finished: drained %d, aborted 0" % STOP_CLIENTS, err)
        self.assertRegex(err, t.log_rx("info", "stopped"))
        self.assertEqual(echo.count(), STOP_CLIENTS)

    # -- config

    @limited(30, 240)
    def test_config_errors(self, sc):
        say("check-config on forward configs: each bad case exits 1 naming the "
            "right line (case.ini:N:); the valid ones exit 0")
        for name, text, line in CONFIG_CASES:
            with self.subTest(case=name):
                sc.workdir.write("case.ini", text)
                r = t.run_cli(["check-config", "-c", "case.ini"], sc.workdir)
                lines = [l for l in r.stderr.splitlines() if l.startswith("case.ini:")]
                if line is None:
                    self.assertEqual(r.rc, 0, "%s: %r" % (name, r))
                    self.assertIn("case.ini: OK", r.stdout, name)
                    continue
                self.assertEqual(r.rc, 1, "%s: %r" % (name, r))
                numbered = [l for l in lines if re.match(r"case\.ini:\d+:", l)]
                self.assertTrue(numbered, "%s: no 'case.ini:LINE:' message: %r" % (name, r))
                for l in numbered:
                    self.assertTrue(l.startswith("case.ini:%d: " % line),
                                    "%s: expected line %d, got %r" % (name, line, l))
                say("%-24s %s" % (name, numbered[0]))


class ForwardIPv6Test(unittest.TestCase):
    """Relaying across address families; skipped without ::1."""

    def _relay_family(self, sc, listen_family, upstream_family):
        echo = sc.add(us.EchoUpstream(family=upstream_family))
        d, ports = sc.start([fwd("cross", [echo.addr], family=listen_family)])
        payload = os.urandom(256 * KiB)
        c = sc.connect(ports["cross"], family=listen_family)
        client = sock_addr(c)
        sender = sc.task(lambda: (c.sendall(payload), c.shutdown(socket.SHUT_WR)), "send")
        got = t.recv_until_eof(c, limit=len(payload))
        self.assertTrue(sender.join(5))
        self.assertIsNone(sender.error)
        self.assertTrue(got == payload, "bytes differ (%d of %d)" % (len(got), len(payload)))
        self.assertEqual(echo.count(), 1)
        peer = echo.snapshot()[0].peer[0]
        self.assertEqual(peer, us.loopback(upstream_family),
                         "the upstream saw the relay come from %s" % peer)
        self.assertRegex(d.stderr(), relaying_rx("cross", client, echo.addr))
        c.close()
        assert_released(self, sc, ports["cross"], [echo.port])

    @unittest.skipUnless(IPV6, "::1 is not available on this machine")
    @limited(20, 60)
    def test_ipv4_to_ipv6(self, sc):
        say("client on 127.0.0.1, upstream on [::1]: 256 KiB echoed byte-exact")
        self._relay_family(sc, socket.AF_INET, socket.AF_INET6)

    @unittest.skipUnless(IPV6, "::1 is not available on this machine")
    @limited(20, 60)
    def test_ipv6_to_ipv4(self, sc):
        say("listener on [::1], upstream on 127.0.0.1: 256 KiB echoed byte-exact")
        self._relay_family(sc, socket.AF_INET6, socket.AF_INET)


# ---------------------------------------------------------------------------
# Clients


class _EchoClient:
    """A non-blocking client of the concurrent test: seeded random bytes in
    random chunk sizes, half-close after the last, hashes both ways."""

    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.rng = random.Random(SEED * 1000003 + index)
        self.left = CONCURRENT_BYTES
        self.chunk = memoryview(b"")
        self.sent = self.received = 0
        self.sent_hash = hashlib.sha256()
        self.recv_hash = hashlib.sha256()
        self.shut = self.ended = False
        self.error = None

    def on_writable(self):
        if not len(self.chunk):
            if self.left == 0:
                self.sock.shutdown(socket.SHUT_WR)
                self.shut = True
                return
            n = min(self.left, self.rng.randint(1, CONCURRENT_MAX_WRITE))
            self.left -= n
            self.chunk = memoryview(self.rng.randbytes(n))
        try:
            n = self.sock.send(self.chunk)
        except BlockingIOError:
            return
        except OSError as e:
            self.error, self.ended, self.shut = e, True, True
            return
        self.sent_hash.update(self.chunk[:n])
        self.sent += n
        self.chunk = self.chunk[n:]

    def on_readable(self):
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError as e:
            self.error, self.ended = e, True
            return
        if not data:
            self.ended = True
            return
        self.received += len(data)
        self.recv_hash.update(data)


class _SlowClient:
    """Sends STOP_BYTES in STOP_CHUNK pieces with a pause after each (one
    thread) and reads the echo (another), then half-closes."""

    def __init__(self, sc, port, index):
        self.index = index
        self.sc = sc
        self.sock = sc.connect(port, timeout=t.pick(20, 60))
        self.payload = os.urandom(STOP_BYTES)
        self.sent = self.received = 0
        self.recv_hash = hashlib.sha256()
        self.error = None
        self.eof = False
        self.tasks = []

    def start(self):
        self.tasks = [self.sc.task(self._sender, "slow-send-%d" % self.index),
                      self.sc.task(self._receiver, "slow-recv-%d" % self.index)]

    def _sender(self):
        try:
            view = memoryview(self.payload)
            while self.sent < len(view):
                n = min(STOP_CHUNK, len(view) - self.sent)
                self.sock.sendall(view[self.sent:self.sent + n])
                self.sent += n
                time.sleep(STOP_PAUSE)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = self.error or ("send", e)

    def _receiver(self):
        try:
            while True:
                data = self.sock.recv(262144)
                if not data:
                    self.eof = True
                    return
                self.received += len(data)
                self.recv_hash.update(data)
        except OSError as e:
            self.error = self.error or ("recv", e)

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        return all(tk.join(max(0.0, deadline - time.monotonic())) for tk in self.tasks)


# ---------------------------------------------------------------------------
# Config cases: (name, text, line of the expected problem or None if valid)


def _case(*lines):
    return "\n".join(lines) + "\n"


CONFIG_CASES = [
    ("valid-forward", _case(
        "; every forward key, host names included",
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001, [::1]:9002, localhost:9003",
        "connect_timeout = 5s",
        "idle_timeout = 10m",
        "buffer_size = 64k"), None),
    ("valid-buffer-bounds", _case(
        "[listener:small]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "buffer_size = 1k",
        "[listener:big]",
        "listen = 127.0.0.1:7008",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "buffer_size = 16m"), None),
    ("valid-echo-idle", _case(
        "[listener:echo]",
        "listen = 127.0.0.1:7007",
        "handler = echo",
        "idle_timeout = 30s"), None),
    ("missing-upstream", _case(
        "; a forward listener needs an upstream",
        "",
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward"), 3),
    ("upstream-on-echo", _case(
        "[listener:echo]",
        "listen = 127.0.0.1:7007",
        "handler = echo",
        "upstream = 127.0.0.1:9001"), 4),
    ("unresolvable-host", _case(
        "[service]",
        "workers = 1",
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001, nohost.invalid:80"), 6),
    ("bad-connect-timeout", _case(
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "connect_timeout = 5 parsecs"), 5),
    ("buffer-size-zero", _case(
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "buffer_size = 0",
        "upstream = 127.0.0.1:9001"), 4),
    ("buffer-size-bad-unit", _case(
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "",
        "buffer_size = 64q"), 6),
    ("buffer-size-too-big", _case(
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "buffer_size = 1g"), 5),
]


# ---------------------------------------------------------------------------


def forward_supported():
    """(True, "") if check-config accepts a minimal forward listener, else
    (False, what iocpd said)."""
    w = t.Workdir()
    try:
        w.write("probe.ini", _case("[listener:probe]", "listen = 127.0.0.1:7007",
                                   "handler = forward", "upstream = 127.0.0.1:9001"))
        r = t.run_cli(["check-config", "-c", "probe.ini"], w)
        return r.rc == 0, (r.stderr.strip() or r.stdout.strip())
    finally:
        w.cleanup()


if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    if names and all(n.startswith("ForwardIPv6Test") for n in names) and not IPV6:
        print("test_forward: skipped: ::1 is not available on this machine")
        sys.exit(77)
    try:
        t.command()
    except RuntimeError as e:
        sys.stderr.write("test_forward: %s\n" % e)
        sys.exit(2)
    ok, said = forward_supported()
    if not ok:
        sys.stderr.write("test_forward: FAIL: forward not supported by this iocpd: "
                         "check-config rejects a minimal 'handler = forward' listener:\n%s\n"
                         % said)
        sys.exit(1)
    sys.stderr.write("test_forward: seed %d (set IOCPD_TEST_SEED to repeat)\n" % SEED)
    t.main(time_limit=(150, 420))
