"""iocpd as a Windows service under Wine's service control manager (SCM):
reloading its config with `iocpd reload`, which sends the service
SERVICE_CONTROL_PARAMCHANGE (Wine 8's sc.exe has no `control` command).

  ServiceReloadTest
    reload              a running service, a client connected to its echo
                        listener; the file gains a second listener and
                        `iocpd reload --name NAME` is sent: the new listener
                        serves, the open client is untouched, the service
                        stays RUNNING, and the Event Log says
                        "configuration reloaded: 1 listeners kept, 1 added,
                        0 removed (1 connections draining)" as event 1007
    bad_file            a file with a problem: the old listeners go on
                        serving, the status stays RUNNING, and the Event Log
                        names the file and line (event 3003)
    not_running         `iocpd reload` for a stopped service and for no
                        service: exit 3 with the reason
    under_load          clients connect without pause and 10 long transfers
                        run through the service while it is reloaded 6
                        times, a second listener added and removed: no
                        connect to the kept listener fails, every transfer
                        is byte-exact

Wine only (exits 77, skipped, natively). The Wine prefix, sc and the Event
Log come from harness/winservice.py.
"""

import sys

sys.dont_write_bytecode = True

import os
import re
import socket
import threading
import time
import unittest

import harness as t
from harness import winservice
from harness.streams import PacedEchoClient
from harness.winservice import EventLog, Service, assert_events_in_order, winpath


def echoes(port, data):
    with t.connect(port) as c:
        c.sendall(data)
        return t.recv_exact(c, len(data)) == data


