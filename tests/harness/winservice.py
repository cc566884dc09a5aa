"""iocpd as a Windows service under Wine's service control manager (SCM):
the Wine prefix the services run in, Wine's sc.exe, a service created for
one test, and the Event Log as read from Wine's debug trace.

Services are created with `sc create` (a unique name per run), started and
stopped with `sc start` / `sc stop`, observed with `sc query`, and deleted
with `sc delete` in every case, also when an assertion fails. What a
service writes to the Event Log is read from Wine's debug trace: with
WINEDEBUG including +eventlog, every string passed to ReportEventW appears
on the standard error of services.exe (which every service inherits) as

    TID:trace:eventlog:ReportEventW L"..."     (information)
    TID:warn:eventlog:ReportEventW L"..."      (warning)
    TID:err:eventlog:ReportEventW L"..."       (error)

and with fixme+advapi, each call is also announced by a line that shows its
type and event id:

    TID:fixme:advapi:ReportEventW (HANDLE,0x0004,0x0000,0x400003e8,...): stub

The prefix is $WINEPREFIX with $IOCPD_WINE_LOG receiving services.exe's
standard error (see tests/wine/prefix.sh), if its services.exe was started
with what the tests need:
  - WINEDLLPATH including the directory of the inih shim (inih.dll.so), or
    iocpd.exe cannot load inih.dll when the SCM starts it;
  - WINEDEBUG including +eventlog (and fixme+advapi to see event ids), that
    is IOCPD_WINE_SERVICE_DEBUG=-all,+eventlog,fixme+advapi for prefix.sh.
Both must be in the environment of `prefix.sh start`. Otherwise (or when
WINEPREFIX is unset) main() starts a private prefix of its own with
prefix.sh and removes it at the end. In both cases exactly one services.exe
must serve the prefix: with two, sc requests reach either at random.

A script of service tests calls main(time_limit) instead of runner.main:
it sets up the prefix (PREFIX), and deletes every service still there and
stops a private prefix at the end, also on SIGTERM and shortly before the
watchdog fires.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

from .env import WINE
from .runner import main as run_tests

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX_SH = os.path.join(TESTS_DIR, "wine", "prefix.sh")

# The WINEDEBUG services.exe needs for the Event Log assertions.
SERVICE_DEBUG = "-all,+eventlog,fixme+advapi"

# Waits, in seconds. Wine's sc takes about 0.1 s per call.
SC_TIMEOUT = 60
STATE_TIMEOUT = 30

# Event ids of service/log.h, as message ids with the severity bits of
# service/win/messages.mc.
EV = {
    "starting": 0x400003E8, "listener": 0x400003E9, "running": 0x400003EA,
    "stop_requested": 0x400003EB, "draining": 0x400003EC,
    "drain_finished": 0x400003ED, "stopped": 0x400003EE, "reloaded": 0x400003EF,
    "info": 0x4000044C, "reload_failed": 0xC0000BBB,
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


PREFIX = None  # set in main()


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
    it outlived that. drain_s is the drain_timeout of the config in
    seconds: remove() gives a running service that long plus STATE_TIMEOUT
    to stop."""

    def __init__(self, config_path, drain_s=5):
        self.drain_s = drain_s
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
                self.wait_state(["STOPPED"], timeout=self.drain_s + STATE_TIMEOUT)
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
# Running a script of service tests

# Seconds before the overall time limit at which the script cleans up after
# itself (the watchdog ends the process with os._exit: no finally runs).
CLEANUP_MARGIN = 20


def _name():
    return os.path.splitext(os.path.basename(sys.argv[0]))[0]


def cleanup():
    """Deletes the services still there and stops a private prefix."""
    for svc in list(_live_services):
        try:
            svc.remove()
        except Exception as e:
            sys.stderr.write("%s: removing %s: %r\n" % (_name(), svc.name, e))
    if PREFIX is not None:
        PREFIX.stop()


def _watchdog(time_limit):
    """runner's watchdog ends the process with os._exit (no finally runs):
    clean up shortly before it fires."""
    def fire():
        sys.stderr.write("%s: near the time limit: cleaning up\n" % _name())
        cleanup()
    timer = threading.Timer(time_limit - CLEANUP_MARGIN, fire)
    timer.daemon = True
    timer.start()


def _on_sigterm(signum, frame):
    # From ctest or a CI runner: clean up, then end at once (unittest would
    # take a SystemExit raised here for one more failing test and go on).
    sys.stderr.write("%s: SIGTERM: cleaning up\n" % _name())
    cleanup()
    os._exit(143)


def main(time_limit):
    """Runs the calling script's service tests in PREFIX with an overall
    time limit of time_limit seconds under Wine; natively exits 77
    (skipped), since there is no service manager to test."""
    global PREFIX
    if not WINE:
        print("%s: skipped: the Windows service host runs under Wine only" % _name())
        sys.exit(77)
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    PREFIX = Prefix()
    for note in PREFIX.notes:
        sys.stderr.write("%s: %s\n" % (_name(), note))
    sys.stderr.write("%s: prefix %s ready in %.1f s (%s)\n"
                     % (_name(), PREFIX.path, time.monotonic() - started,
                        "private" if PREFIX.owned else "from the environment"))
    _watchdog(time_limit)
    try:
        run_tests(time_limit=(60, time_limit))
    finally:
        cleanup()
