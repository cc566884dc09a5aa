"""Seeded byte streams for bulk transfers: the same (seed, size, max_chunk)
gives the same bytes, in chunks of random length, hashed on the way out
and on the way in, so that both ends of a relay can compare sha256 sums
instead of holding the bytes.
"""

import hashlib
import random
import selectors
import socket
import time

from .scope import Task


class StreamSource:
    """size bytes from a seeded generator, handed out in chunks of random
    length (1 .. max_chunk, drawn from the same generator), hashed as they
    go out. The same (seed, size, max_chunk) gives the same bytes."""

    def __init__(self, size, seed, max_chunk=256 << 10):
        self.size = size
        self.rng = random.Random(seed)
        self.max_chunk = max_chunk
        self.left = size
        self.hash = hashlib.sha256()

    def next_chunk(self):
        """The next chunk, or b"" at the end."""
        if self.left == 0:
            return b""
        n = min(self.left, self.rng.randint(1, self.max_chunk))
        self.left -= n
        data = self.rng.randbytes(n)
        self.hash.update(data)
        return data

    def hexdigest(self):
        return self.hash.hexdigest()


class StreamResult:
    """What one side received: byte count, sha256, and how it ended."""

    def __init__(self):
        self.count = 0
        self.hash = hashlib.sha256()
        self.eof = False       # a clean FIN was read
        self.error = None      # the exception that ended reading, if any
        self.ended_at = None   # time.monotonic() when reading ended

    def hexdigest(self):
        return self.hash.hexdigest()

    def __repr__(self):
        return "<%d bytes, eof=%s, error=%r>" % (self.count, self.eof, self.error)


def send_stream(sock, source, shut_wr=True):
    """Sends every chunk of source with sendall, then half-closes if
    shut_wr. Exceptions propagate."""
    while True:
        chunk = source.next_chunk()
        if not chunk:
            break
        sock.sendall(chunk)
    if shut_wr:
        sock.shutdown(socket.SHUT_WR)


def recv_stream(sock, result, deadline, bufsize=262144):
    """Reads into result until FIN, an error, or time.monotonic() passes
    deadline (then result.error is a TimeoutError). Never raises."""
    try:
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("no EOF by the deadline after %d bytes" % result.count)
            try:
                data = sock.recv(bufsize)
            except socket.timeout:
                continue
            if not data:
                result.eof = True
                break
            result.count += len(data)
            result.hash.update(data)
    except Exception as e:  # noqa: BLE001 - recorded for the test to report
        result.error = e
    result.ended_at = time.monotonic()



class PacedEchoClient:
    """Sends payload on sock in chunk-sized pieces with a pause after each,
    then half-closes, on one thread, and reads what comes back to EOF on
    another, hashing it: a transfer that lasts long enough for something
    (a stop request, a drain) to land in the middle. spawn(fn, name)
    starts a thread and returns an object with join(timeout) -> bool
    (harness.scope.Task, or a Scope's task() to have it reported)."""

    def __init__(self, sock, payload, chunk, pause, spawn=Task, name="paced"):
        self.sock, self.payload = sock, payload
        self.chunk, self.pause = chunk, pause
        self.spawn, self.name = spawn, name
        self.sent = self.received = 0
        self.recv_hash = hashlib.sha256()
        self.error = None
        self.eof = False
        self.tasks = []

    def start(self):
        self.tasks = [self.spawn(self._sender, self.name + "-send"),
                      self.spawn(self._receiver, self.name + "-recv")]

    def _sender(self):
        try:
            view = memoryview(self.payload)
            while self.sent < len(view):
                n = min(self.chunk, len(view) - self.sent)
                self.sock.sendall(view[self.sent:self.sent + n])
                self.sent += n
                time.sleep(self.pause)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = self.error or ("send", e)

    def _receiver(self):
        try:
            while True:
                data = self.sock.recv(262144)
                if not data:
                    self.eof = True
                    return
                self.received += len(data)
                self.recv_hash.update(data)
        except OSError as e:
            self.error = self.error or ("recv", e)

    def join(self, timeout):
        """True if both threads ended within timeout seconds."""
        deadline = time.monotonic() + timeout
        return all([tk.join(max(0.0, deadline - time.monotonic())) for tk in self.tasks])

    def intact(self):
        """True if every byte sent came back, in order."""
        return (self.received == len(self.payload)
                and self.recv_hash.hexdigest() == hashlib.sha256(self.payload).hexdigest())


class SeededEchoClient:
    """One non-blocking client of a concurrent echo test: size bytes from
    its own seeded generator, in writes of random length (1 .. max_write),
    a half-close after the last; what was sent and what came back are
    hashed as they go. Driven by echo_concurrently()."""

    def __init__(self, index, sock, size, max_write, seed):
        self.index, self.sock = index, sock
        self.rng = random.Random(seed * 1000003 + index)
        self.left, self.max_write = size, max_write
        self.chunk = memoryview(b"")
        self.sent = self.received = 0
        self.sent_hash = hashlib.sha256()
        self.recv_hash = hashlib.sha256()
        self.shut = self.ended = False
        self.error = None

    def on_writable(self):
        if not len(self.chunk):
            if self.left == 0:
                # Everything is out: half-close; the server must still send
                # back what is in flight, then its own FIN.
                self.sock.shutdown(socket.SHUT_WR)
                self.shut = True
                return
            n = min(self.left, self.rng.randint(1, self.max_write))
            self.left -= n
            self.chunk = memoryview(self.rng.randbytes(n))
        try:
            n = self.sock.send(self.chunk)
        except BlockingIOError:
            return
        except OSError as e:
            self.error, self.ended, self.shut = e, True, True
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
            self.error, self.ended = e, True
            return
        if not data:
            self.ended = True
            return
        self.received += len(data)
        self.recv_hash.update(data)

    def problem(self, size):
        """None if the client sent size bytes and got exactly them back,
        in order, then EOF; else what went wrong."""
        if self.error is not None:
            return "client %d: %r" % (self.index, self.error)
        if not self.ended:
            return "client %d unfinished: sent %d, received %d" % (
                self.index, self.sent, self.received)
        if self.sent != size or self.received != self.sent:
            return "client %d: sent %d of %d, received %d" % (
                self.index, self.sent, size, self.received)
        if self.recv_hash.digest() != self.sent_hash.digest():
            return "client %d got different bytes back" % self.index
        return None


def echo_concurrently(socks, size, max_write, seed, timeout):
    """Runs one SeededEchoClient per connected socket at once, on one
    thread, until every one has read EOF or timeout seconds have passed;
    returns the clients (each one's problem(size) says how it did). The
    sockets are left open."""
    clients = [SeededEchoClient(i, s, size, max_write, seed) for i, s in enumerate(socks)]
    sel = selectors.DefaultSelector()
    try:
        for c in clients:
            c.sock.setblocking(False)
            sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        open_count = len(clients)
        deadline = time.monotonic() + timeout
        while open_count and time.monotonic() < deadline:
            for key, events in sel.select(timeout=0.5):
                c = key.data
                if events & selectors.EVENT_READ:
                    c.on_readable()
                if events & selectors.EVENT_WRITE and not c.shut:
                    c.on_writable()
                if c.ended:
                    sel.unregister(c.sock)
                    open_count -= 1
                elif c.shut:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
    finally:
        sel.close()
    return clients
