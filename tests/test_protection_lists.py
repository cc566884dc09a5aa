"""Protection, allow and deny lists: clients bound to 127.0.0.x source
addresses are served or reset by allow and deny (deny is checked first);
each rejection is logged with the client address, at most about once a
second, the next line counting the ones left out.

  allow_list / deny_before_allow
                            clients bound to 127.0.0.x source addresses are
                            served or reset by allow and deny (deny first);
                            each rejection is logged with the client address
  long_lists                an allow list of 500 blocks on 50 lines (each line
                            appends) ending with 127.0.0.2, and a deny list
                            on two lines: 127.0.0.2 is served, 127.0.0.3 and
                            the second deny line's 127.0.0.4 are reset
  rejection_log_rate        30 denied clients in a burst give one or two log
                            lines; the next line reports how many were left
                            out, and logged + left out == every rejection

allow/deny on [::1] listeners: test_protection_ipv6.py; the other protection
scripts are listed in test_protection_limits.py.

Every sub-test starts its own daemon (readiness is its "running with N
workers" log line, not a probe connection, which would take a slot), has its
own time limit, releases everything in a finally block and ends by stopping
its daemon with Ctrl+C, which must give exit 0 without a sanitizer report
(harness/scope.py, limited_clean).

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_protection_lists.py
[ProtectionListsTest.test_allow_list ...]. See harness/env.py for
IOCPD_WRAPPER and IOCPD_PLATFORM."""

import sys

sys.dont_write_bytecode = True

import time
import unittest

import harness as t
from harness.clients import client, echo_rtt, expect_rejected, reject_burst
from harness.config import echo
from harness.logs import (REJECT_REASONS, assert_rejection_logged, rejections,
                          wait_rejections)
from harness.scope import limited_clean, say, start_quiet

BURST = 30


class ProtectionListsTest(unittest.TestCase):
    maxDiff = 4000

    # -- allow / deny

    @limited_clean(30, 90)
    def test_allow_list(self, sc):
        say("allow = 127.0.0.2/32: clients from 127.0.0.1 and 127.0.0.3 are reset and "
            "logged, 127.0.0.2 is served")
        d, ports = start_quiet(sc, [echo("only2", allow="127.0.0.2/32")])
        port = ports["only2"]
        for k, src in enumerate(("127.0.0.1", "127.0.0.3")):
            if k:
                # One line per second at most: wait until the next is due.
                time.sleep(1.1)
            me, how, took = expect_rejected(sc, port, src)
            say("client from %s ended by %s after %.3f s" % (src, how, took))
            assert_rejection_logged(self, d, "only2", me, "denied")
        s = client(sc, port, "127.0.0.2")
        echo_rtt(s, b"allowed")
        s.close()

    @limited_clean(30, 90)
    def test_deny_before_allow(self, sc):
        say("allow = 127.0.0.0/8, deny = 127.0.0.0/24: 127.0.0.1 and 127.0.0.200 "
            "are reset (deny is checked first); 127.0.1.1 is served")
        d, ports = start_quiet(sc, [echo("dfirst", allow="127.0.0.0/8", deny="127.0.0.0/24")])
        port = ports["dfirst"]
        me, how, took = expect_rejected(sc, port, "127.0.0.1")
        assert_rejection_logged(self, d, "dfirst", me, "denied")
        expect_rejected(sc, port, "127.0.0.200")
        s = client(sc, port, "127.0.1.1")
        echo_rtt(s, b"not denied")
        s.close()
        self.assertNotRegex(d.stderr(), r"rejected 127\.0\.1\.1:")

    @limited_clean(30, 90)
    def test_long_lists(self, sc):
        say("allow = 500 blocks on 50 lines (10.x.y.z/32 ..., the last 127.0.0.2); deny on "
            "two lines: only the last allow entry's client is served")
        blocks = ["10.%d.%d.%d/32" % (i // 65536, i // 256 % 256, i % 256) for i in range(499)]
        blocks.append("127.0.0.2/32")
        lines = [", ".join(blocks[i:i + 10]) for i in range(0, 500, 10)]
        self.assertTrue(all(len(line) < 190 for line in lines))
        d, ports = start_quiet(sc, [echo("long", allow=lines,
                                         deny=["10.200.0.0/16", "127.0.0.4/32"])])
        port = ports["long"]
        s = client(sc, port, "127.0.0.2")
        echo_rtt(s, b"the 500th entry")
        s.close()
        for src in ("127.0.0.3", "127.0.0.4"):
            me, how, took = expect_rejected(sc, port, src)
            say("client from %s ended by %s after %.3f s" % (src, how, took))
            time.sleep(1.1)  # one rejection line a second

    # -- rate-limited rejection log

    @limited_clean(30, 90)
    def test_rejection_log_rate(self, sc):
        say("%d denied clients in a burst: at most one log line per second; after a "
            "pause the next rejection's line reports the rest; lines + reported "
            "counts == every rejection" % BURST)
        d, ports = start_quiet(sc, [echo("wall", deny="127.0.0.0/8"), echo("other")])
        port = ports["wall"]
        began = time.monotonic()
        clients = set(reject_burst(sc, port, BURST))
        burst = time.monotonic() - began
        time.sleep(0.3)
        lines = rejections(d.stderr(), "wall")
        say("%d rejections in %.2f s gave %d log line(s)" % (BURST, burst, len(lines)))
        self.assertGreaterEqual(len(lines), 1, "no rejection was logged")
        self.assertLessEqual(len(lines), min(3, int(burst) + 1),
                             "%d lines for %d rejections in %.2f s: not limited to one "
                             "per second:\n%s" % (len(lines), BURST, burst,
                                                  "\n".join(r["line"] for r in lines)))
        self.assertEqual(lines[0]["more"], 0, "the first line reports suppressed "
                         "rejections although none came before: %s" % lines[0]["line"])
        # Wait out the second and reject one more: its line carries the count.
        time.sleep(1.1)
        me, _, _ = expect_rejected(sc, port)
        clients.add(me)
        lines = wait_rejections(d, "wall", len(lines) + 1)
        last = lines[-1]
        say("next line: %s" % last["line"].strip())
        self.assertEqual(last["client"], me, last["line"])
        self.assertGreater(last["more"], 0, "the line after the burst does not say how "
                           "many rejections were left out: %s" % last["line"])
        total = len(lines) + sum(r["more"] for r in lines)
        self.assertEqual(total, BURST + 1,
                         "logged lines (%d) + reported 'more' counts (%d) != %d rejections:"
                         "\n%s" % (len(lines), total - len(lines), BURST + 1,
                                   "\n".join(r["line"] for r in lines)))
        for r in lines:
            self.assertIn(r["client"], clients, r["line"])
            self.assertEqual(r["reason"], REJECT_REASONS["denied"], r["line"])
        # The limit is per listener: the other one was never mentioned.
        self.assertEqual(rejections(d.stderr(), "other"), [])


if __name__ == "__main__":
    t.main(time_limit=(60, 200))
