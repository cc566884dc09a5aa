"""Installing iocpd as a Windows service with the MSI, under Wine's service
control manager.

  MsiTest
    msi                  msiexec /i FIREWALL=1: the custom action that adds the
                         service's firewall rule runs (and succeeds) instead of
                         the plain one, and /x runs the one removing it; the
                         service runs as NT SERVICE\\iocpd with
                         a quoted command line, the example config is written
                         to C:\\ProgramData\\iocpd\\iocpd.ini, echo works on
                         127.0.0.1:7007 (the example's listener: the test fails
                         if that port is busy), C:\\ProgramData\\iocpd, the
                         config and logs\\ have the protected owner and DACL;
                         msiexec /x (after sc stop: see stop_before_removal):
                         service, event source and program files gone, config
                         kept; a second /i (no FIREWALL: the plain custom
                         action) keeps the edited config, in which
                         the example's access_log line is uncommented: the
                         service writes its access log to logs\\; /x again
    default_config       `iocpd install` with no -c uses that kept config and
                         does not rewrite it
    msi_planted          C:\\ProgramData\\iocpd and iocpd.ini planted before the
                         MSI, writable by everyone: msiexec /i fails (the
                         custom action refuses), the folder and the file are
                         left with the protected owner and DACL, no service;
                         a second /i (the file is now trusted) installs

Wine only: natively the script exits 77 (skipped). How the install tests
run under Wine, and what Wine does not do that they work around (its
accounts, file security, Event Log, sc.exe), is in harness/install.py.

Environment: IOCPD_BIN, IOCPD_WRAPPER, IOCPD_PLATFORM (harness/env.py);
IOCPD_MSI, the MSI that the `msi` target built; IOCPD_EXAMPLE_CONFIG,
iocpd.ini.example; IOCPD_SD_TOOL, tests/sdtool.c built.
"""

import sys

sys.dont_write_bytecode = True

import os
import threading
import time
import unittest

import harness as t
from harness.install import (
    EVENTLOG_KEY, EXAMPLE_PORT, FILE_SDDL, FOLDER_SDDL, LOGS_SDDL,
    SERVICES_KEY, TIME_LIMIT, assert_secured, default_location, drive_c,
    echo_round_trip, iocpd, plant, planted_text, port_is_free,
    prefix_top, reg_values, service_sid, service_state, start_prefix,
    stop_before_removal, stop_prefix, uninstall_quietly, wait_for_file,
    wait_state, windows_path, wine, wine_pids)


