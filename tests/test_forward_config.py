"""Port forwarding, check-config: each forward-specific mistake exits 1
naming the right line (case.ini:N:), and the valid forward configs exit 0.

  config_errors         check-config on forward-specific mistakes (a missing
                        upstream, an upstream on an echo listener, a host
                        that does not resolve, bad connect_timeout and
                        buffer_size values) and on valid forward configs

See test_forward_integrity.py for the other forward scripts.

Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_forward_config.py. If the
binary does not accept `handler = forward` yet, the script says "forward not
supported" and exits 1 at once. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import re
import unittest

import harness as t
from harness.runner import require_forward
from harness.scope import limited, say


class ForwardConfigTest(unittest.TestCase):
    maxDiff = 4000

    @limited(30, 240)
    def test_config_errors(self, sc):
        say("check-config on forward configs: each bad case exits 1 naming the "
            "right line (case.ini:N:); the valid ones exit 0")
        for name, text, line in CONFIG_CASES:
            with self.subTest(case=name):
                sc.workdir.write("case.ini", text)
                r = t.run_cli(["check-config", "-c", "case.ini"], sc.workdir)
                lines = [l for l in r.stderr.splitlines() if l.startswith("case.ini:")]
                if line is None:
                    self.assertEqual(r.rc, 0, "%s: %r" % (name, r))
                    self.assertIn("case.ini: OK", r.stdout, name)
                    continue
                self.assertEqual(r.rc, 1, "%s: %r" % (name, r))
                numbered = [l for l in lines if re.match(r"case\.ini:\d+:", l)]
                self.assertTrue(numbered, "%s: no 'case.ini:LINE:' message: %r" % (name, r))
                for l in numbered:
                    self.assertTrue(l.startswith("case.ini:%d: " % line),
                                    "%s: expected line %d, got %r" % (name, line, l))
                say("%-24s %s" % (name, numbered[0]))


# ---------------------------------------------------------------------------
# Config cases: (name, text, line of the expected problem or None if valid)


def _case(*lines):
    return "\n".join(lines) + "\n"


CONFIG_CASES = [
    ("valid-forward", _case(
        "; every forward key, host names included",
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001, [::1]:9002, localhost:9003",
        "connect_timeout = 5s",
        "idle_timeout = 10m",
        "buffer_size = 64k"), None),
    ("valid-buffer-bounds", _case(
        "[listener:small]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "buffer_size = 1k",
        "[listener:big]",
        "listen = 127.0.0.1:7008",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "buffer_size = 16m"), None),
    ("valid-echo-idle", _case(
        "[listener:echo]",
        "listen = 127.0.0.1:7007",
        "handler = echo",
        "idle_timeout = 30s"), None),
    ("missing-upstream", _case(
        "; a forward listener needs an upstream",
        "",
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward"), 3),
    ("upstream-on-echo", _case(
        "[listener:echo]",
        "listen = 127.0.0.1:7007",
        "handler = echo",
        "upstream = 127.0.0.1:9001"), 4),
    # A name that does not resolve is a warning (config-cases/upstream-nohost.ini).
    ("unresolvable-host", _case(
        "[service]",
        "workers = 1",
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001, nohost.invalid:80"), None),
    ("bad-connect-timeout", _case(
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "connect_timeout = 5 parsecs"), 5),
    ("buffer-size-zero", _case(
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "buffer_size = 0",
        "upstream = 127.0.0.1:9001"), 4),
    ("buffer-size-bad-unit", _case(
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "",
        "buffer_size = 64q"), 6),
    ("buffer-size-too-big", _case(
        "[listener:web]",
        "listen = 127.0.0.1:7007",
        "handler = forward",
        "upstream = 127.0.0.1:9001",
        "buffer_size = 1g"), 5),
]


if __name__ == "__main__":
    require_forward()
    t.main(time_limit=(45, 260))
