"""UDP echo listeners (`protocol = udp`, `handler = echo`): each datagram
goes back to its source as it came, never split, merged or changed.

  basic             clients from 127.0.0.1, .2 and .3 send datagrams of 0,
                    1, 100, 1472, 1473, 65506 and 65507 bytes: each gets
                    exactly its own back, from the listener's port; the
                    metrics count them (datagrams and bytes, in and out),
                    nothing is dropped, echo keeps no sessions and writes
                    no access log line
  integrity         10,000 datagrams (natively; 1,000 under Wine) of random
                    sizes from 1 to 65,507 bytes (both ends always among
                    them), each carrying its sequence number and bytes
                    from a seeded pool, sent paced at 10,000 datagrams/s
                    (1,000/s under Wine) from one socket with a 32 MiB
                    receive buffer: every one comes back, none twice, none
                    changed, none unknown; the metrics count exactly them
  same_port         a TCP and a UDP echo listener on the same port number
                    at once: both serve, a TCP connection held open while
                    UDP datagrams are echoed and the other way round, each
                    listener's counters only its own traffic

The integrity sender is paced (bursts of at most BURST datagrams when it
falls behind, never a catch-up flood) and keeps at most WINDOW bytes
unanswered, so that the only way to lose a datagram is for the relay to
lose one it had time and room to take: WINDOW (4 MiB) is what a relay
that reads a moment late must be able to hold in its socket's receive
buffer (Linux's default is 208 KiB, three of the largest datagrams). A
lost datagram is reported with the kernel's drop counters of the
listener's and the client's sockets (/proc/net/udp), which tell whether
the relay's receive buffer overflowed or the relay itself lost it.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_udp_echo.py
[UdpEchoTest.test_integrity ...]; IOCPD_TEST_SEED repeats a run's sizes
and bytes. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import random
import select
import socket
import time
import unittest

import harness as t
from harness import udp
from harness.accesslog import ACCESS_LOG, log_files, start, stop
from harness.config import Listener, udp_echo
from harness.env import SEED
from harness.metrics import metrics, value
from harness.scope import limited, say

# The integrity run: datagrams, rate (datagrams/s), and the pacing limits.
COUNT = t.pick(10000, 1000)
RATE = t.pick(10000, 1000)
BURST = 8
WINDOW = 4 << 20
# A datagram not back this long after it was sent no longer counts
# against WINDOW (it may still come; the end of the run decides).
LATE = t.pick(1.0, 3.0)
# How long the run waits for the last answers after the last send.
GRACE = t.pick(3.0, 10.0)

SIZES = (0, 1, 100, 1472, 1473, 65506, 65507)


def pattern(i, n):
    """Datagram n bytes long for basic(): recognisable, different per i."""
    unit = b"%d:" % i
    return (unit * (n // len(unit) + 1))[:n]


class Integrity:
    """The integrity run's datagrams: datagram i is its sequence number
    (4 bytes, little-endian) followed by bytes of a seeded pool from an
    offset that depends on i, cut to sizes[i]. Those shorter than 4 bytes
    carry only the low bytes of their number, so they are matched by
    content among the short ones outstanding."""

    def __init__(self, count, seed):
        rng = random.Random(seed)
        self.pool = rng.randbytes(2 * 65536)
        sizes = [rng.randint(1, udp.MAX_DATAGRAM) for _ in range(count)]
        # The ends of the range, the short ones and the edges around a
        # full Ethernet frame are always among them, at random places.
        edges = [1, 2, 3, 4, 5, 1472, 1473, 65506, udp.MAX_DATAGRAM]
        for size, where in zip(edges, rng.sample(range(count), len(edges))):
            sizes[where] = size
        self.sizes = sizes

    def datagram(self, i):
        head = i.to_bytes(4, "little")
        n = self.sizes[i]
        if n <= 4:
            return head[:n]
        off = (i * 7919) % 65536
        return head + self.pool[off:off + n - 4]


def exchange(sock, plan, rate):
    """Sends every datagram of plan on the connected, non-blocking UDP
    socket sock, paced at rate per second, while reading the answers.
    Returns a dict of what happened (see the keys at the end)."""
    count = len(plan.sizes)
    interval = 1.0 / rate
    sent_at = [None] * count
    back = [0] * count  # times each came back
    short_out = {}  # content -> outstanding sequence numbers (< 5 bytes)
    counted = set()  # outstanding and counted against WINDOW
    corrupt, unknown = [], []
    inflight = 0
    max_inflight = 0
    reordered = 0
    last_back = -1
    sent = 0
    received = 0
    began = time.monotonic()
    due = began
    last_send = began
    buf = bytearray(udp.MAX_DATAGRAM + 1)
    while True:
        now = time.monotonic()
        # Never more than BURST behind: a late sender does not flood.
        due = max(due, now - BURST * interval)
        while sent < count and due <= now and inflight + plan.sizes[sent] <= WINDOW:
            try:
                sock.send(plan.datagram(sent))
            except BlockingIOError:
                break
            sent_at[sent] = now
            last_send = now
            inflight += plan.sizes[sent]
            max_inflight = max(max_inflight, inflight)
            counted.add(sent)
            if plan.sizes[sent] <= 4:
                short_out.setdefault(plan.datagram(sent), []).append(sent)
            sent += 1
            due += interval
        while True:
            try:
                n = sock.recv_into(buf)
            except BlockingIOError:
                break
            received += 1
            data = bytes(buf[:n])
            if n <= 4:
                waiting = short_out.get(data)
                if not waiting:
                    unknown.append(data)
                    continue
                seq = waiting.pop(0)
            else:
                seq = int.from_bytes(data[:4], "little")
                if seq >= sent or data != plan.datagram(seq):
                    (corrupt if seq < sent else unknown).append((seq, n, data[:16]))
                    continue
            back[seq] += 1
            if back[seq] == 1:
                if seq < last_back:
                    reordered += 1
                last_back = max(last_back, seq)
                if seq in counted:
                    counted.discard(seq)
                    inflight -= plan.sizes[seq]
        now = time.monotonic()
        if sent == count:
            if sum(1 for b in back if b) == count or now > last_send + GRACE:
                break
        # Outstanding too long: no longer held against the window.
        if sent < count and inflight + plan.sizes[sent] > WINDOW:
            for seq in [s for s in counted if now - sent_at[s] > LATE]:
                counted.discard(seq)
                inflight -= plan.sizes[seq]
        wait = 0.05
        if sent < count and inflight + plan.sizes[sent] <= WINDOW:
            wait = max(0.0, min(wait, due - now))
        select.select([sock], [], [], wait)
    return {
        "sent": sent, "received": received,
        "lost": [i for i in range(count) if back[i] == 0],
        "twice": [i for i in range(count) if back[i] > 1],
        "corrupt": corrupt, "unknown": unknown, "reordered": reordered,
        "send_seconds": last_send - began, "max_inflight": max_inflight,
    }


class UdpEchoTest(unittest.TestCase):
    maxDiff = 4000

    @limited(40, 120)
    def test_basic(self, sc):
        say("3 clients (127.0.0.1, .2, .3), datagrams of %s bytes each: each gets its own "
            "back from the listener's port; the metrics count them" % (SIZES,))
        d, ports, mport = start(sc, [udp_echo("u")], {"access_log": ACCESS_LOG})
        clients = [udp.client(sc, ports["u"], src=src) for src in
                   ("127.0.0.1", "127.0.0.2", "127.0.0.3")]
        total = 0
        for i, c in enumerate(clients):
            for n in SIZES:
                data = pattern(i, n)
                got, tries = c.ask(data, tries=1, interval=t.pick(2, 5))
                self.assertIsNotNone(got, "client %s: no answer to %d bytes" % (c.addr, n))
                self.assertEqual(len(got), n, "client %s: %d bytes sent, %d came back"
                                 % (c.addr, n, len(got)))
                self.assertEqual(got, data, "client %s: %d bytes changed" % (c.addr, n))
                total += n
        for c in clients:
            self.assertEqual(c.silence(0.3), [], "client %s got more than its own" % c.addr)
        count = len(SIZES) * len(clients)
        want = {"in": count, "out": count, "up": 0, "down": 0}
        c = udp.wait_counters(mport, "u", lambda c: all(c[k] == v for k, v in want.items()))
        say("counters: %s" % c)
        self.assertEqual(c["dropped"], {r: 0 for r in udp.DROP_REASONS})
        self.assertEqual((c["sessions_total"], c["sessions_open"]), (0, 0),
                         "an echo listener keeps no sessions (its samples stay 0)")
        values, _, _ = metrics(mport)
        for direction in ("in", "out"):
            self.assertEqual(value(values, "iocpd_bytes_total", listener="u",
                                   direction=direction), total, direction)
        stop(self, d)
        lines = log_files(sc.workdir).get(ACCESS_LOG, b"")
        self.assertEqual(lines, b"", "an echo listener writes no access log line")

    @limited(120, 300)
    def test_integrity(self, sc):
        plan = Integrity(COUNT, SEED)
        say("%d datagrams of 1..%d bytes (%d MB in all; seed %d) paced at %d/s, at most "
            "%d MiB unanswered, one socket: all back, unchanged, once"
            % (COUNT, udp.MAX_DATAGRAM, sum(plan.sizes) >> 20, SEED, RATE, WINDOW >> 20))
        d, ports, mport = start(sc, [udp_echo("u")], {})
        c = udp.client(sc, ports["u"], rcvbuf=udp.BIG_RCVBUF)
        say("client %s, receive buffer %d bytes" % (
            c.addr, c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)))
        c.sock.setblocking(False)
        r = exchange(c.sock, plan, RATE)
        say("sent %d in %.2f s (%.0f/s), %d answers, %d lost, %d twice, %d changed, %d "
            "unknown, %d out of order, at most %d KiB unanswered"
            % (r["sent"], r["send_seconds"], r["sent"] / max(r["send_seconds"], 1e-6),
               r["received"], len(r["lost"]), len(r["twice"]), len(r["corrupt"]),
               len(r["unknown"]), r["reordered"], r["max_inflight"] >> 10))
        self.assertEqual(r["corrupt"][:5], [], "datagrams changed (seq, size, first bytes)")
        self.assertEqual(r["unknown"][:5], [], "datagrams that were never sent")
        self.assertEqual(r["twice"][:10], [], "datagrams that came back twice")
        if r["lost"]:
            self.fail("%d of %d datagrams lost (first: %s, sizes %s); kernel drops "
                      "(drops, queued bytes) at the listener %s and the client %s"
                      % (len(r["lost"]), COUNT, r["lost"][:10],
                         [plan.sizes[i] for i in r["lost"][:10]],
                         udp.kernel_drops(ports["u"]), udp.kernel_drops(c.port)))
        total = sum(plan.sizes)
        c = udp.wait_counters(mport, "u", lambda c: c["in"] >= COUNT and c["out"] >= COUNT)
        self.assertEqual((c["in"], c["out"]), (COUNT, COUNT), "datagrams counted")
        self.assertEqual(c["dropped"], {r: 0 for r in udp.DROP_REASONS})
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_bytes_total", listener="u", direction="in"), total)
        self.assertEqual(value(values, "iocpd_bytes_total", listener="u", direction="out"), total)
        stop(self, d)

    @limited(40, 120)
    def test_same_port(self, sc):
        say("listeners 'tcp' and 'udp' (both echo) on one port number: both serve at once")
        listeners = [Listener("tcp", "echo"), udp_echo("udp", same_port_as="tcp")]
        d, ports, mport = start(sc, listeners, {})
        port = ports["tcp"]
        self.assertEqual(ports["tcp"], ports["udp"])
        held = sc.connect(port)
        held.sendall(b"tcp before\n")
        self.assertEqual(t.recv_exact(held, 11), b"tcp before\n")
        c = udp.client(sc, port)
        for i in range(3):
            data = b"udp %d" % i
            got, _ = c.ask(data, tries=1, interval=t.pick(2, 5))
            self.assertEqual(got, data, "the UDP listener on port %d" % port)
        held.sendall(b"tcp after\n")
        self.assertEqual(t.recv_exact(held, 10), b"tcp after\n",
                         "the TCP connection, after UDP datagrams on the same port")
        held.close()
        got, _ = c.ask(b"udp last", tries=1, interval=t.pick(2, 5))
        self.assertEqual(got, b"udp last")
        counters = udp.wait_counters(mport, "udp", lambda x: x["in"] == 4 and x["out"] == 4)
        self.assertEqual(counters["dropped"], {r: 0 for r in udp.DROP_REASONS})
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_connections_total", listener="tcp"), 1,
                         "TCP connections on the TCP listener")
        self.assertEqual(value(values, "iocpd_bytes_total", listener="tcp", direction="in"), 21)
        self.assertEqual(value(values, "iocpd_bytes_total", listener="udp", direction="in"),
                         sum(len(b"udp %d" % i) for i in range(3)) + len(b"udp last"))
        stop(self, d)


if __name__ == "__main__":
    t.main(time_limit=(240, 700))
