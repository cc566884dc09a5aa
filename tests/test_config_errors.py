#!/usr/bin/env python3
"""Black-box tests of config validation: the real iocpd executable is run on
broken and valid config files, and its exit code and messages are checked.

For every case, the file is put into a fresh temporary directory as
`case.ini` and two commands are run there, with the config given by that
relative path:

  iocpd check-config -c case.ini   exit 1, every expected message on stderr
                                   (exit 0 and "case.ini: OK" on stdout for a
                                   valid case, with exactly its expected
                                   warnings on stderr)
  iocpd run -c case.ini            exit 1 with the same messages, without
                                   serving (invalid cases only); run reports
                                   them as error log lines, so the log
                                   prefix "TIMESTAMP error " is removed
                                   before they are compared

Cases come from two places:
  - tests/config-cases/*.ini: each file states what it expects in comment
    lines `; expect: case.ini:LINE: message` (or `; expect: OK` for a valid
    file); the line numbers count those comment lines too. A line
    `; expect-prefix: case.ini:LINE: start` expects a message that starts
    that way, for a message that ends in text of the OS (a resolver's
    reason, which differs by platform). A valid file lists the warnings
    check-config must print as `; expect-warning: case.ini:LINE: warning:
    message` (`; expect-warning-prefix:` for one that ends in text of the
    OS); a valid file without such lines must print no warning.
    An expectation longer than a config line may be (197 bytes) ends in a
    backslash and goes on in the next comment line, after its "; ".
  - GENERATED below: cases that cannot be a plain text file in the source
    tree (a missing file, a directory, an unreadable file, UTF-16, NUL
    bytes, CRLF that git might rewrite, files of exactly and just over
    1 MiB).

The unreadable file (mode 000) needs care: root reads it anyway. Run as
root natively, that case runs iocpd as user nobody through setpriv (in a
work directory nobody may enter, so that only the file's mode stops the
read); where that is not possible (root under Wine, no setpriv) the case is
skipped and the reason printed.

Every expected line must appear on stderr exactly, as a whole line, and no
other `case.ini:LINE: ...` problem may appear. Under Wine, Wine's own lines
are dropped first. The message for a missing file ends with the OS error
text, so only its prefix is checked; so does the message for a host name in
`upstream` that does not resolve.

Environment: IOCPD_BIN, IOCPD_WRAPPER, IOCPD_PLATFORM, see harness/env.py.
Under Wine every process start is slow; when running every case twice would
take the suite past about 60 s, the `run` pass is limited to a few cases
(RUN_UNDER_WINE) unless IOCPD_CONFIG_TESTS_FULL=1.
"""

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

CASES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config-cases")
CONFIG = "case.ini"
TIMEOUT = harness.pick(20, 60)
BUDGET = 60.0
FULL = os.environ.get("IOCPD_CONFIG_TESTS_FULL", "") not in ("", "0")

# Cases whose `run` pass is kept under Wine even when time is short: one per
# stage of loading (open, encoding, syntax, values, whole-file checks, name
# resolution).
RUN_UNDER_WINE = {"missing-file", "directory", "utf16-bom", "nul-byte",
                  "missing-equals", "three-errors", "same-address",
                  "upstream-nohost", "cidr-host-bits"}

# A problem with a line number, as the loader prints it.
NUMBERED = re.compile(r"^%s:\d+: " % re.escape(CONFIG))
# What `run` puts before each problem: it logs them as error events
# ("2026-01-02T03:04:05.678Z error case.ini:3: ...").
LOG_ERROR_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z error ")
# Lines Wine itself writes to the program's stderr: its launcher notices
# ("wine: ...", "it looks like wine32 is missing ...") and debug channels
# prefixed with a thread id ("0024:fixme:...").
WINE_NOISE = re.compile(r"wine:|wine32|^[0-9a-f]{4}:")


