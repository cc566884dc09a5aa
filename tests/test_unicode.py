"""Paths and names outside the ANSI code page: iocpd keeps every string in
UTF-8 and talks UTF-16 to Windows, so a config path, an access log path or
a service name in Cyrillic or CJK works, and every message shows it as it
is, in UTF-8.

  UnicodePathTest (natively and under Wine)
    check_config         check-config -c "конфиг 設定/iocpd.ini": exit 0 and
                         "<path>: OK" on stdout; an invalid file in that
                         folder: exit 1 and "<path>:LINE: message"; a missing
                         one: "cannot open: No such file or directory"; the
                         folder itself: "cannot open: is a directory"
    code_page_path       "Jürgen/iocpd.ini", which Wine's default ANSI code
                         page (1252) can hold: stdout carries it in UTF-8,
                         not in that code page
    access_log           `iocpd run` with access_log = журнал 日志/访问.log
                         (relative to the config's folder), rotated at 1k:
                         the log names the file in UTF-8, every connection
                         has its line, and 访问.log.1 exists after rotation
  UnicodeServiceTest (Wine only)
    service              iocpd install -c "конфиг 設定/svc.ini" --name
                         iocpd-тест-服务 (with the access log above), sc
                         start, then the Event Log as Wine traces it: the
                         source is the service name, "starting with <config
                         path>", "access log: writing to <log path>",
                         "running"; echo works; uninstall stops and deletes
                         it and names it and the kept config in UTF-8; the
                         access log has the line

Under Wine the test's Wine processes get LC_ALL=C.UTF-8: Wine turns a Unix
command line into UTF-16 in the locale's encoding, so in the C locale the
names would be garbled before iocpd sees them. The service case needs a
prefix whose services.exe traces ReportEventW (+eventlog): it takes one
from harness/winservice.py's Prefix, the environment's or a private one.

Environment: IOCPD_BIN, IOCPD_WRAPPER, IOCPD_PLATFORM (harness/env.py).
"""

import sys

sys.dont_write_bytecode = True

import os
import re
import unittest

import harness as t
from harness import winservice as ws

if t.WINE:
    # Wine decodes the Unix command line with the locale's encoding.
    os.environ["LC_ALL"] = "C.UTF-8"


CONFIG_DIR = "конфиг 設定"
LOG_DIR = "журнал 日志"
LOG_NAME = "访问.log"
SERVICE_NAME = "iocpd-тест-服务"


def config_path(name):
    """A config path relative to the test's working directory, written with
    '/' (Windows takes it too)."""
    return CONFIG_DIR + "/" + name


def log_lines(folder):
    """{file name: lines} of the access log files in folder."""
    out = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            out[name] = f.read().splitlines()
    return out


class UnicodePathTest(unittest.TestCase):
    def setUp(self):
        self.workdir = t.Workdir()
        os.makedirs(os.path.join(self.workdir.path, CONFIG_DIR, LOG_DIR))

    def tearDown(self):
        self.workdir.cleanup()

    def test_check_config(self):
        port = t.free_ports(1)[0]
        self.workdir.write(config_path("iocpd.ini"),
                           t.config_text([("echo", t.addr(port), "echo")]))
        r = t.run_cli(["check-config", "-c", config_path("iocpd.ini")], self.workdir)
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.stdout.replace("\r\n", "\n"), config_path("iocpd.ini") + ": OK\n", r)

        self.workdir.write(config_path("bad.ini"),
                           "[listener:echo]\nlisten = %s\nhandler = bogus\n" % t.addr(port))
        r = t.run_cli(["check-config", "-c", config_path("bad.ini")], self.workdir)
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.stderr, r"(?m)^%s:3: handler: unknown handler 'bogus'"
                         % re.escape(config_path("bad.ini")))

        r = t.run_cli(["check-config", "-c", config_path("missing.ini")], self.workdir)
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.stderr, r"(?m)^%s: cannot open: No such file or directory"
                         % re.escape(config_path("missing.ini")))

        r = t.run_cli(["check-config", "-c", config_path(LOG_DIR)], self.workdir)
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.stderr, r"(?m)^%s: cannot open: is a directory"
                         % re.escape(config_path(LOG_DIR)))

    def test_code_page_path(self):
        os.makedirs(os.path.join(self.workdir.path, "Jürgen"))
        self.workdir.write("Jürgen/iocpd.ini",
                           t.config_text([("echo", t.addr(t.free_ports(1)[0]), "echo")]))
        r = t.run_cli(["check-config", "-c", "Jürgen/iocpd.ini"], self.workdir)
        self.assertEqual(r.rc, 0, r)
        # Decoded as UTF-8: a byte in another encoding would show as U+FFFD.
        self.assertEqual(r.stdout.replace("\r\n", "\n"), "Jürgen/iocpd.ini: OK\n", r)

    def test_access_log(self):
        clients = 12
        d, ports = t.start(self.workdir, [("echo", "echo")], service={
            "access_log": LOG_DIR + "/" + LOG_NAME,
            "access_log_max_size": "1k",
            "access_log_keep": 3,
        }, config_name=config_path("iocpd.ini"))
        try:
            d.wait_log(t.log_rx("info", r"access log: writing to %s \(rotated at 1024 bytes, "
                                r"3 kept\)" % re.escape(config_path(LOG_DIR + "/" + LOG_NAME))))
            for i in range(clients):
                with t.connect(ports["echo"]) as s:
                    payload = b"line %02d\n" % i
                    s.sendall(payload)
                    self.assertEqual(t.recv_exact(s, len(payload)), payload)
            d.stop_clean()
        finally:
            d.kill()
        files = log_lines(os.path.join(self.workdir.path, CONFIG_DIR, LOG_DIR))
        self.assertIn(LOG_NAME, files, files.keys())
        self.assertIn(LOG_NAME + ".1", files, "no rotation: %s" % list(files))
        lines = [line for text in files.values() for line in text]
        # Each client's line (8 bytes each way); readiness probes add lines
        # of their own, with no bytes.
        self.assertEqual(len([x for x in lines if "listener=echo" in x
                              and " bytes_in=8 bytes_out=8 " in x]), clients, lines)
        for name in files:
            size = os.path.getsize(os.path.join(self.workdir.path, CONFIG_DIR, LOG_DIR, name))
            self.assertLessEqual(size, 1024, name)


