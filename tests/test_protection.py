"""Protection: connection limits, allow/deny rules, per-address limits,
handshake and idle timeouts, and clients that misbehave.

  listener_max_connections  max_connections = 3 on a listener: 3 clients are
                            served; more connect (kernel backlog) but get no
                            byte, no EOF and no reset while they wait; each
                            close lets exactly one waiting client in
  service_max_connections   the same with [service] max_connections = 3
                            shared by two listeners
  per_ip_limit              max_connections_per_ip = 2: a third client from
                            127.0.0.1 is reset at once, 127.0.0.2 has its own
                            count, a closed connection frees its place
  allow_list / deny_before_allow
                            clients bound to 127.0.0.x source addresses are
                            served or reset by allow and deny (deny first);
                            each rejection is logged with the client address
  rejection_log_rate        30 denied clients in a burst give one or two log
                            lines; the next line reports how many were left
                            out, and logged + left out == every rejection
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
  port_not_shared           a socket with SO_REUSEADDR and SO_REUSEPORT cannot
                            bind a running listener's port; under Wine a
                            second iocpd.exe on the port exits 3 naming the
                            listener and the address
  public_listener_warning   a listener on 0.0.0.0 or [::] without allow:
                            check-config exits 0 with FILE:LINE: warning:,
                            run logs it. The run binds 0.0.0.0 for about a
                            second with deny = 0.0.0.0/0, so that any
                            connection, from anywhere, is reset at once.
  ProtectionIPv6Test        allow = ::1/128, deny = ::1/128 and an IPv4-only
                            allow on [::1] listeners (skipped without ::1)

Every sub-test starts its own daemon (readiness is its "running with N
workers" log line, not a probe connection, which would take a slot), has its
own time limit and releases everything in a finally block; the Scope and
the helpers for it come from test_forward.py.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_protection.py
[ProtectionTest | ProtectionIPv6Test | ProtectionTest.test_per_ip_limit ...].
Selecting only ProtectionIPv6Test exits 77 (skipped) without ::1. See
iocpdtest.py for IOCPD_WRAPPER and IOCPD_PLATFORM."""

import sys

sys.dont_write_bytecode = True

import errno
import functools
import os
import random
import re
import resource
import select
import selectors
import socket
import threading
import time
import unittest

import iocpdtest as t
import test_forward as tf
import upstream_servers as us

say = tf.say


def limited(native, wine):
    """tf.limited (a Scope with a time limit of native or wine seconds),
    and finish(sc) after the test body: every daemon must stop cleanly."""
    def deco(fn):
        @functools.wraps(fn)
        def body(self, sc):
            fn(self, sc)
            finish(sc)
        return tf.limited(native, wine)(body)
    return deco


# A limit-paused client gets nothing for this long (no byte, EOF or reset).
UNSERVED_FOR = 1.0
# After a close, a waiting client is served within this long.
RESUME_WITHIN = t.pick(2.0, 3.0)
# A rejected client sees its reset within this long.
REJECT_WITHIN = t.pick(1.0, 3.0)
# A served client gets its echo within this long.
ECHO_WITHIN = 1.0
HANDSHAKE_WINDOW = (1.5, t.pick(6.0, 8.0))
FLOOD = t.pick(1000, 100)
ABUSERS = t.pick(100, 30)
# How long the daemon may take to release what misbehaving clients left.
RELEASE_WITHIN = t.pick(5.0, 15.0)
BURST = 30

IPV6 = us.ipv6_loopback_available()

REJECT_REASONS = {"denied": "not allowed by allow/deny",
                  "per_ip": "max_connections_per_ip reached"}


# ---------------------------------------------------------------------------
# Config


def echo(name, family=socket.AF_INET, **keys):
    """An echo [listener:NAME] with further keys (values as text)."""
    return tf.Listener(name, "echo", family, **keys)


def start(sc, listeners, **service):
    """Starts a daemon for the sub-test (see tf.Scope.start) with log level
    info and a short drain_timeout, plus the given [service] keys."""
    keys = {"log_level": "info", "drain_timeout": "2s"}
    keys.update(service)
    d, ports = sc.start(listeners, service=keys)
    sc.ports = ports
    return d, ports


