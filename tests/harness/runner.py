"""Running a test script: unittest with an overall time limit (a watchdog
that prints where the script hung, kills every daemon and fails it), and
the checks a script makes before it starts.
"""

import os
import sys
import threading
import traceback
import unittest

from .cli import forward_supported
from .daemon import kill_all, live_daemons
from .env import PLATFORM, command, pick


def _watchdog(seconds, name):
    def fire():
        sys.stderr.write("\n%s: FAIL: overall time limit of %g s exceeded\n"
                         % (name, seconds))
        for tid, frame in sys._current_frames().items():
            if tid != threading.get_ident():
                sys.stderr.write("".join(traceback.format_stack(frame)))
        for d in live_daemons():
            try:
                sys.stderr.write("--- iocpd stderr ---\n%s\n" % d.stderr()[-4000:])
            except Exception:
                pass
        kill_all()
        sys.stderr.flush()
        os._exit(1)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()


def main(time_limit):
    """Runs the unittest cases of the calling script with an overall time
    limit (native, wine) in seconds, after which every daemon is killed and
    the script fails. Exits 0 if every test passed, 1 otherwise."""
    name = os.path.basename(sys.argv[0])
    limit = pick(*time_limit)
    try:
        command()
    except RuntimeError as e:
        sys.stderr.write("%s: %s\n" % (name, e))
        sys.exit(2)
    sys.stderr.write("%s: platform %s, command %s\n" % (name, PLATFORM, command()))
    _watchdog(limit, name)
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    kill_all()
    sys.exit(0 if prog.result.wasSuccessful() else 1)


def require_forward():
    """Exits (2 without IOCPD_BIN, 1 if the binary rejects a minimal
    `handler = forward` listener) unless forwarding can be tested: a binary
    without it then fails at once with one message, not once per sub-test."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    try:
        command()
    except RuntimeError as e:
        sys.stderr.write("%s: %s\n" % (name, e))
        sys.exit(2)
    ok, said = forward_supported()
    if not ok:
        sys.stderr.write("%s: FAIL: forward not supported by this iocpd: "
                         "check-config rejects a minimal 'handler = forward' listener:\n%s\n"
                         % (name, said))
        sys.exit(1)
