"""iocpd as a Windows service under Wine's service control manager (SCM): a
start, and a graceful drain on stop.

One service run, observed once (ServiceDrainTest.setUpClass): `sc start`,
20 clients, of which half finish within drain_timeout and half are aborted
at it, `sc stop`, `sc query` polled through the drain, `sc delete`. The
tests then check what was seen: START_PENDING then RUNNING, STOP_PENDING
with a rising checkpoint and the drain's wait hint, STOPPED once with exit
code 0 after the drain, the short transfers byte-exact, the long ones
aborted at drain_timeout, nothing left after the delete, and the Event Log
text of that run in order (with event ids where Wine traces them).

Starts that fail, and `iocpd service` run by hand: test_service_start.py.

Wine only (exits 77, skipped, natively). The Wine prefix, sc and the Event
Log come from harness/winservice.py, whose docstring says what the prefix's
services.exe needs (WINEDLLPATH with the inih shim, WINEDEBUG with
+eventlog and fixme+advapi) and when a private prefix is started instead.
"""

import sys

sys.dont_write_bytecode = True

import hashlib
import os
import re
import socket
import threading
import time
import unittest

import harness as t
from harness import winservice
from harness.winservice import (EV, STATE_TIMEOUT, EventLog, Service,
                                assert_events_in_order, winpath)

# The drain case: drain_timeout, and the 20 clients.
DRAIN_S = 5
SHORT_CLIENTS = 10
LONG_CLIENTS = 10
CHUNK = 4096
# Before the stop every client sends PRE_CHUNKS chunks (and gets them back),
# then waits for the stop. After it a short client sends SHORT_CHUNKS more
# in about 1 s and half-closes; a long one sends LONG_CHUNKS more over about
# 3 * drain_timeout, far beyond it.
PRE_CHUNKS = 2
SHORT_CHUNKS = 20
SHORT_PAUSE = 0.05
LONG_CHUNKS = 60
LONG_PAUSE = 3.0 * DRAIN_S / LONG_CHUNKS

# The wait hint that iocpd reports while draining: drain_timeout + 10 s.
STOP_WAIT_HINT_MS = DRAIN_S * 1000 + 10000


# ---------------------------------------------------------------------------
# Clients for the drain case