class MsiTest(unittest.TestCase):
    """In this order: the MSI first, on a fresh prefix (nothing in
    C:\\ProgramData\\iocpd yet), then `iocpd install` on the config it left."""

    msi = os.environ.get("IOCPD_MSI", "")

    def setUp(self):
        self.workdir = t.Workdir()

    def tearDown(self):
        self.workdir.cleanup()

    def msiexec(self, op, log_name, *props):
        """Runs msiexec op (/i, /x) with the given PROPERTY=VALUE arguments;
        returns the text of its log."""
        if op == "/x":
            stop_before_removal("iocpd")
        log = os.path.join(prefix_top(), log_name)
        r = wine(["msiexec", op, windows_path(self.msi), "/qn", "/l*v", windows_path(log)]
                 + list(props), timeout=150)
        if r.rc != 0:
            tail = ""
            try:
                with open(log, "rb") as f:
                    data = f.read()
                tail = data.decode("utf-16" if data[:2] == b"\xff\xfe" else "utf-8",
                                   "replace")[-4000:]
            except OSError:
                pass
            self.fail("msiexec %s exited %d\n%r\n--- msiexec log (end) ---\n%s"
                      % (op, r.rc, r, tail))
        with open(log, "rb") as f:
            data = f.read()
        return data.decode("utf-16" if data[:2] == b"\xff\xfe" else "utf-8", "replace")

    def check_installed(self):
        wait_state("iocpd", "RUNNING")
        exe = drive_c("Program Files", "iocpd", "iocpd.exe")
        self.assertTrue(os.path.isfile(exe), exe)
        if os.path.exists(os.path.join(os.path.dirname(os.environ["IOCPD_BIN"]), "inih.dll")):
            self.assertTrue(os.path.isfile(drive_c("Program Files", "iocpd", "inih.dll")))
        svc = reg_values(SERVICES_KEY + r"\iocpd")
        self.assertIsNotNone(svc, "no service key")
        self.assertEqual(svc["ImagePath"][1],
                         r'"C:\Program Files\iocpd\iocpd.exe" service -c '
                         r'"C:\ProgramData\iocpd\iocpd.ini"')
        self.assertEqual(svc["ObjectName"][1], r"NT SERVICE\iocpd")
        self.assertEqual(svc["Start"][1], "0x2")
        self.assertEqual(svc["PreshutdownTimeout"][1], "0xafc8")  # 30 s + 15 s
        source = reg_values(EVENTLOG_KEY + r"\iocpd")
        self.assertIsNotNone(source, "no event source key")
        # Expandable, as `iocpd install` and the sc.exe recipe write it
        # (wixl drops the type; the build restores it).
        self.assertEqual(source["EventMessageFile"],
                         ("REG_EXPAND_SZ", r"C:\Program Files\iocpd\iocpd.exe"))
        self.assertEqual(source["TypesSupported"], ("REG_DWORD", "0x7"))
        self.assertTrue(echo_round_trip(EXAMPLE_PORT), "no echo through the MSI's service")

    def check_removed(self, config_text):
        self.assertIsNone(service_state("iocpd"), "the service is still there")
        self.assertIsNone(reg_values(EVENTLOG_KEY + r"\iocpd"), "the event source is still there")
        self.assertFalse(os.path.exists(drive_c("Program Files", "iocpd", "iocpd.exe")))
        deadline = time.monotonic() + 10
        while wine_pids("iocpd.exe") and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(wine_pids("iocpd.exe"), [], "an iocpd.exe still runs")
        with open(drive_c("ProgramData", "iocpd", "iocpd.ini"), newline="") as f:
            self.assertEqual(f.read(), config_text, "the config changed")

    def test_1_msi(self):
        self.assertTrue(self.msi and os.path.isfile(self.msi),
                        "no MSI at %r: build it with `cmake --build BUILD --target msi` "
                        "(needs wixl)" % self.msi)
        if not port_is_free(EXAMPLE_PORT):
            self.fail("127.0.0.1:%d is in use: the example config's echo listener needs it "
                      "(is another iocpd running?)" % EXAMPLE_PORT)
        config = drive_c("ProgramData", "iocpd", "iocpd.ini")
        self.assertFalse(os.path.exists(config), "the fresh prefix already has a config")
        with open(os.environ["IOCPD_EXAMPLE_CONFIG"], newline="") as f:
            example = f.read()
        try:
            print("msiexec /i: service running, example config written, echo on %d"
                  % EXAMPLE_PORT)
            print("  with FIREWALL=1: the service is configured with its firewall rule "
                  "(which Wine's firewall accepts and does not keep)")
            log = self.msiexec("/i", "msi-install.log", "FIREWALL=1")
            self.assertRegex(log, r"Action ended [^\n]*: ConfigureServiceFirewall\. Return value 1")
            self.assertNotRegex(log, r"Action start [^\n]*: ConfigureService\.")
            with open(config, newline="") as f:
                self.assertEqual(f.read(), example, "the config is not the example")
            logs = drive_c("ProgramData", "iocpd", "logs")
            self.assertTrue(os.path.isdir(logs), "the MSI made no logs folder")
            assert_secured(self, r"C:\ProgramData\iocpd\iocpd.ini", FILE_SDDL)
            assert_secured(self, r"C:\ProgramData\iocpd", FOLDER_SDDL)
            assert_secured(self, r"C:\ProgramData\iocpd\logs",
                           LOGS_SDDL % "(A;OICI;0x1301bf;;;%s)" % service_sid("iocpd"))
            self.check_installed()

            print("msiexec /x: service, event source and files gone, config kept")
            log = self.msiexec("/x", "msi-remove.log")
            self.assertRegex(log, r"Action ended [^\n]*: RemoveFirewallRule\. Return value 1")
            self.check_removed(example)

            print("msiexec /i again: the edited config is kept; the service writes the "
                  "example's access log to the logs folder")
            edited = example.replace("drain_timeout = 30s", "drain_timeout = 30s ; edited")
            edited = edited.replace("\n;access_log = logs/access.log",
                                    "\naccess_log = logs/access.log")
            self.assertIn("\naccess_log = logs/access.log", edited,
                          "the example has no commented access_log in the logs folder")
            with open(config, "w", newline="") as f:
                f.write(edited)
            log = self.msiexec("/i", "msi-install2.log")
            self.assertRegex(log, r"Action ended [^\n]*: ConfigureService\. Return value 1")
            self.assertNotIn("ConfigureServiceFirewall.", log)
            self.check_installed()
            self.assertRegex(wait_for_file(os.path.join(logs, "access.log"), "listener=echo"),
                             r"listener=echo client=127\.0\.0\.1:\d+ ")
            self.msiexec("/x", "msi-remove2.log")
            self.check_removed(edited)
        finally:
            if service_state("iocpd") is not None:
                wine(["msiexec", "/x", windows_path(self.msi), "/qn"], timeout=150)
            uninstall_quietly(self.workdir, "iocpd")

    def test_3_msi_planted(self):
        """The MSI, when a standard user prepared C:\\ProgramData\\iocpd."""
        self.assertTrue(self.msi and os.path.isfile(self.msi), self.msi)
        folder, config = default_location()
        text = planted_text()
        plant(self, folder, config, text)
        try:
            print("msiexec /i on a planted config: refused, folder and file locked down")
            r = wine(["msiexec", "/i", windows_path(self.msi), "/qn"], timeout=150)
            self.assertNotEqual(r.rc, 0, "the MSI installed over a planted config: %r" % r)
            # Wine passes the custom action's output through (Windows
            # Installer does not: there it goes to the Event Log as well).
            self.assertRegex(r.stdout + r.stderr, r"iocpd\.ini existed before this install.*"
                             r"review it, then run the install again")
            assert_secured(self, folder[0], FOLDER_SDDL)
            assert_secured(self, config[0], FILE_SDDL)
            self.assertIsNone(service_state("iocpd"), "the MSI left a service behind")
            with open(config[1], newline="") as f:
                self.assertEqual(f.read(), text, "the planted file was changed")

            print("msiexec /i again, after the review: installed")
            self.msiexec("/i", "msi-planted2.log")
            wait_state("iocpd", "RUNNING")
            self.assertTrue(os.path.isdir(drive_c("ProgramData", "iocpd", "logs")))
            self.msiexec("/x", "msi-planted-remove.log")
            self.assertIsNone(service_state("iocpd"))
        finally:
            if service_state("iocpd") is not None:
                wine(["msiexec", "/x", windows_path(self.msi), "/qn"], timeout=150)
            uninstall_quietly(self.workdir, "iocpd")

    def test_2_default_config(self):
        config = drive_c("ProgramData", "iocpd", "iocpd.ini")
        if not os.path.exists(config):
            self.skipTest("needs the config the MSI test leaves behind")
        with open(config, newline="") as f:
            before = f.read()
        try:
            print("iocpd install without -c: uses the kept default config as it is")
            r = iocpd(self.workdir, "install", "--start", "demand")
            self.assertEqual(r.rc, 0, r)
            self.assertIn(r'-c "C:\ProgramData\iocpd\iocpd.ini"', r.stdout)
            self.assertNotIn("written from the example", r.stdout)
            with open(config, newline="") as f:
                self.assertEqual(f.read(), before)
            r = iocpd(self.workdir, "uninstall")
            self.assertEqual(r.rc, 0, r)
            self.assertRegex(r.stdout, r"kept the config file C:\\ProgramData\\iocpd\\iocpd\.ini")
            self.assertTrue(os.path.exists(config))
        finally:
            uninstall_quietly(self.workdir, "iocpd")


# ---------------------------------------------------------------------------
# iocpd install / uninstall


# ---------------------------------------------------------------------------


def main():
    if not t.WINE:
        sys.stderr.write("test_install.py: the service manager tests run under Wine only\n")
        sys.exit(77)
    # The shared watchdog ends the script with os._exit, which skips every
    # cleanup: stop the prefix (and so every Wine process in it) first.
    guard = threading.Timer(TIME_LIMIT - 20, stop_prefix)
    guard.daemon = True
    guard.start()
    try:
        start_prefix()
        t.main(time_limit=(TIME_LIMIT, TIME_LIMIT))
    finally:
        guard.cancel()
        stop_prefix()


if __name__ == "__main__":
    main()
