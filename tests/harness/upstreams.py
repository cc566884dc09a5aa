"""Upstream servers for the forward (relay) tests.

Each server listens on a loopback address with a port the OS picks, accepts
on a thread of its own and serves every connection on a further thread. All
of them are bounded (a fixed maximum of connections, socket timeouts on
every blocking call) and close() stops everything they started: it closes
the listener, shuts down and closes every accepted socket and joins every
thread, so a test can call it from a finally block and be sure nothing is
left behind.

  EchoUpstream        sends back what it receives; FIN after the peer's FIN.
  ExchangeUpstream    sends its own seeded random stream while hashing what
                      it receives (the bulk integrity test).
  SlowSinkUpstream    reads at a fixed rate with a small receive buffer,
                      hashing and counting (the backpressure test).
  ManualUpstream      hands each accepted socket to the test (half-close,
                      resets, idle timeouts).
  SelectEchoUpstream  an echo server for thousands of connections on one
                      thread (the handshake flood, misbehaving clients).
  Blackhole           a listener that never accepts, filled up until new
                      connection attempts hang (connect timeouts).
  ClosedPort          a bound port nobody listens on: connects are refused.
  UdpEchoUpstream     a UDP socket that sends each datagram back to its source.

The byte streams they exchange are in streams.py.
"""

import queue
import select
import selectors
import socket
import threading
import time

from .ports import format_addr, loopback
from .streams import StreamResult, StreamSource

# A blocking call on a server socket returns after this long at most, so a
# thread notices close() even when its peer has gone silent.
_POLL = 0.2
# How long close() waits for the threads it started.
_JOIN = 5.0


# ---------------------------------------------------------------------------
# Servers


class Conn:
    """One accepted connection, as an upstream saw it."""

    def __init__(self, index, sock, peer):
        self.index = index
        self.sock = sock
        self.peer = peer                 # (host, port, ...) of the relay's side
        self.accepted_at = time.monotonic()
        self.head = b""                  # the first bytes received (tokens)
        self.received = StreamResult()
        self.sent = 0
        self.sent_hash = None            # sha256 hex of what was sent, once done
        self.send_error = None
        self.done = threading.Event()    # set when the serving thread ends


class Upstream:
    """A listening socket on loopback and an accept thread; serve(conn) runs
    on a new thread per connection. At most max_conns connections are
    served; later ones are closed at once (and counted in `rejected`).
    port 0 picks a free port; a given one (say a ClosedPort's, once closed)
    brings a refusing address to life. host: an IPv4 address of loopback
    other than 127.0.0.1 (127.0.0.2...), for upstreams named in a hosts
    file."""

    def __init__(self, family=socket.AF_INET, backlog=128, rcvbuf=None,
                 max_conns=256, port=0, host=None):
        self.family = family
        self.max_conns = max_conns
        self.rejected = 0
        self.conns = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if rcvbuf is not None:
                # Set before listen(): accepted sockets inherit it, and a
                # fixed size turns off the kernel's receive autotuning.
                self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.listener.bind((host or loopback(family), port))
            self.listener.listen(backlog)
            self.listener.settimeout(_POLL)
        except BaseException:
            self.listener.close()
            raise
        self.port = self.listener.getsockname()[1]
        self.addr = format_addr(family, self.port) if host is None else "%s:%d" % (host,
                                                                                 self.port)
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True,
                                          name="accept-%d" % self.port)
        self._acceptor.start()

    # -- to override

    def serve(self, conn):
        raise NotImplementedError

    # -- public

    def count(self):
        with self._lock:
            return len(self.conns)

    def snapshot(self):
        with self._lock:
            return list(self.conns)

    def wait_count(self, n, timeout):
        """True once at least n connections were accepted."""
        deadline = time.monotonic() + timeout
        while self.count() < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self):
        """Stops accepting, ends every connection and joins every thread.
        Returns the names of threads that did not end in time (normally
        none). Safe to call more than once."""
        self._stop.set()
        try:
            self.listener.close()
        except OSError:
            pass
        for c in self.snapshot():
            _shutdown_close(c.sock)
        stuck = []
        deadline = time.monotonic() + _JOIN
        for th in [self._acceptor] + list(self._threads):
            th.join(max(0.0, deadline - time.monotonic()))
            if th.is_alive():
                stuck.append(th.name)
        return stuck

    # -- internals

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, peer = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                if len(self.conns) >= self.max_conns or self._stop.is_set():
                    self.rejected += 1
                    sock.close()
                    continue
                conn = Conn(len(self.conns), sock, peer)
                self.conns.append(conn)
            sock.settimeout(_POLL)
            th = threading.Thread(target=self._run, args=(conn,), daemon=True,
                                  name="upstream-%d-%d" % (self.port, conn.index))
            self._threads.append(th)
            th.start()

    def _run(self, conn):
        try:
            self.serve(conn)
        except Exception as e:  # noqa: BLE001 - recorded for the test
            if conn.received.error is None:
                conn.received.error = e
        finally:
            conn.done.set()

    def _recv(self, conn, bufsize=65536):
        """One receive that survives the poll timeout; returns b"" at EOF and
        None when close() was called. Other errors propagate."""
        while not self._stop.is_set():
            try:
                data = conn.sock.recv(bufsize)
            except socket.timeout:
                continue
            if data and len(conn.head) < 256:
                conn.head += data[:256 - len(conn.head)]
            return data
        return None

    def _sendall(self, conn, data):
        """sendall that survives the poll timeout and gives up on close()."""
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                n = conn.sock.send(view)
            except socket.timeout:
                continue
            view = view[n:]
            conn.sent += n
        if view:
            raise ConnectionAbortedError("upstream closed by the test")


