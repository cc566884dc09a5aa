"""The access log as the observability tests see it: the daemon's layout
(config and log in conf/, the daemon run from the directory above it, so
that a relative access_log path is shown to be relative to the config
file's directory), starting and stopping such a daemon, and reading every
line of access.log and its rotated files.

A line is logfmt with exactly LINE_KEYS in that order (a UDP session's
then goes on with UDP_KEYS); parse_line() fails on anything else, so a torn
or reordered line fails the test that reads it.
"""

import calendar
import os
import re
import socket
import time

from .config import config_text_for
from .daemon import Daemon, start_on_fresh_ports, wait_running
from .env import pick
from .ports import addr, listener_ports

CONF_DIR = "conf"
CONFIG = CONF_DIR + "/iocpd.ini"
# Relative to the config file's directory, so the file lands in conf/.
ACCESS_LOG = "access.log"

LINE_KEYS = ["time", "listener", "client", "upstream", "bytes_in", "bytes_out",
             "bytes_up", "bytes_down", "duration_ms", "end", "proxy"]
UDP_KEYS = ["proto", "dgrams_in", "dgrams_out", "dgrams_up", "dgrams_down"]
END_REASONS = {"client_fin", "upstream_fin", "client_reset", "upstream_reset",
               "idle_timeout", "handshake_timeout", "connect_failed", "denied",
               "limit", "drain_abort", "shutdown", "proxy_error"}
PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^\s"=]+)(?: |$)')
TIME_RX = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$")

# How long the daemon may take to write a line after the connection ended.
LINE_WAIT = pick(10, 30)


# ---------------------------------------------------------------------------
# The daemon


def start(sc, listeners, service, metrics_on=True):
    """Writes conf/iocpd.ini (listeners on fresh ports, [service] keys in
    order, metrics_listen on a fresh port if metrics_on) and runs `iocpd run
    -c conf/iocpd.ini` in the scope's work directory until it logs that it
    runs. Returns (daemon, {listener: port}, metrics port or None)."""
    os.makedirs(os.path.join(sc.workdir.path, CONF_DIR), exist_ok=True)

    def launch():
        # All different: the metrics endpoint on a listener's port would
        # be refused as a clash.
        ports, extra = listener_ports(listeners, [socket.AF_INET])
        svc = dict(service)
        mport = None
        if metrics_on:
            mport = extra[0]
            svc["metrics_listen"] = addr(mport)
        sc.workdir.write(CONFIG, config_text_for(listeners, ports, svc))
        d = Daemon(sc.workdir, ["run", "-c", CONFIG])
        d.expect_exit = False
        sc.daemons.append(d)
        return d, (d, ports, mport)

    return start_on_fresh_ports(launch, wait_running)


def stop(tc, d, timeout=None):
    """SIGINT, then the exit code must be 0; returns stderr."""
    d.expect_exit = True
    d.interrupt()
    rc = d.wait(timeout or pick(20, 60))
    tc.assertEqual(rc, 0, "iocpd did not stop cleanly\n%s" % d.stderr())
    err = d.stderr()
    tc.assertNotRegex(err, r"AddressSanitizer|LeakSanitizer|runtime error:")
    tc.assertNotIn("lines were lost", err)
    return err


# ---------------------------------------------------------------------------
# The lines


def parse_line(line):
    """One access log line (without its newline) -> dict; raises
    ValueError unless it is logfmt with exactly LINE_KEYS in order, or
    LINE_KEYS then UDP_KEYS with proto=udp (a UDP session's line)."""
    pairs = []
    pos = 0
    while pos < len(line):
        m = PAIR.match(line, pos)
        if m is None:
            raise ValueError("not logfmt at column %d: %r" % (pos, line))
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        pairs.append((m.group(1), value))
        pos = m.end()
    keys = [k for k, _ in pairs]
    if keys != LINE_KEYS and keys != LINE_KEYS + UDP_KEYS:
        raise ValueError("keys %s, expected %s: %r" % (keys, LINE_KEYS, line))
    rec = dict(pairs)
    if keys != LINE_KEYS:
        if rec["proto"] != "udp":
            raise ValueError("proto is not udp: %r" % line)
        for k in UDP_KEYS[1:]:
            if not rec[k].isdigit():
                raise ValueError("%s is not a number: %r" % (k, line))
            rec[k] = int(rec[k])
    m = TIME_RX.match(rec["time"])
    if m is None:
        raise ValueError("bad time %r" % rec["time"])
    y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
    rec["time_ms"] = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1000 + ms
    for k in ("bytes_in", "bytes_out", "bytes_up", "bytes_down", "duration_ms"):
        if not rec[k].isdigit():
            raise ValueError("%s is not a number: %r" % (k, line))
        rec[k] = int(rec[k])
    if rec["end"] not in END_REASONS:
        raise ValueError("unknown end %r" % rec["end"])
    return rec


def log_files(workdir):
    """{name: bytes} of access.log and its rotated files."""
    d = os.path.join(workdir.path, CONF_DIR)
    out = {}
    for name in os.listdir(d):
        if name == ACCESS_LOG or name.startswith(ACCESS_LOG + "."):
            with open(os.path.join(d, name), "rb") as f:
                out[name] = f.read()
    return out


def read_lines(workdir, whole=True):
    """Every line of every log file, parsed. With whole, each file must end
    in a newline (nothing torn or half-written)."""
    recs = []
    for name, data in sorted(log_files(workdir).items()):
        if whole and data and not data.endswith(b"\n"):
            raise AssertionError("%s does not end in a newline: %r" % (name, data[-200:]))
        text = data.decode("utf-8")
        for line in text.split("\n")[:-1] if whole else text.split("\n"):
            if line:
                recs.append(parse_line(line))
    return recs


def wait_lines(workdir, count, timeout=LINE_WAIT):
    """Polls until the log files hold at least count lines; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            recs = read_lines(workdir)
        except (AssertionError, ValueError):
            recs = None  # a line being written right now
        except FileNotFoundError:
            recs = None  # a file listed, then rotated away before it was read
        if recs is not None and len(recs) >= count:
            return recs
        if time.monotonic() > deadline:
            raise AssertionError("%d access log lines after %g s, expected %d"
                                 % (len(recs or []), timeout, count))
        time.sleep(0.05)
