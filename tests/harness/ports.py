"""Loopback addresses and ports: picking free ports for a daemon, writing an
address the way iocpd's config and logs write it, and probing a port.

A port picked here was free a moment ago; another process may still take
it before the daemon binds it, which is why daemon.start_on_fresh_ports()
starts again on new ports when that happens.
"""

import socket
import time

from .env import HOST


def free_ports(count):
    """Returns count distinct TCP ports that were free on 127.0.0.1 a moment
    ago. All sockets are held open until every port is chosen, so the ports
    differ; a failed bind is retried. Another process may still take a port
    before the daemon binds it: Daemon start-up retries for that case."""
    held = []
    try:
        while len(held) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((HOST, 0))
            except OSError:
                s.close()
                time.sleep(0.05)
                continue
            held.append(s)
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def free_port(family):
    """One port that was free on the family's loopback address a moment ago
    (ports of several calls may repeat: see free_ports for distinct ones)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.bind((loopback(family), 0))
        return s.getsockname()[1]
    finally:
        s.close()


def distinct_ports(families):
    """One port per family in families (socket.AF_INET or AF_INET6), each
    free on its loopback address a moment ago and all different: the
    sockets are held until every port is chosen (two free_port calls may
    return the same port)."""
    held = []
    try:
        for family in families:
            s = socket.socket(family, socket.SOCK_STREAM)
            held.append(s)
            s.bind((loopback(family), 0))
        ports = [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()
    if len(set(ports)) != len(ports):
        return distinct_ports(families)  # an IPv4 and an IPv6 port may match
    return ports


def addr(port):
    return "%s:%d" % (HOST, port)


def loopback(family):
    return "::1" if family == socket.AF_INET6 else "127.0.0.1"


def format_addr(family, port):
    """The address as iocpd's config (and its logs) write it."""
    if family == socket.AF_INET6:
        return "[::1]:%d" % port
    return "127.0.0.1:%d" % port


def ipv6_loopback_available():
    """True if a TCP socket can be bound to ::1 here."""
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_accepts(port, timeout=1.0, graceful=False):
    """True if a TCP connection to 127.0.0.1:port can be opened now. The
    connection is closed again at once; with graceful, only after a
    half-close and the server's EOF (or timeout), so that the server has
    finished with it by the time this returns."""
    try:
        s = socket.create_connection((HOST, port), timeout=timeout)
    except OSError:
        return False
    try:
        if graceful:
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
    except OSError:
        pass
    finally:
        s.close()
    return True
