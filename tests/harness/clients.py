"""Clients that find out what the daemon does with them: served (an echo
within a bound), kept waiting (nothing at all, not even EOF), rejected (a
reset or EOF without a byte), or ended by the relay.

Each takes the sub-test's Scope (scope.py) first where it opens a socket,
so that the socket is shut down when the sub-test's time runs out.
"""

import select
import socket
import time

from .env import HOST, pick
from .ports import loopback
from .sockets import recv_exact, recv_until_eof, sock_addr, wait_end

# A served client gets its echo within this long.
ECHO_WITHIN = 1.0
# A rejected client sees its reset within this long.
REJECT_WITHIN = pick(1.0, 3.0)


def client(sc, port, src=None, family=socket.AF_INET, timeout=None):
    """A blocking client bound to the source address src (default the
    family's loopback address) and connected to port on loopback."""
    s = sc.sock(socket.socket(family, socket.SOCK_STREAM))
    s.settimeout(timeout if timeout is not None else pick(10, 30))
    s.bind((src or loopback(family), 0))
    s.connect((loopback(family), port))
    return s


def echo_rtt(sock, payload, within=ECHO_WITHIN):
    """Sends payload and reads it back; returns the round trip in seconds.
    Fails on EOF, reset, other bytes or no echo within `within` seconds."""
    began = time.monotonic()
    deadline = began + within
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no echo within %g s (got %r of %r)" % (within, got, payload))
        sock.settimeout(left)
        try:
            data = sock.recv(len(payload) - len(got))
        except socket.timeout:
            continue
        except (ConnectionResetError, ConnectionAbortedError) as e:
            raise AssertionError("%r instead of the echo of %r" % (e, payload)) from None
        if not data:
            raise AssertionError("EOF instead of the echo of %r" % payload)
        got += data
    if got != payload:
        raise AssertionError("echo %r differs from %r" % (got, payload))
    return time.monotonic() - began


def assert_unserved(socks, seconds, why):
    """Fails if any of socks receives anything (a byte, EOF or a reset)
    within seconds: a limit-paused client must simply wait in the backlog."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        readable, _, _ = select.select(socks, [], [], left)
        for s in readable:
            i = socks.index(s)
            try:
                data = s.recv(4096)
            except OSError as e:
                raise AssertionError("waiting client %d got %r (%s): accepted, then "
                                     "dropped" % (i, e, why)) from None
            if data:
                raise AssertionError("waiting client %d was served (%r) although %s"
                                     % (i, data, why))
            raise AssertionError("waiting client %d got EOF (%s): accepted, then dropped"
                                 % (i, why))


def wait_served(socks, payload, within):
    """Waits for the first of socks to receive payload (the echo of what it
    sent) and returns its index. Fails on EOF, reset or nothing in time."""
    deadline = time.monotonic() + within
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no waiting client was served within %g s" % within)
        readable, _, _ = select.select(socks, [], [], left)
        for s in readable:
            i = socks.index(s)
            try:
                s.settimeout(max(0.1, deadline - time.monotonic()))
                got = recv_exact(s, len(payload))
            except (OSError, AssertionError) as e:
                raise AssertionError("waiting client %d ended with %r instead of being "
                                     "served" % (i, e)) from None
            if got != payload:
                raise AssertionError("waiting client %d got %r, not %r" % (i, got, payload))
            return i


def expect_rejected(sc, port, src=None, family=socket.AF_INET, within=REJECT_WITHIN):
    """Connects from src, sends a few bytes and expects the daemon to end
    the connection (reset or EOF) within `within` seconds without sending
    anything. Returns (client address as logged, "reset"/"eof", seconds)."""
    s = sc.sock(socket.socket(family, socket.SOCK_STREAM))
    s.bind((src or loopback(family), 0))
    me = sock_addr(s)
    s.settimeout(within + 5)
    began = time.monotonic()
    try:
        s.connect((loopback(family), port))
        s.sendall(b"let me in")
        while True:
            data = s.recv(4096)
            if data:
                raise AssertionError("client %s was served (%r) but should have been "
                                     "rejected" % (me, data))
            how = "eof"
            break
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        how = "reset"
    except socket.timeout:
        raise AssertionError("client %s was neither served nor rejected within %g s"
                             % (me, within + 5)) from None
    took = time.monotonic() - began
    s.close()
    if took > within:
        raise AssertionError("client %s was rejected only after %.2f s (limit %g s)"
                             % (me, took, within))
    return me, how, took


def reject_burst(sc, port, n, within=REJECT_WITHIN):
    """Connects n clients at once (the kernel completes each connection in
    the backlog) and expects the daemon to end every one, unserved, within
    `within` seconds of the last connect. Returns their addresses."""
    socks = []
    for _ in range(n):
        s = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        s.bind((HOST, 0))
        s.settimeout(pick(10, 30))
        try:
            s.connect((HOST, port))
        except (ConnectionResetError, ConnectionAbortedError):
            pass
        socks.append(s)
    deadline = time.monotonic() + within
    addrs = []
    for s in socks:
        me = sock_addr(s)
        addrs.append(me)
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = s.recv(4096)
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        except socket.timeout:
            raise AssertionError("client %s of the burst was not rejected within %g s"
                                 % (me, within)) from None
        except OSError as e:
            raise AssertionError("client %s of the burst: %r" % (me, e)) from None
        if data:
            raise AssertionError("client %s of the burst was served (%r)" % (me, data))
        s.close()
    return addrs


def connect_until_end(sc, port, timeout):
    """Connects a client that sends nothing and waits for the relay to end
    it. Returns (the client's address, "eof" or "reset", seconds from the
    start of connect). The client is bound before connecting so that its
    address is known even when the relay resets it so early that connect()
    itself reports the reset (the RST arrived between the handshake and the
    check of the connect's result)."""
    c = sc.sock(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    c.bind((HOST, 0))
    client = sock_addr(c)
    c.settimeout(timeout)
    began = time.monotonic()
    try:
        c.connect((HOST, port))
    except (ConnectionResetError, ConnectionAbortedError):
        return client, "reset during connect", time.monotonic() - began
    how, _ = wait_end(c, timeout)
    c.close()
    return client, how, time.monotonic() - began


def closed_cleanly(sock):
    """Half-closes, reads the rest until EOF, closes; returns what came."""
    sock.shutdown(socket.SHUT_WR)
    got = recv_until_eof(sock)
    sock.close()
    return got