class Case:
    """One config file and what iocpd must say about it.

    expected: whole lines that must appear on stderr; prefixes: lines that
    must start some stderr line; valid: exit 0 and "case.ini: OK" instead,
    and warnings: the only numbered lines stderr may then have.
    setup(path) creates the config at path (path is DIR/case.ini). unreadable:
    the file is made unreadable (see the docstring at the top)."""

    def __init__(self, name, setup, expected=(), prefixes=(), valid=False,
                 warnings=(), unreadable=False):
        self.name = name
        self.setup = setup
        self.expected = list(expected)
        self.prefixes = list(prefixes)
        self.valid = valid
        self.warnings = list(warnings)
        self.unreadable = unreadable


def write_bytes(data):
    def setup(path):
        with open(path, "wb") as f:
            f.write(data)
    return setup


class WarningPrefix(str):
    """An expected warning of which only the start is known: `; expect-
    warning-prefix:` (its end is the OS's text, e.g. a resolver's reason)."""


def file_case(filename):
    """A case from config-cases/: the expectations are in the file."""
    path = os.path.join(CASES_DIR, filename)
    with open(path, "rb") as f:
        data = f.read()
    expected = []
    prefixes = []
    warnings = []
    valid = False
    lines = []
    for line in data.decode("utf-8").splitlines():
        if lines and lines[-1].startswith("; expect") and lines[-1].endswith("\\"):
            if not line.startswith("; "):
                raise ValueError("%s: continuation of an expectation must "
                                 "start with '; '" % filename)
            lines[-1] = lines[-1][:-1] + line[2:]
        else:
            lines.append(line)
    for line in lines:
        m = re.match(r"^; expect(-prefix|-warning|-warning-prefix)?: (.*)$", line)
        if m is None:
            continue
        if m.group(1) == "-prefix":
            prefixes.append(m.group(2))
        elif m.group(1) == "-warning":
            warnings.append(m.group(2))
        elif m.group(1) == "-warning-prefix":
            warnings.append(WarningPrefix(m.group(2)))
        elif m.group(2) == "OK":
            valid = True
        else:
            expected.append(m.group(2))
    if valid == bool(expected or prefixes):
        raise ValueError("%s: needs either '; expect: OK' or '; expect: "
                         "case.ini:...' lines" % filename)
    if warnings and not valid:
        raise ValueError("%s: '; expect-warning:' needs '; expect: OK' (an "
                         "invalid file prints no warnings)" % filename)
    return Case(filename[:-len(".ini")], write_bytes(data), expected, prefixes,
                valid=valid, warnings=warnings)


