"""The Prometheus endpoint (metrics_listen) as a client sees it: a scrape
with urllib (a real HTTP client), the samples parsed by prometheus_client
(so that the format is checked by an independent parser, not by ours), and
raw requests on a plain socket for what an HTTP client would never send.

prometheus_client comes from Debian's python3-prometheus-client (installed
by scripts/deps.sh); an interpreter that does not see Debian's packages
(pyenv, a venv) gets their directory added.
"""

import re
import sys
import threading
import time
import urllib.error
import urllib.request

from .env import pick
from .ports import addr
from .sockets import connect

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # A Python of its own (pyenv, a venv) does not see Debian's packages.
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families


def scrape(port, path="/metrics", method="GET", data=None):
    """(status, headers, body) of one request with urllib, a real HTTP
    client; error statuses are returned, not raised."""
    req = urllib.request.Request("http://%s%s" % (addr(port), path), data=data,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=pick(10, 30)) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, e.headers, body


def metrics(port):
    """The parsed scrape: {(sample name, frozenset(labels.items())): value},
    and the families by name."""
    status, headers, body = scrape(port)
    if status != 200:
        raise AssertionError("GET /metrics: %d %r" % (status, body[:200]))
    families = {}
    values = {}
    for fam in text_string_to_metric_families(body.decode("utf-8")):
        families[fam.name] = fam
        for s in fam.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values, families, headers


def value(values, name, **labels):
    key = (name, frozenset(labels.items()))
    if key not in values:
        raise AssertionError("no sample %s%s" % (name, labels))
    return values[key]


def raw_request(port, data, timeout=None, pause=None):
    """Sends data (or, with pause, one byte every pause seconds) on a plain
    socket and reads until the server closes. Returns (response bytes,
    seconds from connect to the close, "eof" or "reset")."""
    if timeout is None:
        timeout = pick(15, 30)
    s = connect(port, timeout=timeout)
    began = time.monotonic()
    got = []
    how = "eof"
    stop = threading.Event()

    def drip():
        try:
            for i in range(len(data)):
                if stop.wait(pause):
                    return
                s.sendall(data[i:i + 1])
        except OSError:
            pass

    try:
        if pause is None:
            s.sendall(data)
        else:
            th = threading.Thread(target=drip, daemon=True)
            th.start()
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, ConnectionAbortedError):
                how = "reset"
                break
            if not chunk:
                break
            got.append(chunk)
    finally:
        stop.set()
        s.close()
    return b"".join(got), time.monotonic() - began, how


def status_of(response):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", response)
    return int(m.group(1)) if m else None
