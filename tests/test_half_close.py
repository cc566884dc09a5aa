"""Half-close: when a client shuts down its write side, iocpd sends back
everything it received, then its own FIN (the client reads EOF), and never
resets the connection."""

import sys

sys.dont_write_bytecode = True

import os
import socket
import threading
import time

import harness as t

SIZE = 1 << 20


class HalfCloseTest(t.EchoListenerTest):
    def test_send_1mib_then_shutdown_write(self):
        payload = os.urandom(SIZE)
        errors = []
        with t.connect(self.port) as s:
            # The echo comes back while we send, so a second thread must send
            # while this one reads, or both sides could block on full buffers.
            def send():
                try:
                    view = memoryview(payload)
                    step = 48 << 10
                    for i in range(0, len(view), step):
                        s.sendall(view[i:i + step])
                    s.shutdown(socket.SHUT_WR)
                except OSError as e:
                    errors.append(e)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            try:
                got = t.recv_until_eof(s, limit=SIZE)
            except ConnectionResetError:
                self.fail("iocpd reset the connection instead of a clean close")
            sender.join(t.pick(10, 30))
            self.assertFalse(sender.is_alive(), "sender still blocked")
            self.assertEqual(errors, [])
            self.assertEqual(len(got), SIZE)
            self.assertTrue(got == payload, "echoed bytes differ from the sent ones")
            # EOF stays EOF: a second read must not turn into a reset.
            self.assertEqual(s.recv(1), b"")

    def test_shutdown_write_without_data(self):
        with t.connect(self.port) as s:
            s.settimeout(t.pick(5, 15))
            began = time.monotonic()
            s.shutdown(socket.SHUT_WR)
            try:
                data = s.recv(1)
            except socket.timeout:
                self.fail("no EOF within %g s of our FIN" % s.gettimeout())
            except ConnectionResetError:
                self.fail("iocpd reset the connection instead of a clean close")
            self.assertEqual(data, b"")
            self.assertLess(time.monotonic() - began, t.pick(2, 5), "EOF was slow")

    def test_shutdown_write_then_read_late(self):
        # The client half-closes right after a small write and only reads a
        # while later: the reply must be waiting, followed by EOF, not lost.
        payload = b"half-close " * 10
        with t.connect(self.port) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            time.sleep(0.5)
            try:
                got = t.recv_until_eof(s, limit=len(payload))
            except ConnectionResetError:
                self.fail("iocpd reset the connection instead of a clean close")
            self.assertEqual(got, payload)


if __name__ == "__main__":
    t.main(time_limit=(60, 180))