def generated_cases():
    minimal = "[listener:echo]\nlisten = 127.0.0.1:7007\nhandler = echo\n"
    no_listener = "%s: no [listener:NAME] section; nothing to serve" % CONFIG
    not_utf8 = "%s: file is not UTF-8 text (UTF-16?)" % CONFIG
    big = (";" + "x" * 98 + "\n") * (1024 * 1024 // 100 + 1)
    # Exactly 1 MiB: the minimal config, then comment lines to fill it up.
    limit = minimal + (";" + "x" * 98 + "\n") * ((1024 * 1024 - len(minimal)) // 100)
    limit += ";" * (1024 * 1024 - len(limit) - 1) + "\n"
    assert len(limit) == 1024 * 1024

    # 1025 listeners, one more than the limit.
    many = "".join("[listener:l%d]\nlisten = 127.0.0.1:%d\nhandler = echo\n"
                   % (i, i) for i in range(1, 1026))

    def unreadable(path):
        with open(path, "wb") as f:
            f.write(minimal.encode())
        os.chmod(path, 0)

    return [
        Case("unreadable", unreadable, unreadable=True,
             expected=["%s: cannot open: Permission denied" % CONFIG]),
        Case("missing-file", lambda path: None,
             prefixes=["%s: cannot open" % CONFIG]),
        Case("directory", os.mkdir,
             expected=["%s: cannot open: is a directory" % CONFIG]),
        Case("empty", write_bytes(b""), expected=[no_listener]),
        Case("only-comments", write_bytes(b"; nothing\n\n# here\n"),
             expected=[no_listener]),
        Case("utf16-bom", write_bytes(minimal.encode("utf-16")),
             expected=[not_utf8]),
        Case("utf16-le", write_bytes(minimal.encode("utf-16-le")),
             expected=[not_utf8]),
        Case("utf16-be", write_bytes(minimal.encode("utf-16-be")),
             expected=[not_utf8]),
        Case("nul-byte",
             write_bytes(b"[listener:echo]\nlisten = 127.0.0.1:7007\n"
                         b"handler = ec\0ho\n"),
             expected=["%s:1: missing key 'handler' in [listener:echo]" % CONFIG,
                       "%s:3: line contains a NUL byte" % CONFIG]),
        Case("latin1", write_bytes(b"; caf\xe9\n" + minimal.encode()),
             expected=["%s:1: line is not valid UTF-8 text" % CONFIG]),
        Case("too-large", write_bytes(big.encode()),
             expected=["%s: file is larger than 1 MiB" % CONFIG]),
        Case("valid-1mib", write_bytes(limit.encode()), valid=True),
        Case("too-many-listeners", write_bytes(many.encode()),
             expected=["%s:3073: more than 1024 listeners (the limit); "
                       "[listener:l1025] and the listeners after it are not "
                       "read" % CONFIG]),
        Case("crlf-error",
             write_bytes(b"[listener:echo]\r\nlisten = 127.0.0.1:0\r\n"
                         b"handler = echo\r\n"),
             expected=["%s:2: listen: port 0 out of range 1-65535" % CONFIG]),
        Case("crlf-errors",
             write_bytes(b"; CRLF line endings count as one line break\r\n"
                         b"[service]\r\nworkers = 99\r\n\r\n"
                         b"[listener:echo]\r\nlisten = 127.0.0.1:7007\r\n"
                         b"handler = echo\r\nallow = 10.0.0.1/8\r\n"
                         b"deny =\r\n"),
             expected=["%s:3: workers: invalid value '99' (expected a number "
                       "from 0 to 64)" % CONFIG,
                       "%s:8: allow: '10.0.0.1/8' has bits set after the /8 "
                       "prefix (did you mean 10.0.0.0/8?)" % CONFIG,
                       "%s:9: deny: value is empty (expected address blocks "
                       "such as 10.0.0.0/8 or ::1/128, separated by commas)"
                       % CONFIG]),
        Case("valid-crlf-warning",
             write_bytes(b"[listener:echo]\r\nhandler = echo\r\n"
                         b"listen = 0.0.0.0:7007\r\n"),
             valid=True,
             warnings=["%s:3: warning: [listener:echo] listens on "
                       "0.0.0.0:7007 without an allow list: every address "
                       "can connect" % CONFIG]),
        Case("valid-crlf-bom",
             write_bytes(b"\xef\xbb\xbf; BOM and CRLF\r\n[service]\r\n"
                         b"workers = 2\r\n" + minimal.replace("\n", "\r\n").encode()),
             valid=True),
        Case("valid-utf8-comment",
             write_bytes("; caf\u00e9 \u20ac\n".encode() + minimal.encode()),
             valid=True),
    ]


def all_cases():
    cases = generated_cases()
    for filename in sorted(os.listdir(CASES_DIR)):
        if filename.endswith(".ini"):
            cases.append(file_case(filename))
    names = [c.name for c in cases]
    if len(names) != len(set(names)):
        raise ValueError("duplicate case names")
    return cases


# Runs a command as user nobody (65534), with no supplementary groups.
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
ROOT_READS = "running as root, which reads a file of mode 000 anyway"


def unreadable_support():
    """How the unreadable case can run here: (argv prefix, None), or
    (None, why it cannot)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return [], None
    if harness.WINE:
        return None, (ROOT_READS + ", and this suite does not start Wine as "
                      "another user")
    if shutil.which("setpriv") is None:
        return None, ROOT_READS + ", and setpriv (util-linux) is not installed"
    try:
        r = subprocess.run(AS_NOBODY + harness.command() + ["--version"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "%s, and setpriv failed: %s" % (ROOT_READS, e)
    if r.returncode != 0:
        return None, "%s, and user nobody cannot run iocpd: %s" % (
            ROOT_READS, r.stderr.decode("utf-8", "replace").strip())
    return AS_NOBODY, None


def run_as(prefix, command, wd):
    """Runs `PREFIX iocpd COMMAND -c case.ini` in wd and returns a Result."""
    r = subprocess.run(prefix + harness.command() + [command, "-c", CONFIG],
                       cwd=wd.path, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=TIMEOUT,
                       start_new_session=True)
    return harness.Result(r.returncode, r.stdout.decode("utf-8", "replace"),
                          r.stderr.decode("utf-8", "replace"))


def run_case(case, command, prefix=None):
    """Runs `iocpd COMMAND -c case.ini` for case in a fresh directory and
    returns (Result, seconds). prefix: see unreadable_support."""
    wd = harness.Workdir()
    try:
        case.setup(os.path.join(wd.path, CONFIG))
        start = time.monotonic()
        if case.unreadable and prefix:
            # nobody must be able to enter the directory: only the file's
            # own mode may stop the read.
            os.chmod(wd.path, 0o711)
            result = run_as(prefix, command, wd)
        else:
            result = harness.run_cli([command, "-c", CONFIG], wd,
                                     timeout=TIMEOUT)
        return result, time.monotonic() - start
    finally:
        wd.cleanup()


def output_lines(text, log=False):
    """Lines of the program's output. A Windows program's text-mode stderr
    ends lines with CRLF, and Wine adds lines of its own. With log, the
    prefix of error log lines is removed."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if harness.WINE:
        lines = [line for line in lines if not WINE_NOISE.search(line)]
    if log:
        lines = [LOG_ERROR_PREFIX.sub("", line) for line in lines]
    return [line for line in lines if line]


class ConfigErrors(unittest.TestCase):
    cases = []
    results = {}   # (case name, command) -> Result
    skipped = {}   # (case name, command) -> reason

    @classmethod
    def setUpClass(cls):
        started = time.monotonic()
        workers = 4
        prefix, why = unreadable_support()
        cases = cls.cases
        if why is not None:
            sys.stderr.write("config cases: skipping 'unreadable': %s\n" % why)
            for c in cls.cases:
                if c.unreadable:
                    cls.skipped[(c.name, "check-config")] = why
                    cls.skipped[(c.name, "run")] = why
            cases = [c for c in cls.cases if not c.unreadable]
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            jobs = {pool.submit(run_case, c, "check-config", prefix): c
                    for c in cases}
            for job, case in jobs.items():
                cls.results[(case.name, "check-config")] = job.result()[0]
        check_time = time.monotonic() - started

        # The run pass would take about as long again.
        invalid = [c for c in cases if not c.valid]
        run = invalid
        if harness.WINE and not FULL and 2 * check_time > BUDGET:
            run = [c for c in invalid if c.name in RUN_UNDER_WINE]
            for c in invalid:
                if c.name not in RUN_UNDER_WINE:
                    cls.skipped[(c.name, "run")] = (
                        "run pass limited under Wine (check-config took %.0f s; "
                        "set IOCPD_CONFIG_TESTS_FULL=1 for all)" % check_time)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            jobs = {pool.submit(run_case, c, "run", prefix): c for c in run}
            for job, case in jobs.items():
                cls.results[(case.name, "run")] = job.result()[0]
        sys.stderr.write("config cases: %d, check-config pass %.1f s, total %.1f s\n"
                         % (len(cls.cases), check_time, time.monotonic() - started))

    def check(self, case, command):
        key = (case.name, command)
        if key in self.skipped:
            self.skipTest(self.skipped[key])
        r = self.results[key]
        err = output_lines(r.stderr, log=command == "run")
        out = output_lines(r.stdout)
        if case.valid:
            self.assertEqual(r.rc, 0, "%s should be valid\n%r" % (case.name, r))
            self.assertIn("%s: OK" % CONFIG, out, repr(r))
            # Exactly the expected warnings, in file order, and nothing else
            # with a line number (a WarningPrefix matches a line that starts
            # with it: the rest is the OS's text).
            got = [l for l in err if NUMBERED.match(l)]
            self.assertEqual(len(got), len(case.warnings), repr(r))
            for line, want in zip(got, case.warnings):
                if isinstance(want, WarningPrefix):
                    self.assertTrue(line.startswith(want) and len(line) > len(want),
                                    "%r does not start with %r" % (line, want))
                else:
                    self.assertEqual(line, want, repr(r))
            return
        self.assertEqual(r.rc, 1, "%s: %s should exit 1\n%r" % (case.name, command, r))
        for line in case.expected:
            self.assertIn(line, err, "%s: %s\n%r" % (case.name, command, r))
        for prefix in case.prefixes:
            self.assertTrue(any(l.startswith(prefix) for l in err),
                            "%s: no line starts with %r\n%r" % (case.name, prefix, r))
        extra = [l for l in err if NUMBERED.match(l) and l not in case.expected
                 and not any(l.startswith(p) for p in case.prefixes)]
        self.assertEqual(extra, [], "%s: unexpected problems\n%r" % (case.name, r))

    def test_cases_cover_the_required_problems(self):
        names = {c.name for c in self.cases}
        required = {
            "missing-file", "directory", "empty", "unknown-section",
            "unknown-key", "duplicate-key", "duplicate-listener",
            "missing-listen", "missing-handler", "port-zero", "port-65536",
            "port-not-number", "no-port", "bad-ipv4", "bad-ipv6",
            "bad-duration", "negative-duration", "overflow-duration",
            "bad-log-level", "bad-workers", "bad-handler", "missing-equals",
            "long-line", "utf16-bom", "nul-byte", "same-address",
            "three-errors", "valid-minimal", "valid-full", "valid-crlf-bom",
            "valid-forward", "valid-forward-name", "forward-missing-upstream",
            "forward-keys-on-echo", "upstream-empty", "upstream-port",
            "upstream-bad-address", "upstream-nohost", "upstream-relay-loop",
            "upstream-relay-loop-wildcard", "upstream-relay-cycle",
            "connect-timeout", "idle-timeout", "buffer-size",
            # Protection and bad input.
            "unreadable", "only-comments", "valid-crlf-warning", "crlf-errors",
            "duplicate-service", "utf16-le", "utf16-be", "too-large",
            "valid-1mib", "long-duration-hours", "overflow-duration-scale",
            "bad-size-unit", "overflow-size", "cidr-prefix-v4",
            "cidr-prefix-v6", "cidr-short-v4", "cidr-host-bits",
            "cidr-other-forms", "allow-empty", "allow-in-service",
            "max-connections", "listener-limits", "handshake-timeout",
            "deny-covers-allow", "public-without-allow", "per-ip-over-max",
            "valid-protection", "too-many-listeners",
            # Observability: the access log and the metrics endpoint.
            "observability-errors", "access-log-quotes",
            "access-log-directory", "access-log-size-unit",
            "metrics-same-address", "metrics-overlap", "metrics-hostname",
            "valid-observability", "observability-warnings",
            # UDP listeners (protocol = udp).
            "udp-connection-keys", "udp-echo-keys", "udp-idle-timeout",
            "tcp-session-keys", "protocol-bad", "udp-same-address", "valid-udp"}
        self.assertEqual(sorted(required - names), [])
        failing = [c for c in self.cases if not c.valid]
        self.assertGreaterEqual(len(failing), 40)
        self.assertTrue(any(c.warnings for c in self.cases))
        three = [c for c in self.cases if c.name == "three-errors"][0]
        self.assertEqual(len(set(three.expected)), 3)


def _add_tests():
    ConfigErrors.cases = all_cases()
    for case in ConfigErrors.cases:
        commands = ["check-config"] if case.valid else ["check-config", "run"]
        for command in commands:
            def test(self, case=case, command=command):
                self.check(case, command)
            name = "test_%s_%s" % (command.replace("-", "_"),
                                   case.name.replace("-", "_"))
            setattr(ConfigErrors, name, test)


_add_tests()

if __name__ == "__main__":
    harness.main((180, 900))
