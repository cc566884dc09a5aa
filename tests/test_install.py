"""Installing iocpd as a Windows service, under Wine's service control
manager: `iocpd install`, `iocpd uninstall` and the MSI.

  MsiTest
    msi                  msiexec /i: the service runs as NT SERVICE\\iocpd with
                         a quoted command line, the example config is written
                         to C:\\ProgramData\\iocpd\\iocpd.ini, echo works on
                         127.0.0.1:7007 (the example's listener: the test fails
                         if that port is busy), C:\\ProgramData\\iocpd, the
                         config and logs\\ have the protected owner and DACL;
                         msiexec /x (after sc stop: see stop_before_removal):
                         service, event source and program files gone, config
                         kept; a second /i keeps the edited config, in which
                         the example's access_log line is uncommented: the
                         service writes its access log to logs\\; /x again
    default_config       `iocpd install` with no -c uses that kept config and
                         does not rewrite it
    msi_planted          C:\\ProgramData\\iocpd and iocpd.ini planted before the
                         MSI, writable by everyone: msiexec /i fails (the
                         custom action refuses), the folder and the file are
                         left with the protected owner and DACL, no service;
                         a second /i (the file is now trusted) installs
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
  PlantedConfigTest
    planted_config       C:\\ProgramData\\iocpd and iocpd.ini planted before
                         `iocpd install`, writable by everyone (owner BU):
                         install locks both down (owner and DACL read back as
                         the protected ones) and refuses with exit 3, the
                         planted text untouched; a second install (now
                         trusted, --account LocalService) creates logs\\ for
                         the service SID and LocalService

Wine only: natively the script exits 77 (skipped). It makes its own Wine
prefix with tests/wine/prefix.sh, with WINEDLLPATH pointing at the inih shim
next to iocpd.exe before the prefix's services.exe starts, since every
service process inherits the environment of services.exe; the prefix, and
with it every Wine process of the run, is removed at the end, after the
services are uninstalled in finally blocks.

Wine does not check accounts: NT SERVICE\\<name> and LocalService are stored
as given, and every service runs as the Wine user. Wine 8 does not store file
security either: it maps a DACL onto the Unix mode bits (Everyone's write
right becomes the "other" write bit, ACEs for other SIDs are dropped) and
builds the descriptor it returns from the mode, always owned by the Wine
user. So where sdtool finds that a DACL does not read back as set, owner and
DACL are checked by what survives that mapping (nobody but SYSTEM,
Administrators and the owner may write), and the logs folder's ACE for the
service SID by what `iocpd install` says it applied; on a system that stores
ACLs they are compared exactly. It has no Event Log
message rendering, no service SID, no failure-actions flag, no delayed
start; its sc.exe prints errors only on its debug channel (err+sc), so a
missing service is recognised by "failed to open service 1060" there.

Environment: IOCPD_BIN, IOCPD_WRAPPER, IOCPD_PLATFORM (harness/env.py);
IOCPD_MSI, the MSI that the `msi` target built; IOCPD_EXAMPLE_CONFIG,
iocpd.ini.example; IOCPD_SD_TOOL, tests/sdtool.c built.
"""

import sys

sys.dont_write_bytecode = True

import hashlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import struct
import unittest

import harness as t

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


# What Wine's loader prints when, now and then under load, it fails to
# start a program of the prefix at all (the program never ran).
WINE_LAUNCH_FAILED = "ShellExecuteEx failed"


