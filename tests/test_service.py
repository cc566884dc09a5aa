"""iocpd as a Windows service, under Wine's service control manager (SCM).

The service is created with `sc create` (a unique name per run), started and
stopped with `sc start` / `sc stop`, observed with `sc query`, and deleted
with `sc delete` in every case, also when an assertion fails. What it
writes to the Event Log is read from Wine's debug trace: with WINEDEBUG
including +eventlog, every string passed to ReportEventW appears on the
standard error of services.exe (which every service inherits) as

    TID:trace:eventlog:ReportEventW L"..."     (information)
    TID:warn:eventlog:ReportEventW L"..."      (warning)
    TID:err:eventlog:ReportEventW L"..."       (error)

and with fixme+advapi, each call is also announced by a line that shows its
type and event id:

    TID:fixme:advapi:ReportEventW (HANDLE,0x0004,0x0000,0x400003e8,...): stub

Cases: a start and a graceful drain on stop (20 clients, half of which
finish within drain_timeout and half of which are aborted at it), the Event
Log text of that run in order, a start with an invalid config, a start with
a port already taken, and `iocpd service` run by hand.

Wine only (exits 77, skipped, natively). The prefix is $WINEPREFIX with
$IOCPD_WINE_LOG receiving services.exe's standard error (see
tests/wine/prefix.sh), if its services.exe was started with what the test
needs:
  - WINEDLLPATH including the directory of the inih shim (inih.dll.so), or
    iocpd.exe cannot load inih.dll when the SCM starts it;
  - WINEDEBUG including +eventlog (and fixme+advapi to see event ids), that
    is IOCPD_WINE_SERVICE_DEBUG=-all,+eventlog,fixme+advapi for prefix.sh.
Both must be in the environment of `prefix.sh start`. Otherwise (or when
WINEPREFIX is unset) the test starts a private prefix of its own with
prefix.sh and removes it at the end. In both cases exactly one services.exe
must serve the prefix: with two, sc requests reach either at random.
"""

import sys

sys.dont_write_bytecode = True

import hashlib
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
import unittest

import iocpdtest as t

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX_SH = os.path.join(HERE, "wine", "prefix.sh")
# The WINEDEBUG services.exe needs for the Event Log assertions.
SERVICE_DEBUG = "-all,+eventlog,fixme+advapi"

# Waits, in seconds. Wine's sc takes about 0.1 s per call.
SC_TIMEOUT = 60
STATE_TIMEOUT = 30

# The drain case: drain_timeout, and the 20 clients.
DRAIN_S = 5
SHORT_CLIENTS = 10
LONG_CLIENTS = 10
CHUNK = 4096
# Before the stop every client sends PRE_CHUNKS chunks (and gets them back),
# then waits for the stop. After it a short client sends SHORT_CHUNKS more
# in about 1 s and half-closes; a long one sends LONG_CHUNKS more over about
# 3 * drain_timeout, far beyond it.
PRE_CHUNKS = 2
SHORT_CHUNKS = 20
SHORT_PAUSE = 0.05
LONG_CHUNKS = 60
LONG_PAUSE = 3.0 * DRAIN_S / LONG_CHUNKS

# The wait hint that iocpd reports while draining: drain_timeout + 10 s.
STOP_WAIT_HINT_MS = DRAIN_S * 1000 + 10000

# Event ids of service/log.h, as message ids with the severity bits of
# service/win/messages.mc.
EV = {
    "starting": 0x400003E8, "listener": 0x400003E9, "running": 0x400003EA,
    "stop_requested": 0x400003EB, "draining": 0x400003EC,
    "drain_finished": 0x400003ED, "stopped": 0x400003EE, "info": 0x4000044C,
    "warning": 0x800007D0, "config_error": 0xC0000BB8,
    "start_failed": 0xC0000BB9, "error": 0xC0000BBA,
}
# ReportEventW types: information, warning, error.
TYPE_INFO, TYPE_WARNING, TYPE_ERROR = 0x0004, 0x0002, 0x0001
TRACE_CLASS = {TYPE_INFO: "trace", TYPE_WARNING: "warn", TYPE_ERROR: "err"}


