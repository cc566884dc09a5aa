"""Seeded byte streams for bulk transfers: the same (seed, size, max_chunk)
gives the same bytes, in chunks of random length, hashed on the way out
and on the way in, so that both ends of a relay can compare sha256 sums
instead of holding the bytes.
"""

import hashlib
import random
import socket
import time


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

