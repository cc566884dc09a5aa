"""Installing iocpd as a Windows service, under Wine's service control
manager: `iocpd install`, `iocpd uninstall` and the MSI.

  MsiTest
    msi                  msiexec /i: the service runs as NT SERVICE\\iocpd with
                         a quoted command line, the example config is written
                         to C:\\ProgramData\\iocpd\\iocpd.ini, echo works on
                         127.0.0.1:7007 (the example's listener: the test fails
                         if that port is busy); msiexec /x: service, event
                         source and program files gone, config kept; a second
                         /i keeps the edited config; /x again
    default_config       `iocpd install` with no -c uses that kept config and
                         does not rewrite it
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

Wine only: natively the script exits 77 (skipped). It makes its own Wine
prefix with tests/wine/prefix.sh, with WINEDLLPATH pointing at the inih shim
next to iocpd.exe before the prefix's services.exe starts, since every
service process inherits the environment of services.exe; the prefix, and
with it every Wine process of the run, is removed at the end, after the
services are uninstalled in finally blocks.

Wine does not check accounts: NT SERVICE\\<name> and LocalService are stored
as given, and every service runs as the Wine user. It has no Event Log
message rendering, no service SID, no failure-actions flag, no delayed
start; its sc.exe prints errors only on its debug channel (err+sc), so a
missing service is recognised by "failed to open service 1060" there.

Environment: IOCPD_BIN, IOCPD_WRAPPER, IOCPD_PLATFORM (iocpdtest.py);
IOCPD_MSI, the MSI that the `msi` target built; IOCPD_EXAMPLE_CONFIG,
iocpd.ini.example.
"""

import sys

sys.dont_write_bytecode = True

import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import iocpdtest as t

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX_SH = os.path.join(HERE, "wine", "prefix.sh")
EXAMPLE_PORT = 7007
TIME_LIMIT = 280  # seconds, the whole script (ctest allows 300)
SERVICES_KEY = r"HKLM\SYSTEM\CurrentControlSet\Services"
EVENTLOG_KEY = SERVICES_KEY + r"\EventLog\Application"

# The prefix of this run: set by start_prefix(), removed by stop_prefix().
_prefix = {"env": None, "top": None}
_prefix_lock = threading.Lock()


# ---------------------------------------------------------------------------
# The Wine prefix


