"""Echo integrity: every byte a client sends comes back to that client, in
order, under many concurrent clients, for one byte, and for many short
connections in a row."""

import sys

sys.dont_write_bytecode = True

import os
import random
import socket
import struct
import time

import harness as t
from harness.streams import echo_concurrently

# Many concurrent clients, each sending this many bytes. Under Wine there are
# fewer, smaller ones: each round trip is far slower and each socket costs
# Wine about 2.5 file descriptors.
CLIENTS = t.pick(200, 50)
BYTES_PER_CLIENT = t.pick(1 << 20, 256 << 10)
MAX_WRITE = 64 << 10
SEQUENTIAL = t.pick(1000, 100)
TRANSFER_TIMEOUT = t.pick(60, 200)

SEED = int(os.environ.get("IOCPD_TEST_SEED", "0")) or random.randrange(1, 1 << 30)


class EchoTest(t.EchoListenerTest):
    service = {"workers": 0, "log_level": "info"}

    def test_one_byte(self):
        with t.connect(self.port) as s:
            s.sendall(b"\x5a")
            self.assertEqual(t.recv_exact(s, 1), b"\x5a")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(t.recv_until_eof(s), b"")

    def test_sequential_short_connections(self):
        rng = random.Random(SEED)
        deadline = time.monotonic() + t.pick(60, 120)
        for i in range(SEQUENTIAL):
            self.assertLess(time.monotonic(), deadline,
                            "only %d of %d connections done in time" % (i, SEQUENTIAL))
            payload = rng.randbytes(100)
            with t.connect(self.port) as s:
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
                got = t.recv_until_eof(s, limit=100)
            self.assertEqual(got, payload, "connection %d" % i)

    def test_clients_reset_mid_transfer(self):
        # Clients that vanish with a reset while the daemon still has data
        # for them must cost it nothing: it keeps serving, and the clean stop
        # in tearDownClass proves every such connection was retired.
        payload = os.urandom(256 << 10)
        for _ in range(t.pick(20, 10)):
            s = t.connect(self.port)
            s.setblocking(False)
            try:
                s.send(payload)
            except BlockingIOError:
                pass
            time.sleep(0.01)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        with t.connect(self.port) as s:
            s.sendall(b"still here")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(t.recv_until_eof(s), b"still here")

    def test_many_concurrent_clients(self):
        # Connect one after another with blocking connects so that a small
        # accept backlog delays clients instead of dropping them.
        socks = []
        try:
            for _ in range(CLIENTS):
                socks.append(t.connect(self.port))
            clients = echo_concurrently(socks, BYTES_PER_CLIENT, MAX_WRITE, SEED,
                                        TRANSFER_TIMEOUT)
        finally:
            for s in socks:
                s.close()
        problems = [p for p in (c.problem(BYTES_PER_CLIENT) for c in clients) if p]
        self.assertEqual(problems, [], "%d of %d clients (seed %d), within %g s" % (
            len(problems), CLIENTS, SEED, TRANSFER_TIMEOUT))

if __name__ == "__main__":
    sys.stderr.write("test_echo: seed %d (set IOCPD_TEST_SEED to repeat)\n" % SEED)
    t.main(time_limit=(120, 300))
