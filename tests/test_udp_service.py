"""A UDP listener of iocpd.exe running as a Windows service under Wine's
service control manager: the reload path of the service (`iocpd reload`,
SERVICE_CONTROL_PARAMCHANGE), which a Wine console cannot drive (so
test_udp_forward.py's reload_keeps_session runs natively only).

  reload_keeps_session  a service with a UDP forward listener; a client's
                        session is open (its upstream-side port is known
                        from the tagging upstream's answer); the file gains
                        a TCP echo listener and `iocpd reload --name NAME`
                        is sent: the Event Log says "configuration
                        reloaded: 1 listeners kept, 1 added, 0 removed",
                        the added listener serves, and the same session
                        (the same upstream-side port) answers the client
                        after the reload; the service stays RUNNING. A
                        second reload removes the UDP listener: its session
                        ends at once (access log end=shutdown, its
                        datagram counts), the port answers no more, the
                        echo listener and the service go on

Wine only (exits 77, skipped, natively). The Wine prefix, sc and the Event
Log come from harness/winservice.py; the UDP peers from harness/udp.py.
"""

import sys

sys.dont_write_bytecode = True

import os
import time
import unittest

import harness as t
from harness import udp, winservice
from harness.accesslog import ACCESS_LOG, CONF_DIR, CONFIG, read_lines
from harness.config import config_text_for, echo, udp_fwd
from harness.ports import listener_ports
from harness.winservice import EventLog, Service


class UdpServiceTest(unittest.TestCase):

    def setUp(self):
        self.workdir = t.Workdir()
        self.service = None
        self.upstream = udp.TagUpstream()
        self.client = None

    def tearDown(self):
        try:
            if self.client is not None:
                self.client.close()
            if self.service is not None:
                self.service.remove()
                self.assertIsNone(self.service.query())
        finally:
            self.upstream.close()
            self.workdir.cleanup()

    def ask(self, request):
        reply, _ = self.client.ask(request, tries=3, interval=t.pick(2, 5))
        self.assertIsNotNone(reply, "no answer to %r" % request)
        _, port, payload = udp.parse_tag(reply)
        self.assertEqual(payload, request)
        return port

    def test_reload_keeps_session(self):
        f = udp_fwd("f", [self.upstream.addr])
        extra = echo("extra")
        ports, _ = listener_ports([f, extra])
        # The access log lands beside the config (read_lines reads conf/).
        os.makedirs(os.path.join(self.workdir.path, CONF_DIR))
        service = {"drain_timeout": "2s", "access_log": ACCESS_LOG}
        self.workdir.write(CONFIG, config_text_for([f], ports, service))
        self.service = Service(os.path.join(self.workdir.path, CONFIG), drain_s=2)
        self.service.start()
        self.service.wait_state(["RUNNING"])
        self.client = udp.UdpClient(ports["f"])
        before = self.ask(b"before")
        log = EventLog()
        self.workdir.write(CONFIG, config_text_for([f, extra], ports, service))
        r = t.run_cli(["reload", "--name", self.service.name], self.workdir)
        self.assertEqual(r.rc, 0, r)
        events = log.wait_for(r"^configuration reloaded: ", timeout=t.pick(10, 30))
        self.assertTrue(any("1 listeners kept, 1 added, 0 removed" in e.text for e in events),
                        events)
        with t.connect(ports["extra"]) as c:
            c.sendall(b"extra\n")
            self.assertEqual(t.recv_exact(c, 6), b"extra\n", "the added listener")
        after = self.ask(b"after")
        self.assertEqual(after, before, "the session did not survive the reload")
        self.assertEqual(self.upstream.snapshot()[2], {("127.0.0.1", before): 2})
        self.assertEqual(self.service.query().state, "RUNNING")
        # A reload that removes the listener ends its session at once
        # (with its posted receives on IOCP), and the service goes on.
        self.workdir.write(CONFIG, config_text_for([extra], ports, service))
        r = t.run_cli(["reload", "--name", self.service.name], self.workdir)
        self.assertEqual(r.rc, 0, r)
        log.wait_for(r"^configuration reloaded: 1 listeners kept, 0 added, 1 removed",
                     timeout=t.pick(10, 30))
        deadline = time.monotonic() + t.pick(10, 30)
        while True:
            recs = [rec for rec in read_lines(self.workdir) if rec["listener"] == "f"]
            if recs or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual([(rec["client"], rec["end"], rec["dgrams_in"], rec["dgrams_out"])
                          for rec in recs], [(self.client.addr, "shutdown", 2, 2)],
                         "the removed listener's session in the access log")
        try:
            gone = self.client.ask(b"anybody?", tries=1, interval=1.0)[0]
        except ConnectionRefusedError:
            gone = None
        self.assertIsNone(gone, "the removed listener still answers")
        with t.connect(ports["extra"]) as c:
            c.sendall(b"still\n")
            self.assertEqual(t.recv_exact(c, 6), b"still\n")
        self.assertEqual(self.service.query().state, "RUNNING")


if __name__ == "__main__":
    winservice.main(200)
