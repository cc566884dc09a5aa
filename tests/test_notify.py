"""iocpd under systemd's Type=notify (service/posix/notify.c), natively:
`iocpd run` with NOTIFY_SOCKET naming a datagram socket of the test, which
reads what systemd would.

  ready_after_listening  the config comes through a named pipe: while
                         iocpd waits for it, nothing is sent; then the
                         first message is READY=1, and once it has arrived
                         every listener (40, and the metrics endpoint)
                         accepts at the first connect, the last one first
  reload                 SIGHUP: RELOADING=1 with MONOTONIC_USEC= (taken
                         between the signal and its arrival, on the test's
                         own CLOCK_MONOTONIC) in one datagram, then READY=1,
                         after which the listener the new file adds accepts
                         at once; a refused file also gives RELOADING=1
                         then READY=1, and the old listeners go on serving
  stopping               SIGTERM with a client connected and drain_timeout
                         10 s: STOPPING=1 arrives while the drain still
                         runs (iocpd alive, no "drain finished"); nothing
                         follows it, and iocpd exits 0 once the client
                         closes
  abstract_namespace     NOTIFY_SOCKET=@name: READY=1 and STOPPING=1 reach
                         a socket in the abstract namespace
  unreachable            NOTIFY_SOCKET naming no socket, or not an address
                         at all: iocpd serves, reloads and stops as usual
                         (exit 0), with one warning per notification
  unset                  no NOTIFY_SOCKET: no warning about notifications

Every message must be one whole datagram: READY=1, STOPPING=1, or
RELOADING=1 and MONOTONIC_USEC=N on two lines. Native only (exits 77 under
Wine: the Windows build sends nothing). Run:
IOCPD_BIN=/path/to/iocpd python3 tests/test_notify.py.
Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import errno
import os
import random
import re
import signal
import socket
import time
import unittest

import harness as t
from harness.ports import free_ports
from harness.scope import say

# Listeners of ready_after_listening: enough to make the start take a few
# milliseconds, in which a READY=1 sent too early would be seen.
LISTENERS = 40

RELOADING_RX = re.compile(r"RELOADING=1\nMONOTONIC_USEC=(\d+)\n?")


def monotonic_usec():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class NotifySocket:
    """The datagram socket systemd would listen on: a file in workdir, or
    a name in the abstract namespace. value is what NOTIFY_SOCKET gets."""

    def __init__(self, workdir, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "iocpd-test-notify-%d-%d" % (os.getpid(), random.randrange(1 << 30))
            self.sock.bind("\0" + name)
            self.value = "@" + name
        else:
            self.value = os.path.join(workdir.path, "notify.sock")
            self.sock.bind(self.value)

    def close(self):
        self.sock.close()

    def poll(self, timeout):
        """The next message, or None if none arrives within timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        return data.decode("utf-8", "replace")

    def expect(self, d, timeout=10):
        """The next message; fails if iocpd exits or nothing comes first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.poll(0.1)
            if m is not None:
                return m
            if not d.running():
                m = self.poll(0)
                if m is not None:
                    return m
                raise AssertionError("iocpd exited (%r) before notifying\n%s"
                                     % (d.proc.returncode, d.stderr()))
        raise AssertionError("no notification within %g s\n%s" % (timeout, d.stderr()))

    def expect_nothing(self, seconds):
        m = self.poll(seconds)
        if m is not None:
            raise AssertionError("unexpected notification %r" % m)


def launch(workdir, names, notify_value, service=None, fifo=False, metrics=False):
    """Picks ports, writes iocpd.ini with one echo listener per name (and
    the [service] keys given, and metrics_listen with metrics) and starts
    `iocpd run` with NOTIFY_SOCKET set to notify_value (removed if None).
    With fifo, iocpd.ini is a named pipe instead, which iocpd blocks
    reading until feed() writes the text into it. Returns (daemon,
    {name: port}, text), the metrics port under "/metrics"."""
    # One call, so that every port differs.
    picked = free_ports(len(names) + (1 if metrics else 0))
    ports = dict(zip(names, picked))
    if metrics:
        ports["/metrics"] = picked[-1]
        service = dict(service or {}, metrics_listen=t.addr(picked[-1]))
    text = t.config_text([(n, t.addr(ports[n]), "echo") for n in names], service)
    path = os.path.join(workdir.path, "iocpd.ini")
    if os.path.lexists(path):
        os.unlink(path)
    if fifo:
        os.mkfifo(path)
    else:
        workdir.write("iocpd.ini", text)
    saved = os.environ.get("NOTIFY_SOCKET")
    try:
        if notify_value is None:
            os.environ.pop("NOTIFY_SOCKET", None)
        else:
            os.environ["NOTIFY_SOCKET"] = notify_value
        d = t.Daemon(workdir, ["run", "-c", "iocpd.ini"])
    finally:
        if saved is None:
            os.environ.pop("NOTIFY_SOCKET", None)
        else:
            os.environ["NOTIFY_SOCKET"] = saved
    return d, ports, text


def feed(path, text, d, timeout=5):
    """Writes text into the named pipe path once iocpd has it open."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as e:
            if e.errno != errno.ENXIO or not d.running() or time.monotonic() > deadline:
                raise AssertionError("cannot feed the config to iocpd: %s\n%s" % (e, d.stderr()))
            time.sleep(0.01)
    try:
        os.set_blocking(fd, True)
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)