@unittest.skipUnless(t.WINE, "the Windows service manager runs under Wine only")
class UnicodeServiceTest(unittest.TestCase):
    """Wine's sc.exe stops printing at the first character outside ASCII
    (its `sc query` output ends after "SERVICE_NAME: "), so the service's
    state is read from what it does instead: the Event Log trace, its
    listener, and `iocpd uninstall`, which stops it and waits for that."""

    def setUp(self):
        self.workdir = t.Workdir()
        os.makedirs(os.path.join(self.workdir.path, CONFIG_DIR, LOG_DIR))
        self.installed = False

    def tearDown(self):
        try:
            if self.installed:
                t.run_cli(["uninstall", "--name", SERVICE_NAME], self.workdir, timeout=120)
        finally:
            self.workdir.cleanup()

    def test_service(self):
        port = t.free_ports(1)[0]
        self.workdir.write(config_path("svc.ini"), t.config_text(
            [("echo", t.addr(port), "echo")],
            {"drain_timeout": "2s", "access_log": LOG_DIR + "/" + LOG_NAME}))
        config_win = ws.winpath(os.path.join(self.workdir.path, CONFIG_DIR, "svc.ini"))
        log_win = ws.winpath(os.path.join(self.workdir.path, CONFIG_DIR)) + "\\" + LOG_DIR + \
            "/" + LOG_NAME
        events = ws.EventLog()

        r = t.run_cli(["install", "-c", config_path("svc.ini"), "--name", SERVICE_NAME,
                       "--start", "demand"], self.workdir, timeout=120)
        self.installed = r.rc == 0
        self.assertEqual(r.rc, 0, r)
        self.assertIn("installed the service '%s'" % SERVICE_NAME, r.stdout)
        self.assertIn('service -c "%s"' % config_win, r.stdout)
        self.assertIn("sc start %s" % SERVICE_NAME, r.stdout)

        ws.sc("start", SERVICE_NAME)
        seen = events.wait_for(r"^running with |^service not started", timeout=30)
        ws.assert_events_in_order(self, seen, [
            (r"^iocpd \S+ starting with %s$" % re.escape(config_win), "trace", "starting"),
            (r"^access log: writing to %s \(rotated at \d+ bytes, 5 kept\)$"
             % re.escape(log_win), "trace", "info"),
            (r"^running with \d+ workers$", "trace", "running"),
        ])
        if ws.PREFIX.ids_traced():
            self.assertEqual(events.sources, [SERVICE_NAME])
        with t.connect(port) as s:
            s.sendall(b"hello\n")
            self.assertEqual(t.recv_exact(s, 6), b"hello\n")

        r = t.run_cli(["uninstall", "--name", SERVICE_NAME], self.workdir, timeout=120)
        self.installed = r.rc != 0
        self.assertEqual(r.rc, 0, r)
        self.assertIn("the service '%s' stopped" % SERVICE_NAME, r.stdout)
        self.assertIn("deleted the service '%s'" % SERVICE_NAME, r.stdout)
        self.assertIn("removed the Event Log source '%s'" % SERVICE_NAME, r.stdout)
        self.assertIn("kept the config file %s" % config_win, r.stdout)
        events.wait_for(r"^stopped$")
        self.assertFalse(t.port_accepts(port), "the listener outlived the service")
        self.assertIn("listener=echo", str(log_lines(
            os.path.join(self.workdir.path, CONFIG_DIR, LOG_DIR))))
        self.assertIn("bytes_in=6 bytes_out=6", str(log_lines(
            os.path.join(self.workdir.path, CONFIG_DIR, LOG_DIR))))


# The whole script's limit under Wine (blackbox.unicode allows 300 s).
TIME_LIMIT = 280


def main():
    if t.WINE:
        ws.PREFIX = ws.Prefix()
        for note in ws.PREFIX.notes:
            sys.stderr.write("test_unicode: %s\n" % note)
        # Removes the services and a private prefix shortly before the
        # runner's watchdog would end the script.
        ws._watchdog(TIME_LIMIT)  # pylint: disable=protected-access
    try:
        t.main(time_limit=(60, TIME_LIMIT))
    finally:
        if ws.PREFIX is not None:
            ws.cleanup()


if __name__ == "__main__":
    main()
