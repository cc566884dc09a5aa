"""Fault soak: many relayed connections at once through `handler = forward`
listeners, faults mixed in, every byte checked, while this script watches
iocpd's memory, descriptors (handles) and metrics.

The load comes from the C tool in tests/soak (IOCPD_SOAK_BIN; its protocol
is in tests/soak/main.c, what it checks in tests/soak/report.c): a client
process and an upstream process on loopback. This script

  1. starts the tool, which binds its upstream and a port that refuses;
  2. starts iocpd (the harness's start on fresh ports) with three forward
     listeners, buffer_size 64k: `main`, `failover` (its first upstream is
     the refusing port; max_fails = 0, so it is never skipped) and
     `silent` (handshake_timeout), and /metrics;
  3. takes the baselines after start-up and one warm-up scrape: open
     descriptors (Linux: /proc/PID/fd), the iocpd_process_open_handles
     gauge (handles on Windows), VmRSS;
  4. lets the tool open every connection (the silent ones mixed in),
     checks at the moment all relayed ones are open end to end that
     iocpd_connections_active says as many, then releases them: each then
     moves bytes both ways;
  5. samples VmRSS every 50 ms until the tool's verdict; then waits until
     /metrics says 0 active connections and descriptors and handles are
     back at their baselines;
  6. stops iocpd with SIGINT (clean drain, no sanitizer report) and prints
     the figures; any check that failed fails the test.

Modes (CI is the default; --full or IOCPD_SOAK_MODE=full for the other):
  ci    native and ASan: 1,000 relayed + 40 silent connections, >= 128 MiB
        in byte-exact transfers. Wine: 400 + 16, >= 128 MiB (Wine is about
        10x slower per socket operation, and each Windows socket costs it
        about 2.5 descriptors; 1,000 also pass, in about 30 s).
  full  10,000 relayed (fewer if iocpd's descriptor limit cannot hold them
        with the silent ones: two descriptors per connection; the output
        says how many) + 100 silent, >= 1 GiB.

The memory bound (see RSS_* below): VmRSS <= baseline + C x (2 x
buffer_size + per-connection allowance) + slack, C being every connection
of the run (all relayed ones are open at once).

Run: IOCPD_BIN=build/iocpd IOCPD_SOAK_BIN=build/tests/soak/soak
python3 tests/test_soak.py [--full] [--seed N] [--relayed N] [--max-size
SIZE] [--min-bytes SIZE] [--corrupt CONN]. --corrupt flips one byte of one
connection's upload (a debug run that must fail). Environment: see
harness/env.py; IOCPD_SOAK_SEED also sets the seed.
"""

import sys

sys.dont_write_bytecode = True

import json
import math
import os
import queue
import re
import subprocess
import threading
import time
import unittest
import urllib.request

import harness as t
from harness.procinfo import fd_count, raise_fd_limit, sanitized_binary, vm_rss

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

BUFFER_SIZE = 64 * KiB
HANDSHAKE_MS = t.pick(2000, 3000)


def _options(argv):
    """Takes this script's options out of argv (the rest is unittest's)."""
    opts = {"full": os.environ.get("IOCPD_SOAK_MODE") == "full",
            "seed": os.environ.get("IOCPD_SOAK_SEED")}
    rest = [argv[0]]
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--full":
            opts["full"] = True
        elif a in ("--seed", "--relayed", "--max-size", "--min-bytes", "--corrupt"):
            opts[a[2:].replace("-", "_")] = argv[i + 1]
            i += 1
        else:
            rest.append(a)
        i += 1
    argv[:] = rest
    return opts


OPTS = _options(sys.argv)
FULL = OPTS["full"]

# (relayed, silent, min_bytes, time limit of the tool in s) per mode.
if FULL:
    RELAYED, SILENT, MIN_BYTES, TOOL_LIMIT = 10000, 100, 1 * GiB, 600
else:
    RELAYED, SILENT, MIN_BYTES, TOOL_LIMIT = t.pick((1000, 40, 128 * MiB, 90),
                                                    (400, 16, 128 * MiB, 150))
