"""iocpd's log on stderr, as the tests read it: the pattern of one line, and
parsers for the lines that tests count (relaying, rejections).

A pattern here is never anchored to a whole line: under Wine, Wine writes
its own text into the same stream, so tests search for a line.
"""

import re
import time

from .env import pick

TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def log_rx(level, message_rx):
    """A pattern for one log line `TIMESTAMP LEVEL MESSAGE` (not anchored:
    Wine may write its own text into the same stream)."""
    return TIMESTAMP + " " + level + " " + message_rx


def relaying_rx(listener, client, upstream):
    """The debug line a forward listener logs when it relays client to
    upstream (addresses as iocpd writes them)."""
    return log_rx("debug", r"listener %s: relaying %s to %s\s" % (
        re.escape(listener), re.escape(client), re.escape(upstream)))


# ---------------------------------------------------------------------------
# Rejection log lines

REJECT_REASONS = {"denied": "not allowed by allow/deny",
                  "per_ip": "max_connections_per_ip reached"}

_REJECT_LINE = re.compile(
    TIMESTAMP + r" warning listener (?P<name>\S+): rejected (?P<client>\S+) "
    r"\((?P<reason>[^)]*)\)(?:; (?P<more>\d+) more since the last report)?\r?$", re.M)


def rejections(stderr, listener):
    """The rejection warnings for listener as dicts (client, reason, more as
    int, 0 if absent). Fails on a line that mentions a rejection on this
    listener but is not in the documented form."""
    found = []
    for line in stderr.splitlines():
        if ("listener %s: rejected " % listener) not in line:
            continue
        m = _REJECT_LINE.search(line + "\n")
        if m is None or m.group("name") != listener:
            raise AssertionError("malformed rejection log line (expected '... rejected "
                                 "ADDR (REASON)' optionally followed by '; N more since "
                                 "the last report'):\n%r" % line)
        found.append({"client": m.group("client"), "reason": m.group("reason"),
                      "more": int(m.group("more") or 0), "line": line})
    return found


def wait_rejections(d, listener, count, timeout=None):
    """Waits until at least count rejection lines for listener are logged."""
    deadline = time.monotonic() + (timeout if timeout is not None else pick(3, 10))
    while True:
        found = rejections(d.stderr(), listener)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("%d rejection line(s) for listener %s logged, %d expected"
                                 "\n--- stderr ---\n%s" % (len(found), listener, count,
                                                           d.stderr()[-3000:]))
        time.sleep(0.05)


def assert_rejection_logged(tc, d, listener, client_addr, reason):
    """The log has a rejection line for client_addr on listener with the
    reason's text."""
    deadline = time.monotonic() + pick(3, 10)
    while True:
        for r in rejections(d.stderr(), listener):
            if r["client"] == client_addr:
                tc.assertEqual(r["reason"], REJECT_REASONS[reason], r["line"])
                return
        if time.monotonic() > deadline:
            tc.fail("no rejection of %s logged for listener %s\n--- stderr ---\n%s"
                    % (client_addr, listener, d.stderr()[-3000:]))
        time.sleep(0.05)
