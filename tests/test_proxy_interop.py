"""The PROXY protocol against real implementations from Debian, over
loopback; clients connect from 127.0.0.2 and 127.0.0.3, so that the
address each server reports is the client's, not a relay's (127.0.0.1).

  haproxy_sends         HAProxy `server ... send-proxy` (v1) and
                        `send-proxy-v2` in front of iocpd listeners with
                        accept_proxy: the echo works, the access log has
                        client= the true client and proxy= HAProxy, and a
                        client that `deny` names is refused by its real
                        address although HAProxy itself may connect
  forged_header         a PROXY header sent straight to iocpd from outside
                        proxy_trusted is refused before a byte is read:
                        never believed, counted as untrusted, logged
  haproxy_accepts       iocpd send_proxy = v1 and v2 into HAProxy `bind ...
                        accept-proxy`, whose `%[src]:%[src_port]` answer
                        is iocpd's client
  nginx_accepts         iocpd send_proxy = v1 and v2 into nginx stream
                        `listen ... proxy_protocol`, whose
                        `$proxy_protocol_addr:$proxy_protocol_port` answer
                        is iocpd's client

Natively and with iocpd.exe under Wine (HAProxy and nginx are the Linux
programs either way). Each sub-test is skipped when its program is not
installed (scripts/deps.sh installs both). Run: IOCPD_BIN=/path/to/iocpd
python3 tests/test_proxy_interop.py. Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import socket
import time
import unittest

import harness as t
from harness import interop
from harness.accesslog import ACCESS_LOG, LINE_WAIT, start, stop, wait_lines
from harness.config import Listener, fwd
from harness.metrics import metrics, value
from harness.ports import addr, free_port
from harness.scope import limited, say
from harness.sockets import recv_until_eof

HAPROXY_DEFAULTS = """\
global
    maxconn 256
defaults
    # No second attempt when iocpd resets a denied client: one connection
    # per client, so that the counts are exact.
    retries 0
    timeout connect 5s
    timeout client 30s
    timeout server 30s
