"""A real UDP protocol through a UDP forward listener: DNS, with Debian's
dnsmasq as the server and dig as the client (harness/dns.py), both on
loopback, iocpd in between (natively or iocpd.exe under Wine).

  dig_through_relay  dnsmasq answers for a few names of iocpd.test (A,
                     AAAA, TXT with two strings, a name with an A record
                     only); dig asks it directly and through iocpd: the
                     +short answers are the same both ways and the
                     expected ones, for A, AAAA and TXT, and a name that
                     does not exist is NXDOMAIN both ways (an AAAA query
                     of an A-only name: NOERROR, no answer). Every query
                     is a session of its own (dig uses a new source port
                     each time); the metrics count them and nothing is
                     dropped

Skipped (exit 77 for the whole script) only when dnsmasq or dig is
missing (packages dnsmasq-base and bind9-dnsutils; scripts/deps.sh
installs them). Run: IOCPD_BIN=/path/to/iocpd python3 tests/test_udp_dns.py.
Environment: see harness/env.py."""

import sys

sys.dont_write_bytecode = True

import os
import unittest

import harness as t
from harness import dns, udp
from harness.accesslog import start, stop
from harness.config import udp_fwd
from harness.scope import limited, say

ZONE = "iocpd.test"
HOSTS = [("127.0.0.10", "alpha." + ZONE), ("fd00::10", "alpha." + ZONE),
         ("10.1.2.3", "beta." + ZONE), ("10.1.2.4", "beta." + ZONE)]
TXT = {"alpha." + ZONE: ["hello iocpd", "second string"]}
# (name, type, status, the +short lines expected, in any order)
QUERIES = [
    ("alpha." + ZONE, "A", "NOERROR", ["127.0.0.10"]),
    ("alpha." + ZONE, "AAAA", "NOERROR", ["fd00::10"]),
    ("alpha." + ZONE, "TXT", "NOERROR", ['"hello iocpd" "second string"']),
    ("beta." + ZONE, "A", "NOERROR", ["10.1.2.3", "10.1.2.4"]),
    ("beta." + ZONE, "AAAA", "NOERROR", []),
    ("nowhere." + ZONE, "A", "NXDOMAIN", []),
]


class UdpDnsTest(unittest.TestCase):

    @limited(60, 180)
    def test_dig_through_relay(self, sc):
        say("dnsmasq on loopback, dig directly and through a UDP forward listener: "
            "the same answers for %d queries (A, AAAA, TXT, NXDOMAIN)" % len(QUERIES))
        server, dport = dns.dnsmasq(sc, ZONE, HOSTS, TXT)
        d, ports, mport = start(sc, [udp_fwd("dns", [t.addr(dport)])], {})
        for name, rtype, status, want in QUERIES:
            direct = dns.dig(dport, name, rtype)
            relayed = dns.dig(ports["dns"], name, rtype)
            say("%s %s: direct %s %s, through iocpd %s %s"
                % (name, rtype, direct[0], direct[1], relayed[0], relayed[1]))
            self.assertEqual((direct[0], sorted(direct[1])), (status, sorted(want)),
                             "dnsmasq itself answered otherwise:\n%s\n%s"
                             % (direct[2], server.log()[-2000:]))
            self.assertEqual(relayed[0], direct[0], "status through iocpd\n%s" % relayed[2])
            self.assertEqual(sorted(relayed[1]), sorted(direct[1]),
                             "+short answers through iocpd\n%s" % relayed[2])
        # Each dig run asked once (two runs per query): a session each.
        n = 2 * len(QUERIES)
        c = udp.wait_counters(mport, "dns", lambda c: c["out"] >= n and (c["sessions_total"] or 0) >= n)
        say("counters: %s" % c)
        self.assertEqual(c["dropped"], {r: 0 for r in udp.DROP_REASONS})
        self.assertEqual((c["in"], c["up"], c["down"], c["out"]), (n, n, n, n),
                         "one query and one answer per dig run")
        self.assertEqual(c["sessions_total"], n)
        stop(self, d)


if __name__ == "__main__":
    gone = dns.missing()
    if gone:
        print("%s: skipped: %s not installed (packages dnsmasq-base, bind9-dnsutils; "
              "scripts/deps.sh installs them)" % (os.path.basename(sys.argv[0]),
                                                  " and ".join(gone)))
        sys.exit(77)
    t.main(time_limit=(90, 240))
