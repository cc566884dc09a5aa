"""Installing iocpd as a Windows service, under Wine's service control
manager: `iocpd install` and `iocpd uninstall` (the MSI: test_install_msi.py).

  InstallTest
    usage_errors         exit 2 for a bad option, --start value or account,
                         and nothing is installed
    install_uninstall    install -c (relative path, free port) --name: exit 0,
                         the registry holds what install printed (quoted
                         command line with the absolute config path, virtual
                         account, preshutdown = drain_timeout + 15 s, event
                         source), the settings Wine lacks are warnings; sc
                         start -> RUNNING, echo works; install again -> exit 3
                         "already exists"; uninstall -> stopped, deleted, event
                         source key gone, config kept; uninstall again -> exit
                         3 "does not exist"
    sc_create_then_existing
                         sc create (quoted binPath, obj= NT SERVICE\\NAME) and
                         sc failure, then `iocpd install --existing`:
                         preshutdown and description set, command line kept;
                         it starts and echoes; uninstall removes it
    local_service        --account LocalService --start delayed: the account
                         is NT AUTHORITY\\LocalService, the start type auto,
                         the delayed flag a warning under Wine
    firewall             install --firewall: the rule is added (Wine's
                         firewall accepts it and keeps nothing, so its
                         presence is not checked), uninstall then; `iocpd
                         firewall add|remove` alone, and its usage errors
  PlantedConfigTest
    planted_config       C:\\ProgramData\\iocpd and iocpd.ini planted before
                         `iocpd install`, writable by everyone (owner BU):
                         install locks both down (owner and DACL read back as
                         the protected ones) and refuses with exit 3, the
                         planted text untouched; a second install (now
                         trusted, --account LocalService) creates logs\\ for
                         the service SID and LocalService

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
import re
import threading
import unittest

import harness as t
from harness.install import (
    EVENTLOG_KEY, FILE_SDDL, FOLDER_SDDL, LOGS_SDDL, SERVICES_KEY,
    TIME_LIMIT, assert_secured, default_location, echo_round_trip,
    iocpd, plant, planted_text, reg_values, service_sid, service_state,
    start_prefix, stop_prefix, uninstall_quietly, wait_state,
    windows_path, wine)


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.workdir = t.Workdir()

    def tearDown(self):
        self.workdir.cleanup()

    def test_usage_errors(self):
        name = "iocpd-usage"
        try:
            for args, rx in [
                (["install", "--bogus"], r"unknown option '--bogus'"),
                (["install", "--start", "sometimes"], r"invalid --start 'sometimes'"),
                (["install", "--name"], r"--name needs a value"),
                (["install", "--name", "a/b"], r"invalid service name"),
                (["install", "--account", "Administrator"], r"unsupported account"),
                (["install", "--existing", "-c", "x.ini"], r"--existing"),
                (["uninstall", "--bogus"], r"unknown option '--bogus'"),
            ]:
                r = iocpd(self.workdir, *(args + ["--name", name] if "--name" not in args
                                          else args))
                self.assertEqual(r.rc, 2, r)
                self.assertRegex(r.stderr, rx)
            self.assertIsNone(service_state(name), "a usage error installed something")
        finally:
            uninstall_quietly(self.workdir, name)

    def test_install_uninstall(self):
        name = "iocpd-test"
        port = t.free_ports(1)[0]
        self.workdir.write("iocpd.ini", t.config_text(
            [("echo", t.addr(port), "echo")], service={"drain_timeout": "5s"}))
        config_win = windows_path(os.path.join(self.workdir.path, "iocpd.ini"))
        exe_win = windows_path(os.environ["IOCPD_BIN"])
        try:
            print("install -c iocpd.ini --name %s --start demand" % name)
            r = iocpd(self.workdir, "install", "-c", "iocpd.ini", "--name", name,
                      "--start", "demand")
            self.assertEqual(r.rc, 0, r)
            command_line = '"%s" service -c "%s"' % (exe_win, config_win)
            self.assertIn("installed the service '%s'" % name, r.stdout)
            self.assertIn(command_line, r.stdout)
            # What Wine's SCM lacks is a warning naming it, not a failure.
            self.assertRegex(r.stderr, r"failure actions flag\) was not applied.*error 124")
            self.assertRegex(r.stderr, r"service SID type was not applied")

            svc = reg_values(SERVICES_KEY + "\\" + name)
            self.assertIsNotNone(svc, r)
            self.assertEqual(svc["ImagePath"][1], command_line)
            self.assertEqual(svc["ObjectName"][1], "NT SERVICE\\" + name)
            self.assertEqual(svc["Start"][1], "0x3")  # demand
            self.assertEqual(svc["PreshutdownTimeout"][1], "0x4e20")  # 5 s + 15 s
            self.assertIn("iocpd TCP echo and port-forwarding service", svc["DisplayName"][1])
            self.assertIn("Description", svc)
            source = reg_values(EVENTLOG_KEY + "\\" + name)
            self.assertIsNotNone(source, "no event source key")
            self.assertEqual(source["EventMessageFile"], ("REG_EXPAND_SZ", exe_win))
            self.assertEqual(source["TypesSupported"], ("REG_DWORD", "0x7"))

            print("sc start -> RUNNING, echo on %d" % port)
            self.assertEqual(service_state(name), "STOPPED")
            wine(["sc", "start", name])
            wait_state(name, "RUNNING")
            self.assertTrue(echo_round_trip(port), "no echo through the service")

            print("install again -> exit 3, already exists")
            r = iocpd(self.workdir, "install", "-c", "iocpd.ini", "--name", name)
            self.assertEqual(r.rc, 3, r)
            self.assertRegex(r.stderr, r"already exists.*iocpd uninstall --name %s" % name)
            self.assertEqual(service_state(name), "RUNNING")

            print("uninstall -> stopped, deleted, event source removed, config kept")
            r = iocpd(self.workdir, "uninstall", "--name", name)
            self.assertEqual(r.rc, 0, r)
            self.assertIn("the service '%s' stopped" % name, r.stdout)
            self.assertIn("deleted the service '%s'" % name, r.stdout)
            self.assertIn("removed the Event Log source '%s'" % name, r.stdout)
            self.assertIn("kept the config file %s" % config_win, r.stdout)
            self.assertIsNone(service_state(name))
            self.assertIsNone(reg_values(EVENTLOG_KEY + "\\" + name))
            self.assertTrue(os.path.exists(os.path.join(self.workdir.path, "iocpd.ini")))
            self.assertFalse(t.port_accepts(port), "the listener outlived the service")

            print("uninstall again -> exit 3, does not exist")
            r = iocpd(self.workdir, "uninstall", "--name", name)
            self.assertEqual(r.rc, 3, r)
            self.assertRegex(r.stderr, r"'%s' does not exist" % name)
        finally:
            uninstall_quietly(self.workdir, name)

    def test_sc_create_then_existing(self):
        """The sc.exe recipe of installer/recipes.md, as far as Wine's sc.exe
        goes, completed by `iocpd install --existing`."""
        name = "iocpd-sc"
        port = t.free_ports(1)[0]
        self.workdir.write("sc.ini", t.config_text(
            [("echo", t.addr(port), "echo")], service={"drain_timeout": "10s"}))
        config_win = windows_path(os.path.join(self.workdir.path, "sc.ini"))
        exe_win = windows_path(os.environ["IOCPD_BIN"])
        command_line = '"%s" service -c "%s"' % (exe_win, config_win)
        try:
            r = wine(["sc", "create", name, "binPath=", command_line, "start=", "demand",
                      "obj=", "NT SERVICE\\" + name])
            self.assertEqual(r.rc, 0, r)
            r = wine(["sc", "failure", name, "reset=", "86400",
                      "actions=", "restart/5000/restart/30000/restart/60000"])
            self.assertEqual(r.rc, 0, r)
            print("install --existing --name %s: settings applied to sc's service" % name)
            r = iocpd(self.workdir, "install", "--existing", "--name", name)
            self.assertEqual(r.rc, 0, r)
            self.assertIn("configuring the existing service '%s'" % name, r.stdout)
            self.assertIn("config:       %s" % config_win, r.stdout)
            self.assertNotIn("written from the example", r.stdout)
            svc = reg_values(SERVICES_KEY + "\\" + name)
            self.assertEqual(svc["ImagePath"][1], command_line)  # already quoted: kept
            self.assertEqual(svc["PreshutdownTimeout"][1], "0x61a8")  # 10 s + 15 s
            self.assertIn("Description", svc)
            wine(["sc", "start", name])
            wait_state(name, "RUNNING")
            self.assertTrue(echo_round_trip(port))
            r = iocpd(self.workdir, "uninstall", "--name", name)
            self.assertEqual(r.rc, 0, r)
            self.assertIsNone(service_state(name))
        finally:
            uninstall_quietly(self.workdir, name)

    def test_local_service_delayed(self):
        name = "iocpd-ls"
        port = t.free_ports(1)[0]
        self.workdir.write("ls.ini", t.config_text([("echo", t.addr(port), "echo")]))
        try:
            r = iocpd(self.workdir, "install", "-c", "ls.ini", "--name", name,
                      "--account", "LocalService", "--start", "delayed")
            self.assertEqual(r.rc, 0, r)
            self.assertRegex(r.stderr, r"delayed automatic start.*was not applied")
            svc = reg_values(SERVICES_KEY + "\\" + name)
            self.assertIsNotNone(svc, r)
            self.assertEqual(svc["ObjectName"][1], r"NT AUTHORITY\LocalService")
            self.assertEqual(svc["Start"][1], "0x2")  # automatic
            r = iocpd(self.workdir, "uninstall", "--name", name)
            self.assertEqual(r.rc, 0, r)
            self.assertIsNone(service_state(name))
        finally:
            uninstall_quietly(self.workdir, name)


    def test_firewall(self):
        name = "iocpd-fw"
        port = t.free_ports(1)[0]
        self.workdir.write("fw.ini", t.config_text([("echo", t.addr(port), "echo")]))
        try:
            r = iocpd(self.workdir, "install", "-c", "fw.ini", "--name", name, "--firewall")
            self.assertEqual(r.rc, 0, r)
            self.assertRegex(r.stdout, r"firewall:\s+inbound TCP and UDP allowed for the service")
            self.assertNotIn("firewall rules were not applied", r.stderr)
            r = iocpd(self.workdir, "firewall", "add", "--name", name)
            self.assertEqual((r.rc, r.stdout.strip()),
                             (0, "iocpd: added the firewall rules (TCP and UDP) for the service "
                                 "'%s'" % name))
            r = iocpd(self.workdir, "firewall", "remove", "--name", name)
            self.assertEqual(r.rc, 0, r)
            for bad in (["firewall"], ["firewall", "open"], ["firewall", "add", "--nme", "x"]):
                r = iocpd(self.workdir, *bad)
                self.assertEqual(r.rc, 2, (bad, r))
            r = iocpd(self.workdir, "uninstall", "--name", name)
            self.assertEqual(r.rc, 0, r)
            self.assertIsNone(service_state(name))
        finally:
            uninstall_quietly(self.workdir, name)


class PlantedConfigTest(unittest.TestCase):
    """`iocpd install` with the default config, when a standard user
    prepared C:\\ProgramData\\iocpd before the administrator. Runs after
    MsiTest (unittest orders classes by name), whose config it removes."""

    def setUp(self):
        self.workdir = t.Workdir()

    def tearDown(self):
        self.workdir.cleanup()

    def test_planted_config(self):
        name = "iocpd-planted"
        folder, config = default_location()
        text = planted_text()
        plant(self, folder, config, text)
        try:
            print("install on a planted folder and config: both locked down, exit 3")
            r = iocpd(self.workdir, "install", "--name", name, "--start", "demand")
            assert_secured(self, folder[0], FOLDER_SDDL)
            assert_secured(self, config[0], FILE_SDDL)
            self.assertEqual(r.rc, 3, r)
            self.assertRegex(r.stderr, r"C:\\ProgramData\\iocpd\\iocpd\.ini existed before "
                             r"this install.*(Everyone|S-1-1-0)", r)
            self.assertIn("review", r.stderr)
            self.assertIsNone(service_state(name), "a service was installed: %r" % r)
            with open(config[1], newline="") as f:
                self.assertEqual(f.read(), text, "the planted file was changed")

            print("install again, after the review: the file is trusted now; logs/ for "
                  "the service SID and LocalService")
            r = iocpd(self.workdir, "install", "--name", name, "--start", "demand",
                      "--account", "LocalService")
            self.assertEqual(r.rc, 0, r)
            sid = service_sid(name)
            self.assertRegex(r.stdout, r"logs: +C:\\ProgramData\\iocpd\\logs\r?\n +writable by "
                             r"NT SERVICE\\%s \(%s\) and LocalService \(S-1-5-19\)"
                             % (re.escape(name), sid))
            self.assertTrue(os.path.isdir(os.path.join(folder[1], "logs")))
            assert_secured(self, r"C:\ProgramData\iocpd\logs", LOGS_SDDL % (
                "(A;OICI;0x1301bf;;;%s)(A;OICI;0x1301bf;;;LS)" % sid))
            assert_secured(self, config[0], FILE_SDDL)
            with open(config[1], newline="") as f:
                self.assertEqual(f.read(), text)
            r = iocpd(self.workdir, "uninstall", "--name", name)
            self.assertEqual(r.rc, 0, r)
        finally:
            uninstall_quietly(self.workdir, name)


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