def _shutdown_close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class EchoUpstream(Upstream):
    """Echoes every byte; at the peer's FIN it half-closes too and closes."""

    def serve(self, conn):
        try:
            while True:
                data = self._recv(conn)
                if data is None:
                    return
                if not data:
                    conn.received.eof = True
                    break
                conn.received.count += len(data)
                self._sendall(conn, data)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            conn.received.error = e
        finally:
            conn.received.ended_at = time.monotonic()
            conn.sock.close()


class ExchangeUpstream(Upstream):
    """On each connection, sends `size` bytes of a stream seeded with seed
    (plus the connection index) and half-closes, while hashing everything
    it receives until the peer's FIN; then closes."""

    def __init__(self, size, seed, **kw):
        self.size = size
        self.seed = seed
        super().__init__(**kw)

    def serve(self, conn):
        source = StreamSource(self.size, self.seed + conn.index)

        def sender():
            try:
                while True:
                    chunk = source.next_chunk()
                    if not chunk:
                        break
                    self._sendall(conn, chunk)
                conn.sock.shutdown(socket.SHUT_WR)
                conn.sent_hash = source.hexdigest()
            except Exception as e:  # noqa: BLE001
                conn.send_error = e

        th = threading.Thread(target=sender, daemon=True,
                              name="exchange-send-%d" % conn.index)
        th.start()
        try:
            r = conn.received
            while True:
                data = self._recv(conn, 262144)
                if data is None:
                    r.error = ConnectionAbortedError("upstream closed by the test")
                    break
                if not data:
                    r.eof = True
                    break
                r.count += len(data)
                r.hash.update(data)
        except OSError as e:
            conn.received.error = e
        finally:
            conn.received.ended_at = time.monotonic()
            th.join(_JOIN * 4)
            conn.sock.close()


class SlowSinkUpstream(Upstream):
    """Reads at about `rate` bytes per second (in small pieces, at most
    `burst` ahead of the schedule) and hashes what it reads, until FIN; then
    closes. Its receive buffer is fixed at rcvbuf bytes so that the kernel
    does not absorb the stream on its behalf."""

    def __init__(self, rate, rcvbuf=64 << 10, burst=16 << 10, **kw):
        self.rate = float(rate)
        self.burst = burst
        super().__init__(rcvbuf=rcvbuf, **kw)

    def serve(self, conn):
        r = conn.received
        start = None
        try:
            while True:
                if start is None:
                    allowed = self.burst
                else:
                    allowed = int(self.rate * (time.monotonic() - start)) + self.burst - r.count
                if allowed <= 0:
                    time.sleep(min(0.05, -allowed / self.rate + 0.001))
                    continue
                data = self._recv(conn, min(allowed, 65536))
                if data is None:
                    r.error = ConnectionAbortedError("upstream closed by the test")
                    return
                if not data:
                    r.eof = True
                    return
                if start is None:
                    start = time.monotonic()
                r.count += len(data)
                r.hash.update(data)
        except OSError as e:
            r.error = e
        finally:
            r.ended_at = time.monotonic()
            conn.sock.close()


class ManualUpstream(Upstream):
    """Hands every accepted connection to the test: accept(timeout) returns
    the next Conn, whose blocking socket the test then drives (its timeout
    is set to the given value). close() still closes them all."""

    def __init__(self, **kw):
        self._queue = queue.Queue()
        super().__init__(**kw)

    def serve(self, conn):
        self._queue.put(conn)

    def accept(self, timeout, sock_timeout=10.0):
        try:
            conn = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("upstream %s: no connection from the relay within %g s"
                                 % (self.addr, timeout)) from None
        conn.sock.settimeout(sock_timeout)
        return conn

    def pending(self):
        return self._queue.qsize()