def finish(sc):
    """Ends a sub-test that passed so far: closes its client sockets, stops
    its daemons with Ctrl+C (SIGINT) and fails unless each exits 0 without
    a sanitizer report (an ASan build reports leaks at exit)."""
    for s in sc.sockets:
        try:
            s.close()
        except OSError:
            pass
    for d in sc.daemons:
        if getattr(d, "expect_exit", False) or not d.running():
            continue
        d.expect_exit = True
        if t.WINE and os.environ.get("IOCPD_WINE_NO_CTRL_C") == "1":
            continue
        rc = d.stop(timeout=t.pick(10, 30))
        err = d.stderr()
        if re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", err):
            raise AssertionError("sanitizer report\n%s" % err[-6000:])
        if rc != 0:
            raise AssertionError("iocpd exited %r on SIGINT\n%s" % (rc, err[-3000:]))


# ---------------------------------------------------------------------------
# Clients


def client(sc, port, src=None, family=socket.AF_INET, timeout=None):
    """A blocking client bound to the source address src (default the
    family's loopback address) and connected to port on loopback."""
    s = sc.sock(socket.socket(family, socket.SOCK_STREAM))
    s.settimeout(timeout if timeout is not None else t.pick(10, 30))
    s.bind((src or us.loopback(family), 0))
    s.connect((us.loopback(family), port))
    return s


def addr_of(sock):
    """The socket's own address as iocpd logs it (127.0.0.2:PORT, [::1]:PORT)."""
    host, port = sock.getsockname()[:2]
    return "[%s]:%d" % (host, port) if sock.family == socket.AF_INET6 else "%s:%d" % (host, port)


def echo_rtt(sock, payload, within=ECHO_WITHIN):
    """Sends payload and reads it back; returns the round trip in seconds.
    Fails on EOF, reset, other bytes or no echo within `within` seconds."""
    began = time.monotonic()
    deadline = began + within
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no echo within %g s (got %r of %r)" % (within, got, payload))
        sock.settimeout(left)
        try:
            data = sock.recv(len(payload) - len(got))
        except socket.timeout:
            continue
        except (ConnectionResetError, ConnectionAbortedError) as e:
            raise AssertionError("%r instead of the echo of %r" % (e, payload)) from None
        if not data:
            raise AssertionError("EOF instead of the echo of %r" % payload)
        got += data
    if got != payload:
        raise AssertionError("echo %r differs from %r" % (got, payload))
    return time.monotonic() - began


def assert_unserved(socks, seconds, why):
    """Fails if any of socks receives anything (a byte, EOF or a reset)
    within seconds: a limit-paused client must simply wait in the backlog."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        readable, _, _ = select.select(socks, [], [], left)
        for s in readable:
            i = socks.index(s)
            try:
                data = s.recv(4096)
            except OSError as e:
                raise AssertionError("waiting client %d got %r (%s): accepted, then "
                                     "dropped" % (i, e, why)) from None
            if data:
                raise AssertionError("waiting client %d was served (%r) although %s"
                                     % (i, data, why))
            raise AssertionError("waiting client %d got EOF (%s): accepted, then dropped"
                                 % (i, why))


def wait_served(socks, payload, within):
    """Waits for the first of socks to receive payload (the echo of what it
    sent) and returns its index. Fails on EOF, reset or nothing in time."""
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no waiting client was served within %g s" % within)
        readable, _, _ = select.select(socks, [], [], left)
        for s in readable:
            i = socks.index(s)
            try:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                got = t.recv_exact(s, len(payload))
            except (OSError, AssertionError) as e:
                raise AssertionError("waiting client %d ended with %r instead of being "
                                     "served" % (i, e)) from None
            if got != payload:
                raise AssertionError("waiting client %d got %r, not %r" % (i, got, payload))
            return i


def expect_rejected(sc, port, src=None, family=socket.AF_INET, within=REJECT_WITHIN):
    """Connects from src, sends a few bytes and expects the daemon to end
    the connection (reset or EOF) within `within` seconds without sending
    anything. Returns (client address as logged, "reset"/"eof", seconds)."""
    s = sc.sock(socket.socket(family, socket.SOCK_STREAM))
    s.bind((src or us.loopback(family), 0))
    me = addr_of(s)
    s.settimeout(within + 5)
    began = time.monotonic()
    try:
        s.connect((us.loopback(family), port))
        s.sendall(b"let me in")
        while True:
            data = s.recv(4096)
            if data:
                raise AssertionError("client %s was served (%r) but should have been "
                                     "rejected" % (me, data))
            how = "eof"
            break
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        how = "reset"
    except socket.timeout:
        raise AssertionError("client %s was neither served nor rejected within %g s"
                             % (me, within + 5)) from None
    took = time.monotonic() - began
    s.close()
    if took > within:
        raise AssertionError("client %s was rejected only after %.2f s (limit %g s)"
                             % (me, took, within))
    return me, how, took


def reject_burst(sc, port, n, within=REJECT_WITHIN):
    """Connects n clients at once (the kernel completes each connection in
    the backlog) and expects the daemon to end every one, unserved, within
    `within` seconds of the last connect. Returns their addresses."""
    socks = []
    for _ in range(n):
        s = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        s.bind((t.HOST, 0))
        s.settimeout(t.pick(10, 30))
        try:
            s.connect((t.HOST, port))
        except (ConnectionResetError, ConnectionAbortedError):
            pass
        socks.append(s)
    deadline = time.monotonic() + within
    addrs = []
    for s in socks:
        me = addr_of(s)
        addrs.append(me)
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = s.recv(4096)
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        except socket.timeout:
            raise AssertionError("client %s of the burst was not rejected within %g s"
                                 % (me, within)) from None
        except OSError as e:
            raise AssertionError("client %s of the burst: %r" % (me, e)) from None
        if data:
            raise AssertionError("client %s of the burst was served (%r)" % (me, data))
        s.close()
    return addrs


def raise_fd_limit(need):
    """Raises this process's descriptor limit (and so that of the daemons it
    starts) to at least need if the hard limit allows. Returns the soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        want = need if hard == resource.RLIM_INFINITY else min(hard, need)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft


