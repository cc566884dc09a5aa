"""Upstream host names resolved again while iocpd runs (resolve_interval),
natively, as root: iocpd runs in a mount namespace of its own whose
/etc/hosts is a file of the test (`unshare -m` and a bind mount), so the
test changes what a name resolves to without touching the machine's own
resolver configuration.

  address_change        up.iocpd.test first names 127.0.0.2, where echo
                        upstream A listens; the hosts file then names
                        127.0.0.3 (upstream B, same port): within
                        resolve_interval (1 s) + 2 s new clients reach B,
                        the change is logged, an open relay to A goes on
  late_name             a name that does not resolve at start is a warning;
                        its listener turns clients away meanwhile; once the
                        hosts file has it, clients are served

Skipped (exit 0 with a reason) under Wine, not as root, or where unshare -m
is refused. Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_resolve.py.
Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import os
import re
import shlex
import socket
import subprocess
import time
import unittest

import harness as t
from harness import upstreams as us
from harness.accesslog import start
from harness.config import fwd
from harness.scope import limited, say

NAME = "up.iocpd.test"


def namespaces_work():
    if t.WINE or os.geteuid() != 0:
        return False
    r = subprocess.run(["unshare", "-m", "--", "true"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


def served_by(sc, port, token=b"hello\n"):
    """True if a client through port gets token back."""
    try:
        with sc.connect(port, timeout=5) as c:
            c.sendall(token)
            return t.recv_exact(c, len(token)) == token
    except OSError:
        return False


class ResolveTest(unittest.TestCase):

    def setUp(self):
        if not namespaces_work():
            raise unittest.SkipTest("needs root, Linux and unshare -m (not under Wine)")
        self.saved = os.environ.get("IOCPD_WRAPPER", "")

    def tearDown(self):
        os.environ["IOCPD_WRAPPER"] = self.saved

    def hosts(self, sc, text):
        """Rewrites the namespace's /etc/hosts in place (the bind mount
        follows the file, not a name)."""
        with open(self.hosts_path, "r+") as f:
            f.seek(0)
            f.truncate()
            f.write(text)

    def start_in_namespace(self, sc, listeners, hosts_text):
        self.hosts_path = os.path.join(sc.workdir.path, "hosts")
        with open(self.hosts_path, "w") as f:
            f.write(hosts_text)
        wrapper = "unshare -m -- sh -c %s %s" % (
            shlex.quote('mount --bind "$0" /etc/hosts && exec "$@"'),
            shlex.quote(self.hosts_path))
        os.environ["IOCPD_WRAPPER"] = (wrapper + " " + self.saved).strip()
        return start(sc, listeners, {"log_level": "info", "resolve_interval": "1s"})

    @limited(30, 60)
    def test_address_change(self, sc):
        say("%s: 127.0.0.2 (upstream A), then 127.0.0.3 (upstream B): new clients follow "
            "within about 3 s; an open relay to A goes on" % NAME)
        a = sc.add(us.EchoUpstream(host="127.0.0.2"))
        b = sc.add(us.EchoUpstream(host="127.0.0.3", port=a.port))
        d, ports, _ = self.start_in_namespace(
            sc, [fwd("web", ["%s:%d" % (NAME, a.port)])], "127.0.0.2 %s\n" % NAME)
        self.assertTrue(served_by(sc, ports["web"]))
        self.assertEqual((a.count(), b.count()), (1, 0))
        held = sc.connect(ports["web"])
        held.sendall(b"held\n")
        self.assertEqual(t.recv_exact(held, 5), b"held\n")
        self.hosts(sc, "127.0.0.3 %s\n" % NAME)
        d.wait_log(t.log_rx("info", r"listener web: upstream addresses now 127\.0\.0\.3:%d "
                            r"\(were 127\.0\.0\.2:%d\)" % (a.port, a.port)), timeout=5)
        for i in range(3):
            self.assertTrue(served_by(sc, ports["web"], b"after %d\n" % i))
        self.assertEqual(b.count(), 3, "new clients did not follow the name")
        held.sendall(b"still\n")
        self.assertEqual(t.recv_exact(held, 6), b"still\n", "the open relay was disturbed")
        self.assertEqual(a.count(), 2)

    @limited(30, 60)
    def test_late_name(self, sc):
        say("a name missing at start: a warning, clients turned away, then served once the "
            "hosts file has it")
        a = sc.add(us.EchoUpstream(host="127.0.0.2"))
        d, ports, _ = self.start_in_namespace(
            sc, [fwd("late", ["%s:%d" % (NAME, a.port)])], "# nothing yet\n")
        d.wait_log(t.log_rx("warning", r"\S+:\d+: warning: upstream: cannot resolve '%s': .*it gets no connection "
                            r"until it resolves" % re.escape(NAME)))
        self.assertFalse(served_by(sc, ports["late"]))
        d.wait_log(t.log_rx("warning", r"listener late: no upstream address: its names do not "
                            r"resolve \(yet\)"))
        self.hosts(sc, "127.0.0.2 %s\n" % NAME)
        deadline = time.monotonic() + 5
        while not served_by(sc, ports["late"]):
            self.assertLess(time.monotonic(), deadline, "not served 5 s after the name appeared")
            time.sleep(0.2)
        d.wait_log(t.log_rx("info", r"listener late: upstream addresses now 127\.0\.0\.2:%d "
                            r"\(were none\)" % a.port))


if __name__ == "__main__":
    t.main(time_limit=(90, 120))
