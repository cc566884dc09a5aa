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


def free_port(family, socktype=socket.SOCK_STREAM):
    """One port (TCP, or of socktype) that was free on the family's loopback
    address a moment ago (ports of several calls may repeat: see free_ports
    for distinct ones)."""
    s = socket.socket(family, socktype)
    try:
        s.bind((loopback(family), 0))
        return s.getsockname()[1]
    finally:
        s.close()


def distinct_ports(families, socktypes=None):
    """One port per family in families (socket.AF_INET or AF_INET6), each
    free on its loopback address a moment ago and all different: the
    sockets are held until every port is chosen (two free_port calls may
    return the same port). socktypes, if given, has one entry per family:
    socket.SOCK_STREAM (the default), socket.SOCK_DGRAM for a UDP listener,
    or BOTH for a port that must be free for TCP and for UDP."""
    if socktypes is None:
        socktypes = [socket.SOCK_STREAM] * len(families)
    held = []
    try:
        ports = []
        for family, kind in zip(families, socktypes):
            ports.append(_hold_port(held, family, kind))
    finally:
        for s in held:
            s.close()
    if len(set(ports)) != len(ports):
        return distinct_ports(families, socktypes)  # an IPv4 and an IPv6 port may match
    return ports


# A socktype for distinct_ports: the port is free for TCP and UDP at once.
BOTH = "tcp+udp"


def _hold_port(held, family, kind):
    """Binds a socket of kind (BOTH: a TCP and a UDP socket on one port) to
    a free port of family's loopback address, appends what it bound to
    held and returns the port. With BOTH the OS picks the TCP port, and
    another is tried when that number is taken for UDP."""
    first = socket.SOCK_STREAM if kind == BOTH else kind
    for _ in range(100):
        s = socket.socket(family, first)
        held.append(s)
        s.bind((loopback(family), 0))
        port = s.getsockname()[1]
        if kind != BOTH:
            return port
        u = socket.socket(family, socket.SOCK_DGRAM)
        try:
            u.bind((loopback(family), port))
        except OSError:
            u.close()
            continue  # s stays held, so the next pick differs
        held.append(u)
        return port
    raise AssertionError("no port free for both TCP and UDP on %s" % loopback(family))


def free_udp_port(family=socket.AF_INET):
    """One UDP port that was free on the family's loopback address a moment
    ago (nobody bound to it: a datagram sent there meets an ICMP port
    unreachable)."""
    return free_port(family, socket.SOCK_DGRAM)


def listener_socktype(listener):
    """The socktype a config.Listener's port must be free for: UDP for
    `protocol = udp`, else TCP."""
    return socket.SOCK_DGRAM if listener.keys.get("protocol") == "udp" else socket.SOCK_STREAM


def listener_ports(listeners, extra=()):
    """Ports for config.Listener objects, each free for its protocol on its
    family's loopback address, all different except that a listener with
    same_port_as = NAME gets NAME's port (picked free for TCP and UDP
    then), and one TCP port for each family in extra (metrics_listen...).
    Returns ({name: port}, [extra ports])."""
    own = [l for l in listeners if l.same_port_as is None]
    shared = {l.same_port_as for l in listeners if l.same_port_as is not None}
    kinds = [BOTH if l.name in shared else listener_socktype(l) for l in own]
    picked = distinct_ports([l.family for l in own] + list(extra),
                            kinds + [socket.SOCK_STREAM] * len(extra))
    ports = {l.name: p for l, p in zip(own, picked)}
    for l in listeners:
        if l.same_port_as is not None:
            ports[l.name] = ports[l.same_port_as]
    return ports, picked[len(own):]


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
