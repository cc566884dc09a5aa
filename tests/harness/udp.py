"""UDP peers for the tests of UDP listeners (`protocol = udp`, IOCPD_UDP in
include/iocpd.h): clients, an upstream that shows which socket of the
relay each datagram came from, a port nobody listens on, and the UDP
metrics of a listener.

  UdpClient         a socket bound to SRC:0 (127.0.0.1 or another loopback
                    address such as 127.0.0.2) and connected to a port of
                    127.0.0.1, so that it receives only what that port
                    sends: send, recv with a deadline, ask (send again
                    every interval until an answer), silence (nothing
                    arrives for a while), its address as iocpd logs it
  TagUpstream       a UDP server on loopback that answers each datagram
                    with b"HOST:PORT|" + the datagram, HOST:PORT being the
                    source it saw: the relay's socket of that session; it
                    counts the datagrams of every source
  closed_udp_addr   an address nobody is bound to: a datagram sent there
                    meets an ICMP port unreachable
  set_rcvbuf        a receive buffer as big as the system allows
  udp_counters      a listener's UDP samples from a parsed scrape

Every blocking call here has a deadline; TagUpstream.close() joins its
thread. Clients made through a Scope (client()) are shut down by its time
limit and closed with it.
"""

import collections
import socket
import threading
import time

from .env import pick
from .ports import format_addr, free_udp_port, loopback
from .procinfo import proc_net_rows

# The largest UDP payload over IPv4 (IOCPD_UDP_MAX_DATAGRAM).
MAX_DATAGRAM = 65507
# What the tests ask for as a receive buffer: room for hundreds of the
# largest datagrams, so that a client that reads a moment late loses none.
BIG_RCVBUF = 32 << 20
# Linux: SO_RCVBUFFORCE (needs CAP_NET_ADMIN) passes net.core.rmem_max.
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)

_POLL = 0.2