def wine(args, timeout=90, debug=None):
    """Runs a Windows program (sc, reg, msiexec, or a path) in the prefix
    through the wrapper, returns a t.Result. A launch that Wine itself
    failed (the program never ran) is tried again, up to three times."""
    env = dict(os.environ)
    if debug is not None:
        env["WINEDEBUG"] = debug
    wrapper = shlex.split(os.environ.get("IOCPD_WRAPPER", ""))
    for attempt in range(3):
        try:
            r = subprocess.run(wrapper + list(args), env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("%s did not finish within %g s"
                                 % (" ".join(args), timeout)) from e
        result = t.Result(r.returncode, r.stdout.decode("utf-8", "replace"),
                          r.stderr.decode("utf-8", "replace"))
        if WINE_LAUNCH_FAILED not in result.stdout + result.stderr:
            return result
        sys.stderr.write("%s: Wine could not launch it (attempt %d): retrying\n"
                         % (" ".join(args), attempt + 1))
        time.sleep(1)
    return result


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


# ---------------------------------------------------------------------------
# Owners and DACLs (tests/sdtool.c)

SID_ALIASES = {"SY": "S-1-5-18", "BA": "S-1-5-32-544", "BU": "S-1-5-32-545",
               "SU": "S-1-5-6", "LS": "S-1-5-19", "WD": "S-1-1-0", "AU": "S-1-5-11",
               "CO": "S-1-3-0", "OW": "S-1-3-4", "NS": "S-1-5-20", "IU": "S-1-5-4"}
RIGHT_ALIASES = {"FA": 0x1F01FF, "FR": 0x120089, "FW": 0x120116, "FX": 0x1200A0,
                 "GA": 0x10000000, "GR": 0x80000000, "GW": 0x40000000, "GX": 0x20000000,
                 "SD": 0x10000, "RC": 0x20000, "WD": 0x40000, "WO": 0x80000}
# Rights that let a holder change a config, or who may: write or append
# data, extended attributes, delete, the DACL, the owner; generic write/all.
WRITE_RIGHTS = 0x2 | 0x4 | 0x10 | 0x10000 | 0x40000 | 0x80000 | 0x40000000 | 0x10000000
MODIFY = 0x1301BF  # read, write, execute and delete: what a log writer needs
READ_EXECUTE = 0x1200A9

# What `iocpd install` and the MSI leave on C:\ProgramData\iocpd, on
# iocpd.ini in it, and on its logs folder (LOGS_SDDL % service SID ACEs).
FOLDER_SDDL = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)(A;OICI;0x1200a9;;;SU)"
FILE_SDDL = "O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;0x1200a9;;;BU)(A;;0x1200a9;;;SU)"
LOGS_SDDL = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)%s"
PLANTED_FOLDER_SDDL = "D:P(A;OICI;FA;;;WD)"
PLANTED_FILE_SDDL = "O:BUD:P(A;;FA;;;WD)"


def service_sid(name):
    """The SID of NT SERVICE\\name: S-1-5-80- and the SHA-1 of the upper-cased
    name in UTF-16LE, as five little-endian 32-bit numbers ([MS-LSAT]
    3.1.1.1.2)."""
    digest = hashlib.sha1(name.upper().encode("utf-16-le")).digest()
    return "S-1-5-80-" + "-".join(str(n) for n in struct.unpack("<5I", digest))


def parse_sddl(text):
    """(owner SID, protected, {(type, flags, mask, SID)}) of an SDDL string
    with an owner and a DACL; aliases are resolved to SIDs and masks."""
    m = re.match(r"^(?:O:(\S+?))?(?:G:\S+?)?D:(P?)(?:AI|AR)*((?:\([^)]*\))*)$", text.strip())
    if not m:
        raise AssertionError("unexpected SDDL %r" % text)
    owner = SID_ALIASES.get(m.group(1), m.group(1))
    aces = set()
    for ace in re.findall(r"\(([^)]*)\)", m.group(3)):
        kind, flags, rights, _, _, sid = ace.split(";")[:6]
        if rights.lower().startswith("0x"):
            mask = int(rights, 16)
        else:
            mask = 0
            for i in range(0, len(rights), 2):
                mask |= RIGHT_ALIASES[rights[i:i + 2]]
        flag_set = frozenset(flags[i:i + 2] for i in range(0, len(flags), 2))
        aces.add((kind, flag_set, mask, SID_ALIASES.get(sid, sid)))
    return owner, m.group(2) == "P", aces


def sd_tool(*args):
    r = wine([os.environ["IOCPD_SD_TOOL"]] + list(args))
    if r.rc != 0:
        raise AssertionError("sdtool %s: %r" % (" ".join(args), r))
    return r.stdout.strip()


_stores_acls = []


def stores_acls():
    """Whether this system keeps a file's DACL as set (Windows, Wine with
    stored ACLs) rather than rebuilding it from Unix mode bits (Wine 8)."""
    if not _stores_acls:
        probe = os.path.join(_prefix["top"], "acl-probe")
        with open(probe, "w") as f:
            f.write("probe\n")
        wanted = "D:P(A;;FA;;;BA)(A;;FR;;;BU)"
        sd_tool("set", windows_path(probe), wanted)
        _stores_acls.append(parse_sddl(sd_tool("get", windows_path(probe)))[2]
                            == parse_sddl(wanted)[2])
    return _stores_acls[0]


