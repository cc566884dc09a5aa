"""The UDP bench tools work: bench/loadgen/'s udp-echo, udp-stream and
udp-idle modes against bench/udp_echo.c, directly and through an iocpd UDP
forward listener (U1-U3's relay), briefly (a fraction of a second each),
checking only that every datagram came back whole and to its own session,
never how fast. bench/run.sh's U1-U3 (bench/README.md) rely on
both tools; a tool that miscounts or mis-checks would turn every UDP figure
there into noise.

Natively only: tests/blackbox.cmake builds the two tools (IOCPD_LOADGEN,
IOCPD_UDP_ECHO) on Linux; elsewhere, or without them, the script exits 77
(skipped).
"""

import sys

sys.dont_write_bytecode = True

import json
import os
import socket
import subprocess
import time
import unittest

import harness as t
from harness.config import config_text_for, udp_fwd
from harness.ports import free_udp_port, listener_ports

LOADGEN = os.environ.get("IOCPD_LOADGEN", "").strip()
UDP_ECHO = os.environ.get("IOCPD_UDP_ECHO", "").strip()


class UdpEcho:
    """bench/udp_echo on a fresh UDP port (self.port), until stop()."""

    def __init__(self):
        for _ in range(5):
            self.port = free_udp_port()
            self.proc = subprocess.Popen([UDP_ECHO, "-p", str(self.port)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True)
            if self.answers():
                return
            self.stop()
        raise AssertionError("udp_echo did not start: %s" % self.err)

    def answers(self):
        """Whether a datagram sent to it comes back (within 5 s)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        try:
            for _ in range(25):
                if self.proc.poll() is not None:
                    return False
                s.sendto(b"probe", (t.HOST, self.port))
                try:
                    if s.recv(64) == b"probe":
                        return True
                except (socket.timeout, ConnectionRefusedError):
                    pass
            return False
        finally:
            s.close()

    def stop(self):
        """Ends it (SIGTERM) and keeps what it said in self.err."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.err = self.proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.err = self.proc.communicate()[1]


def loadgen(*args):
    """Runs loadgen with args; returns its JSON report, after checking that
    it exited 0 and that no datagram came back wrong."""
    argv = [LOADGEN] + [str(a) for a in args]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError("%s exited %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                      r.stderr))
    report = json.loads(r.stdout)
    sys.stderr.write("  %s" % r.stderr)
    if not report["ok"] or report["corrupt"] or report["misrouted"] or report["errors"]:
        raise AssertionError("loadgen: %s%s" % (r.stdout, r.stderr))
    return report


@unittest.skipUnless(LOADGEN and UDP_ECHO, "IOCPD_LOADGEN and IOCPD_UDP_ECHO are not set")
class DirectTest(unittest.TestCase):
    """The tools against each other, no relay: every datagram comes back."""

    @classmethod
    def setUpClass(cls):
        cls.echo = UdpEcho()

    @classmethod
    def tearDownClass(cls):
        cls.echo.stop()

    def test_ping_pong(self):
        r = loadgen("udp-echo", "-p", self.echo.port, "-c", 8, "-s", 64, "-d", 0.3, "-w", 0.1)
        self.assertGreater(r["msgs"], 100)
        self.assertEqual(r["lost"], 0)

    def test_stream(self):
        r = loadgen("udp-stream", "-p", self.echo.port, "-c", 2, "-s", 1400, "-W", 8, "-d", 0.3)
        self.assertGreater(r["datagrams"], 100)
        self.assertLessEqual(r["datagrams"], r["sent"])
        self.assertEqual(r["lost"], 0)

    def test_idle_sessions(self):
        r = loadgen("udp-idle", "-p", self.echo.port, "-c", 200, "-d", 0.2)
        self.assertEqual(r["established"], 200)

    def test_refuses_other_hosts(self):
        r = subprocess.run([LOADGEN, "udp-echo", "-H", "192.0.2.1", "-p", "9"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)



@unittest.skipUnless(LOADGEN and UDP_ECHO, "IOCPD_LOADGEN and IOCPD_UDP_ECHO are not set")
class RelayTest(unittest.TestCase):
    """The tools through iocpd, as bench/run.sh's U1-U3 run them: a UDP
    forward listener (one worker) to udp_echo. A datagram the relay lost
    is allowed (UDP); one that came back changed or to another session is
    not."""

    @classmethod
    def setUpClass(cls):
        cls.echo = UdpEcho()
        cls.workdir = t.Workdir()

        listeners = [udp_fwd("udp", [t.addr(cls.echo.port)], idle_timeout="10m")]

        def launch():
            ports, _ = listener_ports(listeners)
            cls.port = ports["udp"]
            cls.workdir.write("iocpd.ini", config_text_for(listeners, ports, {"workers": 1}))
            d = t.Daemon(cls.workdir, ["run", "-c", "iocpd.ini"])
            return d, d

        try:
            cls.daemon = t.start_on_fresh_ports(launch, t.wait_running)
        except BaseException:
            cls.echo.stop()
            cls.workdir.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.daemon.stop_clean()
        finally:
            cls.daemon.kill()
            cls.workdir.cleanup()
            cls.echo.stop()

    def tearDown(self):
        self.assertTrue(self.daemon.running(), "iocpd died\n" + self.daemon.stderr())

    def test_ping_pong(self):
        r = loadgen("udp-echo", "-p", self.port, "-c", 8, "-s", 64, "-d", 0.3, "-w", 0.1)
        self.assertGreater(r["msgs"], 100)

    def test_stream(self):
        r = loadgen("udp-stream", "-p", self.port, "-c", 2, "-s", 1400, "-W", 8, "-d", 0.3)
        self.assertGreater(r["datagrams"], 100)

    def test_idle_sessions(self):
        r = loadgen("udp-idle", "-p", self.port, "-c", 200, "-d", 0.2)
        self.assertEqual(r["established"], 200)


if __name__ == "__main__":
    if not (LOADGEN and UDP_ECHO) or t.WINE:
        sys.stderr.write("bench_udp: the bench tools are built on Linux only: skipped\n")
        sys.exit(77)
    t.main(time_limit=(60, 60))
