"""Running the iocpd daemon: a fresh work directory, the process, waiting
for it to serve, stopping it, and killing whatever is left.

Every daemon started here runs in its own process group, with a fresh
temporary directory as its working directory and its config file given by a
relative path (that is what a Wine path translation has to cope with too).
Daemons are always killed at the end, also when an assertion fails or the
watchdog fires (runner.py), so that no test leaves a process behind: every
Daemon and Workdir is registered here until it is cleaned up, and
kill_all() runs at exit.
"""

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from .config import config_text
from .env import READY_TIMEOUT, command, pick
from .logs import log_rx
from .ports import addr, free_ports, port_accepts

# A daemon that refuses to start because a port we picked was taken in the
# meantime is restarted on new ports this many times.
_START_ATTEMPTS = 3

_live_daemons = []
_live_workdirs = []
_live_lock = threading.Lock()


def settle():
    """Gives the daemon a moment to retire connections that clients have
    already closed (readiness probes), before a test counts open ones."""
    time.sleep(pick(0.3, 1.0))


class Workdir:
    """A fresh temporary directory, removed by cleanup()."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="iocpd-test-")
        with _live_lock:
            _live_workdirs.append(self)

    def write(self, name, text):
        with open(os.path.join(self.path, name), "w", newline="\n") as f:
            f.write(text)
        return name

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)
        with _live_lock:
            if self in _live_workdirs:
                _live_workdirs.remove(self)


class Daemon:
    """One iocpd process, started at construction.

    stdout and stderr go to files in workdir (a pipe could fill up and stall
    the daemon); stderr() reads what was written so far."""

    def __init__(self, workdir, args):
        self.workdir = workdir
        self.args = list(args)
        self._out = open(os.path.join(workdir.path, ".stdout"), "w+b")
        self._err = open(os.path.join(workdir.path, ".stderr"), "w+b")
        self.proc = subprocess.Popen(
            command() + self.args,
            cwd=workdir.path,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            start_new_session=True)
        self._reaped = False
        with _live_lock:
            _live_daemons.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def _read(self, f):
        # kill() closes the files; what they hold is still read by name.
        if not f.closed:
            f.flush()
        with open(f.name, "rb") as g:
            return g.read().decode("utf-8", "replace")

    def stdout(self):
        return self._read(self._out)

    def stderr(self):
        return self._read(self._err)

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Exit code, or None if still running after timeout seconds."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_log(self, pattern, timeout=None):
        """Waits until stderr matches the regular expression pattern and
        returns the match. Fails if the daemon exits first or the time runs
        out. Under Wine stderr carries Wine's own lines too, so this is a
        search, never a whole-line comparison."""
        if timeout is None:
            timeout = pick(10, 30)
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.stderr())
            if m:
                return m
            if not self.running():
                m = rx.search(self.stderr())
                if m:
                    return m
                raise AssertionError(
                    "iocpd exited (%r) before logging /%s/\n--- stderr ---\n%s"
                    % (self.proc.returncode, pattern, self.stderr()))
            if time.monotonic() > deadline:
                raise AssertionError("no /%s/ in iocpd's stderr within %g s\n"
                                     "--- stderr ---\n%s"
                                     % (pattern, timeout, self.stderr()))
            time.sleep(0.02)

    def wait_ready(self, ports, timeout=None):
        """Polls connect() to every port until all accept. Returns True when
        ready, False if the process exited first; fails on timeout."""
        if timeout is None:
            timeout = READY_TIMEOUT
        deadline = time.monotonic() + timeout
        pending = list(ports)
        while pending:
            if not self.running():
                return False
            if port_accepts(pending[0], timeout=1.0, graceful=True):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise AssertionError(
                    "iocpd not accepting on %s within %g s\n--- stderr ---\n%s"
                    % (", ".join(addr(p) for p in pending), timeout,
                       self.stderr()))
            time.sleep(0.05)
        return True

    def interrupt(self):
        """Sends SIGINT, the console Ctrl+C, to the started process (the
        wrapper under Wine)."""
        if self.running():
            os.kill(self.proc.pid, signal.SIGINT)

    def stop(self, timeout=None):
        """Sends SIGINT and waits for the exit. Returns the exit code; fails
        (after killing the daemon) if it does not exit within timeout."""
        if timeout is None:
            timeout = pick(15, 40)
        self.interrupt()
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            raise AssertionError("iocpd did not exit within %g s of SIGINT\n"
                                 "--- stderr ---\n%s" % (timeout, self.stderr()))
        return rc

    def stop_clean(self):
        """Stops an idle daemon with SIGINT and fails unless it reports no
        open connection left, exits 0 and wrote no sanitizer report. Used
        after a test's clients have all closed: a connection the daemon
        failed to retire shows up in the count."""
        settle()
        rc = self.stop()
        err = self.stderr()
        if rc != 0:
            raise AssertionError("iocpd exited %r on SIGINT\n%s" % (rc, err))
        if not re.search(r"stop requested: 0 open connections", err):
            raise AssertionError("connections still open at the end\n%s" % err)
        if not re.search(r"drain finished: drained 0, aborted 0", err):
            raise AssertionError("unexpected drain result\n%s" % err)
        if re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", err):
            raise AssertionError("sanitizer report\n%s" % err)

    def kill(self, grace=None):
        """Ends the daemon and anything it started in its process group:
        SIGTERM, then SIGKILL after grace seconds. Safe to call repeatedly."""
        if grace is None:
            grace = pick(2, 5)
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(grace) is None:
                _killpg(self.proc.pid)
                self.proc.wait()
        # The leader is gone; end stragglers of its group (a wrapper's
        # children), which were started by us in a session of our own.
        if not self._reaped:
            _killpg(self.proc.pid)
            self._reaped = True
        for f in (self._out, self._err):
            try:
                f.close()
            except OSError:
                pass
        with _live_lock:
            if self in _live_daemons:
                _live_daemons.remove(self)


def _killpg(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def start_on_fresh_ports(launch, ready):
    """Starts iocpd until it is ready, on fresh ports each time.

    launch() picks ports, writes the config and returns (daemon, result);
    ready(daemon) returns True once the daemon serves, False if it exited
    first. A daemon that exited because a port was taken between picking it
    and binding it (exit 3, "in use") is started again on new ports; any
    other exit fails with its stderr. Returns launch()'s result."""
    last = None
    for _ in range(_START_ATTEMPTS):
        d, result = launch()
        try:
            if ready(d):
                return result
        except BaseException:
            d.kill()
            raise
        d.kill()
        # A Scope keeps every daemon it launched and fails the sub-test
        # for one that died unexpectedly: this one was meant to go.
        d.expect_exit = True
        last = d
        if not (d.proc.returncode == 3 and re.search(r"(?i)in use|10048", d.stderr())):
            break
        sys.stderr.write("    (a port picked for iocpd was taken meanwhile: starting it again on "
                         "fresh ports)\n%s\n" % d.stderr()[-500:])
    raise AssertionError("iocpd exited (%r) instead of starting\n--- stderr ---\n%s"
                         % (last.proc.returncode, last.stderr()))


