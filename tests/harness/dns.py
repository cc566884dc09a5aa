"""A real DNS server and client from Debian, for relaying DNS over UDP:
dnsmasq (package dnsmasq-base) answering for a few records on loopback,
and dig (package bind9-dnsutils) asking it, directly or through iocpd.
scripts/deps.sh installs both.

  missing()             the programs that are not installed (a test skips
                        with their names)
  dnsmasq(sc, zone, hosts, txt)
                        dnsmasq in the foreground on 127.0.0.1, a port free
                        for UDP and TCP, no root needed: authoritative for
                        the names of `zone` (anything else under it is
                        NXDOMAIN), no upstream servers, no /etc/hosts;
                        stopped with the scope (sc.add)
  dig(port, name, rtype)
                        one query to 127.0.0.1:port: (status, +short
                        lines, the whole output)
"""

import getpass
import os
import re
import shutil
import socket
import subprocess

from .env import pick
from .interop import External
from .ports import BOTH, distinct_ports

PROGRAMS = {"dnsmasq": "/usr/sbin/dnsmasq", "dig": "/usr/bin/dig"}


def path_of(name):
    found = shutil.which(name)
    if found:
        return found
    path = PROGRAMS[name]
    return path if os.access(path, os.X_OK) else None


def missing():
    """The names of the programs (dnsmasq, dig) that are not installed."""
    return [name for name in PROGRAMS if path_of(name) is None]


def dnsmasq(sc, zone, hosts, txt):
    """Starts dnsmasq for the sub-test of scope sc and returns (its
    External, its port). hosts: (address, name) pairs (A and AAAA
    records); txt: {name: [string, ...]}. Names under zone that are not
    given are NXDOMAIN (--local). Queries are logged to its log file
    (External.log())."""
    port = distinct_ports([socket.AF_INET], [BOTH])[0]
    sc.workdir.write("dns-hosts", "".join("%s %s\n" % (a, n) for a, n in hosts))
    argv = [path_of("dnsmasq"), "--no-daemon", "--port=%d" % port,
            "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
            "--addn-hosts=%s" % os.path.join(sc.workdir.path, "dns-hosts"),
            "--local=/%s/" % zone,
            "--pid-file=%s" % os.path.join(sc.workdir.path, "dnsmasq.pid"),
            # Root would switch to nobody, who may not read the hosts
            # file in the test's private directory.
            "--user=%s" % getpass.getuser(),
            "--log-queries", "--log-facility=-"]
    for name, strings in txt.items():
        # One character-string per comma-separated item (so none may
        # hold a comma).
        argv.append("--txt-record=%s,%s" % (name, ",".join(strings)))
    # dnsmasq serves DNS over TCP on the same port: its accepting there
    # says the UDP socket is bound too.
    return sc.add(External("dnsmasq", argv, sc.workdir, [port])), port


def dig(port, name, rtype, timeout=None):
    """Asks 127.0.0.1:port for name's rtype records with dig: returns
    (status, the +short answer lines, dig's whole output). status is the
    header's (NOERROR, NXDOMAIN, ...) or None when no answer came."""
    wait = timeout if timeout is not None else pick(2, 5)
    base = [path_of("dig"), "@127.0.0.1", "-p", str(port), name, rtype,
            "+time=%d" % wait, "+tries=3", "+nocookie"]
    full = subprocess.run(base, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=wait * 4 + 10)
    text = full.stdout.decode("utf-8", "replace")
    m = re.search(r"->>HEADER<<- opcode: QUERY, status: ([A-Z]+),", text)
    status = m.group(1) if m else None
    short = subprocess.run(base + ["+short"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=wait * 4 + 10)
    lines = short.stdout.decode("utf-8", "replace").splitlines()
    if short.returncode != 0:
        lines = ["dig exit %d: %s" % (short.returncode, " / ".join(lines))]
    return status, lines, text