def echoes_at_once(port, token):
    """One connect, no retry: True if port accepts and echoes token."""
    with socket.create_connection((t.HOST, port), timeout=5) as c:
        c.sendall(token)
        return t.recv_exact(c, len(token)) == token


class NotifyTest(unittest.TestCase):

    def setUp(self):
        self.workdir = t.Workdir()
        self.daemon = None
        self.notify = None

    def tearDown(self):
        if self.daemon is not None:
            self.daemon.kill()
        if self.notify is not None:
            self.notify.close()
        self.workdir.cleanup()

    def start_notified(self, names, service=None, abstract=False, fifo=False, metrics=False):
        """Starts iocpd with NOTIFY_SOCKET set and waits for its first
        message, which must be READY=1. With fifo, the config comes
        through a named pipe, and no message may come while iocpd waits
        for it. Returns {name: port}."""
        self.notify = NotifySocket(self.workdir, abstract)
        result = {}

        def go():
            d, ports, text = launch(self.workdir, names, self.notify.value, service, fifo,
                                    metrics)
            self.daemon = d
            result.clear()
            result.update(ports)
            if fifo:
                # iocpd is reading its config: nothing is listening yet.
                m = self.notify.poll(0.5)
                self.assertIsNone(m, "a notification before the config was read")
                feed(os.path.join(self.workdir.path, "iocpd.ini"), text, d)
            return d, None

        def ready(d):
            deadline = time.monotonic() + t.READY_TIMEOUT
            while time.monotonic() < deadline:
                m = self.notify.poll(0.05)
                if m is not None:
                    self.assertEqual(m, "READY=1", "the first notification")
                    return True
                if not d.running():
                    return False
            raise AssertionError("no READY=1 within %g s\n%s" % (t.READY_TIMEOUT, d.stderr()))

        t.start_on_fresh_ports(go, ready)
        return result

    def stop(self, sig=signal.SIGTERM):
        os.kill(self.daemon.pid, sig)
        rc = self.daemon.wait(15)
        self.assertEqual(rc, 0, "iocpd's exit code\n" + self.daemon.stderr())
        self.assertNotRegex(self.daemon.stderr(), r"AddressSanitizer|LeakSanitizer|runtime error:")

    def test_ready_after_listening(self):
        names = ["l%02d" % i for i in range(LISTENERS)]
        say("config through a named pipe: nothing sent while it is unread; then %d echo "
            "listeners and /metrics each accept at the first connect after READY=1" % LISTENERS)
        ports = self.start_notified(names, {"log_level": "info"}, fifo=True, metrics=True)
        # The last listener bound first: a READY=1 sent before the end of
        # the start would most likely find it still closed.
        with socket.create_connection((t.HOST, ports["/metrics"]), timeout=5):
            pass
        for name in reversed(names):
            self.assertTrue(echoes_at_once(ports[name], b"ready %s\n" % name.encode()), name)
        self.assertRegex(self.daemon.stderr(), r"running with \d+ workers")
        self.notify.expect_nothing(0.3)
        self.stop()
        self.assertEqual(self.notify.expect(self.daemon, 1), "STOPPING=1")

    def test_reload(self):
        ports = self.start_notified(["one"], {"log_level": "info"})
        # Not "one"'s port: iocpd holds that one.
        two = free_ports(1)[0]
        self.workdir.write("iocpd.ini", t.config_text(
            [("one", t.addr(ports["one"]), "echo"), ("two", t.addr(two), "echo")],
            {"log_level": "info"}))

        say("SIGHUP adding listener 'two': RELOADING=1 (with MONOTONIC_USEC), then READY=1")
        before = monotonic_usec()
        os.kill(self.daemon.pid, signal.SIGHUP)
        m = self.notify.expect(self.daemon)
        after = monotonic_usec()
        match = RELOADING_RX.fullmatch(m)
        self.assertIsNotNone(match, "expected RELOADING=1 and MONOTONIC_USEC= in one "
                                    "datagram, got %r" % m)
        self.assertTrue(before <= int(match.group(1)) <= after,
                        "MONOTONIC_USEC=%s is not between %d and %d (CLOCK_MONOTONIC)"
                        % (match.group(1), before, after))
        self.assertEqual(self.notify.expect(self.daemon), "READY=1")
        self.assertTrue(echoes_at_once(two, b"added\n"), "the added listener after READY=1")
        self.assertTrue(echoes_at_once(ports["one"], b"kept\n"))
        self.assertRegex(self.daemon.stderr(), r"configuration reloaded: 1 listeners kept, 1 added")

        say("SIGHUP with a broken file: RELOADING=1, then READY=1, old listeners serve")
        self.workdir.write("iocpd.ini", "[listener:one]\nlisten = nowhere\n")
        os.kill(self.daemon.pid, signal.SIGHUP)
        self.assertIsNotNone(RELOADING_RX.fullmatch(self.notify.expect(self.daemon)))
        self.assertEqual(self.notify.expect(self.daemon), "READY=1")
        self.assertRegex(self.daemon.stderr(), r"configuration not reloaded")
        self.assertTrue(echoes_at_once(ports["one"], b"still\n"))
        self.assertTrue(echoes_at_once(two, b"still\n"))
        self.notify.expect_nothing(0.3)
        self.stop()
        self.assertEqual(self.notify.expect(self.daemon, 1), "STOPPING=1")

    def test_stopping(self):
        ports = self.start_notified(["echo"], {"log_level": "info", "drain_timeout": "10s"})
        say("SIGTERM with a client connected: STOPPING=1 while the drain runs")
        c = socket.create_connection((t.HOST, ports["echo"]), timeout=5)
        try:
            c.sendall(b"open\n")
            self.assertEqual(t.recv_exact(c, 5), b"open\n")
            os.kill(self.daemon.pid, signal.SIGTERM)
            self.assertEqual(self.notify.expect(self.daemon, 5), "STOPPING=1")
            # The drain waits for this client: it has started and is not over.
            self.daemon.wait_log(r"stop requested: 1 open connections")
            self.assertTrue(self.daemon.running(), "iocpd exited before its drain was over")
            self.assertNotRegex(self.daemon.stderr(), r"drain finished")
        finally:
            c.close()
        rc = self.daemon.wait(15)
        self.assertEqual(rc, 0, self.daemon.stderr())
        self.assertRegex(self.daemon.stderr(), r"drain finished: drained \d+, aborted 0")
        self.notify.expect_nothing(0.2)

    def test_abstract_namespace(self):
        ports = self.start_notified(["echo"], abstract=True)
        say("NOTIFY_SOCKET=%s: READY=1 came; SIGTERM gives STOPPING=1" % self.notify.value)
        self.assertTrue(echoes_at_once(ports["echo"], b"abstract\n"))
        self.stop()
        self.assertEqual(self.notify.expect(self.daemon, 1), "STOPPING=1")

    def run_without_listener(self, value):
        """iocpd with NOTIFY_SOCKET=value, which no one reads: starts,
        reloads and stops as usual. Returns its stderr."""
        ports = {}

        def go():
            d, picked, _ = launch(self.workdir, ["echo"], value, {"log_level": "info"})
            self.daemon = d
            ports.clear()
            ports.update(picked)
            return d, None

        t.start_on_fresh_ports(go, lambda d: d.wait_ready(ports.values()))
        self.assertTrue(echoes_at_once(ports["echo"], b"served\n"))
        os.kill(self.daemon.pid, signal.SIGHUP)
        self.daemon.wait_log(r"configuration reloaded")
        self.assertTrue(echoes_at_once(ports["echo"], b"reloaded\n"))
        self.stop()
        return self.daemon.stderr()

    def test_unreachable(self):
        for value, why in ((os.path.join(self.workdir.path, "nobody.sock"),
                            r"No such file or directory"),
                           ("relative/notify.sock", r"not an absolute path")):
            say("NOTIFY_SOCKET=%s" % value)
            err = self.run_without_listener(value)
            for state in ("READY=1", "RELOADING=1", "STOPPING=1"):
                self.assertRegex(err, r"warning systemd notification %s not sent.*%s"
                                 % (state, why))
            self.assertEqual(len(re.findall(r"systemd notification", err)), 4,
                             "one warning per notification (READY twice)\n" + err)

    def test_unset(self):
        err = self.run_without_listener(None)
        self.assertNotRegex(err, r"notification")


if __name__ == "__main__":
    if t.WINE:
        print("test_notify.py: skipped: systemd notifications are Linux only")
        sys.exit(77)
    t.main(time_limit=(60, 60))