# ---------------------------------------------------------------------------
# Rejection log lines

_REJECT_LINE = re.compile(
    t.TIMESTAMP + r" warning listener (?P<name>\S+): rejected (?P<client>\S+) "
    r"\((?P<reason>[^)]*)\)(?:; (?P<more>\d+) more since the last report)?\r?$", re.M)


def rejections(stderr, listener):
    """The rejection warnings for listener as dicts (client, reason, more as
    int, 0 if absent). Fails on a line that mentions a rejection on this
    listener but is not in the documented form."""
    found = []
    for line in stderr.splitlines():
        if ("listener %s: rejected " % listener) not in line:
            continue
        m = _REJECT_LINE.search(line + "\n")
        if m is None or m.group("name") != listener:
            raise AssertionError("malformed rejection log line (expected '... rejected "
                                 "ADDR (REASON)' optionally followed by '; N more since "
                                 "the last report'):\n%r" % line)
        found.append({"client": m.group("client"), "reason": m.group("reason"),
                      "more": int(m.group("more") or 0), "line": line})
    return found


def wait_rejections(d, listener, count, timeout=None):
    """Waits until at least count rejection lines for listener are logged."""
    deadline = time.monotonic() + (timeout if timeout is not None else t.pick(3, 10))
    while True:
        found = rejections(d.stderr(), listener)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("%d rejection line(s) for listener %s logged, %d expected"
                                 "\n--- stderr ---\n%s" % (len(found), listener, count,
                                                           d.stderr()[-3000:]))
        time.sleep(0.05)


def assert_rejection_logged(tc, d, listener, client_addr, reason):
    """The log has a rejection line for client_addr on listener with the
    reason's text."""
    deadline = time.monotonic() + t.pick(3, 10)
    while True:
        for r in rejections(d.stderr(), listener):
            if r["client"] == client_addr:
                tc.assertEqual(r["reason"], REJECT_REASONS[reason], r["line"])
                return
        if time.monotonic() > deadline:
            tc.fail("no rejection of %s logged for listener %s\n--- stderr ---\n%s"
                    % (client_addr, listener, d.stderr()[-3000:]))
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# Descriptor counts


def fd_targets(pid):
    """What each open descriptor of pid refers to ({} if unreadable)."""
    out = {}
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                pass
    except OSError:
        pass
    return out


