"""Fairness: with one worker thread, many bulk echo connections at once all
get served; none starves and none takes over.

Each client connection sends continuously while at most WINDOW of its bytes
are not echoed back yet, and reads and verifies its echo (E4 in
bench/README.md). After a warm-up, the echoed bytes of every connection are
counted for a few seconds, and every connection must have moved at least
10% of the median connection's bytes and at most 10 times as much. The
bounds are generous on purpose: this is a correctness check that must hold
on a busy shared 2-core machine, not a benchmark; a fair server is far
inside them (E4 shows Jain's index near 1 for epoll_echo).

The client is bench/loadgen/'s `stream` mode when IOCPD_LOADGEN names it
(tests/blackbox.cmake builds it natively): a C client keeps the one worker
saturated, which is when an unfair loop shows. Otherwise (under Wine, or
when the script is run by hand) the script streams itself, with the same
rules. Both serve their sockets in the order epoll reports them and drain
each at once, so they favour none.

Runs with 50 and then three times with 300 connections natively; under
Wine, where every socket operation goes through the wineserver, once with 30
connections and a longer window. On a failure the message lists the
per-connection figures.
"""

import sys

sys.dont_write_bytecode = True

import json
import os
import selectors
import statistics
import subprocess
import time
import unittest

import harness as t

WINDOW = 1 << 20  # bytes in flight per connection, at most
CHUNK = 64 << 10  # bytes per send
# (connections, seconds measured) per run; 300 three times natively, as an
# unfair loop does not favour one connection by 10x in every window.
RUNS = t.pick([(50, 4.0), (300, 4.0), (300, 4.0), (300, 4.0)], [(30, 12.0)])
WARMUP = t.pick(1.0, 3.0)
MIN_SHARE = 0.10  # of the median, at least
MAX_SHARE = 10.0  # times the median, at most
LOADGEN = os.environ.get("IOCPD_LOADGEN", "").strip()

# The bytes every connection sends: a pseudo-random pattern, read
# cyclically from a per-connection origin, with its start repeated at its
# end so that any send or comparison is one slice.
PATTERN_LEN = 1 << 20
RECV_SIZE = 256 << 10
_pattern = bytearray(os.urandom(PATTERN_LEN))
PATTERN = bytes(_pattern + _pattern[:RECV_SIZE])


class Stream:
    """One client connection: tx bytes sent, rx bytes echoed and verified."""

    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.origin = (index * 7919 * 131) % PATTERN_LEN
        self.tx = 0
        self.rx = 0
        self.mark = 0  # rx when the measurement began
        self.writing = False  # EVENT_WRITE is registered

    def send(self):
        """Sends until the window is full or the socket is; returns True
        if the socket is full (wait for it to be writable)."""
        while self.tx - self.rx < WINDOW:
            n = min(CHUNK, WINDOW - (self.tx - self.rx))
            pos = (self.origin + self.tx) % PATTERN_LEN
            try:
                k = self.sock.send(memoryview(PATTERN)[pos:pos + n])
            except BlockingIOError:
                return True
            self.tx += k
        return False

    def recv(self):
        """Reads and checks everything that has arrived; raises on EOF, a
        reset or a wrong byte."""
        while True:
            try:
                data = self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                return
            if not data:
                raise AssertionError("connection %d: EOF after %d bytes" % (self.index, self.rx))
            pos = (self.origin + self.rx) % PATTERN_LEN
            if len(data) > self.tx - self.rx or data != PATTERN[pos:pos + len(data)]:
                raise AssertionError("connection %d: wrong bytes after %d bytes"
                                     % (self.index, self.rx))
            self.rx += len(data)


def stream_here(port, count, seconds):
    """Runs count streams from this process for WARMUP + seconds; returns
    the bytes each moved in the measured seconds."""
    sel = selectors.DefaultSelector()
    streams = []
    try:
        for i in range(count):
            s = t.connect(port)
            s.setblocking(False)
            streams.append(Stream(i, s))
        for st in streams:
            st.writing = st.send()
            sel.register(st.sock, selectors.EVENT_READ
                         | (selectors.EVENT_WRITE if st.writing else 0), st)
        measure_from = time.monotonic() + WARMUP
        end = measure_from + seconds
        marked = False
        while True:
            now = time.monotonic()
            if not marked and now >= measure_from:
                for st in streams:
                    st.mark = st.rx
                marked = True
            if now >= end:
                break
            for key, _ in sel.select(timeout=0.1):
                st = key.data
                # Reading first opens the window for the send that follows.
                st.recv()
                writing = st.send()
                if writing != st.writing:
                    st.writing = writing
                    sel.modify(st.sock, selectors.EVENT_READ
                               | (selectors.EVENT_WRITE if writing else 0), st)
        return [st.rx - st.mark for st in streams]
    finally:
        sel.close()
        for st in streams:
            st.sock.close()


def stream_loadgen(port, count, seconds):
    """The same with bench/loadgen/'s stream mode; returns its per-connection
    byte counts after checking that every echoed byte was right."""
    argv = [LOADGEN, "stream", "-p", str(port), "-c", str(count), "-W", str(WINDOW),
            "-s", str(CHUNK), "-d", str(seconds), "-w", str(WARMUP), "-l", "fairness"]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=WARMUP + seconds + 60)
    if r.returncode != 0:
        raise AssertionError("%s exited %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                      r.stderr))
    report = json.loads(r.stdout)
    if not report["ok"] or report["errors"] or report["corrupt"]:
        raise AssertionError("loadgen: %s" % r.stderr)
    return report["conn_bytes"]


def describe(moved, seconds):
    """One line of figures, and the connections outside the bounds."""
    median = statistics.median(moved)
    total = sum(moved)
    jain = total * total / (len(moved) * sum(x * x for x in moved)) if total else 0.0
    mbit = 8 / seconds / 1e6
    line = ("%d connections, %.2f Gbit/s echoed: per connection min %.1f, median %.1f, "
            "max %.1f Mbit/s (min %.2fx, max %.2fx the median), Jain's index %.3f"
            % (len(moved), total * mbit / 1e3, min(moved) * mbit, median * mbit,
               max(moved) * mbit, min(moved) / median if median else 0,
               max(moved) / median if median else 0, jain))
    outliers = ["connection %d: %d bytes (%.2fx the median)" % (i, x, x / median if median else 0)
                for i, x in enumerate(moved)
                if not MIN_SHARE * median <= x <= MAX_SHARE * median]
    return line, outliers


class FairnessTest(unittest.TestCase):

    def test_no_connection_starves(self):
        measure = stream_loadgen if LOADGEN else stream_here
        sys.stderr.write("fairness: streams from %s\n" % (LOADGEN or "this script"))
        workdir = t.Workdir()
        try:
            d, ports = t.start(workdir, [("echo", "echo")], service={"workers": 1})
            try:
                for run, (count, seconds) in enumerate(RUNS, 1):
                    with self.subTest(run=run, connections=count):
                        moved = measure(ports["echo"], count, seconds)
                        self.assertEqual(len(moved), count)
                        line, outliers = describe(moved, seconds)
                        sys.stderr.write("fairness: %s\n" % line)
                        self.assertGreater(statistics.median(moved), 0, line)
                        if outliers:
                            self.fail("%s; outside %.2fx..%gx the median:\n  %s"
                                      % (line, MIN_SHARE, MAX_SHARE, "\n  ".join(outliers)))
                self.assertTrue(d.running(), "iocpd died\n" + d.stderr())
                d.stop_clean()
            finally:
                d.kill()
        finally:
            workdir.cleanup()


if __name__ == "__main__":
    t.main(time_limit=(90, 300))
