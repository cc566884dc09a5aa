"""iocpd as a Windows service under Wine's service control manager (SCM):
starts that fail, and `iocpd service` outside the SCM.

  ServiceStartFailureTest  a start with an invalid config, and one with a
                           port already taken: the service ends STOPPED with
                           ERROR_SERVICE_SPECIFIC_ERROR (1066) and iocpd's
                           exit code as the service-specific code, says why
                           in the Event Log, and never serves
  ServiceByHandTest        `iocpd service` run by hand explains itself and
                           exits 2

A start and a graceful drain on stop: test_service_drain.py.

Wine only (exits 77, skipped, natively). The Wine prefix, sc and the Event
Log come from harness/winservice.py, whose docstring says what the prefix's
services.exe needs and when a private prefix is started instead.
"""

import sys

sys.dont_write_bytecode = True

import os
import re
import socket
import unittest

import harness as t
from harness import winservice
from harness.winservice import EventLog, Service, assert_events_in_order, winpath


class ServiceStartFailureTest(unittest.TestCase):
    """A service that cannot start ends STOPPED with ERROR_SERVICE_SPECIFIC_ERROR
    (1066) and iocpd's exit code as the service-specific code, says why in
    the Event Log, and never serves."""

    def setUp(self):
        self.workdir = t.Workdir()
        self.service = None

    def tearDown(self):
        if self.service is not None:
            self.service.remove()
            self.assertIsNone(self.service.query())
            self.assertEqual(self.service.processes(), {})
        self.workdir.cleanup()

    def start_and_fail(self, config_name):
        log = EventLog()
        self.service = Service(os.path.join(self.workdir.path, config_name))
        self.service.start(check=False)
        st = self.service.wait_state(["STOPPED", "RUNNING"])
        self.assertEqual(st.state, "STOPPED", st)
        self.assertEqual(st.win32_exit, 1066, st)  # ERROR_SERVICE_SPECIFIC_ERROR
        return st, log.wait_for(r"^service not started: ")

    def test_invalid_config(self):
        free = t.free_ports(1)[0]
        self.workdir.write("bad.ini", "\n".join([
            "[service]",
            "drain_timeout = 2s",
            "",
            "[listener:echo]",
            "listen = %s" % t.addr(free),
            "handler = bogus",
            ""]))
        st, events = self.start_and_fail("bad.ini")
        self.assertEqual(st.service_exit, 1, st)
        where = re.escape(winpath(os.path.join(self.workdir.path, "bad.ini")))
        assert_events_in_order(self, events, [
            (r"^iocpd \S+ starting with %s$" % where, "trace", "starting"),
            (r"^%s:6: handler: unknown handler 'bogus'" % where, "err", "config_error"),
            (r"^service not started: invalid configuration \(service-specific exit code 1\)$",
             "err", "start_failed"),
        ])
        self.assertFalse([e for e in events if re.match(r"listener|running", e.text)], events)
        self.assertFalse(t.port_accepts(free))

    def test_port_taken(self):
        free, taken = t.free_ports(2)
        self.workdir.write("taken.ini", t.config_text([
            ("first", t.addr(free), "echo"),
            ("second", t.addr(taken), "echo")]))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
            holder.bind((t.HOST, taken))
            holder.listen(1)
            st, events = self.start_and_fail("taken.ini")
        self.assertEqual(st.service_exit, 3, st)
        assert_events_in_order(self, events, [
            (r"^iocpd \S+ starting with ", "trace", "starting"),
            (r"^listener second: cannot bind 127\.0\.0\.1:%d: \S" % taken,
             "err", "start_failed"),
            (r"^service not started: runtime failure \(service-specific exit code 3\)$",
             "err", "start_failed"),
        ])
        # All or nothing: the first listener, which could bind, is gone too.
        self.assertFalse([e for e in events if re.match(r"listener \w+: listening|running",
                                                        e.text)], events)
        self.assertFalse(t.port_accepts(free))


class ServiceByHandTest(unittest.TestCase):
    """`iocpd service` outside the SCM explains itself and exits 2."""

    def test_run_by_hand(self):
        w = t.Workdir()
        try:
            r = t.run_cli(["service", "-c", "x.ini"], w)
        finally:
            w.cleanup()
        self.assertEqual(r.rc, 2, r)
        self.assertIn("iocpd run", r.stderr, r)
        self.assertIn("service manager", r.stderr, r)


if __name__ == "__main__":
    winservice.main(time_limit=150)
