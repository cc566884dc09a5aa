"""Listeners: several listeners serve at once; a listener that cannot bind
stops the whole start-up (exit 3, the error names it), with nothing left
half-started."""

import sys

sys.dont_write_bytecode = True

import os
import re
import socket
import threading
import unittest

import harness as t


class TwoListenersTest(unittest.TestCase):
    def setUp(self):
        self.workdir = t.Workdir()

    def tearDown(self):
        self.workdir.cleanup()

    def test_both_listeners_serve_concurrently(self):
        d, ports = t.start(self.workdir, [("alpha", "echo"), ("beta", "echo")],
                           service={"workers": 2})
        try:
            # Each listener logs its line, in the documented format.
            for name in ("alpha", "beta"):
                d.wait_log(t.log_rx("info", r"listener %s: listening on %s \(echo\)"
                                    % (name, re.escape(t.addr(ports[name])))))
            d.wait_log(t.log_rx("info", r"running with 2 workers"))

            # Interleaved traffic on one connection per listener, both open
            # at the same time.
            a = t.connect(ports["alpha"])
            b = t.connect(ports["beta"])
            with a, b:
                for i in range(20):
                    ma = b"alpha %d " % i
                    mb = b"beta %d " % i
                    a.sendall(ma)
                    b.sendall(mb)
                    self.assertEqual(t.recv_exact(b, len(mb)), mb)
                    self.assertEqual(t.recv_exact(a, len(ma)), ma)

            # Bulk transfers through both listeners in parallel.
            size = t.pick(2 << 20, 512 << 10)
            results = {}

            def transfer(name):
                payload = os.urandom(size)
                try:
                    with t.connect(ports[name]) as s:
                        def send():
                            s.sendall(payload)
                            s.shutdown(socket.SHUT_WR)
                        sender = threading.Thread(target=send, daemon=True)
                        sender.start()
                        got = t.recv_until_eof(s, limit=size)
                        sender.join(10)
                        results[name] = (got == payload, len(got))
                except OSError as e:
                    results[name] = (False, repr(e))

            threads = [threading.Thread(target=transfer, args=(n,), daemon=True)
                       for n in ("alpha", "beta")]
            for th in threads:
                th.start()
            for th in threads:
                th.join(t.pick(30, 90))
            self.assertEqual(results, {"alpha": (True, size), "beta": (True, size)})

            self.assertEqual(d.stop(), 0, d.stderr())
            self.assertFalse(t.port_accepts(ports["alpha"]))
            self.assertFalse(t.port_accepts(ports["beta"]))
        finally:
            d.kill()

    def test_port_taken_fails_whole_start(self):
        # The second listener's port is held by a listening socket of ours.
        blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            blocker.bind((t.HOST, 0))
            blocker.listen(8)
            taken = blocker.getsockname()[1]
            first = t.free_ports(1)[0]
            while first == taken:
                first = t.free_ports(1)[0]
            self.workdir.write("taken.ini", t.config_text([
                ("a", t.addr(first), "echo"),
                ("b", t.addr(taken), "echo"),
            ]))
            r = t.run_cli(["run", "-c", "taken.ini"], self.workdir)
            self.assertEqual(r.rc, 3, r)
            self.assertRegex(r.stderr, r"listener b\b[^\n]*%s" % re.escape(t.addr(taken)))
            if t.WINE:
                # Windows words the error its own way: only require some text.
                self.assertRegex(r.stderr, r"%s: \S" % re.escape(t.addr(taken)))
            else:
                self.assertRegex(r.stderr, r"%s: Address already in use"
                                 % re.escape(t.addr(taken)))
            self.assertNotRegex(r.stderr, r"running with \d+ workers")
            # Nothing half-started: the first listener is not listening.
            self.assertFalse(t.port_accepts(first),
                             "first listener's port still accepts after the failed start")
            # The port we hold is still ours (iocpd did not steal it).
            with t.connect(taken) as c:
                conn, _ = blocker.accept()
                conn.close()
        finally:
            blocker.close()


if __name__ == "__main__":
    t.main(time_limit=(60, 180))