def wait_running(d):
    """A ready() for start_on_fresh_ports: waits for the log line saying
    iocpd runs (every listener is bound by then). Unlike a probe
    connection, this never reaches a listener's handler."""
    try:
        d.wait_log(log_rx("info", r"running with \d+ workers"), timeout=READY_TIMEOUT)
        return True
    except AssertionError:
        if d.running():
            raise
        return False


def start(workdir, listeners, service=None, config_name="iocpd.ini"):
    """Writes a config with one listener per entry of listeners and runs
    `iocpd run -c CONFIG` in workdir until every listener accepts.

    listeners: list of (name, handler). Ports are picked here; the daemon is
    restarted on fresh ports if one was taken in the meantime. Returns
    (daemon, {name: port})."""
    named = {}

    def launch():
        named.clear()
        named.update(zip([n for n, _ in listeners], free_ports(len(listeners))))
        text = config_text([(n, addr(named[n]), h) for n, h in listeners], service)
        workdir.write(config_name, text)
        d = Daemon(workdir, ["run", "-c", config_name])
        return d, (d, named)

    return start_on_fresh_ports(launch, lambda d: d.wait_ready(named.values()))


class EchoListenerTest(unittest.TestCase):
    """A test case served by one iocpd with one echo listener ("echo", port
    in self.port) for the whole class; `service` sets [service] keys. Each
    test must leave iocpd running; by the end every client has closed, and
    iocpd must then hold no connection and stop cleanly."""

    service = None

    @classmethod
    def setUpClass(cls):
        cls.workdir = Workdir()
        cls.daemon, ports = start(cls.workdir, [("echo", "echo")], service=cls.service)
        cls.port = ports["echo"]

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop_clean()
        finally:
            cls.daemon.kill()
            cls.workdir.cleanup()

    def tearDown(self):
        self.assertTrue(self.daemon.running(),
                        "iocpd died during the test\n" + self.daemon.stderr())


# ---------------------------------------------------------------------------
# What is still running


def live_daemons():
    """The daemons started and not yet killed (for a watchdog's report)."""
    with _live_lock:
        return list(_live_daemons)


def kill_all():
    """Kills every daemon still running and removes every work directory
    still there. Runs at exit, and from the watchdog."""
    for d in live_daemons():
        try:
            d.kill(grace=0.5)
        except Exception:
            pass
    with _live_lock:
        workdirs = list(_live_workdirs)
    for w in workdirs:
        w.cleanup()


atexit.register(kill_all)
