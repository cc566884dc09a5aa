"""What the install tests share (test_install.py, test_install_msi.py):
their private Wine prefix, running Windows programs in it (sc, reg,
msiexec, iocpd.exe) with a retry when Wine fails to launch one, service
states, the registry, file security read and set through tests/sdtool.c
(SDDL, the service SID, what Wine 8 keeps of a DACL), a planted config,
and clean removal. Wine only.

Each test script makes its own Wine prefix with tests/wine/prefix.sh, with
WINEDLLPATH pointing at the inih shim next to iocpd.exe before the prefix's
services.exe starts, since every service process inherits the environment
of services.exe; the prefix, and with it every Wine process of the run, is
removed at the end, after the services are uninstalled in finally blocks.

Wine does not check accounts: NT SERVICE\\<name> and LocalService are stored
as given, and every service runs as the Wine user. Wine 8 does not store file
security either: it maps a DACL onto the Unix mode bits (Everyone's write
right becomes the "other" write bit, ACEs for other SIDs are dropped) and
builds the descriptor it returns from the mode, always owned by the Wine
user. So where sdtool finds that a DACL does not read back as set, owner and
DACL are checked by what survives that mapping (nobody but SYSTEM,
Administrators and the owner may write), and the logs folder's ACE for the
service SID by what `iocpd install` says it applied; on a system that stores
ACLs they are compared exactly. Wine has no Event Log message rendering,
no service SID, no failure-actions flag, no delayed start; its sc.exe prints errors only on its debug channel (err+sc), so a
missing service is recognised by "failed to open service 1060" there."""

import hashlib
import os
import re
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from .env import HOST
from .cli import Result, run_cli
from .config import config_text
from .ports import addr, free_ports
from .sockets import connect, recv_exact

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def prefix_top():
    """The directory that holds this run's prefix (and the MSI logs)."""
    return _prefix["top"]


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
    through the wrapper, returns a Result. A launch that Wine itself
    failed (the program never ran) is tried again, up to three times."""
    env = dict(os.environ)
    if debug is None and args[0] == "sc":
        # Wine's sc.exe says why a call failed only on its err channel;
        # with -all it exits 1 with nothing on stdout or stderr.
        debug = "-all,err+sc"
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
        result = Result(r.returncode, r.stdout.decode("utf-8", "replace"),
                          r.stderr.decode("utf-8", "replace"))
        if WINE_LAUNCH_FAILED not in result.stdout + result.stderr:
            return result
        sys.stderr.write("%s: Wine could not launch it (attempt %d): retrying\n"
                         % (" ".join(args), attempt + 1))
        time.sleep(1)
    return result


def iocpd(workdir, *args):
    return run_cli(list(args), workdir, timeout=120)


def service_state(name):
    """The state sc query shows ("RUNNING", "STOPPED"...), or None when the
    service does not exist (sc: "failed to open service 1060")."""
    r = wine(["sc", "query", name])
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
    with connect(port) as s:
        s.sendall(payload)
        return recv_exact(s, len(payload)) == payload


def port_is_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
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
    if r.rc != 0 and not r.stdout.strip() and not r.stderr.strip():
        # sdtool says why whenever it fails: a silent exit 1 is Wine not
        # running it (seen once under a loaded parallel run). Once more.
        sys.stderr.write("sdtool %s: exit %d without a word: retrying\n" % (" ".join(args), r.rc))
        time.sleep(1)
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
    return "; planted by a standard user\n" + config_text(
        [("planted", addr(free_ports(1)[0]), "echo")])


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