def start_prefix():
    """Starts a private prefix whose services can load the inih shim, and
    makes it this process's WINEPREFIX."""
    binary = os.path.abspath(os.environ["IOCPD_BIN"])
    top = tempfile.mkdtemp(prefix="iocpd-install-")
    env = dict(os.environ)
    env.pop("WINEPREFIX", None)
    env["WINEPREFIX"] = os.path.join(top, "prefix")
    env["IOCPD_WINE_LOG"] = os.path.join(top, "services.log")
    dlldir = os.path.dirname(binary)
    env["WINEDLLPATH"] = dlldir + (":" + env["WINEDLLPATH"] if env.get("WINEDLLPATH") else "")
    env.setdefault("WINEDEBUG", "-all")
    with _prefix_lock:
        _prefix["top"] = top
        _prefix["env"] = env
    r = subprocess.run(["bash", PREFIX_SH, "start"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        raise AssertionError("prefix.sh start failed (%d):\n%s" % (
            r.returncode, r.stderr.decode("utf-8", "replace")))
    os.environ.update({k: env[k] for k in ("WINEPREFIX", "IOCPD_WINE_LOG", "WINEDLLPATH")})
    os.environ.setdefault("WINEDEBUG", "-all")
    # Two services.exe in one prefix are two SCMs with two databases: a
    # service created through one is unknown to the other, and calls go to
    # either. `wineboot -i` starts a second one next to the one the first
    # Wine process of a new prefix starts.
    scms = wine_pids("services.exe")
    if len(scms) != 1:
        raise AssertionError(
            "%d services.exe processes in %s (pids %s): service calls would go to "
            "either SCM at random. tests/wine/prefix.sh must initialise the prefix "
            "with a plain `wineboot`, not `wineboot -i`." % (
                len(scms), env["WINEPREFIX"], scms))


def stop_prefix():
    """Stops the prefix's wineserver (ending every Wine process of the
    prefix) and removes the prefix. Safe to call twice."""
    with _prefix_lock:
        env, top = _prefix["env"], _prefix["top"]
        _prefix["env"] = _prefix["top"] = None
    if env is None:
        return
    try:
        subprocess.run(["bash", PREFIX_SH, "stop"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def wine_pids(image):
    """Process ids of the Windows program image (e.g. services.exe) running
    in this run's prefix."""
    prefix = _prefix["env"]["WINEPREFIX"].encode()
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read()
            with open("/proc/%s/environ" % pid, "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if image.encode().lower() in cmdline.lower() and b"WINEPREFIX=" + prefix in environ:
            pids.append(int(pid))
    return pids


def drive_c(*parts):
    return os.path.join(_prefix["env"]["WINEPREFIX"], "drive_c", *parts)


def windows_path(unix_path):
    """The Z: path Wine gives a Unix path."""
    return "Z:" + os.path.abspath(unix_path).replace("/", "\\")


# ---------------------------------------------------------------------------
# Running Windows programs


def wine(args, timeout=90, debug=None):
    """Runs a Windows program (sc, reg, msiexec, or a path) in the prefix
    through the wrapper, returns a t.Result."""
    env = dict(os.environ)
    if debug is not None:
        env["WINEDEBUG"] = debug
    wrapper = shlex.split(os.environ.get("IOCPD_WRAPPER", ""))
    try:
        r = subprocess.run(wrapper + list(args), env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s did not finish within %g s" % (" ".join(args), timeout)) from e
    return t.Result(r.returncode, r.stdout.decode("utf-8", "replace"),
                    r.stderr.decode("utf-8", "replace"))


def iocpd(workdir, *args):
    return t.run_cli(list(args), workdir, timeout=120)


def service_state(name):
    """The state sc query shows ("RUNNING", "STOPPED"...), or None when the
    service does not exist (sc: "failed to open service 1060")."""
    r = wine(["sc", "query", name], debug="-all,err+sc")
    m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", r.stdout)
    if m:
        return m.group(1)
    if "1060" in r.stderr:
        return None
    raise AssertionError("sc query %s: neither a state nor 1060\n%r" % (name, r))


def wait_state(name, state, timeout=40):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = service_state(name)
        if last == state:
            return
        time.sleep(0.5)
    log = ""
    try:
        with open(os.environ["IOCPD_WINE_LOG"], "rb") as f:
            log = f.read()[-3000:].decode("utf-8", "replace")
    except OSError:
        pass
    raise AssertionError("service %s is %s, not %s, after %g s\n--- services' stderr ---\n%s"
                         % (name, last, state, timeout, log))


def reg_values(key):
    """{name: (type, data)} of a registry key, or None if it does not exist."""
    r = wine(["reg", "query", key])
    if r.rc != 0:
        return None
    values = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s{4}(\S.*?)\s{4}(REG_\w+)\s{4}(.*?)\s*$", line)
        if m:
            values[m.group(1)] = (m.group(2), m.group(3))
    return values


def echo_round_trip(port):
    payload = b"iocpd install test %d\n" % port
    with t.connect(port) as s:
        s.sendall(payload)
        return t.recv_exact(s, len(payload)) == payload


def port_is_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((t.HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def uninstall_quietly(workdir, name):
    """Cleanup: removes the service name if it exists, ignoring errors."""
    try:
        if service_state(name) is not None:
            iocpd(workdir, "uninstall", "--name", name)
        if service_state(name) is not None:
            wine(["sc", "stop", name])
            wine(["sc", "delete", name])
    except Exception as e:  # cleanup must go on
        sys.stderr.write("cleanup of %s: %s\n" % (name, e))


# ---------------------------------------------------------------------------
# The MSI


class MsiTest(unittest.TestCase):
    """In this order: the MSI first, on a fresh prefix (nothing in
    C:\\ProgramData\\iocpd yet), then `iocpd install` on the config it left."""

    msi = os.environ.get("IOCPD_MSI", "")

    def setUp(self):
        self.workdir = t.Workdir()

    def tearDown(self):
        self.workdir.cleanup()

    def msiexec(self, op, log_name):
        log = os.path.join(_prefix["top"], log_name)
        r = wine(["msiexec", op, windows_path(self.msi), "/qn", "/l*v", windows_path(log)],
                 timeout=150)
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
        return r

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
        self.assertEqual(source["EventMessageFile"][1], r"C:\Program Files\iocpd\iocpd.exe")
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
            self.msiexec("/i", "msi-install.log")
            with open(config, newline="") as f:
                self.assertEqual(f.read(), example, "the config is not the example")
            self.check_installed()

            print("msiexec /x: service, event source and files gone, config kept")
            self.msiexec("/x", "msi-remove.log")
            self.check_removed(example)

            print("msiexec /i again: the edited config is kept")
            edited = example.replace("drain_timeout = 30s", "drain_timeout = 30s ; edited")
            self.assertNotEqual(edited, example)
            with open(config, "w", newline="") as f:
                f.write(edited)
            self.msiexec("/i", "msi-install2.log")
            self.check_installed()
            self.msiexec("/x", "msi-remove2.log")
            self.check_removed(edited)
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
                      "obj=", "NT SERVICE\\" + name], debug="-all,err+sc")
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
