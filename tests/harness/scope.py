"""One sub-test's resources and time limit.

A sub-test decorated with @limited(native, wine) runs as fn(self, scope):
whatever it opens through the Scope (daemons, upstream servers, sockets,
threads) is released in a finally block, and when its own time limit
passes, every socket is shut down and every daemon killed so that blocked
calls return and the sub-test fails instead of hanging the script. Each
sub-test prints what it checks with say().

@limited_clean also stops every daemon of the sub-test with Ctrl+C at the
end and fails unless each exits 0 without a sanitizer report (an ASan build
reports leaks at exit).
"""

import functools
import os
import re
import socket
import sys
import threading
import time

from .config import config_text_for
from .daemon import Daemon, Workdir, start_on_fresh_ports, wait_running
from .env import WINE, pick
from .ports import listener_ports
from .procinfo import fd_count
from .sockets import connect_to


def say(text):
    """Prints one line about what the sub-test does, indented under
    unittest's line for it."""
    sys.stderr.write("    %s\n" % text)
    sys.stderr.flush()


class Task:
    """A thread running fn() whose exception is kept in .error."""

    def __init__(self, fn, name):
        self.error = None
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True, name=name)
        self.thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def join(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()


class Scope:
    """Everything one sub-test opens. abort() (the time limit) shuts every
    socket down and kills the daemons so that blocked calls return; close()
    releases everything and reports threads that did not end."""

    def __init__(self, name, limit):
        self.name = name
        self.limit = limit
        self.expired = False
        self.workdir = Workdir()
        self.daemons = []
        self.upstreams = []
        self.sockets = []
        self.tasks = []
        self._timer = threading.Timer(limit, self.abort)
        self._timer.daemon = True
        self._timer.start()

    def add(self, upstream):
        self.upstreams.append(upstream)
        return upstream

    def sock(self, s):
        self.sockets.append(s)
        return s

    def connect(self, port, family=socket.AF_INET, **kw):
        return self.sock(connect_to(family, port, **kw))

    def task(self, fn, name="task"):
        tk = Task(fn, "%s-%s" % (self.name, name))
        self.tasks.append(tk)
        return tk

    def abort(self):
        self.expired = True
        sys.stderr.write("\n%s: time limit of %g s exceeded: aborting it\n"
                         % (self.name, self.limit))
        for s in list(self.sockets):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for u in list(self.upstreams):
            try:
                u.close()
            except Exception:  # noqa: BLE001
                pass
        for d in list(self.daemons):
            try:
                sys.stderr.write("--- iocpd stderr (tail) ---\n%s\n" % d.stderr()[-3000:])
                d.kill(grace=0.5)
            except Exception:  # noqa: BLE001
                pass

    def close(self):
        self._timer.cancel()
        stuck = []
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        for u in self.upstreams:
            stuck += u.close()
        for d in self.daemons:
            d.kill()
        for tk in self.tasks:
            if not tk.join(5.0):
                stuck.append(tk.thread.name)
        self.workdir.cleanup()
        return stuck

    # -- the daemon

    def start(self, listeners, service=None):
        """Writes the config and runs `iocpd run` until it logs that it is
        running (every listener is bound then). The readiness check is the
        log line, not a probe connection: a probe would be relayed to an
        upstream and disturb the test. Returns (daemon, {name: port})."""
        service = dict({"log_level": "debug"}, **(service or {}))

        def launch():
            ports, _ = listener_ports(listeners)
            self.workdir.write("iocpd.ini", config_text_for(listeners, ports, service))
            d = Daemon(self.workdir, ["run", "-c", "iocpd.ini"])
            d.expect_exit = False
            self.daemons.append(d)
            return d, (d, ports)

        d, ports = start_on_fresh_ports(launch, wait_running)
        d.base_fds = None if WINE else fd_count(d.pid)
        return d, ports

    def check_daemons(self):
        for d in self.daemons:
            if not d.expect_exit and not d.running():
                raise AssertionError("iocpd died during the test (exit %r)\n--- stderr ---\n%s"
                                     % (d.proc.returncode, d.stderr()))


def limited(native, wine):
    """Runs the test method as fn(self, scope) with a Scope whose time limit
    is native or wine seconds."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(self):
            name = fn.__name__[len("test_"):]
            limit = pick(native, wine)
            sc = Scope(name, limit)
            began = time.monotonic()
            failure = None
            try:
                fn(self, sc)
                sc.check_daemons()
            except BaseException as e:
                failure = e
            finally:
                stuck = sc.close()
            took = time.monotonic() - began
            say("(%s took %.1f s)" % (name, took))
            if sc.expired:
                raise AssertionError("%s exceeded its time limit of %g s" % (name, limit)) \
                    from failure
            if failure is not None:
                raise failure
            if stuck:
                raise AssertionError("threads still running after the test: %s" % stuck)
        return wrapper
    return deco


# ---------------------------------------------------------------------------
# Sub-tests whose daemons must also stop cleanly


def start_quiet(sc, listeners, **service):
    """Starts a daemon for the sub-test (see Scope.start) with log level
    info and a short drain_timeout, plus the given [service] keys, and
    keeps its ports in sc.ports. The short drain keeps finish() quick."""
    keys = {"log_level": "info", "drain_timeout": "2s"}
    keys.update(service)
    d, ports = sc.start(listeners, service=keys)
    sc.ports = ports
    return d, ports


def finish(sc):
    """Ends a sub-test that passed so far: closes its client sockets, stops
    its daemons with Ctrl+C (SIGINT) and fails unless each exits 0 without
    a sanitizer report (an ASan build reports leaks at exit)."""
    for s in sc.sockets:
        try:
            s.close()
        except OSError:
            pass
    for d in sc.daemons:
        if getattr(d, "expect_exit", False) or not d.running():
            continue
        d.expect_exit = True
        if WINE and os.environ.get("IOCPD_WINE_NO_CTRL_C") == "1":
            continue
        rc = d.stop(timeout=pick(10, 30))
        err = d.stderr()
        if re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", err):
            raise AssertionError("sanitizer report\n%s" % err[-6000:])
        if rc != 0:
            raise AssertionError("iocpd exited %r on SIGINT\n%s" % (rc, err[-3000:]))


def limited_clean(native, wine):
    """limited (a Scope with a time limit of native or wine seconds), and
    finish(sc) after the test body: every daemon must stop cleanly."""
    def deco(fn):
        @functools.wraps(fn)
        def body(self, sc):
            fn(self, sc)
            finish(sc)
        return limited(native, wine)(body)
    return deco