class SelectEchoUpstream:
    """An echo server for many connections at once on one thread with a
    selector (EchoUpstream takes a thread per connection, too many for a
    thousand relayed clients). Echoes every byte, closes
    after the peer's EOF or on any error; at most 1 MiB is held per
    connection, beyond which it stops reading that connection. close()
    stops the thread and closes every socket."""

    HOLD = 1 << 20

    def __init__(self, family=socket.AF_INET):
        self.family = family
        self.accepted = 0
        self._pending = {}
        self._stop = threading.Event()
        self._sel = selectors.DefaultSelector()
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((loopback(family), 0))
            self.listener.listen(4096)
            self.listener.setblocking(False)
            self._sel.register(self.listener, selectors.EVENT_READ)
        except BaseException:
            self.listener.close()
            self._sel.close()
            raise
        self.port = self.listener.getsockname()[1]
        self.addr = format_addr(family, self.port)
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                        name="select-echo-%d" % self.port)
        self._thread.start()

    def open_count(self):
        return len(self._pending)

    def _drop(self, s):
        self._pending.pop(s, None)
        try:
            self._sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()

    def _events(self, s):
        buf = self._pending[s]
        ev = selectors.EVENT_WRITE if buf else 0
        if len(buf) < self.HOLD:
            ev |= selectors.EVENT_READ
        self._sel.modify(s, ev)

    def _loop(self):
        while not self._stop.is_set():
            for key, events in self._sel.select(0.1):
                s = key.fileobj
                if s is self.listener:
                    while True:
                        try:
                            c, _ = self.listener.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            break
                        c.setblocking(False)
                        self.accepted += 1
                        self._pending[c] = bytearray()
                        self._sel.register(c, selectors.EVENT_READ)
                    continue
                if s not in self._pending:
                    continue
                try:
                    if events & selectors.EVENT_READ:
                        data = s.recv(65536)
                        if not data:
                            self._drop(s)
                            continue
                        self._pending[s] += data
                    buf = self._pending[s]
                    if buf:
                        n = s.send(buf)
                        del buf[:n]
                    self._events(s)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self._drop(s)

    def close(self):
        self._stop.set()
        self._thread.join(5.0)
        for s in list(self._pending):
            s.close()
        self._pending.clear()
        self.listener.close()
        self._sel.close()
        return [self._thread.name] if self._thread.is_alive() else []


class Blackhole:
    """A listening socket that never accepts, with backlog 0, filled with
    connections until a new connection attempt gets no answer: the kernel
    then drops every further SYN, so a connect to it hangs until the
    connecting side gives up. close() releases everything."""

    def __init__(self, family=socket.AF_INET, max_fill=64):
        self.family = family
        self.fillers = []
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.listener.bind((loopback(family), 0))
            self.listener.listen(0)
            self.port = self.listener.getsockname()[1]
            self.addr = format_addr(family, self.port)
            for _ in range(max_fill):
                if not self._fill_one():
                    break
            else:
                raise RuntimeError("blackhole %s still answers after %d connections"
                                   % (self.addr, max_fill))
            if not self.hangs():
                raise RuntimeError("blackhole %s answers again" % self.addr)
        except BaseException:
            self.close()
            raise

    def _attempt(self, wait):
        """A non-blocking connect; returns (socket, connected?) after wait s."""
        s = socket.socket(self.family, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex((loopback(self.family), self.port))
        _, writable, _ = select.select([], [s], [], wait)
        if writable and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            return s, True
        return s, False

    def _fill_one(self):
        s, ok = self._attempt(0.3)
        if ok:
            self.fillers.append(s)
            return True
        s.close()
        return False

    def hangs(self, wait=0.3):
        """True if a new connect gets no answer within wait seconds."""
        s, ok = self._attempt(wait)
        s.close()
        return not ok

    def close(self):
        for s in self.fillers:
            try:
                s.close()
            except OSError:
                pass
        self.fillers = []
        try:
            self.listener.close()
        except OSError:
            pass
        return []


class ClosedPort:
    """A port bound on loopback and never listened on: a connect to it is
    refused (RST). Holding the bound socket keeps anybody else from taking
    the port while the test runs."""

    def __init__(self, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((loopback(family), 0))
        self.port = self.sock.getsockname()[1]
        self.addr = format_addr(family, self.port)

    def close(self):
        self.sock.close()
        return []


class UdpEchoUpstream:
    """A UDP socket on loopback that sends every datagram back to where it
    came from, on a thread of its own, and counts them (received)."""

    def __init__(self, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((loopback(family), 0))
        self.sock.settimeout(_POLL)
        self.port = self.sock.getsockname()[1]
        self.addr = format_addr(family, self.port)
        self.received = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError as e:
                if not self._stop.is_set():
                    self.errors.append("recvfrom: %s" % e)
                return
            self.received += 1
            try:
                self.sock.sendto(data, peer)
            except OSError as e:
                self.errors.append("sendto: %s" % e)

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        return list(self.errors)
