"""Reloading the config of a running iocpd (console mode; SIGHUP), natively.

  under_load            new connections without pause (4 threads; about
                        700 a second here) and 50 long transfers through a forward
                        listener while the file is reloaded 20 times,
                        alternating the upstream order and adding and
                        removing a second listener: no connect to the kept
                        listener fails, every long transfer is byte-exact,
                        the removed listener's open connection goes on
                        until drain_timeout and is then cut, and
                        iocpd_config_reloads_total{result="ok"} is 20
  bad_file              a reload of a file with a problem changes nothing:
                        the error names file and line, the old listeners go
                        on serving, the error counter rises, and a fixed
                        file then applies
  start_only_keys       [service] workers changed: "needs a restart",
                        the rest applies
  moves                 metrics_listen to another port and access_log
                        turned on: the endpoint moves (the old port
                        refuses, the counters go on) and the log gets the
                        lines of connections that end after the reload

Under Wine the console has no signal for this (Wine ends the process at
SIGHUP), so the script exits 77 there; test_service_reload.py reloads the
Windows service with `iocpd reload`. Run: IOCPD_BIN=/path/to/iocpd
python3 tests/test_reload.py. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import os
import re
import signal
import socket
import threading
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.accesslog import ACCESS_LOG, CONFIG, read_lines, start
from harness.config import config_text_for, echo, fwd
from harness.metrics import metrics, value
from harness.ports import free_port
from harness.scope import limited, say
from harness.streams import PacedEchoClient

RELOADS = 20
LONG = 50
LONG_BYTES = 2 << 20


class Churn:
    """Threads that connect to a port without pause, each sending a token
    and reading it back, counting successes and failures."""

    def __init__(self, port, threads=4):
        self.port = port
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]

    def start(self):
        for th in self._threads:
            th.start()

    def _run(self, index):
        n = 0
        while not self._stop.is_set():
            token = b"churn %d %d\n" % (index, n)
            n += 1
            try:
                with socket.create_connection((t.HOST, self.port), timeout=5) as c:
                    c.sendall(token)
                    got = t.recv_exact(c, len(token))
                if got != token:
                    self.failures.append("wrong bytes %r" % got)
                else:
                    self.ok += 1
            except OSError as e:
                self.failures.append(repr(e))

    def stop(self):
        self._stop.set()
        for th in self._threads:
            th.join(10)


def write_config(sc, listeners, ports, service):
    sc.workdir.write(CONFIG, config_text_for(listeners, ports, service))


def reloaded(d, count, timeout=10):
    """Waits until the log has `count` 'configuration reloaded' lines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(re.findall(r"configuration reloaded: ", d.stderr())) >= count:
            return
        time.sleep(0.01)
    raise AssertionError("reload %d not logged:\n%s" % (count, d.stderr()[-3000:]))