MAX_SIZE = "8m"
# A reset must reach the other end within this long. What was sent before
# it is delivered first (Linux lets the relay read what its socket had
# received before the RST), and under full load a connection gets only
# tens of KB/s, so a reset behind megabytes in flight may take seconds.
END_BOUND_MS = 30000 if FULL else t.pick(5000, 10000)
# Descriptors iocpd needs beyond two per connection before payload moves:
# its own (about 16: listeners, epoll and eventfd per worker, stdio), a
# scrape, and spare. Once data flows, iocpd's count is no longer two per
# connection the tool has open (it retires a finished relay a moment
# later; splice pipes take spare descriptors), which is why the tool opens
# every connection before the release.
IOCPD_FD_RESERVE = 64

# Resident memory: what iocpd may hold per connection beyond its two
# buffers, and once. Natively a relayed connection costs about 1.2 KiB
# when idle (bench R4: two connection records, the relay, timer and
# registry entries); 4 KiB leaves room for write requests and malloc's
# rounding. The slack covers the per-worker buffer caches (2 workers x 32
# buffers x 64 KiB = 4 MiB), thread stacks and allocator fragmentation.
# Under ASan every allocation carries redzones and shadow (about 6 KiB per
# idle relayed connection measured), and freed memory is held in the
# quarantine (quarantine_size_mb, 256 by default). Under Wine the process
# is wine64, which keeps its own state per socket and per overlapped
# operation: about 21 KiB per idle relayed connection measured.
RSS_PER_CONN = t.pick(4 * KiB, 32 * KiB)
RSS_SLACK = t.pick(16 * MiB, 64 * MiB)
ASAN_PER_CONN = 8 * KiB
ASAN_SLACK = 64 * MiB
# How long iocpd may take to retire every connection once the tool is done.
RELEASE_WITHIN = t.pick(10.0, 30.0)
# Under Wine a reset may reach the other end as a clean EOF without iocpd
# being at fault: Wine 8 reports a peer's reset that arrives while the
# receiver is still reading data as a successful 0-byte WSARecv (a plain
# overlapped Winsock program shows it; Windows reports an error), as it
# does on an idle connection (test_observability_access_log.py,
# WINE_RESET_AS_FIN).
# The tool then counts those apart instead of failing; every other check of
# a reset (a correct prefix, an end within the bound) still applies.
RESET_EOF_OK = t.WINE


def say(text):
    sys.stderr.write("soak: %s\n" % text)
    sys.stderr.flush()


def mib(n):
    return "%.1f MiB" % (n / MiB)


def asan_quarantine():
    """ASan's quarantine size in bytes as the options given set it."""
    m = re.search(r"quarantine_size_mb=(\d+)", os.environ.get("ASAN_OPTIONS", ""))
    return int(m.group(1)) * MiB if m else 256 * MiB


# ---------------------------------------------------------------------------
# /metrics


def scrape(port):
    """The samples of GET /metrics: {(name, frozenset(labels)): value}."""
    url = "http://%s/metrics" % t.addr(port)
    with urllib.request.urlopen(url, timeout=t.pick(10, 30)) as r:
        text = r.read().decode("utf-8")
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m:
            raise AssertionError("unparsable metrics line %r" % line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def metric(samples, name, **labels):
    """The sum of name's samples whose labels include labels."""
    want = set(labels.items())
    return sum(v for (n, l), v in samples.items() if n == name and want <= set(l))


# ---------------------------------------------------------------------------
# The soak tool


class Tool:
    """The soak tool's process and its line protocol on stdout/stdin. Its
    stderr (progress, verdict) goes straight to ours."""

    def __init__(self, args):
        binary = os.environ.get("IOCPD_SOAK_BIN", "").strip()
        if not binary or not os.access(binary, os.X_OK):
            raise AssertionError("IOCPD_SOAK_BIN (%r) is not the soak tool: build the "
                                 "soak_client target" % binary)
        self.proc = subprocess.Popen([binary, "--driver"] + args, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, word, timeout):
        """The rest of the next line, which must start with word."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no '%s' line from the soak tool within %g s" % (word, timeout))
        if line is None:
            raise AssertionError("the soak tool exited (%r) before '%s'" % (self.proc.wait(), word))
        if not line.startswith(word + " "):
            raise AssertionError("expected '%s ...' from the soak tool, got %r" % (word, line))
        return line[len(word) + 1:]

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class RssSampler:
    """VmRSS of pid every interval seconds, in a thread, until stop()."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.peak = 0
        self.peak_at = 0.0
        self.began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval):
        while not self._stop.is_set():
            try:
                rss = vm_rss(self.pid)
            except (OSError, AssertionError):
                return
            if rss > self.peak:
                self.peak, self.peak_at = rss, time.monotonic() - self.began
            self._stop.wait(interval)

    def stop(self):
        self._stop.set()
        self._thread.join(5)


