"""Client sockets and what a test does with them: connect, read exactly n
bytes or up to EOF, close with a reset, wait for the peer to end, and the
address a socket shows in iocpd's log.
"""

import socket
import time

from .env import HOST, pick
from .ports import loopback


def connect(port, timeout=None):
    """A blocking client socket connected to 127.0.0.1:port."""
    if timeout is None:
        timeout = pick(10, 30)
    return socket.create_connection((HOST, port), timeout=timeout)


def connect_to(family, port, timeout=None, sndbuf=None):
    """A blocking client socket connected to the loopback port of family,
    with SO_SNDBUF set before the connect when sndbuf is given."""
    if timeout is None:
        timeout = pick(20, 60)
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sndbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        s.settimeout(timeout)
        s.connect((loopback(family), port))
    except BaseException:
        s.close()
        raise
    return s


def recv_until_eof(sock, limit=None):
    """Reads until the peer's FIN. Raises ConnectionResetError on a reset and
    socket.timeout if the socket's timeout passes between two reads."""
    parts = []
    total = 0
    while True:
        data = sock.recv(262144)
        if not data:
            return b"".join(parts)
        parts.append(data)
        total += len(data)
        if limit is not None and total > limit:
            raise AssertionError("received more than %d bytes" % limit)


def recv_exact(sock, n):
    parts = []
    while n > 0:
        data = sock.recv(min(n, 262144))
        if not data:
            raise AssertionError("EOF with %d bytes still expected" % n)
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


def abort_close(sock):
    """Closes with SO_LINGER 0: the peer gets a RST."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def wait_end(sock, timeout):
    """Reads (and drops) until the peer's FIN or a reset; returns ("eof" or
    "reset", seconds waited) or fails after timeout."""
    began = time.monotonic()
    deadline = began + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("connection still open after %g s" % timeout)
        sock.settimeout(left)
        try:
            data = sock.recv(262144)
        except socket.timeout:
            continue
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            return "reset", time.monotonic() - began
        if not data:
            return "eof", time.monotonic() - began


def sock_addr(sock):
    """The socket's own address as iocpd logs a client (127.0.0.2:PORT,
    [::1]:PORT)."""
    host, port = sock.getsockname()[:2]
    return "[%s]:%d" % (host, port) if sock.family == socket.AF_INET6 else "%s:%d" % (host, port)
