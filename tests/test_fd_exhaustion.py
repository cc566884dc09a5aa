"""Running out of file descriptors: the listener backs off instead of spinning.

Natively only (under Wine the descriptors belong to the wineserver): iocpd
runs under `prlimit --nofile=48` and gets more clients than it can hold.
It must not spin on the listener that stays readable (CPU time stays low
and the warning is logged at most about once a second), must keep serving
the clients it has, must accept again once descriptors are free, and must
count the refused accepts in iocpd_descriptors_exhausted_total.
"""
import os
import re
import socket
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as t  # noqa: E402

LIMIT = 48       # descriptors for the whole daemon process
CLIENTS = 80     # more than it can hold
HOLD_SECONDS = 3


def cpu_seconds(pid):
    """User + system CPU seconds of a process, from /proc."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class FdExhaustion(unittest.TestCase):
    def test_listener_backs_off_and_recovers(self):
        if t.WINE:
            raise unittest.SkipTest("native only: Wine keeps sockets in the wineserver")
        os.environ["IOCPD_WRAPPER"] = "prlimit --nofile=%d:%d" % (LIMIT, LIMIT)
        wd = t.Workdir()
        clients = []
        try:
            mport = t.free_ports(1)[0]
            daemon, ports = t.start(wd, [("echo", "echo")],
                                    service={"workers": "1", "metrics_listen": t.addr(mport)})
            port = ports["echo"]
            cpu_before = cpu_seconds(daemon.pid)
            for _ in range(CLIENTS):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                clients.append(s)
            time.sleep(HOLD_SECONDS)
            cpu = cpu_seconds(daemon.pid) - cpu_before
            print("CPU while out of descriptors: %.2f s over %d s" % (cpu, HOLD_SECONDS))
            self.assertLess(cpu, 0.5 * HOLD_SECONDS, "the daemon spins on its listener")
            warnings = re.findall(r"warning listener echo: cannot accept: .*; retrying",
                                  daemon.stderr())
            print("warnings logged: %d" % len(warnings))
            self.assertGreaterEqual(len(warnings), 1)
            self.assertLessEqual(len(warnings), HOLD_SECONDS + 2, "the warning floods the log")
            # The first clients were accepted and are still served.
            clients[0].sendall(b"ping")
            self.assertEqual(t.recv_exact(clients[0], 4), b"ping")
            # Free the descriptors: everyone still waiting gets served.
            for s in clients[:50]:
                s.close()
            del clients[:50]
            deadline = time.time() + 10
            for s in clients[-5:]:
                s.settimeout(max(0.1, deadline - time.time()))
                s.sendall(b"late")
                self.assertEqual(t.recv_exact(s, 4), b"late")
            with urllib.request.urlopen("http://%s/metrics" % t.addr(mport), timeout=10) as r:
                body = r.read().decode()
            m = re.search(r'^iocpd_descriptors_exhausted_total\{listener="echo",'
                          r'operation="accept"\} (\d+)$', body, re.M)
            self.assertIsNotNone(m, "no descriptor exhaustion counter in the metrics")
            print("iocpd_descriptors_exhausted_total{operation=\"accept\"} = %s" % m.group(1))
            self.assertGreaterEqual(int(m.group(1)), 1)
            for s in clients:
                s.close()
            clients = []
            daemon.stop_clean()
        finally:
            for s in clients:
                s.close()
            wd.cleanup()


if __name__ == "__main__":
    t.main((60, 60))