# ---------------------------------------------------------------------------
# iocpd


def config(ports, upstream, refused):
    lines = ["[service]", "metrics_listen = %s" % t.addr(ports["metrics"]),
             "log_level = info", "drain_timeout = 10s", ""]
    listeners = [
        ("main", [upstream], {}),
        # max_fails = 0: every other connection must fail over past the
        # refusing port; passive health would skip it after 3 failures
        # (tests/test_forward_health.py tests that).
        ("failover", [refused, upstream], {"connect_timeout": "5s", "max_fails": "0"}),
        ("silent", [upstream], {"handshake_timeout": "%dms" % HANDSHAKE_MS}),
    ]
    for name, ups, keys in listeners:
        lines += ["[listener:%s]" % name, "listen = %s" % t.addr(ports[name]),
                  "handler = forward",
                  "upstream = %s" % ", ".join(t.addr(p) for p in ups),
                  "buffer_size = %dk" % (BUFFER_SIZE // KiB)]
        lines += ["%s = %s" % kv for kv in keys.items()]
        lines.append("")
    return "\n".join(lines)


def start_iocpd(workdir, upstream, refused):
    """iocpd on fresh ports; returns (daemon, {listener or "metrics": port})."""
    ports = {}

    def launch():
        ports.clear()
        ports.update(zip(["main", "failover", "silent", "metrics"], t.free_ports(4)))
        workdir.write("iocpd.ini", config(ports, upstream, refused))
        d = t.Daemon(workdir, ["run", "-c", "iocpd.ini"])
        return d, (d, dict(ports))

    return t.start_on_fresh_ports(launch, t.wait_running)


class Counts:
    """Descriptors (Linux: of the iocpd process, or of wine64 under Wine)
    and the iocpd_process_open_handles gauge, taken together."""

    def __init__(self, pid, metrics_port):
        self.fds = fd_count(pid)
        self.samples = scrape(metrics_port)
        self.handles = metric(self.samples, "iocpd_process_open_handles")
        self.active = metric(self.samples, "iocpd_connections_active")

    def __repr__(self):
        return "%s descriptors, %d handles (gauge)" % (self.fds, self.handles)


def wait_released(d, port, base, within):
    """Polls until iocpd has no connection and its descriptors and handles
    are back at base, or within seconds pass. Returns the last Counts;
    fails if /metrics never answered."""
    deadline = time.monotonic() + within
    now = None
    while True:
        try:
            now = Counts(d.pid, port)
            if now.active == 0 and now.fds == base.fds and now.handles == base.handles:
                return now
        except OSError as e:  # urllib's errors included: a busy or hung iocpd
            if time.monotonic() > deadline:
                raise AssertionError("GET /metrics did not answer within %g s after the "
                                     "soak: %s" % (within, e))
        if time.monotonic() > deadline and now is not None:
            return now
        time.sleep(0.2)


# ---------------------------------------------------------------------------


class SoakTest(unittest.TestCase):
    maxDiff = None

    def test_soak(self):
        began = time.monotonic()
        # Our soft descriptor limit up to the hard one: iocpd and the tool
        # inherit it.
        limit = raise_fd_limit()
        # Two descriptors per connection in iocpd: fewer relayed ones when
        # the limit cannot hold them all.
        fits = (limit - IOCPD_FD_RESERVE) // 2
        asked = int(OPTS.get("relayed") or RELAYED)
        silent = SILENT if OPTS.get("relayed") is None else max(1, asked // 25)
        # Every connection, silent ones included, is open at the barrier.
        relayed = min(asked, fits - silent)
        min_bytes = OPTS.get("min_bytes") or str(MIN_BYTES)
        seed = OPTS.get("seed") or str(int.from_bytes(os.urandom(4), "little"))
        asan = not t.WINE and sanitized_binary()
        say("mode %s, platform %s%s, seed %s (IOCPD_SOAK_SEED or --seed repeats the plan)"
            % ("full" if FULL else "ci", t.PLATFORM, " (ASan)" if asan else "", seed))
        if relayed < asked:
            say("descriptor limit %d: iocpd can hold %d connections (2 descriptors each, %d "
                "reserved), so %d relayed + %d silent, not the %d relayed asked"
                % (limit, fits, IOCPD_FD_RESERVE, relayed, silent, asked))
        args = ["--seed", seed, "--relayed", str(relayed), "--silent", str(silent),
                "--max-size", OPTS.get("max_size") or MAX_SIZE,
                "--min-bytes", min_bytes, "--handshake-ms", str(HANDSHAKE_MS),
                "--end-bound", str(END_BOUND_MS), "--time-limit", str(TOOL_LIMIT * 1000),
                "--ramp", str(t.pick(60000, 120000)),
                "--connecting", str(t.pick(256, 64))]
        if RESET_EOF_OK:
            args.append("--reset-eof-ok")
            say("Wine: a reset that Wine reports as a clean EOF is counted, not failed "
                "(Wine 8 does so while the receiver is reading; see RESET_EOF_OK)")
        if OPTS.get("corrupt") is not None:
            args += ["--corrupt", OPTS["corrupt"]]
            say("DEBUG: connection %s gets one wrong byte: this run must fail" % OPTS["corrupt"])
        tool = Tool(args)
        workdir = t.Workdir()
        d = None
        try:
            upstream, refused = (int(x) for x in tool.expect("ports", 30).split())
            d, ports = start_iocpd(workdir, upstream, refused)
            self._run(tool, d, ports, refused, relayed, silent, asan, began)
        finally:
            tool.kill()
            if d is not None:
                d.kill()
            workdir.cleanup()

    def _run(self, tool, d, ports, refused, relayed, silent, asan, began):
        # Baselines, after start-up and one warm-up scrape (its connection
        # is gone again when the next is counted).
        t.settle()
        scrape(ports["metrics"])
        t.settle()
        base = Counts(d.pid, ports["metrics"])
        base_rss = vm_rss(d.pid)
        say("iocpd pid %d: baseline %r, VmRSS %s" % (d.pid, base, mib(base_rss)))
        sampler = RssSampler(d.pid)
        tool_began = time.monotonic()
        tool.send("go %d %d %d" % (ports["main"], ports["failover"], ports["silent"]))

        held = int(tool.expect("held", t.pick(120, 240)))
        at_barrier = Counts(d.pid, ports["metrics"])
        held_active = metric(at_barrier.samples, "iocpd_connections_active", listener="main") + \
            metric(at_barrier.samples, "iocpd_connections_active", listener="failover")
        say("%d relayed connections open at once: iocpd_connections_active (main + failover) "
            "= %d, %r, VmRSS %s" % (held, held_active, at_barrier, mib(vm_rss(d.pid))))
        tool.send("release")

        result = json.loads(tool.expect("result", TOOL_LIMIT + 90))
        tool_rc = tool.proc.wait(30)
        tool_took = time.monotonic() - tool_began
        after = wait_released(d, ports["metrics"], base, RELEASE_WITHIN)
        sampler.stop()
        self.assertTrue(d.running(), "iocpd died during the soak\n" + d.stderr()[-4000:])
        end = Counts(d.pid, ports["metrics"])

        conns = relayed + silent
        per_conn, slack = (ASAN_PER_CONN, ASAN_SLACK + asan_quarantine()) if asan else \
            (RSS_PER_CONN, RSS_SLACK)
        bound = base_rss + conns * (2 * BUFFER_SIZE + per_conn) + slack
        failover = result["kinds"]["failover"]["count"]
        refusals = metric(end.samples, "iocpd_upstream_connect_failures_total",
                          listener="failover", upstream=t.addr(refused))
        accepted = {n: metric(end.samples, "iocpd_connections_total", listener=n)
                    for n in ("main", "failover", "silent")}

        self._figures(result, held, held_active, sampler, base_rss, bound, conns, per_conn,
                      slack, base, at_barrier, after, failover, refusals, accepted, tool_took,
                      began)
        self._iocpd_warnings(d)
        # Fails unless iocpd reports no open connection, drains 0 and exits 0
        # without a sanitizer report.
        d.stop_clean()
        self.assertEqual(tool_rc, 0, "the soak tool found failures (above: 'soak: FAIL:')")
        self.assertEqual(held, relayed)
        self.assertEqual(held_active, relayed,
                         "iocpd did not have every relayed connection open at the barrier")
        self.assertLessEqual(sampler.peak, bound,
                             "iocpd's VmRSS peaked at %s, over the bound %s"
                             % (mib(sampler.peak), mib(bound)))
        self.assertEqual(after.active, 0, "connections still active in /metrics %g s after "
                         "the soak" % RELEASE_WITHIN)
        # Under Wine these are wine64's: they came back every time too (Wine
        # closes its cached host descriptor of a socket with its handle).
        self.assertEqual(after.fds, base.fds, "open descriptors not back at the baseline")
        self.assertEqual(after.handles, base.handles,
                         "iocpd_process_open_handles not back at the baseline")
        self.assertEqual(accepted["failover"], failover)
        self.assertEqual(accepted["silent"], silent)
        self.assertEqual(refusals, math.ceil(failover / 2),
                         "round robin over (refusing, live): every other failover connection "
                         "must have tried the refusing upstream first")

    def _figures(self, r, held, held_active, sampler, base_rss, bound, conns, per_conn, slack,
                 base, at_barrier, after, failover, refusals, accepted, tool_took, began):
        say("---- figures ----")
        say("connections: %d relayed, all open end to end at once (iocpd_connections_active "
            "of main + failover then: %d), and %d silent mixed in (%d still open then); "
            "accepted by listener: %s"
            % (held, held_active, r["silent"],
               metric(at_barrier.samples, "iocpd_connections_active", listener="silent"),
               ", ".join("%s %d" % kv for kv in accepted.items())))
        for name, k in r["kinds"].items():
            ends = "; ".join("%s: %d" % kv for kv in k["ends"].items())
            lat = " (slowest %.3f s)" % k["max_latency_s"] if k["max_latency_s"] >= 0 else ""
            say("  %-15s %5d, %5d ok: %s%s" % (name, k["count"], k["ok"], ends, lat))
        say("failover: %d connections; iocpd counted %d refused first attempts (expected %d)"
            % (failover, refusals, math.ceil(failover / 2)))
        say("bytes verified: %s, of which %s in byte-exact transfers (asked >= %s)"
            % (mib(r["bytes_verified"]), mib(r["bytes_clean"]),
               mib(int(OPTS.get("min_bytes") or MIN_BYTES))))
        say("peak VmRSS %s at %.1f s, bound %s = baseline %s + %d x (2 x %d KiB + %d KiB) + %s"
            % (mib(sampler.peak), sampler.peak_at, mib(bound), mib(base_rss), conns,
               BUFFER_SIZE // KiB, per_conn // KiB, mib(slack)))
        say("descriptors%s: %s before, %s at the barrier, %s after; handles (gauge): %d "
            "before, %d at the barrier, %d after"
            % (" (wine64 process)" if t.WINE else "", base.fds, at_barrier.fds, after.fds,
               base.handles, at_barrier.handles, after.handles))
        say("iocpd_connections_active at the end: %d" % after.active)
        say("duration: tool %.1f s (all open after %.1f s), whole test %.1f s"
            % (tool_took, r["held_s"], time.monotonic() - began))
        if r["failures"]:
            say("tool failures (%d listed of %d):" % (len(r["failures"]), r["failed"]))
            for f in r["failures"]:
                say("  " + f)

    def _iocpd_warnings(self, d):
        """iocpd's warnings and errors (at most 20, with a count), for a
        failure's context."""
        lines = [l for l in d.stderr().splitlines()
                 if re.search(t.TIMESTAMP + r" (warning|error) ", l)]
        if lines:
            say("iocpd logged %d warnings or errors; the first %d:" % (len(lines), min(20, len(lines))))
            for l in lines[:20]:
                say("  " + l)


if __name__ == "__main__":
    t.main(time_limit=(1200, 1200) if FULL else (110, 220))
