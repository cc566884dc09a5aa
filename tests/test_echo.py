"""Echo integrity: every byte a client sends comes back to that client, in
order, under many concurrent clients, for one byte, and for many short
connections in a row."""

import sys

sys.dont_write_bytecode = True

import hashlib
import os
import random
import selectors
import socket
import struct
import time

import harness as t

# Many concurrent clients, each sending this many bytes. Under Wine there are
# fewer, smaller ones: each round trip is far slower and each socket costs
# Wine about 2.5 file descriptors.
CLIENTS = t.pick(200, 50)
BYTES_PER_CLIENT = t.pick(1 << 20, 256 << 10)
MAX_WRITE = 64 << 10
SEQUENTIAL = t.pick(1000, 100)
TRANSFER_TIMEOUT = t.pick(60, 200)

SEED = int(os.environ.get("IOCPD_TEST_SEED", "0")) or random.randrange(1, 1 << 30)


class Client:
    """One non-blocking client of the concurrent test. Its bytes come from
    its own seeded generator in chunks of random size (1 .. MAX_WRITE); what
    was sent and what came back are hashed as they go."""

    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.rng = random.Random(SEED * 1000003 + index)
        self.to_generate = BYTES_PER_CLIENT
        self.chunk = memoryview(b"")
        self.sent = 0
        self.received = 0
        self.sent_hash = hashlib.sha256()
        self.recv_hash = hashlib.sha256()
        self.shut = False
        self.eof = False
        self.error = None

    def want_write(self):
        return not self.shut

    def on_writable(self):
        if not len(self.chunk):
            if self.to_generate == 0:
                # Everything is out: half-close, the server must still send
                # back what is in flight, then its own FIN.
                self.sock.shutdown(socket.SHUT_WR)
                self.shut = True
                return
            n = min(self.to_generate, self.rng.randint(1, MAX_WRITE))
            self.to_generate -= n
            self.chunk = memoryview(self.rng.randbytes(n))
        try:
            n = self.sock.send(self.chunk)
        except BlockingIOError:
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
            self.error = e
            self.eof = True
            return
        if not data:
            self.eof = True
            return
        self.received += len(data)
        self.recv_hash.update(data)


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
        sel = selectors.DefaultSelector()
        clients = []
        try:
            # Connect one after another with blocking connects so that a
            # small accept backlog delays clients instead of dropping them.
            for i in range(CLIENTS):
                s = t.connect(self.port)
                s.setblocking(False)
                c = Client(i, s)
                clients.append(c)
                sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            open_count = len(clients)
            deadline = time.monotonic() + TRANSFER_TIMEOUT
            while open_count:
                if time.monotonic() > deadline:
                    stuck = [c for c in clients if not c.eof]
                    self.fail("%d of %d clients unfinished after %g s, e.g. "
                              "client %d sent %d received %d" % (
                                  len(stuck), CLIENTS, TRANSFER_TIMEOUT,
                                  stuck[0].index, stuck[0].sent, stuck[0].received))
                for key, events in sel.select(timeout=1.0):
                    c = key.data
                    if events & selectors.EVENT_READ:
                        c.on_readable()
                    if events & selectors.EVENT_WRITE and c.want_write():
                        c.on_writable()
                    if c.eof:
                        sel.unregister(c.sock)
                        c.sock.close()
                        open_count -= 1
                    elif not c.want_write():
                        sel.modify(c.sock, selectors.EVENT_READ, c)
        finally:
            for c in clients:
                c.sock.close()
            sel.close()

        for c in clients:
            self.assertIsNone(c.error, "client %d (seed %d): %r" % (c.index, SEED, c.error))
            self.assertEqual(c.sent, BYTES_PER_CLIENT)
            self.assertEqual(c.received, c.sent, "client %d (seed %d) length" % (c.index, SEED))
            self.assertEqual(c.recv_hash.hexdigest(), c.sent_hash.hexdigest(),
                             "client %d (seed %d) got different bytes back" % (c.index, SEED))


if __name__ == "__main__":
    sys.stderr.write("test_echo: seed %d (set IOCPD_TEST_SEED to repeat)\n" % SEED)
    t.main(time_limit=(120, 300))