def assert_secured(test, path, expected):
    """Asserts that path (a Windows path) has the owner and DACL of the
    SDDL expected, exactly where the system stores them; under Wine 8, that
    nobody but SYSTEM, Administrators and the owner may write to it."""
    actual = sd_tool("get", path)
    owner, protected, aces = parse_sddl(actual)
    if stores_acls():
        want_owner, want_protected, want_aces = parse_sddl(expected)
        test.assertEqual((owner, protected, aces), (want_owner, want_protected, want_aces),
                         "%s: %s, expected %s" % (path, actual, expected))
        return
    trusted = {SID_ALIASES["SY"], SID_ALIASES["BA"], owner}
    writers = sorted(sid for kind, _, mask, sid in aces
                     if kind == "A" and mask & WRITE_RIGHTS and sid not in trusted)
    test.assertEqual(writers, [], "%s may be changed by %s: %s" % (path, writers, actual))


def plant(test, folder, config, text):
    """Creates folder and config (Windows paths of drive_c paths) the way a
    standard user could before an install: both writable by everyone, the
    file owned by Users (Wine keeps no owner but its user's)."""
    os.makedirs(folder[1])
    sd_tool("set", folder[0], PLANTED_FOLDER_SDDL)
    with open(config[1], "w", newline="\n") as f:
        f.write(text)
    sd_tool("set", config[0], PLANTED_FILE_SDDL)
    # The planting itself worked: everyone may write the file now.
    _, _, aces = parse_sddl(sd_tool("get", config[0]))
    test.assertTrue([a for a in aces if a[0] == "A" and a[3] == SID_ALIASES["WD"]
                     and a[2] & 0x2], aces)


def default_location():
    """((Windows path, Unix path) of C:\\ProgramData\\iocpd, of iocpd.ini in
    it), after removing what an earlier test left there."""
    folder = drive_c("ProgramData", "iocpd")
    shutil.rmtree(folder, ignore_errors=True)
    return ((r"C:\ProgramData\iocpd", folder),
            (r"C:\ProgramData\iocpd\iocpd.ini", os.path.join(folder, "iocpd.ini")))


def planted_text():
    return "; planted by a standard user\n" + t.config_text(
        [("planted", t.addr(t.free_ports(1)[0]), "echo")])


def stop_before_removal(name):
    """Stops the service name, if it runs, and waits for its process to
    end. Wine's msiexec /x sends the stop (ServiceControl Stop="both") and
    goes on to delete the service and its files without waiting for the
    stop, as Wait="yes" asks (its +service trace shows no wait): while the
    service process is still ending, iocpd.exe is in use and stays on disk
    (1 run in 5 before this was added). Windows Installer waits."""
    if service_state(name) in (None, "STOPPED"):
        return
    wine(["sc", "stop", name])
    wait_state(name, "STOPPED")
    deadline = time.monotonic() + 10
    while wine_pids("iocpd.exe") and time.monotonic() < deadline:
        time.sleep(0.2)


def wait_for_file(path, text, timeout=15):
    """The contents of path once they contain text; fails after timeout s."""
    deadline = time.monotonic() + timeout
    data = ""
    while time.monotonic() < deadline:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                data = f.read()
        except OSError:
            data = ""
        if text in data:
            return data
        time.sleep(0.2)
    raise AssertionError("no %r in %s within %g s: %r" % (text, path, timeout, data))


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
        if op == "/x":
            stop_before_removal("iocpd")
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
            logs = drive_c("ProgramData", "iocpd", "logs")
            self.assertTrue(os.path.isdir(logs), "the MSI made no logs folder")
            assert_secured(self, r"C:\ProgramData\iocpd\iocpd.ini", FILE_SDDL)
            assert_secured(self, r"C:\ProgramData\iocpd", FOLDER_SDDL)
            assert_secured(self, r"C:\ProgramData\iocpd\logs",
                           LOGS_SDDL % "(A;OICI;0x1301bf;;;%s)" % service_sid("iocpd"))
            self.check_installed()

            print("msiexec /x: service, event source and files gone, config kept")
            self.msiexec("/x", "msi-remove.log")
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
            self.msiexec("/i", "msi-install2.log")
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