"""


def client_addr(s):
    host, port = s.getsockname()[:2]
    return "%s:%d" % (host, port)


def served(src, port, payload):
    """Connects from src, sends payload, half-closes and returns (the
    client's address, what came back until EOF; None after a reset)."""
    s = interop.bound_from(src)
    me = client_addr(s)
    try:
        # A server may reset the connection before connect() returns.
        s.connect(("127.0.0.1", port))
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        got = recv_until_eof(s)
    except OSError:
        got = None  # reset (or already gone, for a refused client)
    finally:
        s.close()
    return me, got


def lines_of(workdir, clients):
    """{client: its access log line}, once every client in clients has one."""
    deadline = time.monotonic() + LINE_WAIT
    while True:
        recs = {r["client"]: r for r in wait_lines(workdir, 1) if r["client"] in clients}
        if len(recs) == len(clients) or time.monotonic() > deadline:
            return recs
        time.sleep(0.05)


class ProxyInteropTest(unittest.TestCase):

    @limited(60, 180)
    def test_haproxy_sends(self, sc):
        if not interop.have("haproxy"):
            self.skipTest("haproxy is not installed")
        say("HAProxy send-proxy and send-proxy-v2 -> iocpd accept_proxy: the access log and "
            "deny see the true client")
        listeners = [
            Listener("lb1", "echo", accept_proxy="v1", proxy_trusted="127.0.0.1",
                     deny="127.0.0.3"),
            Listener("lb2", "echo", accept_proxy="any", proxy_trusted="127.0.0.1/32",
                     deny="127.0.0.3"),
        ]
        d, ports, mport = start(sc, listeners, {"access_log": ACCESS_LOG})
        f1, f2 = free_port(socket.AF_INET), free_port(socket.AF_INET)
        interop.haproxy(sc, HAPROXY_DEFAULTS + """\
frontend v1
    mode tcp
    bind 127.0.0.1:%d
    default_backend iocpd_v1
backend iocpd_v1
    mode tcp
    server s1 127.0.0.1:%d send-proxy
frontend v2
    mode tcp
    bind 127.0.0.1:%d
    default_backend iocpd_v2
backend iocpd_v2
    mode tcp
    server s1 127.0.0.1:%d send-proxy-v2
""" % (f1, ports["lb1"], f2, ports["lb2"]), [f1, f2])

        want = {}
        for name, front in (("lb1", f1), ("lb2", f2)):
            me, got = served("127.0.0.2", front, b"hello through haproxy")
            self.assertEqual(got, b"hello through haproxy", name)
            want[me] = (name, "client_fin", 21)
            me, got = served("127.0.0.3", front, b"denied by my real address")
            self.assertIn(got, (b"", None), "%s: a denied client was served" % name)
            want[me] = (name, "denied", 0)
        # The readiness probes leave lines too; only the test's clients count.
        recs = lines_of(sc.workdir, want)
        for me, (name, end, n) in want.items():
            self.assertIn(me, recs, "no access log line for %s" % me)
            r = recs[me]
            say("%s: client=%s proxy=%s end=%s" % (name, r["client"], r["proxy"], r["end"]))
            self.assertEqual((r["listener"], r["end"], r["bytes_in"]), (name, end, n))
            self.assertRegex(r["proxy"], r"^127\.0\.0\.1:\d+$")
        values, _, _ = metrics(mport)
        for name in ("lb1", "lb2"):
            self.assertEqual(value(values, "iocpd_connections_rejected_total", listener=name,
                                   reason="denied"), 1)
            self.assertEqual(value(values, "iocpd_proxy_header_errors_total", listener=name,
                                   reason="untrusted"), 0)
        stop(self, d)

    @limited(40, 120)
    def test_forged_header(self, sc):
        say("a header from outside proxy_trusted is refused before it is read")
        listeners = [Listener("lb", "echo", accept_proxy="any", proxy_trusted="127.0.0.1")]
        d, ports, mport = start(sc, listeners, {"access_log": ACCESS_LOG})
        me, got = served("127.0.0.2", ports["lb"],
                         b"PROXY TCP4 10.0.0.1 10.0.0.2 1234 80\r\nhello")
        self.assertIn(got, (b"", None), "a forged header was served")
        r = lines_of(sc.workdir, [me])[me]
        self.assertEqual((r["end"], r["proxy"]), ("proxy_error", "-"))
        values, _, _ = metrics(mport)
        self.assertEqual(value(values, "iocpd_proxy_header_errors_total", listener="lb",
                               reason="untrusted"), 1)
        self.assertEqual(value(values, "iocpd_connections_total", listener="lb"), 0)
        err = stop(self, d)
        self.assertRegex(err, r"listener lb: rejected 127\.0\.0\.2:\d+ \(not a trusted proxy "
                              r"\(proxy_trusted\)\)")

    def _through(self, sc, upstream_port, request, what):
        listeners = [fwd("pp1", [addr(upstream_port)], send_proxy="v1"),
                     fwd("pp2", [addr(upstream_port)], send_proxy="v2")]
        d, ports, _ = start(sc, listeners, {"access_log": ACCESS_LOG}, metrics_on=False)
        for name in ("pp1", "pp2"):
            me, got = served("127.0.0.2", ports[name], request)
            self.assertIsNotNone(got, "%s: reset" % name)
            say("%s: %s answered %r for client %s" % (name, what, got.splitlines()[-1:], me))
            self.assertEqual(got.splitlines()[-1], me.encode(), "%s: %s saw another client"
                             % (name, what))
        recs = wait_lines(sc.workdir, 2)
        self.assertEqual(sorted(r["listener"] for r in recs), ["pp1", "pp2"])
        for r in recs:
            # The header is not payload: bytes_up is the request only.
            self.assertEqual(r["bytes_up"], len(request), r)
        stop(self, d)

    @limited(60, 180)
    def test_haproxy_accepts(self, sc):
        if not interop.have("haproxy"):
            self.skipTest("haproxy is not installed")
        say("iocpd send_proxy v1 and v2 -> HAProxy bind accept-proxy: %[src] is iocpd's client")
        hp = free_port(socket.AF_INET)
        interop.haproxy(sc, HAPROXY_DEFAULTS + """\
frontend fp
    mode http
    bind 127.0.0.1:%d accept-proxy
    http-request return status 200 content-type text/plain lf-string "%%[src]:%%[src_port]\\n"
""" % hp, [hp])
        self._through(sc, hp, b"GET / HTTP/1.0\r\n\r\n", "HAProxy")

    @limited(60, 180)
    def test_nginx_accepts(self, sc):
        if not interop.have("nginx"):
            self.skipTest("nginx or its stream module is not installed")
        say("iocpd send_proxy v1 and v2 -> nginx stream listen proxy_protocol: "
            "$proxy_protocol_addr is iocpd's client")
        np = free_port(socket.AF_INET)
        interop.nginx(sc, """\
stream {
    server {
        listen 127.0.0.1:%d proxy_protocol;
        return "$proxy_protocol_addr:$proxy_protocol_port\\n";
    }
}
""" % np, [np])
        self._through(sc, np, b"", "nginx")


if __name__ == "__main__":
    t.main(time_limit=(80, 280))