class ServiceReloadTest(unittest.TestCase):

    def setUp(self):
        self.workdir = t.Workdir()
        self.service = None

    def tearDown(self):
        if self.service is not None:
            self.service.remove()
            self.assertIsNone(self.service.query())
        self.workdir.cleanup()

    def start(self, ports):
        self.workdir.write("svc.ini", t.config_text(
            [("one", t.addr(ports[0]), "echo")], {"drain_timeout": "2s"}))
        self.service = Service(os.path.join(self.workdir.path, "svc.ini"), drain_s=2)
        self.service.start()
        self.service.wait_state(["RUNNING"])
        self.assertTrue(echoes(ports[0], b"one\n"))

    def reload(self, *extra):
        return t.run_cli(["reload", "--name", self.service.name] + list(extra), self.workdir)

    def test_reload(self):
        ports = t.free_ports(2)
        self.start(ports)
        log = EventLog()
        held = t.connect(ports[0])
        try:
            held.sendall(b"before\n")
            self.assertEqual(t.recv_exact(held, 7), b"before\n")
            self.workdir.write("svc.ini", t.config_text(
                [("one", t.addr(ports[0]), "echo"), ("two", t.addr(ports[1]), "echo")],
                {"drain_timeout": "2s"}))
            r = self.reload()
            self.assertEqual(r.rc, 0, r)
            self.assertIn("asked the service '%s' to reload" % self.service.name, r.stdout)
            events = log.wait_for(r"^configuration reloaded: ", timeout=t.pick(10, 30))
            assert_events_in_order(self, events, [
                (r"^reload requested: reading %s$"
                 % re.escape(winpath(os.path.join(self.workdir.path, "svc.ini"))),
                 "trace", "info"),
                (r"^configuration reloaded: 1 listeners kept, 1 added, 0 removed "
                 r"\(0 connections draining\)$", "trace", "reloaded"),
            ])
            self.assertTrue(echoes(ports[1], b"two\n"), "the added listener does not serve")
            held.sendall(b"after\n")
            self.assertEqual(t.recv_exact(held, 6), b"after\n", "the open client was disturbed")
            self.assertEqual(self.service.query().state, "RUNNING")
        finally:
            held.close()

    def test_bad_file(self):
        ports = t.free_ports(2)
        self.start(ports)
        log = EventLog()
        self.workdir.write("svc.ini", t.config_text(
            [("one", t.addr(ports[0]), "echo"), ("two", t.addr(ports[1]), "bogus")],
            {"drain_timeout": "2s"}))
        r = self.reload()
        self.assertEqual(r.rc, 0, r)
        where = re.escape(winpath(os.path.join(self.workdir.path, "svc.ini")))
        events = log.wait_for(r"^configuration not reloaded: ", timeout=t.pick(10, 30))
        assert_events_in_order(self, events, [
            (r"^%s:\d+: handler: unknown handler 'bogus'" % where, "err", "reload_failed"),
            (r"^configuration not reloaded: %s has problems \(above\); still running the "
             r"configuration loaded before$" % where, "err", "reload_failed"),
        ])
        self.assertTrue(echoes(ports[0], b"still\n"))
        self.assertFalse(t.port_accepts(ports[1]))
        self.assertEqual(self.service.query().state, "RUNNING")

    def test_under_load(self):
        ports = t.free_ports(2)
        self.start(ports)
        stop = threading.Event()
        counts = {"ok": 0, "failed": []}

        def churn():
            n = 0
            while not stop.is_set():
                token = b"churn %d\n" % n
                n += 1
                try:
                    with socket.create_connection((t.HOST, ports[0]), timeout=10) as c:
                        c.sendall(token)
                        if t.recv_exact(c, len(token)) == token:
                            counts["ok"] += 1
                        else:
                            counts["failed"].append("wrong bytes")
                except OSError as e:
                    counts["failed"].append(repr(e))

        longs = [PacedEchoClient(t.connect(ports[0], timeout=60), os.urandom(256 << 10),
                                 8 << 10, 0.05, name="long-%d" % i) for i in range(10)]
        for c in longs:
            c.start()
        churner = threading.Thread(target=churn, daemon=True)
        churner.start()
        log = EventLog()
        try:
            for i in range(6):
                listeners = [("one", t.addr(ports[0]), "echo")]
                if i % 2 == 0:
                    listeners.append(("two", t.addr(ports[1]), "echo"))
                self.workdir.write("svc.ini", t.config_text(listeners, {"drain_timeout": "2s"}))
                r = self.reload()
                self.assertEqual(r.rc, 0, r)
                deadline = time.monotonic() + t.pick(10, 30)
                while len([e for e in log.events()
                           if e.text.startswith("configuration reloaded: ")]) < i + 1:
                    self.assertLess(time.monotonic(), deadline, "reload %d not logged" % (i + 1))
                    time.sleep(0.1)
        finally:
            stop.set()
            churner.join(30)
        for i, c in enumerate(longs):
            self.assertTrue(c.join(120), "long transfer %d still running" % i)
        sys.stderr.write("    6 reloads under %d churn connections\n" % counts["ok"])
        self.assertEqual(counts["failed"], [], "connections to the kept listener failed")
        self.assertGreater(counts["ok"], 0)
        for i, c in enumerate(longs):
            self.assertIsNone(c.error, "long transfer %d: %r" % (i, c.error))
            self.assertTrue(c.eof and c.intact(), "long transfer %d not byte-exact" % i)
            c.sock.close()
        self.assertEqual(self.service.query().state, "RUNNING")

    def test_not_running(self):
        ports = t.free_ports(1)
        self.workdir.write("svc.ini", t.config_text([("one", t.addr(ports[0]), "echo")]))
        self.service = Service(os.path.join(self.workdir.path, "svc.ini"), drain_s=2)
        r = self.reload()
        self.assertEqual(r.rc, 3, r)
        self.assertIn("is not running: nothing to reload", r.stderr)
        r = t.run_cli(["reload", "--name", self.service.name + "-none"], self.workdir)
        self.assertEqual(r.rc, 3, r)
        self.assertIn("does not exist", r.stderr)
        r = t.run_cli(["reload", "--bogus"], self.workdir)
        self.assertEqual(r.rc, 2, r)


if __name__ == "__main__":
    winservice.main(time_limit=200)