def wineserver_pid():
    """The wineserver of the Wine prefix in use ($WINEPREFIX, else ~/.wine),
    or None. A wineserver works in a directory named after the prefix's
    device and inode (server-DEV-INODE), which identifies it."""
    prefix = os.environ.get("WINEPREFIX") or os.path.expanduser("~/.wine")
    try:
        st = os.stat(prefix)
    except OSError:
        return None
    want = "server-%x-%x" % (st.st_dev, st.st_ino)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % entry)
            cwd = os.readlink("/proc/%s/cwd" % entry)
        except OSError:
            continue
        if os.path.basename(exe).startswith("wineserver") and os.path.basename(cwd) == want:
            return int(entry)
    return None


class DescriptorCount:
    """What the daemon holds open. Natively: every descriptor of the iocpd
    process. Under Wine the daemon's pid is the Wine process itself (the
    wrapper execs Wine), but measured here its descriptor count does not
    move with the number of open connections: Wine keeps each socket's
    host descriptor in the wineserver. So under Wine the socket descriptors
    of the prefix's wineserver are counted too (nothing else runs in the
    test prefix while this test runs)."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.server = wineserver_pid() if t.WINE else None
        if t.WINE and self.server is None:
            raise AssertionError("the wineserver of this Wine prefix was not found; "
                                 "without it no socket of the daemon can be counted")
        if t.WINE:
            exe = os.readlink("/proc/%d/exe" % daemon.pid)
            if "wine" not in os.path.basename(exe):
                raise AssertionError("under Wine, pid %d runs %s, not Wine: the wrapper "
                                     "did not exec" % (daemon.pid, exe))

    def what(self):
        return "iocpd descriptors" + (", wineserver sockets" if self.server else "")

    def now(self):
        counts = [len(fd_targets(self.daemon.pid))]
        if self.server is not None:
            counts.append(sum(1 for v in fd_targets(self.server).values()
                              if v.startswith("socket:")))
        return tuple(counts)

    def detail(self):
        targets = fd_targets(self.daemon.pid)
        kinds = {}
        for v in targets.values():
            k = v.split(":", 1)[0] if ":" in v else v
            kinds[k] = kinds.get(k, 0) + 1
        return "iocpd pid %d: %s" % (self.daemon.pid, kinds)


# ---------------------------------------------------------------------------
# An upstream for many connections


class SelectEchoUpstream:
    """An echo server for many connections at once on one thread with a
    selector (upstream_servers.EchoUpstream takes a thread per connection,
    too many for a thousand relayed clients). Echoes every byte, closes
    after the peer's EOF or on any error; at most 1 MiB is held per
    connection, beyond which it stops reading that connection. close()
    stops the thread and closes every socket."""

    HOLD = 1 << 20

    def __init__(self, family=socket.AF_INET):
        self.family = family
        self.accepted = 0
        self._pending = {}
        self._stop = threading.Event()
        self._sel = selectors.DefaultSelector()
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((us.loopback(family), 0))
            self.listener.listen(4096)
            self.listener.setblocking(False)
            self._sel.register(self.listener, selectors.EVENT_READ)
        except BaseException:
            self.listener.close()
            self._sel.close()
            raise
        self.port = self.listener.getsockname()[1]
        self.addr = us.format_addr(family, self.port)
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="select-echo-%d" % self.port)
        self._thread.start()

    def open_count(self):
        return len(self._pending)

    def _drop(self, s):
        self._pending.pop(s, None)
        try:
            self._sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()

    def _events(self, s):
        buf = self._pending[s]
        ev = selectors.EVENT_WRITE if buf else 0
        if len(buf) < self.HOLD:
            ev |= selectors.EVENT_READ
        self._sel.modify(s, ev)

    def _loop(self):
        while not self._stop.is_set():
            for key, events in self._sel.select(0.1):
                s = key.fileobj
                if s is self.listener:
                    while True:
                        try:
                            c, _ = self.listener.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            break
                        c.setblocking(False)
                        self.accepted += 1
                        self._pending[c] = bytearray()
                        self._sel.register(c, selectors.EVENT_READ)
                    continue
                if s not in self._pending:
                    continue
                try:
                    if events & selectors.EVENT_READ:
                        data = s.recv(65536)
                        if not data:
                            self._drop(s)
                            continue
                        self._pending[s] += data
                    buf = self._pending[s]
                    if buf:
                        n = s.send(buf)
                        del buf[:n]
                    self._events(s)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._drop(s)

    def close(self):
        self._stop.set()
        self._thread.join(5.0)
        for s in list(self._pending):
            s.close()
        self._pending.clear()
        self.listener.close()
        self._sel.close()
        return [self._thread.name] if self._thread.is_alive() else []


# ---------------------------------------------------------------------------
# The tests


class ProtectionTest(unittest.TestCase):
    maxDiff = 4000

    # -- connection limits

    @limited(30, 90)
    def test_listener_max_connections(self, sc):
        say("max_connections = 3 on a listener: 3 clients echo; 2 more connect but "
            "get no byte, EOF or reset for %g s; each close lets exactly one in "
            "within %g s" % (UNSERVED_FOR, RESUME_WITHIN))
        d, ports = start(sc, [echo("lim", max_connections=3)])
        self._limit_scenario(d, sc, [ports["lim"]] * 3, [ports["lim"]] * 2)

    @limited(30, 90)
    def test_service_max_connections(self, sc):
        say("[service] max_connections = 3 over two listeners: 2 + 1 clients echo; "
            "one more on each listener waits; each close lets exactly one in")
        d, ports = start(sc, [echo("a"), echo("b")], max_connections=3)
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

    @limited(30, 90)
    def test_per_ip_limit(self, sc):
        say("max_connections_per_ip = 2: a third client from 127.0.0.1 is reset "
            "within %g s and logged; 127.0.0.2 has its own count; after a close, "
            "127.0.0.1 gets in again" % REJECT_WITHIN)
        d, ports = start(sc, [echo("pip", max_connections_per_ip=2)])
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

    # -- allow / deny

    @limited(30, 90)
    def test_allow_list(self, sc):
        say("allow = 127.0.0.2/32: clients from 127.0.0.1 and 127.0.0.3 are reset and "
            "logged, 127.0.0.2 is served")
        d, ports = start(sc, [echo("only2", allow="127.0.0.2/32")])
        port = ports["only2"]
        for k, src in enumerate(("127.0.0.1", "127.0.0.3")):
            if k:
                # One line per second at most: wait until the next is due.
                time.sleep(1.1)
            me, how, took = expect_rejected(sc, port, src)
            say("client from %s ended by %s after %.3f s" % (src, how, took))
            assert_rejection_logged(self, d, "only2", me, "denied")
        s = client(sc, port, "127.0.0.2")
        echo_rtt(s, b"allowed")
        s.close()

    @limited(30, 90)
    def test_deny_before_allow(self, sc):
        say("allow = 127.0.0.0/8, deny = 127.0.0.0/24: 127.0.0.1 and 127.0.0.200 "
            "are reset (deny is checked first); 127.0.1.1 is served")
        d, ports = start(sc, [echo("dfirst", allow="127.0.0.0/8", deny="127.0.0.0/24")])
        port = ports["dfirst"]
        me, how, took = expect_rejected(sc, port, "127.0.0.1")
        assert_rejection_logged(self, d, "dfirst", me, "denied")
        expect_rejected(sc, port, "127.0.0.200")
        s = client(sc, port, "127.0.1.1")
        echo_rtt(s, b"not denied")
        s.close()
        self.assertNotRegex(d.stderr(), r"rejected 127\.0\.1\.1:")

    # -- rate-limited rejection log

    @limited(30, 90)
    def test_rejection_log_rate(self, sc):
        say("%d denied clients in a burst: at most one log line per second; after a "
            "pause the next rejection's line reports the rest; lines + reported "
            "counts == every rejection" % BURST)
        d, ports = start(sc, [echo("wall", deny="127.0.0.0/8"), echo("other")])
        port = ports["wall"]
        began = time.monotonic()
        clients = set(reject_burst(sc, port, BURST))
        burst = time.monotonic() - began
        time.sleep(0.3)
        lines = rejections(d.stderr(), "wall")
        say("%d rejections in %.2f s gave %d log line(s)" % (BURST, burst, len(lines)))
        self.assertGreaterEqual(len(lines), 1, "no rejection was logged")
        self.assertLessEqual(len(lines), min(3, int(burst) + 1),
                             "%d lines for %d rejections in %.2f s: not limited to one "
                             "per second:\n%s" % (len(lines), BURST, burst,
                                                  "\n".join(r["line"] for r in lines)))
        self.assertEqual(lines[0]["more"], 0, "the first line reports suppressed "
                         "rejections although none came before: %s" % lines[0]["line"])
        # Wait out the second and reject one more: its line carries the count.
        time.sleep(1.1)
        me, _, _ = expect_rejected(sc, port)
        clients.add(me)
        lines = wait_rejections(d, "wall", len(lines) + 1)
        last = lines[-1]
        say("next line: %s" % last["line"].strip())
        self.assertEqual(last["client"], me, last["line"])
        self.assertGreater(last["more"], 0, "the line after the burst does not say how "
                           "many rejections were left out: %s" % last["line"])
        total = len(lines) + sum(r["more"] for r in lines)
        self.assertEqual(total, BURST + 1,
                         "logged lines (%d) + reported 'more' counts (%d) != %d rejections:"
                         "\n%s" % (len(lines), total - len(lines), BURST + 1,
                                   "\n".join(r["line"] for r in lines)))
        for r in lines:
            self.assertIn(r["client"], clients, r["line"])
            self.assertEqual(r["reason"], REJECT_REASONS["denied"], r["line"])
        # The limit is per listener: the other one was never mentioned.
        self.assertEqual(rejections(d.stderr(), "other"), [])

    # -- handshake and idle timeouts

    @limited(40, 120)
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
        up = sc.add(SelectEchoUpstream())
        d, ports = start(sc, [echo("hs_echo", handshake_timeout="2s"),
                             tf.fwd("hs_fwd", [up.addr], handshake_timeout="2s")])
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

    @limited(30, 90)
    def test_slowloris_idle_timeout(self, sc):
        lo, hi = 1.5, 5.0
        say("idle_timeout = 2s on echo: a client sending a byte every 5 s is closed "
            "%g..%g s after its first byte (before its second); a client sending a "
            "byte every second stays open" % (lo, hi))
        d, ports = start(sc, [echo("slow", idle_timeout="2s")])
        slow = client(sc, ports["slow"])
        chatty = client(sc, ports["slow"])
        echo_rtt(slow, b"s")
        first = time.monotonic()
        ended_from = time.monotonic()
        ended = sc.task(lambda: tf.wait_end(slow, hi + 1), "slowloris")
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

    @limited(40, 150)
    def test_garbage_and_resets(self, sc):
        say("%d clients send random bytes to echo and forward listeners and reset "
            "(SO_LINGER 0), close without reading (mid-write) or reset before "
            "sending; within %g s the daemon holds what it held before, and serves"
            % (ABUSERS, RELEASE_WITHIN))
        raise_fd_limit(4 * ABUSERS + 256)
        up = sc.add(SelectEchoUpstream())
        d, ports = start(sc, [echo("g_echo"), tf.fwd("g_fwd", [up.addr])])
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

        rng = random.Random(tf.SEED)
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
                tf.abort_close(s)
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
                tf.abort_close(s)
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
        left = tf.relay_open_sockets(ports["g_echo"], set()) + \
            tf.relay_open_sockets(ports["g_fwd"], {up.port})
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

    # -- binding

    @limited(30, 120)
    def test_port_not_shared(self, sc):
        say("a socket with SO_REUSEADDR and SO_REUSEPORT cannot bind the running "
            "listener's port%s; the listener still serves"
            % ("; a second iocpd.exe on it exits 3 naming the listener and the address"
               if t.WINE else ""))
        d, ports = start(sc, [echo("excl")])
        port = ports["excl"]
        thief = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                thief.bind((t.HOST, port))
                thief.listen(8)
                stolen = True
            except OSError as e:
                stolen = False
                say("second bind refused: %s" % e)
            self.assertFalse(stolen, "another socket could bind %s while iocpd listens "
                             "on it" % t.addr(port))
        finally:
            thief.close()
        if t.WINE:
            sc.workdir.write("second.ini", tf.config_text(
                [echo("again")], {"again": port}, {"log_level": "info"}))
            r = t.run_cli(["run", "-c", "second.ini"], sc.workdir)
            self.assertEqual(r.rc, 3, r)
            self.assertRegex(r.stderr, r"listener again\b[^\n]*%s"
                             % re.escape(t.addr(port)), r)
            self.assertNotRegex(r.stderr, r"running with \d+ workers", r)
            say("second iocpd.exe: %s" % [l for l in r.stderr.splitlines()
                                          if "again" in l][:1])
        s = client(sc, port)
        echo_rtt(s, b"still mine")
        s.close()

    # -- public listeners

    @limited(30, 120)
    def test_public_listener_warning(self, sc):
        say("check-config: 0.0.0.0 and [::] without allow give FILE:LINE: warning: "
            "and exit 0; with allow, or on loopback, no warning. run on 0.0.0.0 "
            "(deny = 0.0.0.0/0, so it serves nobody) logs the warning")
        text = "\n".join([
            "[listener:pub4]",
            "listen = 0.0.0.0:7101",            # line 2
            "handler = echo",
            "[listener:pub6]",
            "listen = [::]:7102",               # line 5
            "handler = echo",
            "[listener:guarded]",
            "listen = 0.0.0.0:7103",
            "handler = echo",
            "allow = 127.0.0.0/8",
            "[listener:local]",
            "listen = 127.0.0.1:7104",
            "handler = echo",
            ""])
        sc.workdir.write("public.ini", text)
        r = t.run_cli(["check-config", "-c", "public.ini"], sc.workdir)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("public.ini: OK", r.stdout, r)
        warn = re.findall(r"^public\.ini:(\d+): warning: (.*)$", r.stderr, re.M)
        about = [(int(n), w) for n, w in warn if "without an allow list" in w]
        self.assertEqual([n for n, _ in about], [2, 5],
                         "expected a warning for line 2 (0.0.0.0) and line 5 ([::]):\n%r" % r)
        self.assertIn("[listener:pub4] listens on 0.0.0.0:7101", about[0][1])
        self.assertIn("[listener:pub6] listens on [::]:7102", about[1][1])
        for name in ("guarded", "local"):
            self.assertNotIn("[listener:%s]" % name, r.stderr, r)

        # run: the same warning in the log. Port picked free on all
        # interfaces; deny resets every connection, from anywhere.
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind(("0.0.0.0", 0))
            port = probe.getsockname()[1]
        finally:
            probe.close()
        sc.workdir.write("run.ini", "\n".join([
            "[service]", "log_level = info",
            "[listener:pub]",
            "listen = 0.0.0.0:%d" % port,      # line 4
            "handler = echo",
            "deny = 0.0.0.0/0", ""]))
        d = t.Daemon(sc.workdir, ["run", "-c", "run.ini"])
        d.expect_exit = False
        sc.daemons.append(d)
        d.wait_log(t.log_rx("info", r"running with \d+ workers"), timeout=t.READY_TIMEOUT)
        self.assertRegex(d.stderr(), t.log_rx(
            "warning", r"run\.ini:4: warning: \[listener:pub\] listens on "
            r"0\.0\.0\.0:%d without an allow list" % port))
        expect_rejected(sc, port)
        # finish() stops it at once.


class ProtectionIPv6Test(unittest.TestCase):
    """allow/deny on [::1] listeners; skipped without ::1."""

    @unittest.skipUnless(IPV6, "::1 is not available on this machine")
    @limited(30, 90)
    def test_ipv6_allow_deny(self, sc):
        say("[::1] listeners: allow = ::1/128 serves ::1; deny = ::1/128 resets it; "
            "allow = 127.0.0.0/8 (IPv4 only) resets it")
        v6 = socket.AF_INET6
        d, ports = start(sc, [echo("v6allow", v6, allow="::1/128"),
                             echo("v6deny", v6, deny="::1/128"),
                             echo("v4only", v6, allow="127.0.0.0/8")])
        s = client(sc, ports["v6allow"], family=v6)
        echo_rtt(s, b"v6 welcome")
        s.close()
        me, how, took = expect_rejected(sc, ports["v6deny"], family=v6)
        say("denied ::1 client ended by %s after %.3f s" % (how, took))
        assert_rejection_logged(self, d, "v6deny", me, "denied")
        me, how, took = expect_rejected(sc, ports["v4only"], family=v6)
        assert_rejection_logged(self, d, "v4only", me, "denied")
        self.assertEqual(rejections(d.stderr(), "v6allow"), [])


if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    if names and all(n.startswith("ProtectionIPv6Test") for n in names) and not IPV6:
        print("test_protection: skipped: ::1 is not available on this machine")
        sys.exit(77)
    sys.stderr.write("test_protection: seed %d (set IOCPD_TEST_SEED to repeat)\n" % tf.SEED)
    t.main(time_limit=(120, 420))
