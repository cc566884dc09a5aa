"""iocpd import-portproxy: netsh interface portproxy rules, put in the
registry of the Wine prefix with `reg add` as netsh stores them, become an
iocpd config that passes check-config and relays like the rules did.

  imports_and_relays    three rules: v4tov4 127.0.0.1/P1 -> 127.0.0.1/U,
                        v4tov4 localhost/P2 -> localhost/U (a host name
                        upstream) and one iocpd cannot take (a listen host
                        name): two listeners, check-config exit 0, echo
                        through both; the skipped rule is named with why;
                        the netsh removal commands are printed and the
                        rules are still in the registry afterwards
  nothing_to_import     no rule: exit 3, nothing written
  linux_says_windows    (native) the command is for Windows: exit 2

Natively only linux_says_windows runs. Run: IOCPD_BIN=/path/to/iocpd.exe
IOCPD_WRAPPER=... IOCPD_PLATFORM=wine python3 tests/test_portproxy_import.py.
Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import os
import socket
import unittest

import harness as t
from harness import upstreams as us
from harness.install import reg_values, wine
from harness.ports import distinct_ports
from harness.scope import limited, say

KEY = r"HKLM\SYSTEM\CurrentControlSet\Services\PortProxy"


def add_rule(kind, name, data):
    r = wine(["reg", "add", KEY + "\\" + kind + r"\tcp", "/v", name, "/t", "REG_SZ", "/d", data,
              "/f"])
    if r.rc != 0:
        raise AssertionError("reg add failed: %r" % (r,))


def remove_rules():
    wine(["reg", "delete", KEY, "/f"])


def echo_through(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=t.pick(10, 30)) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return t.recv_until_eof(s)


class PortproxyImportTest(unittest.TestCase):

    @unittest.skipUnless(t.WINE, "the netsh rules live in the Windows registry")
    @limited(60, 240)
    def test_imports_and_relays(self, sc):
        say("three netsh rules in the registry -> a config of two listeners that relays")
        up = sc.add(us.EchoUpstream())
        p1, p2 = distinct_ports([socket.AF_INET, socket.AF_INET])
        remove_rules()
        try:
            add_rule("v4tov4", "127.0.0.1/%d" % p1, "127.0.0.1/%d" % up.port)
            add_rule("v4tov4", "localhost/%d" % p2, "localhost/%d" % up.port)
            add_rule("v4tov4", "gateway.example/8081", "10.0.0.1/80")
            r = t.run_cli(["import-portproxy", "-o", "imported.ini"], sc.workdir)
            say("import: exit %d\n%s" % (r.rc, r.stderr.strip()))
            self.assertEqual(r.rc, 0, r)
            self.assertRegex(r.stderr, r"gateway\.example/8081 -> 10\.0\.0\.1/80: the listen "
                                       r"address 'gateway\.example' is not a numeric IPv4 "
                                       r"address; skipped")
            self.assertIn("2 rule(s) imported into imported.ini; 1 skipped", r.stderr)
            self.assertIn("netsh interface portproxy delete v4tov4 listenport=%d "
                          "listenaddress=127.0.0.1" % p1, r.stderr)
            self.assertIn("netsh interface portproxy delete v4tov4 listenport=%d "
                          "listenaddress=localhost" % p2, r.stderr)
            with open(os.path.join(sc.workdir.path, "imported.ini"), encoding="utf-8") as f:
                text = f.read()
            self.assertIn("[listener:v4tov4-127.0.0.1-%d]" % p1, text)
            self.assertIn("upstream = localhost:%d" % up.port, text)
            r = t.run_cli(["check-config", "-c", "imported.ini"], sc.workdir)
            self.assertEqual(r.rc, 0, r)
            d = t.Daemon(sc.workdir, ["run", "-c", "imported.ini"])
            d.expect_exit = False
            sc.daemons.append(d)
            self.assertTrue(t.wait_running(d), d.stderr())
            for port in (p1, p2):
                self.assertEqual(echo_through(port, b"as netsh relayed it"),
                                 b"as netsh relayed it")
            # Never touched: the rules are all still there.
            values = reg_values(KEY + r"\v4tov4\tcp") or {}
            self.assertEqual(len(values), 3, values)
        finally:
            remove_rules()

    @unittest.skipUnless(t.WINE, "the netsh rules live in the Windows registry")
    @limited(30, 120)
    def test_nothing_to_import(self, sc):
        remove_rules()
        r = t.run_cli(["import-portproxy", "-o", "none.ini"], sc.workdir)
        self.assertEqual(r.rc, 3, r)
        self.assertIn("no netsh portproxy rule to import", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(sc.workdir.path, "none.ini")))

    @unittest.skipIf(t.WINE, "native only")
    @limited(20, 60)
    def test_linux_says_windows(self, sc):
        r = t.run_cli(["import-portproxy"], sc.workdir)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("run it there", r.stderr)


if __name__ == "__main__":
    t.main(time_limit=(60, 300))