class Client:
    """One echo client: sends PRE_CHUNKS chunks, waits for `go` (set once
    the stop has been requested), then sends `rest` more chunks `pause` s
    apart and half-closes; another thread reads the echo until EOF."""

    def __init__(self, port, go, rest, pause):
        self.sock = t.connect(port, timeout=60)
        self.go = go
        self.pause = pause
        self.payload = os.urandom(CHUNK * (PRE_CHUNKS + rest))
        self.sent = 0
        self.received = 0
        self.digest = hashlib.sha256()
        self.send_error = None
        self.recv_error = None
        self.eof = False
        self.ended = None  # time.monotonic() when reading ended
        self._threads = [threading.Thread(target=self._sender, daemon=True),
                         threading.Thread(target=self._receiver, daemon=True)]
        for th in self._threads:
            th.start()

    def _sender(self):
        try:
            while self.sent < len(self.payload):
                if self.sent >= PRE_CHUNKS * CHUNK:
                    self.go.wait()
                    time.sleep(self.pause)
                self.sock.sendall(self.payload[self.sent:self.sent + CHUNK])
                self.sent += CHUNK
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.send_error = e

    def _receiver(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.eof = True
                    break
                self.received += len(data)
                self.digest.update(data)
        except OSError as e:
            self.recv_error = e
        self.ended = time.monotonic()

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        return not any(th.is_alive() for th in self._threads)

    def exact(self):
        return (self.eof and self.recv_error is None and self.received == len(self.payload)
                and self.digest.digest() == hashlib.sha256(self.payload).digest())

    def close(self):
        self.sock.close()

    def __repr__(self):
        return "sent %d/%d, received %d, eof %s, errors %r/%r" % (
            self.sent, len(self.payload), self.received, self.eof, self.send_error,
            self.recv_error)


# ---------------------------------------------------------------------------
# The case


class ServiceDrainTest(unittest.TestCase):
    """One service run, observed once in setUpClass (start, 20 clients, sc
    stop, sc query polled through the drain, sc delete), and asserted by the
    tests."""

    @classmethod
    def setUpClass(cls):
        cls.error = None
        try:
            cls._run()
        except Exception as e:  # reported by every test of the class
            cls.error = e

    @classmethod
    def _run(cls):
        cls.workdir = t.Workdir()
        port = t.free_ports(1)[0]
        cls.port = port
        cls.config = os.path.join(cls.workdir.path, "drain.ini")
        cls.workdir.write("drain.ini", t.config_text(
            [("echo", t.addr(port), "echo")],
            {"drain_timeout": "%ds" % DRAIN_S, "workers": 2}))
        cls.log = EventLog()
        svc = Service(cls.config, drain_s=DRAIN_S)
        cls.service = svc
        go = threading.Event()
        clients = []
        cls.clients = clients
        try:
            cls.start_output = svc.start()
            cls.start_seen = []
            cls.running = svc.wait_state(["RUNNING", "STOPPED"], seen=cls.start_seen)
            if cls.running.state != "RUNNING":
                raise AssertionError("service did not start: %r\n%s"
                                     % (cls.running, cls.log.text()))
            for i in range(SHORT_CLIENTS + LONG_CLIENTS):
                if i < SHORT_CLIENTS:
                    clients.append(Client(port, go, SHORT_CHUNKS, SHORT_PAUSE))
                else:
                    clients.append(Client(port, go, LONG_CHUNKS, LONG_PAUSE))
            # Every client's first chunks came back: all 20 are accepted
            # and in the middle of their transfer.
            deadline = time.monotonic() + 30
            while not all(c.received >= PRE_CHUNKS * CHUNK for c in clients):
                if time.monotonic() > deadline or any(c.recv_error for c in clients):
                    raise AssertionError("clients did not get going: %r" % clients)
                time.sleep(0.02)
            cls.stop_at = time.monotonic()
            cls.stop_output = svc.stop()
            go.set()
            cls.stop_seen = []
            cls.stopped = svc.wait_state(["STOPPED"], timeout=DRAIN_S + STATE_TIMEOUT,
                                         seen=cls.stop_seen)
            cls.stopped_at = cls.stopped.when
            for c in clients:
                c.join(30)
            cls.events = cls.log.wait_for(r"^stopped$")
            cls.calls = dict(cls.log.calls)
            cls.sources = list(cls.log.sources)
        finally:
            go.set()
            for c in clients:
                c.close()
            svc.remove()
            cls.after_delete = svc.query()
            cls.leftover = svc.processes()
            cls.workdir.cleanup()

    def setUp(self):
        if self.error is not None:
            raise self.error

    def test_start_reports_start_pending_then_running(self):
        # sc start prints the status right after StartService returns.
        m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", self.start_output)
        self.assertIsNotNone(m, self.start_output)
        self.assertIn(m.group(1), ("START_PENDING", "RUNNING"), self.start_output)
        pending = [s for s in self.start_seen if s.state == "START_PENDING"]
        self.assertEqual([s.checkpoint for s in pending],
                         sorted(s.checkpoint for s in pending))
        for s in pending:
            self.assertGreater(s.wait_hint, 0, s)
        self.assertEqual(self.running.checkpoint, 0)
        self.assertEqual(self.running.wait_hint, 0)

    def test_stop_pending_with_rising_checkpoint(self):
        pending = [s for s in self.stop_seen if s.state == "STOP_PENDING"]
        self.assertTrue(pending, "STOP_PENDING never seen: %r" % self.stop_seen)
        checkpoints = [s.checkpoint for s in pending]
        self.assertEqual(checkpoints, sorted(checkpoints), pending)
        # A checkpoint per connection that finished and one per second.
        self.assertGreater(max(checkpoints), 1, pending)
        for s in pending:
            self.assertEqual(s.wait_hint, STOP_WAIT_HINT_MS, s)
        # sc stop prints the status ControlService returned: the handler
        # only signals, so the STOP_PENDING report may come just after it.
        m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", self.stop_output)
        self.assertIsNotNone(m, self.stop_output)
        self.assertIn(m.group(1), ("RUNNING", "STOP_PENDING"), self.stop_output)

    def test_stopped_once_with_exit_code_0(self):
        self.assertEqual(self.stopped.state, "STOPPED")
        self.assertEqual(self.stopped.win32_exit, 0, self.stopped)
        self.assertEqual(self.stopped.service_exit, 0, self.stopped)
        # STOPPED came after the drain, which lasted drain_timeout (the long
        # clients), not before.
        took = self.stopped_at - self.stop_at
        self.assertGreater(took, DRAIN_S - 0.5)
        self.assertLess(took, DRAIN_S + 10)
        after = self.stop_seen[self.stop_seen.index(self.stopped):]
        self.assertTrue(all(s.state == "STOPPED" for s in after))

    def test_short_transfers_complete_byte_exact(self):
        for i, c in enumerate(self.clients[:SHORT_CLIENTS]):
            self.assertIsNotNone(c.ended, "short client %d still reading: %r" % (i, c))
            self.assertTrue(c.exact(), "short client %d: %r" % (i, c))
            self.assertIsNone(c.send_error, "short client %d: %r" % (i, c))
            self.assertLess(c.ended - self.stop_at, DRAIN_S, "short client %d" % i)

    def test_long_transfers_aborted_at_drain_timeout(self):
        for i, c in enumerate(self.clients[SHORT_CLIENTS:]):
            self.assertIsNotNone(c.ended, "long client %d still reading: %r" % (i, c))
            self.assertFalse(c.exact(), "long client %d: %r" % (i, c))
            self.assertLess(c.received, len(c.payload), "long client %d: %r" % (i, c))
            self.assertTrue(c.recv_error is not None or c.eof, "long client %d: %r" % (i, c))
            ended = c.ended - self.stop_at
            self.assertGreater(ended, DRAIN_S - 0.5, "long client %d ended early" % i)
            self.assertLess(ended, DRAIN_S + 5, "long client %d ended late" % i)

    def test_deleted_and_no_process_left(self):
        self.assertIsNone(self.after_delete)
        self.assertEqual(self.leftover, {})

    def test_event_log_in_order(self):
        port = self.port
        m = assert_events_in_order(self, self.events, [
            (r"^iocpd \S+ starting with %s$" % re.escape(winpath(self.config)),
             "trace", "starting"),
            (r"^listener echo: listening on 127\.0\.0\.1:%d \(echo\)$" % port,
             "trace", "listener"),
            (r"^running with 2 workers$", "trace", "running"),
            (r"^service control: stop$", "trace", "info"),
            (r"^stop requested: 20 open connections, draining for up to %d ms$"
             % (DRAIN_S * 1000), "trace", "stop_requested"),
            (r"^drain finished: drained %d, aborted %d in (\d+) ms$"
             % (SHORT_CLIENTS, LONG_CLIENTS), "trace", "drain_finished"),
            (r"^stopped$", "trace", "stopped"),
        ])
        self.assertGreaterEqual(int(m[5].group(1)), DRAIN_S * 1000 - 50)
        self.assertLess(int(m[5].group(1)), DRAIN_S * 1000 + 5000)
        # Nothing went wrong on the way, and nothing came after "stopped".
        self.assertFalse([e for e in self.events if e.kind != "trace"], self.events)
        self.assertEqual(self.events[-1].text, "stopped")
        for e in self.events:
            if e.text.startswith("draining:"):
                self.assertIn(e.id, (None, EV["draining"]), e)
        if winservice.PREFIX.ids_traced():
            # The source, named after the service as `iocpd install`
            # registers it, is opened once per run and closed at the end.
            self.assertEqual(self.calls, {"RegisterEventSourceW": 1,
                                          "DeregisterEventSource": 1})
            self.assertEqual(self.sources, [self.service.name])


if __name__ == "__main__":
    winservice.main(time_limit=200)
