"""Running iocpd to completion, as a command: `check-config`, `--version`, a
`run` that must fail. Each run gets a time limit and its output back.
"""

from .daemon import Daemon, Workdir
from .env import pick


class Result:
    def __init__(self, rc, stdout, stderr):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return "exit %r\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            self.rc, self.stdout, self.stderr)


def run_cli(args, workdir, timeout=None):
    """Runs iocpd with args in workdir to completion and returns a Result.
    A run that outlives timeout is killed and fails the test."""
    if timeout is None:
        timeout = pick(20, 90)
    d = Daemon(workdir, args)
    try:
        rc = d.wait(timeout)
        if rc is None:
            raise AssertionError("iocpd %s did not exit within %g s\n%s" % (
                " ".join(args), timeout, d.stderr()))
        return Result(rc, d.stdout(), d.stderr())
    finally:
        d.kill()


def forward_supported():
    """(True, "") if check-config accepts a minimal forward listener, else
    (False, what iocpd said). The forward scripts ask first, so that a
    binary without `handler = forward` fails at once with one clear
    message instead of in every sub-test."""
    w = Workdir()
    try:
        w.write("probe.ini", "\n".join([
            "[listener:probe]", "listen = 127.0.0.1:7007",
            "handler = forward", "upstream = 127.0.0.1:9001"]) + "\n")
        r = run_cli(["check-config", "-c", "probe.ini"], w)
        return r.rc == 0, (r.stderr.strip() or r.stdout.strip())
    finally:
        w.cleanup()