class ReloadTest(unittest.TestCase):

    def setUp(self):
        if t.WINE:
            raise unittest.SkipTest("no reload signal in a Wine console")

    @limited(90, 200)
    def test_under_load(self, sc):
        say("churn on 'main' (forward to two echo upstreams), %d long transfers of %d KiB, "
            "%d reloads: upstream order swapped each time, listener 'extra' added and "
            "removed every other time" % (LONG, LONG_BYTES >> 10, RELOADS))
        a = sc.add(us.EchoUpstream(max_conns=4096))
        b = sc.add(us.EchoUpstream(max_conns=4096))
        service = {"log_level": "info", "drain_timeout": "1s"}
        main_ab = fwd("main", [a.addr, b.addr])
        main_ba = fwd("main", [b.addr, a.addr])
        d, ports, mport = start(sc, [main_ab], service)
        service["metrics_listen"] = t.addr(mport)
        ports["extra"] = free_port(socket.AF_INET)
        extra = echo("extra")

        longs = [PacedEchoClient(sc.connect(ports["main"], timeout=60), os.urandom(LONG_BYTES),
                                 16 << 10, 0.02, spawn=sc.task, name="long-%d" % i)
                 for i in range(LONG)]
        for c in longs:
            c.start()
        churn = Churn(ports["main"])
        churn.start()
        began = time.monotonic()
        held = None
        drain_checked = False
        quiet = []  # reloads with no churn connection finished around them
        for i in range(RELOADS):
            ok_before = churn.ok
            with_extra = i % 4 in (0, 1)
            listeners = [main_ba if i % 2 == 0 else main_ab] + ([extra] if with_extra else [])
            write_config(sc, listeners, ports, service)
            os.kill(d.pid, signal.SIGHUP)
            reloaded(d, i + 1)
            if with_extra and held is None and not drain_checked:
                held = sc.connect(ports["extra"])
                held.sendall(b"held\n")
                self.assertEqual(t.recv_exact(held, 5), b"held\n")
            if not with_extra and held is not None:
                # Removed: no new connection, the open one still echoes,
                # then drain_timeout (1 s) cuts it.
                with self.assertRaises(OSError):
                    socket.create_connection((t.HOST, ports["extra"]), timeout=2).close()
                held.sendall(b"still\n")
                self.assertEqual(t.recv_exact(held, 6), b"still\n")
                held.settimeout(5)
                cut_began = time.monotonic()
                try:
                    rest = held.recv(10)
                except OSError:
                    rest = b""
                self.assertEqual(rest, b"", "the removed listener's connection was not cut")
                say("removed listener's connection cut %.2f s after its removal"
                    % (time.monotonic() - cut_began))
                held.close()
                held = None
                drain_checked = True
            time.sleep(0.15)
            if churn.ok == ok_before:
                quiet.append(i)
        took = time.monotonic() - began
        churn.stop()
        for i, c in enumerate(longs):
            self.assertTrue(c.join(60), "long transfer %d still running" % i)
        say("%d reloads in %.1f s: %d churn connections (%.0f/s), %d failed; "
            "%d long transfers" % (RELOADS, took, churn.ok, churn.ok / took,
                                   len(churn.failures), LONG))
        self.assertEqual(churn.failures, [], "connections to the kept listener failed")
        # The rate is printed, not asserted (a loaded machine is slower);
        # what the test needs is connections around every reload.
        self.assertEqual(quiet, [], "reloads with no connection made around them")
        for i, c in enumerate(longs):
            self.assertIsNone(c.error, "long transfer %d: %r" % (i, c.error))
            self.assertTrue(c.eof and c.intact(), "long transfer %d not byte-exact" % i)
        self.assertTrue(drain_checked)
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_config_reloads_total", result="ok"), RELOADS)
        self.assertEqual(value(values, "iocpd_config_reloads_total", result="error"), 0)
        self.assertGreater(value(values, "iocpd_config_last_reload_success_timestamp_seconds"),
                           time.time() - 120)
        self.assertGreater(a.count(), 0)
        self.assertGreater(b.count(), 0)

    @limited(30, 60)
    def test_bad_file(self, sc):
        say("a reload of a file with a missing '=' changes nothing; the fixed file applies")
        d, ports, mport = start(sc, [echo("one")], {"log_level": "info"})
        service = {"log_level": "info", "metrics_listen": t.addr(mport)}
        ports["two"] = free_port(socket.AF_INET)
        good = config_text_for([echo("one"), echo("two")], ports, service)
        sc.workdir.write(CONFIG, good + "\n[listener:three]\nlisten 127.0.0.1:1\n")
        os.kill(d.pid, signal.SIGHUP)
        m = d.wait_log(t.log_rx("error", r"(\S+):(\d+): missing '='"))
        self.assertTrue(m.group(1).endswith("iocpd.ini"), m.group(0))
        d.wait_log(t.log_rx("error", r"configuration not reloaded: \S+ has problems"))
        with sc.connect(ports["one"]) as c:
            self.assertTrue(self._echoes(c, b"one still\n"))
        with self.assertRaises(OSError):
            socket.create_connection((t.HOST, ports["two"]), timeout=2).close()
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_config_reloads_total", result="error"), 1)
        self.assertEqual(value(values, "iocpd_config_reloads_total", result="ok"), 0)
        sc.workdir.write(CONFIG, good)
        os.kill(d.pid, signal.SIGHUP)
        reloaded(d, 1)
        with sc.connect(ports["two"]) as c:
            self.assertTrue(self._echoes(c, b"two now\n"))
        self.assertIn("configuration reloaded: 1 listeners kept, 1 added, 0 removed "
                      "(0 connections draining)", d.stderr())

    @limited(30, 60)
    def test_start_only_keys(self, sc):
        say("workers changed on reload: a 'needs a restart' warning, the rest applies")
        d, ports, mport = start(sc, [echo("one")], {"log_level": "info", "workers": "1"})
        service = {"log_level": "info", "workers": "2", "metrics_listen": t.addr(mport)}
        ports["two"] = free_port(socket.AF_INET)
        sc.workdir.write(CONFIG, config_text_for([echo("one"), echo("two")], ports, service))
        os.kill(d.pid, signal.SIGHUP)
        reloaded(d, 1)
        d.wait_log(t.log_rx("warning", r"reload: \[service\] workers changed \(1 to 2\): needs "
                            r"a restart; keeping 1"))
        with sc.connect(ports["two"]) as c:
            self.assertTrue(self._echoes(c, b"two\n"))

    @limited(30, 60)
    def test_moves(self, sc):
        say("metrics_listen moved and access_log turned on by a reload")
        d, ports, mport = start(sc, [echo("one")], {"log_level": "info"})
        with sc.connect(ports["one"]) as c:
            self.assertTrue(self._echoes(c, b"before\n"))
        new_mport = free_port(socket.AF_INET)
        service = {"log_level": "info", "metrics_listen": t.addr(new_mport),
                   "access_log": ACCESS_LOG}
        sc.workdir.write(CONFIG, config_text_for([echo("one")], ports, service))
        os.kill(d.pid, signal.SIGHUP)
        reloaded(d, 1)
        d.wait_log(t.log_rx("info", r"metrics: listening on %s" % re.escape(t.addr(new_mport))))
        self.assertFalse(t.port_accepts(mport), "the old metrics port still answers")
        with sc.connect(ports["one"]) as c:
            self.assertTrue(self._echoes(c, b"after\n"))
        values, _, _ = metrics(new_mport)
        self.assertEqual(value(values, "iocpd_config_reloads_total", result="ok"), 1)
        self.assertEqual(value(values, "iocpd_connections_total", listener="one"), 2,
                         "the counters were reset by the move")
        deadline = time.monotonic() + 10
        while True:
            recs = read_lines(sc.workdir, whole=False)
            if recs or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(recs), 1, "one line: the connection that ended after the reload")
        self.assertEqual(recs[0]["listener"], "one")

    @staticmethod
    def _echoes(c, data):
        c.sendall(data)
        return t.recv_exact(c, len(data)) == data


if __name__ == "__main__":
    t.main(time_limit=(200, 400))
