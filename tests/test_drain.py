"""Graceful stop: on SIGINT (Ctrl+C) iocpd stops accepting, lets the open
connections finish for up to drain_timeout, aborts the rest, and exits 0."""

import sys

sys.dont_write_bytecode = True

import os
import re
import signal
import socket
import time
import unittest

import harness as t
from harness.streams import PacedEchoClient

CLIENTS = 10
# Each client sends its bytes in CHUNK pieces with a pause after each, so
# that a transfer lasts about 1.3 s and the stop request lands in the middle.
BYTES_PER_CLIENT = t.pick(4 << 20, 1 << 20)
CHUNK = 64 << 10
PAUSE = t.pick(0.02, 0.08)
# How soon after SIGINT the listener must refuse new connections.
REFUSE_WITHIN = t.pick(2.0, 5.0)


class DrainTest(unittest.TestCase):
    def setUp(self):
        self.workdir = t.Workdir()

    def tearDown(self):
        self.workdir.cleanup()

    def test_in_flight_clients_finish_after_stop(self):
        d, ports = t.start(self.workdir, [("echo", "echo")],
                           service={"drain_timeout": "20s"})
        port = ports["echo"]
        t.settle()
        clients = []
        try:
            for _ in range(CLIENTS):
                clients.append(PacedEchoClient(t.connect(port, timeout=t.pick(20, 60)),
                                               os.urandom(BYTES_PER_CLIENT), CHUNK, PAUSE))
            for c in clients:
                c.start()
            # Stop once every client is well under way, before any is done.
            deadline = time.monotonic() + t.pick(10, 30)
            while not all(c.received >= BYTES_PER_CLIENT // 5 for c in clients):
                self.assertLess(time.monotonic(), deadline, "clients did not get going")
                self.assertFalse([c.error for c in clients if c.error])
                time.sleep(0.01)
            self.assertTrue(all(c.sent < BYTES_PER_CLIENT for c in clients),
                            "a client finished before the stop: test too fast")
            stop_at = time.monotonic()
            d.interrupt()

            m = d.wait_log(t.log_rx("info", r"stop requested: (\d+) open connections, "
                                    r"draining for up to 20000 ms"),
                           timeout=REFUSE_WITHIN)
            open_at_stop = int(m.group(1))

            # The listener goes away soon; a probe that still got in counts
            # as one more connection to drain.
            probes_in = 0
            while True:
                try:
                    probe = socket.create_connection((t.HOST, port), timeout=1.0)
                except OSError:
                    break
                probe.close()
                probes_in += 1
                self.assertLess(time.monotonic() - stop_at, REFUSE_WITHIN,
                                "still accepting connections %g s after SIGINT"
                                % REFUSE_WITHIN)
                time.sleep(0.05)
            self.assertGreaterEqual(open_at_stop, CLIENTS)
            self.assertLessEqual(open_at_stop, CLIENTS + probes_in)

            for c in clients:
                self.assertTrue(c.join(t.pick(30, 90)), "client still transferring")
            for i, c in enumerate(clients):
                self.assertIsNone(c.error, "client %d: %r" % (i, c.error))
                self.assertTrue(c.eof)
                self.assertEqual(c.received, BYTES_PER_CLIENT, "client %d length" % i)
                self.assertTrue(c.intact(), "client %d got different bytes back" % i)

            rc = d.wait(t.pick(10, 30))
            self.assertEqual(rc, 0, d.stderr())
            err = d.stderr()
            m = re.search(r"drain finished: drained (\d+), aborted (\d+) in (\d+) ms", err)
            self.assertIsNotNone(m, err)
            self.assertEqual(int(m.group(2)), 0, err)
            self.assertEqual(int(m.group(1)), open_at_stop, err)
            if probes_in == 0:
                self.assertIn("drain finished: drained %d, aborted 0" % CLIENTS, err)
            self.assertRegex(err, t.log_rx("info", "stopped"))
            # The drain ended when the clients were done, not at the timeout.
            self.assertLess(int(m.group(3)), 15000, err)
        finally:
            for c in clients:
                c.sock.close()
            d.kill()

    def test_idle_client_is_aborted_at_drain_timeout(self):
        d, ports = t.start(self.workdir, [("echo", "echo")],
                           service={"drain_timeout": "1s"})
        try:
            with t.connect(ports["echo"]) as s:
                # One round trip: the daemon has surely accepted it.
                s.sendall(b"x")
                self.assertEqual(t.recv_exact(s, 1), b"x")
                stop_at = time.monotonic()
                d.interrupt()
                d.wait_log(t.log_rx("info", r"stop requested: 1 open connections, "
                                    r"draining for up to 1000 ms"))
                s.settimeout(t.pick(6, 15))
                try:
                    data = s.recv(1)
                except ConnectionResetError:
                    data = b""
                except socket.timeout:
                    self.fail("connection not aborted within %g s" % s.gettimeout())
                ended = time.monotonic() - stop_at
                self.assertEqual(data, b"")
                self.assertGreater(ended, 0.8, "aborted before drain_timeout")
                self.assertLess(ended, 1.0 + t.pick(3, 8), "aborted late")
                rc = d.wait(t.pick(4, 10))
                self.assertEqual(rc, 0, d.stderr())
                err = d.stderr()
                self.assertRegex(err, r"drain finished: drained 0, aborted 1 in \d+ ms")
                self.assertRegex(err, t.log_rx("info", "stopped"))
        finally:
            d.kill()

    def test_stop_without_connections(self):
        d, ports = t.start(self.workdir, [("echo", "echo")])
        try:
            t.settle()
            self.assertEqual(d.stop(timeout=t.pick(5, 20)), 0, d.stderr())
            err = d.stderr()
            self.assertRegex(err, r"stop requested: 0 open connections, "
                                  r"draining for up to 30000 ms")
            self.assertRegex(err, r"drain finished: drained 0, aborted 0 in \d+ ms")
            self.assertRegex(err, t.log_rx("info", "stopped"))
            self.assertFalse(t.port_accepts(ports["echo"]))
        finally:
            d.kill()

    @unittest.skipIf(t.WINE, "SIGTERM is a Linux-only stop request")
    def test_sigterm_stops_like_sigint(self):
        d, _ = t.start(self.workdir, [("echo", "echo")])
        try:
            t.settle()
            os.kill(d.pid, signal.SIGTERM)
            self.assertEqual(d.wait(5), 0, d.stderr())
            self.assertRegex(d.stderr(), r"stop requested: 0 open connections")
            self.assertRegex(d.stderr(), t.log_rx("info", "stopped"))
        finally:
            d.kill()


if __name__ == "__main__":
    if t.WINE and os.environ.get("IOCPD_WINE_NO_CTRL_C") == "1":
        print("test_drain: skipped: Ctrl+C cannot be delivered under this Wine setup")
        sys.exit(77)
    t.main(time_limit=(90, 240))
