"""Protection of the listening ports: nobody else can bind a running
listener's port, and a listener open to every address without an allow
list is warned about.

  port_not_shared           a socket with SO_REUSEADDR and SO_REUSEPORT cannot
                            bind a running listener's port; under Wine a
                            second iocpd.exe on the port exits 3 naming the
                            listener and the address
  public_listener_warning   a listener on 0.0.0.0 or [::] without allow:
                            check-config exits 0 with FILE:LINE: warning:,
                            run logs it. The run binds 0.0.0.0 for about a
                            second with deny = 0.0.0.0/0, so that any
                            connection, from anywhere, is reset at once.

The other protection scripts are listed in test_protection_limits.py.

Every sub-test starts its own daemon (readiness is its "running with N
workers" log line, not a probe connection, which would take a slot), has its
own time limit, releases everything in a finally block and ends by stopping
its daemon with Ctrl+C, which must give exit 0 without a sanitizer report
(harness/scope.py, limited_clean).

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_protection_binding.py
[ProtectionBindingTest.test_port_not_shared ...]. See harness/env.py for
IOCPD_WRAPPER and IOCPD_PLATFORM."""

import sys

sys.dont_write_bytecode = True

import re
import socket
import unittest

import harness as t
from harness.clients import client, echo_rtt, expect_rejected
from harness.config import config_text_for, echo
from harness.scope import limited_clean, say, start_quiet


class ProtectionBindingTest(unittest.TestCase):
    maxDiff = 4000

    # -- binding

    @limited_clean(30, 120)
    def test_port_not_shared(self, sc):
        say("a socket with SO_REUSEADDR and SO_REUSEPORT cannot bind the running "
            "listener's port%s; the listener still serves"
            % ("; a second iocpd.exe on it exits 3 naming the listener and the address"
               if t.WINE else ""))
        d, ports = start_quiet(sc, [echo("excl")])
        port = ports["excl"]
        thief = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                thief.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                thief.bind((t.HOST, port))
                thief.listen(8)
                stolen = True
            except OSError as e:
                stolen = False
                say("second bind refused: %s" % e)
            self.assertFalse(stolen, "another socket could bind %s while iocpd listens "
                             "on it" % t.addr(port))
        finally:
            thief.close()
        if t.WINE:
            sc.workdir.write("second.ini", config_text_for(
                [echo("again")], {"again": port}, {"log_level": "info"}))
            r = t.run_cli(["run", "-c", "second.ini"], sc.workdir)
            self.assertEqual(r.rc, 3, r)
            self.assertRegex(r.stderr, r"listener again\b[^\n]*%s"
                             % re.escape(t.addr(port)), r)
            self.assertNotRegex(r.stderr, r"running with \d+ workers", r)
            say("second iocpd.exe: %s" % [l for l in r.stderr.splitlines()
                                          if "again" in l][:1])
        s = client(sc, port)
        echo_rtt(s, b"still mine")
        s.close()

    # -- public listeners

    @limited_clean(30, 120)
    def test_public_listener_warning(self, sc):
        say("check-config: 0.0.0.0 and [::] without allow give FILE:LINE: warning: "
            "and exit 0; with allow, or on loopback, no warning. run on 0.0.0.0 "
            "(deny = 0.0.0.0/0, so it serves nobody) logs the warning")
        text = "\n".join([
            "[listener:pub4]",
            "listen = 0.0.0.0:7101",            # line 2
            "handler = echo",
            "[listener:pub6]",
            "listen = [::]:7102",               # line 5
            "handler = echo",
            "[listener:guarded]",
            "listen = 0.0.0.0:7103",
            "handler = echo",
            "allow = 127.0.0.0/8",
            "[listener:local]",
            "listen = 127.0.0.1:7104",
            "handler = echo",
            ""])
        sc.workdir.write("public.ini", text)
        r = t.run_cli(["check-config", "-c", "public.ini"], sc.workdir)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("public.ini: OK", r.stdout, r)
        warn = re.findall(r"^public\.ini:(\d+): warning: (.*)$", r.stderr, re.M)
        about = [(int(n), w) for n, w in warn if "without an allow list" in w]
        self.assertEqual([n for n, _ in about], [2, 5],
                         "expected a warning for line 2 (0.0.0.0) and line 5 ([::]):\n%r" % r)
        self.assertIn("[listener:pub4] listens on 0.0.0.0:7101", about[0][1])
        self.assertIn("[listener:pub6] listens on [::]:7102", about[1][1])
        for name in ("guarded", "local"):
            self.assertNotIn("[listener:%s]" % name, r.stderr, r)

        # run: the same warning in the log. Port picked free on all
        # interfaces; deny resets every connection, from anywhere.
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind(("0.0.0.0", 0))
            port = probe.getsockname()[1]
        finally:
            probe.close()
        sc.workdir.write("run.ini", "\n".join([
            "[service]", "log_level = info",
            "[listener:pub]",
            "listen = 0.0.0.0:%d" % port,      # line 4
            "handler = echo",
            "deny = 0.0.0.0/0", ""]))
        d = t.Daemon(sc.workdir, ["run", "-c", "run.ini"])
        d.expect_exit = False
        sc.daemons.append(d)
        d.wait_log(t.log_rx("info", r"running with \d+ workers"), timeout=t.READY_TIMEOUT)
        self.assertRegex(d.stderr(), t.log_rx(
            "warning", r"run\.ini:4: warning: \[listener:pub\] listens on "
            r"0\.0\.0\.0:%d without an allow list" % port))
        expect_rejected(sc, port)


if __name__ == "__main__":
    t.main(time_limit=(45, 200))