def set_rcvbuf(sock, size=BIG_RCVBUF):
    """Sets the socket's receive buffer to size, past net.core.rmem_max when
    the process may (root), else as far as the system allows. Returns the
    size in force (Linux reports twice what was set: its bookkeeping)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def closed_udp_addr(family=socket.AF_INET):
    """(port, "127.0.0.1:PORT") of a UDP port that was free a moment ago and
    is left unbound: datagrams sent there are answered with an ICMP port
    unreachable (a bound socket would take them instead, so nothing can
    hold it meanwhile; another process taking it is very unlikely)."""
    port = free_udp_port(family)
    return port, format_addr(family, port)


def sock_text(host, port):
    """host:port as iocpd writes an address ([::1]:port for IPv6)."""
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


class UdpClient:
    """A UDP socket bound to src (a loopback address) on a port the OS picks,
    connected to port on the loopback address of family: it receives only
    datagrams from there. rcvbuf sets its receive buffer (set_rcvbuf)."""

    def __init__(self, port, src=None, family=socket.AF_INET, rcvbuf=None):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if rcvbuf is not None:
                set_rcvbuf(self.sock, rcvbuf)
            self.sock.bind((src or loopback(family), 0))
            self.sock.connect((loopback(family), port))
        except BaseException:
            self.sock.close()
            raise
        host, self.port = self.sock.getsockname()[:2]
        self.addr = sock_text(host, self.port)  # as iocpd logs this client

    def send(self, data):
        self.sock.send(data)

    def recv(self, timeout):
        """The next datagram, or None if none arrives within timeout s. An
        ICMP error the socket collected (the port does not listen) raises
        ConnectionRefusedError."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            return self.sock.recv(MAX_DATAGRAM + 1)
        except socket.timeout:
            return None

    def ask(self, data, tries, interval):
        """Sends data, and again every interval s, until a datagram comes
        back, at most tries times. Returns (reply, tries used); reply is
        None when none came after the last try. An ICMP error is taken as
        no answer (the relay may not be bound yet)."""
        for n in range(1, tries + 1):
            self.send(data)
            deadline = time.monotonic() + interval
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    got = self.recv(left)
                except ConnectionRefusedError:
                    continue
                if got is not None:
                    return got, n
        return None, tries

    def silence(self, seconds):
        """Every datagram that arrives within seconds (the tests expect
        none)."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                d = self.recv(left)
            except ConnectionRefusedError:
                continue
            if d is not None:
                got.append(d)

    def close(self):
        self.sock.close()


def client(sc, port, src=None, family=socket.AF_INET, rcvbuf=None):
    """A UdpClient whose socket the scope sc shuts down at its time limit and
    closes at its end."""
    c = UdpClient(port, src=src, family=family, rcvbuf=rcvbuf)
    sc.sock(c.sock)
    return c


def parse_tag(reply):
    """(host, port, payload) of a TagUpstream answer b"HOST:PORT|payload";
    fails on anything else."""
    head, sep, payload = reply.partition(b"|")
    host, colon, port = head.decode("ascii", "replace").rpartition(":")
    if not sep or not colon or not port.isdigit():
        raise AssertionError("not an answer of the tagging upstream: %r" % reply[:100])
    return host, int(port), payload


class TagUpstream:
    """A UDP server bound to host (default 127.0.0.1) that answers every
    datagram with b"HOST:PORT|" + the datagram, where HOST:PORT is its
    source: through a relay, the relay's socket of that session. Counts
    the datagrams and bytes of each source. The answer to a datagram
    longer than MAX_DATAGRAM minus the tag cannot be sent and is counted
    in `too_big` instead."""

    def __init__(self, host=None, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            set_rcvbuf(self.sock)
            self.sock.bind((host or loopback(family), 0))
        except BaseException:
            self.sock.close()
            raise
        self.sock.settimeout(_POLL)
        bound, self.port = self.sock.getsockname()[:2]
        self.addr = sock_text(bound, self.port)
        self.sources = collections.Counter()  # (host, port) -> datagrams
        self.received = 0
        self.answered = 0
        self.too_big = 0
        self.errors = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True,
                                         name="udp-upstream-%d" % self.port)
        self._thread.start()

    def _loop(self):
        while not self._stop.is_set():
            try:
                data, src = self.sock.recvfrom(MAX_DATAGRAM + 1)
            except socket.timeout:
                continue
            except OSError as e:
                if self._stop.is_set():
                    return
                # An ICMP error from an earlier answer's destination (a
                # client gone): not this test's concern, but kept.
                self.errors.append(e)
                continue
            src = src[:2]
            with self._lock:
                self.sources[src] += 1
                self.received += 1
            answer = b"%s|" % sock_text(*src).encode() + data
            if len(answer) > MAX_DATAGRAM:
                with self._lock:
                    self.too_big += 1
                continue
            # Counted before it is sent: a client may get the answer and
            # the test take a snapshot before this thread runs again, and
            # the snapshot must already include every answer delivered.
            with self._lock:
                self.answered += 1
            try:
                self.sock.sendto(answer, src)
            except OSError as e:
                with self._lock:
                    self.answered -= 1
                self.errors.append(e)

    def snapshot(self):
        """(received, answered, {source: datagrams})."""
        with self._lock:
            return self.received, self.answered, dict(self.sources)

    def wait_received(self, n, timeout):
        """True once at least n datagrams arrived."""
        deadline = time.monotonic() + timeout
        while self.snapshot()[0] < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self):
        self._stop.set()
        self._thread.join(5.0)
        self.sock.close()
        return [self._thread.name] if self._thread.is_alive() else []


# ---------------------------------------------------------------------------
# Metrics

DIRECTIONS = ("in", "out", "up", "down")
DROP_REASONS = ("denied", "sessions", "per_ip", "queue_full", "upstream", "no_memory")


def udp_counters(values, listener):
    """A UDP listener's samples from metrics.metrics(): {"in", "out", "up",
    "down": datagrams, "dropped": {reason: count}, "sessions_open",
    "sessions_total"}. Fails if a datagram or drop sample is missing; the
    session gauges are None when absent."""
    from .metrics import value
    out = {d: value(values, "iocpd_udp_datagrams_total", listener=listener, direction=d)
           for d in DIRECTIONS}
    out["dropped"] = {r: value(values, "iocpd_udp_dropped_total", listener=listener, reason=r)
                      for r in DROP_REASONS}
    # An echo listener keeps no sessions: it may leave these out.
    out["sessions_open"] = values.get(("iocpd_udp_sessions_open",
                                       frozenset({"listener": listener}.items())))
    out["sessions_total"] = values.get(("iocpd_udp_sessions_total",
                                        frozenset({"listener": listener}.items())))
    return out


def wait_counters(mport, listener, check, timeout=None):
    """Scrapes until check(counters) is true (the counters are updated as
    datagrams move, a moment after the client sees them); returns the
    last counters. Fails with them when the time runs out."""
    from .metrics import metrics
    deadline = time.monotonic() + (timeout if timeout is not None else pick(5, 15))
    while True:
        values, _, _ = metrics(mport)
        c = udp_counters(values, listener)
        if check(c):
            return c
        if time.monotonic() > deadline:
            raise AssertionError("listener %s: UDP counters not as expected: %s" % (listener, c))
        time.sleep(0.1)



# ---------------------------------------------------------------------------
# Where datagrams were lost (Linux; iocpd.exe's sockets under Wine are host
# sockets too)


def kernel_drops(port):
    """{"local address:port": (drops, receive queue bytes)} of the UDP sockets
    bound to port, from /proc/net/udp and udp6: the datagrams the kernel
    threw away because a socket's receive buffer was full. {} when the
    tables cannot be read."""
    out = {}
    for cols in proc_net_rows("/proc/net/udp", "/proc/net/udp6"):
        if len(cols) < 13:
            continue
        local, queues = cols[1], cols[4]
        host, _, hexport = local.rpartition(":")
        if int(hexport, 16) != port:
            continue
        rx = int(queues.split(":")[1], 16)
        if len(host) == 8:  # IPv4, in the host's byte order (little-endian)
            host = socket.inet_ntoa(bytes.fromhex(host)[::-1])
        out["%s:%d" % (host, port)] = (int(cols[12]), rx)
    return out
