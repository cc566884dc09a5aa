"""Seeded byte streams for bulk transfers: the same (seed, size, max_chunk)
gives the same bytes, in chunks of random length, hashed on the way out
and on the way in, so that both ends of a relay can compare sha256 sums
instead of holding the bytes.
"""

import hashlib
import random
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