def winpath(path):
    """The Windows name of a Unix path (Wine maps / to drive Z:)."""
    return "Z:" + os.path.abspath(path).replace("/", "\\")


def inih_dir():
    """The directory holding the inih shim for IOCPD_BIN, found the way
    tests/wine/iocpd-wine finds it; None if there is none."""
    if os.environ.get("IOCPD_WINE_DLLDIR"):
        return os.environ["IOCPD_WINE_DLLDIR"]
    d = os.path.dirname(os.path.realpath(os.environ["IOCPD_BIN"]))
    while True:
        if os.path.exists(os.path.join(d, "inih.dll.so")):
            return d
        if d == "/":
            return None
        d = os.path.dirname(d)


# ---------------------------------------------------------------------------
# Wine processes and the prefix


def _proc_read(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def wine_processes(prefix, needle):
    """{pid: environment} of the processes of Wine prefix `prefix` whose
    command line (Wine shows the Windows one) contains needle."""
    want = os.path.realpath(prefix)
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        cmdline = _proc_read(pid, "cmdline")
        if cmdline is None or needle not in cmdline:
            continue
        environ = _proc_read(pid, "environ")
        if environ is None:
            continue
        env = dict(v.split("=", 1) for v in environ.split("\0") if "=" in v)
        if os.path.realpath(env.get("WINEPREFIX", "")) == want:
            found[pid] = env
    return found


class Prefix:
    """The Wine prefix the services run in: WINEPREFIX if its services.exe
    can do what the test needs, else a private one made with prefix.sh."""

    def __init__(self):
        self.owned = False
        self.notes = []
        if os.environ.get("WINEPREFIX"):
            self.path = os.environ["WINEPREFIX"]
            self.log = os.environ.get("IOCPD_WINE_LOG") or os.path.join(
                self.path, "iocpd-wine.log")
            problems = self.problems()
            if not problems:
                return
            self.notes.append("WINEPREFIX=%s is not usable here, so a private prefix "
                              "is used:\n  %s" % (self.path, "\n  ".join(problems)))
        self._start_private()

    def _start_private(self):
        env = dict(os.environ, IOCPD_WINE_SERVICE_DEBUG=SERVICE_DEBUG)
        env.pop("WINEPREFIX", None)
        env.pop("IOCPD_WINE_LOG", None)
        dlldir = inih_dir()
        if dlldir:
            env["WINEDLLPATH"] = dlldir + (":" + env["WINEDLLPATH"]
                                           if env.get("WINEDLLPATH") else "")
        out = subprocess.run(["bash", PREFIX_SH, "start"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=120, check=False)
        if out.returncode != 0:
            raise RuntimeError("prefix.sh start failed (%d):\n%s"
                               % (out.returncode, out.stderr.decode()))
        values = {}
        for line in out.stdout.decode().splitlines():
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                key, value = words[1].split("=", 1)
                values[key] = value
        self.path = values["WINEPREFIX"]
        self.log = values["IOCPD_WINE_LOG"]
        self.owned = True
        os.environ["WINEPREFIX"] = self.path
        os.environ["IOCPD_WINE_LOG"] = self.log
        problems = self.problems()
        if problems:
            raise RuntimeError("the private prefix is not usable either:\n  "
                               + "\n  ".join(problems))

    def problems(self):
        """Why services started in this prefix could not be tested ([] if
        they can), from the environment of its services.exe."""
        services = wine_processes(self.path, "system32\\services.exe")
        if len(services) != 1:
            return ["%d services.exe processes serve this prefix (want 1; with two, "
                    "sc requests reach either SCM at random: start the prefix with "
                    "`wineboot`, not `wineboot -i`)" % len(services)]
        env = next(iter(services.values()))
        problems = []
        dlldir = inih_dir()
        if dlldir and os.path.realpath(dlldir) not in [
                os.path.realpath(d) for d in env.get("WINEDLLPATH", "").split(":") if d]:
            problems.append("services.exe has WINEDLLPATH=%r, without %s (the inih shim)"
                            % (env.get("WINEDLLPATH", ""), dlldir))
        debug = env.get("WINEDEBUG", "")
        if "+eventlog" not in debug:
            problems.append("services.exe has WINEDEBUG=%r, without +eventlog" % debug)
        if not os.path.exists(self.log):
            problems.append("no services.exe log at %s" % self.log)
        return problems

    def ids_traced(self):
        """Whether ReportEventW's event ids show in the log (fixme+advapi)."""
        env = next(iter(wine_processes(self.path, "system32\\services.exe").values()), {})
        return "fixme+advapi" in env.get("WINEDEBUG", "")

    def stop(self):
        if self.owned:
            subprocess.run(["bash", PREFIX_SH, "stop"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, timeout=120, check=False)
            self.owned = False


PREFIX = None  # set in main


# ---------------------------------------------------------------------------
# sc


def sc(*args, timeout=SC_TIMEOUT):
    """Runs Wine's sc.exe; returns (exit code, stdout + stderr). sc reports
    failures only on Wine's err channel (e.g. "failed to open service
    1060"), so that channel is on."""
    cmd = shlex.split(os.environ.get("IOCPD_WRAPPER", "")) + ["sc"] + list(args)
    env = dict(os.environ, WINEDEBUG="-all,err+sc")
    for _ in range(3):
        p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout, check=False)
        out = p.stdout.decode("utf-8", "replace")
        # Now and then under load Wine fails to start sc.exe at all (it
        # never ran): try again.
        if "ShellExecuteEx failed" not in out:
            break
        time.sleep(1)
    return p.returncode, out


class Status:
    """One `sc query` result."""

    def __init__(self, text, when):
        self.text = text
        self.when = when  # time.monotonic() of the query
        fields = dict(re.findall(r"^\s*(\w+)\s*:\s*(.*?)\s*$", text, re.M))
        self.state = fields["STATE"].split()[-1]          # "4  RUNNING"
        self.win32_exit = int(fields["WIN32_EXIT_CODE"].split()[0])
        self.service_exit = int(fields["SERVICE_EXIT_CODE"].split()[0])
        self.checkpoint = int(fields["CHECKPOINT"], 16)
        self.wait_hint = int(fields["WAIT_HINT"], 16)

    def __repr__(self):
        return "%s(checkpoint %d, hint %d ms, exit %d/%d)" % (
            self.state, self.checkpoint, self.wait_hint, self.win32_exit, self.service_exit)


_names = iter(range(1, 1000))
# Services created and not yet removed, for the watchdog.
_live_services = set()


class Service:
    """A service running `iocpd.exe service -c CONFIG`, created at
    construction. remove() stops and deletes it, and ends its process if
    it outlived that."""

    def __init__(self, config_path):
        self.name = "iocpdtest-%d-%d" % (os.getpid(), next(_names))
        self.config = winpath(config_path)
        binpath = '"%s" service -c "%s"' % (winpath(os.environ["IOCPD_BIN"]), self.config)
        rc, out = sc("create", self.name, "binPath=", binpath, "start=", "demand")
        if rc != 0:
            raise AssertionError("sc create %s failed (%d): %s" % (self.name, rc, out))
        self.created = True
        _live_services.add(self)

    def query(self):
        """The current Status, or None if the service does not exist."""
        when = time.monotonic()
        rc, out = sc("query", self.name)
        if rc == 0 and "STATE" in out:
            return Status(out, when)
        if re.search(r"\b1060\b", out):  # ERROR_SERVICE_DOES_NOT_EXIST
            return None
        raise AssertionError("sc query %s failed (%d): %s" % (self.name, rc, out))

    def wait_state(self, states, timeout=STATE_TIMEOUT, seen=None):
        """Polls until the state is one of states; returns that Status.
        Every Status polled is appended to seen (if given)."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.query()
            if st is None:
                raise AssertionError("service %s vanished" % self.name)
            if seen is not None:
                seen.append(st)
            if st.state in states:
                return st
            if time.monotonic() > deadline:
                raise AssertionError("service %s still %r after %g s"
                                     % (self.name, st, timeout))

    def start(self, check=True):
        """sc start; returns its output. A service that fails at once may
        make sc report an error: check=False tolerates that."""
        rc, out = sc("start", self.name)
        if check and rc != 0:
            raise AssertionError("sc start %s failed (%d): %s" % (self.name, rc, out))
        return out

    def stop(self):
        rc, out = sc("stop", self.name)
        if rc != 0:
            raise AssertionError("sc stop %s failed (%d): %s" % (self.name, rc, out))
        return out

    def processes(self):
        return wine_processes(PREFIX.path, self.config)

    def remove(self):
        """Stops (if needed) and deletes the service; then makes sure that
        it is gone and that no process of it is left. Safe to repeat."""
        if not self.created:
            return
        try:
            st = self.query()
            if st is not None and st.state != "STOPPED":
                sc("stop", self.name)
                self.wait_state(["STOPPED"], timeout=DRAIN_S + STATE_TIMEOUT)
        finally:
            sc("delete", self.name)
            self.created = False
            _live_services.discard(self)
            deadline = time.monotonic() + 10
            while self.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
            for pid in self.processes():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# ---------------------------------------------------------------------------
# The Event Log, from Wine's trace


class Event:
    def __init__(self, kind, text, etype=None, eid=None):
        self.kind = kind    # "trace", "warn" or "err"
        self.text = text
        self.type = etype   # ReportEventW's wType, if traced
        self.id = eid       # ReportEventW's dwEventID, if traced

    def __repr__(self):
        ident = "" if self.id is None else " %#x/%d" % (self.id, self.type)
        return "%s%s %r" % (self.kind, ident, self.text)


_STRING = re.compile(r'\\([0-9a-fA-F]{4}|x\{?[0-9a-fA-F]+\}?|.)')


def _unescape(s):
    """Undoes Wine's debugstr_w escaping: \\\\, \\", \\n, \\r, \\t, and
    \\HHHH (four hex digits, no 'x') for every other UTF-16 unit below
    0x20 or above 0x7e, so "конфиг" arrives as \\043a\\043e..., and a
    character beyond the BMP as its two surrogates (older Wine wrote
    \\xHHHH)."""
    def one(m):
        c = m.group(1)
        if len(c) == 4 or c.startswith("x"):
            return chr(int(c.strip("x{}"), 16))
        return {"n": "\n", "r": "\r", "t": "\t"}.get(c, c)
    units = _STRING.sub(one, s)
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class EventLog:
    """The part of the services.exe log written after construction."""

    LINE = re.compile(r'^([0-9a-f]+):(trace|warn|err|fixme):(eventlog|advapi):'
                      r'(\w+)(?: L"(.*)"| \((.*)\):? stub)?\s*$')

    def __init__(self):
        self.path = PREFIX.log
        self.start = os.path.getsize(self.path)

    def text(self):
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode("utf-8", "replace")

    def events(self):
        """Every ReportEventW call, in order. With fixme+advapi, each
        string line follows the fixme line of its call on the same thread,
        which gives its type and id."""
        pending = {}
        out = []
        self.calls = {"RegisterEventSourceW": 0, "DeregisterEventSource": 0}
        self.sources = []
        for line in self.text().splitlines():
            m = self.LINE.match(line)
            if not m:
                continue
            tid, cls, channel, func, string, params = m.groups()
            if channel == "advapi" and func in self.calls:
                self.calls[func] += 1
                source = re.search(r'L"(.*)"', params or "")
                if source:
                    self.sources.append(_unescape(source.group(1)))
            elif channel == "advapi" and func == "ReportEventW" and params:
                p = params.split(",")
                pending[tid] = (int(p[1], 16), int(p[3], 16))
            elif channel == "eventlog" and func == "ReportEventW" and string is not None:
                etype, eid = pending.pop(tid, (None, None))
                out.append(Event(cls, _unescape(string), etype, eid))
        return out

    def wait_for(self, pattern, timeout=10):
        """Waits until an event matches pattern; returns the events."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if any(re.search(pattern, e.text) for e in events):
                return events
            if time.monotonic() > deadline:
                raise AssertionError("no event /%s/ within %g s; events:\n%s"
                                     % (pattern, timeout, "\n".join(map(repr, events))))
            time.sleep(0.1)


def assert_events_in_order(test, events, expected):
    """expected: list of (pattern, kind, id name); each must match an event
    after the previous one's. Returns the matches."""
    matches = []
    i = 0
    for pattern, kind, name in expected:
        while i < len(events) and not re.search(pattern, events[i].text):
            i += 1
        test.assertLess(i, len(events), "no event /%s/ after the previous ones; events:\n%s"
                        % (pattern, "\n".join(map(repr, events))))
        e = events[i]
        test.assertEqual(e.kind, kind, "event %r" % e)
        if e.id is not None:
            test.assertEqual(e.id, EV[name], "event %r" % e)
            test.assertEqual(TRACE_CLASS[e.type], kind, "event %r" % e)
        matches.append(re.search(pattern, e.text))
        i += 1
    return matches


# ---------------------------------------------------------------------------
# Clients for the drain case


class Client:
    """One echo client: sends PRE_CHUNKS chunks, waits for `go` (set once
    the stop has been requested), then sends `rest` more chunks `pause` s
    apart and half-closes; another thread reads the echo until EOF."""

    def __init__(self, port, go, rest, pause):
        self.sock = t.connect(port, timeout=60)
        self.go = go
        self.pause = pause
        self.payload = os.urandom(CHUNK * (PRE_CHUNKS + rest))
        self.sent = 0
        self.received = 0
        self.digest = hashlib.sha256()
        self.send_error = None
        self.recv_error = None
        self.eof = False
        self.ended = None  # time.monotonic() when reading ended
        self._threads = [threading.Thread(target=self._sender, daemon=True),
                         threading.Thread(target=self._receiver, daemon=True)]
        for th in self._threads:
            th.start()

    def _sender(self):
        try:
            while self.sent < len(self.payload):
                if self.sent >= PRE_CHUNKS * CHUNK:
                    self.go.wait()
                    time.sleep(self.pause)
                self.sock.sendall(self.payload[self.sent:self.sent + CHUNK])
                self.sent += CHUNK
            self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.send_error = e

    def _receiver(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.eof = True
                    break
                self.received += len(data)
                self.digest.update(data)
        except OSError as e:
            self.recv_error = e
        self.ended = time.monotonic()

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for th in self._threads:
            th.join(max(0.0, deadline - time.monotonic()))
        return not any(th.is_alive() for th in self._threads)

    def exact(self):
        return (self.eof and self.recv_error is None and self.received == len(self.payload)
                and self.digest.digest() == hashlib.sha256(self.payload).digest())

    def close(self):
        self.sock.close()

    def __repr__(self):
        return "sent %d/%d, received %d, eof %s, errors %r/%r" % (
            self.sent, len(self.payload), self.received, self.eof, self.send_error,
            self.recv_error)


# ---------------------------------------------------------------------------
# Cases


class ServiceDrainTest(unittest.TestCase):
    """Cases 1 and 2: one service run, observed once in setUpClass (start,
    20 clients, sc stop, sc query polled through the drain, sc delete), and
    asserted by the tests."""

    @classmethod
    def setUpClass(cls):
        cls.error = None
        try:
            cls._run()
        except Exception as e:  # reported by every test of the class
            cls.error = e

    @classmethod
    def _run(cls):
        cls.workdir = t.Workdir()
        port = t.free_ports(1)[0]
        cls.port = port
        cls.config = os.path.join(cls.workdir.path, "drain.ini")
        cls.workdir.write("drain.ini", t.config_text(
            [("echo", t.addr(port), "echo")],
            {"drain_timeout": "%ds" % DRAIN_S, "workers": 2}))
        cls.log = EventLog()
        svc = Service(cls.config)
        cls.service = svc
        go = threading.Event()
        clients = []
        cls.clients = clients
        try:
            cls.start_output = svc.start()
            cls.start_seen = []
            cls.running = svc.wait_state(["RUNNING", "STOPPED"], seen=cls.start_seen)
            if cls.running.state != "RUNNING":
                raise AssertionError("service did not start: %r\n%s"
                                     % (cls.running, cls.log.text()))
            for i in range(SHORT_CLIENTS + LONG_CLIENTS):
                if i < SHORT_CLIENTS:
                    clients.append(Client(port, go, SHORT_CHUNKS, SHORT_PAUSE))
                else:
                    clients.append(Client(port, go, LONG_CHUNKS, LONG_PAUSE))
            # Every client's first chunks came back: all 20 are accepted
            # and in the middle of their transfer.
            deadline = time.monotonic() + 30
            while not all(c.received >= PRE_CHUNKS * CHUNK for c in clients):
                if time.monotonic() > deadline or any(c.recv_error for c in clients):
                    raise AssertionError("clients did not get going: %r" % clients)
                time.sleep(0.02)
            cls.stop_at = time.monotonic()
            cls.stop_output = svc.stop()
            go.set()
            cls.stop_seen = []
            cls.stopped = svc.wait_state(["STOPPED"], timeout=DRAIN_S + STATE_TIMEOUT,
                                         seen=cls.stop_seen)
            cls.stopped_at = cls.stopped.when
            for c in clients:
                c.join(30)
            cls.events = cls.log.wait_for(r"^stopped$")
            cls.calls = dict(cls.log.calls)
            cls.sources = list(cls.log.sources)
        finally:
            go.set()
            for c in clients:
                c.close()
            svc.remove()
            cls.after_delete = svc.query()
            cls.leftover = svc.processes()
            cls.workdir.cleanup()

    def setUp(self):
        if self.error is not None:
            raise self.error

    def test_start_reports_start_pending_then_running(self):
        # sc start prints the status right after StartService returns.
        m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", self.start_output)
        self.assertIsNotNone(m, self.start_output)
        self.assertIn(m.group(1), ("START_PENDING", "RUNNING"), self.start_output)
        pending = [s for s in self.start_seen if s.state == "START_PENDING"]
        self.assertEqual([s.checkpoint for s in pending],
                         sorted(s.checkpoint for s in pending))
        for s in pending:
            self.assertGreater(s.wait_hint, 0, s)
        self.assertEqual(self.running.checkpoint, 0)
        self.assertEqual(self.running.wait_hint, 0)

    def test_stop_pending_with_rising_checkpoint(self):
        pending = [s for s in self.stop_seen if s.state == "STOP_PENDING"]
        self.assertTrue(pending, "STOP_PENDING never seen: %r" % self.stop_seen)
        checkpoints = [s.checkpoint for s in pending]
        self.assertEqual(checkpoints, sorted(checkpoints), pending)
        # A checkpoint per connection that finished and one per second.
        self.assertGreater(max(checkpoints), 1, pending)
        for s in pending:
            self.assertEqual(s.wait_hint, STOP_WAIT_HINT_MS, s)
        # sc stop prints the status ControlService returned: the handler
        # only signals, so the STOP_PENDING report may come just after it.
        m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", self.stop_output)
        self.assertIsNotNone(m, self.stop_output)
        self.assertIn(m.group(1), ("RUNNING", "STOP_PENDING"), self.stop_output)

    def test_stopped_once_with_exit_code_0(self):
        self.assertEqual(self.stopped.state, "STOPPED")
        self.assertEqual(self.stopped.win32_exit, 0, self.stopped)
        self.assertEqual(self.stopped.service_exit, 0, self.stopped)
        # STOPPED came after the drain, which lasted drain_timeout (the long
        # clients), not before.
        took = self.stopped_at - self.stop_at
        self.assertGreater(took, DRAIN_S - 0.5)
        self.assertLess(took, DRAIN_S + 10)
        after = self.stop_seen[self.stop_seen.index(self.stopped):]
        self.assertTrue(all(s.state == "STOPPED" for s in after))

    def test_short_transfers_complete_byte_exact(self):
        for i, c in enumerate(self.clients[:SHORT_CLIENTS]):
            self.assertIsNotNone(c.ended, "short client %d still reading: %r" % (i, c))
            self.assertTrue(c.exact(), "short client %d: %r" % (i, c))
            self.assertIsNone(c.send_error, "short client %d: %r" % (i, c))
            self.assertLess(c.ended - self.stop_at, DRAIN_S, "short client %d" % i)

    def test_long_transfers_aborted_at_drain_timeout(self):
        for i, c in enumerate(self.clients[SHORT_CLIENTS:]):
            self.assertIsNotNone(c.ended, "long client %d still reading: %r" % (i, c))
            self.assertFalse(c.exact(), "long client %d: %r" % (i, c))
            self.assertLess(c.received, len(c.payload), "long client %d: %r" % (i, c))
            self.assertTrue(c.recv_error is not None or c.eof, "long client %d: %r" % (i, c))
            ended = c.ended - self.stop_at
            self.assertGreater(ended, DRAIN_S - 0.5, "long client %d ended early" % i)
            self.assertLess(ended, DRAIN_S + 5, "long client %d ended late" % i)

    def test_deleted_and_no_process_left(self):
        self.assertIsNone(self.after_delete)
        self.assertEqual(self.leftover, {})

    def test_event_log_in_order(self):
        port = self.port
        m = assert_events_in_order(self, self.events, [
            (r"^iocpd \S+ starting with %s$" % re.escape(winpath(self.config)),
             "trace", "starting"),
            (r"^listener echo: listening on 127\.0\.0\.1:%d \(echo\)$" % port,
             "trace", "listener"),
            (r"^running with 2 workers$", "trace", "running"),
            (r"^service control: stop$", "trace", "info"),
            (r"^stop requested: 20 open connections, draining for up to %d ms$"
             % (DRAIN_S * 1000), "trace", "stop_requested"),
            (r"^drain finished: drained %d, aborted %d in (\d+) ms$"
             % (SHORT_CLIENTS, LONG_CLIENTS), "trace", "drain_finished"),
            (r"^stopped$", "trace", "stopped"),
        ])
        self.assertGreaterEqual(int(m[5].group(1)), DRAIN_S * 1000 - 50)
        self.assertLess(int(m[5].group(1)), DRAIN_S * 1000 + 5000)
        # Nothing went wrong on the way, and nothing came after "stopped".
        self.assertFalse([e for e in self.events if e.kind != "trace"], self.events)
        self.assertEqual(self.events[-1].text, "stopped")
        for e in self.events:
            if e.text.startswith("draining:"):
                self.assertIn(e.id, (None, EV["draining"]), e)
        if PREFIX.ids_traced():
            # The source, named after the service as `iocpd install`
            # registers it, is opened once per run and closed at the end.
            self.assertEqual(self.calls, {"RegisterEventSourceW": 1,
                                          "DeregisterEventSource": 1})
            self.assertEqual(self.sources, [self.service.name])


class ServiceStartFailureTest(unittest.TestCase):
    """Cases 3 and 4: a service that cannot start ends STOPPED with
    ERROR_SERVICE_SPECIFIC_ERROR (1066) and iocpd's exit code as the
    service-specific code, says why in the Event Log, and never serves."""

    def setUp(self):
        self.workdir = t.Workdir()
        self.service = None

    def tearDown(self):
        if self.service is not None:
            self.service.remove()
            self.assertIsNone(self.service.query())
            self.assertEqual(self.service.processes(), {})
        self.workdir.cleanup()

    def start_and_fail(self, config_name):
        log = EventLog()
        self.service = Service(os.path.join(self.workdir.path, config_name))
        self.service.start(check=False)
        st = self.service.wait_state(["STOPPED", "RUNNING"])
        self.assertEqual(st.state, "STOPPED", st)
        self.assertEqual(st.win32_exit, 1066, st)  # ERROR_SERVICE_SPECIFIC_ERROR
        return st, log.wait_for(r"^service not started: ")

    def test_invalid_config(self):
        free = t.free_ports(1)[0]
        self.workdir.write("bad.ini", "\n".join([
            "[service]",
            "drain_timeout = 2s",
            "",
            "[listener:echo]",
            "listen = %s" % t.addr(free),
            "handler = bogus",
            ""]))
        st, events = self.start_and_fail("bad.ini")
        self.assertEqual(st.service_exit, 1, st)
        where = re.escape(winpath(os.path.join(self.workdir.path, "bad.ini")))
        assert_events_in_order(self, events, [
            (r"^iocpd \S+ starting with %s$" % where, "trace", "starting"),
            (r"^%s:6: handler: unknown handler 'bogus'" % where, "err", "config_error"),
            (r"^service not started: invalid configuration \(service-specific exit code 1\)$",
             "err", "start_failed"),
        ])
        self.assertFalse([e for e in events if re.match(r"listener|running", e.text)], events)
        self.assertFalse(t.port_accepts(free))

    def test_port_taken(self):
        free, taken = t.free_ports(2)
        self.workdir.write("taken.ini", t.config_text([
            ("first", t.addr(free), "echo"),
            ("second", t.addr(taken), "echo")]))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
            holder.bind((t.HOST, taken))
            holder.listen(1)
            st, events = self.start_and_fail("taken.ini")
        self.assertEqual(st.service_exit, 3, st)
        assert_events_in_order(self, events, [
            (r"^iocpd \S+ starting with ", "trace", "starting"),
            (r"^listener second: cannot bind 127\.0\.0\.1:%d: \S" % taken,
             "err", "start_failed"),
            (r"^service not started: runtime failure \(service-specific exit code 3\)$",
             "err", "start_failed"),
        ])
        # All or nothing: the first listener, which could bind, is gone too.
        self.assertFalse([e for e in events if re.match(r"listener \w+: listening|running",
                                                        e.text)], events)
        self.assertFalse(t.port_accepts(free))


class ServiceByHandTest(unittest.TestCase):
    """Case 5: `iocpd service` outside the SCM explains itself and exits 2."""

    def test_run_by_hand(self):
        w = t.Workdir()
        try:
            r = t.run_cli(["service", "-c", "x.ini"], w)
        finally:
            w.cleanup()
        self.assertEqual(r.rc, 2, r)
        self.assertIn("iocpd run", r.stderr, r)
        self.assertIn("service manager", r.stderr, r)


# Seconds: the overall limit under Wine (iocpdtest's watchdog), and how long
# before it this script cleans up after itself.
TIME_LIMIT = 280
CLEANUP_MARGIN = 20


def _cleanup():
    """Deletes the services still there and stops a private prefix."""
    for svc in list(_live_services):
        try:
            svc.remove()
        except Exception as e:
            sys.stderr.write("test_service: removing %s: %r\n" % (svc.name, e))
    if PREFIX is not None:
        PREFIX.stop()


def _watchdog():
    """iocpdtest's watchdog ends the process with os._exit (no finally
    runs): clean up shortly before it fires."""
    def fire():
        sys.stderr.write("test_service: near the time limit: cleaning up\n")
        _cleanup()
    timer = threading.Timer(TIME_LIMIT - CLEANUP_MARGIN, fire)
    timer.daemon = True
    timer.start()


def _on_sigterm(signum, frame):
    # From ctest or a CI runner: clean up, then end at once (unittest would
    # take a SystemExit raised here for one more failing test and go on).
    sys.stderr.write("test_service: SIGTERM: cleaning up\n")
    _cleanup()
    os._exit(143)


def main():
    global PREFIX
    if not t.WINE:
        print("test_service: skipped: the Windows service host runs under Wine only")
        sys.exit(77)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    PREFIX = Prefix()
    for note in PREFIX.notes:
        sys.stderr.write("test_service: %s\n" % note)
    sys.stderr.write("test_service: prefix %s ready in %.1f s (%s)\n"
                     % (PREFIX.path, time.monotonic() - started,
                        "private" if PREFIX.owned else "from the environment"))
    _watchdog()
    try:
        t.main(time_limit=(60, TIME_LIMIT))
    finally:
        _cleanup()


if __name__ == "__main__":
    main()
