"""What a daemon process holds, read from /proc: its descriptors, resident
memory and descriptor limit, the TCP sockets still open towards a listener
or an upstream, and (under Wine) the wineserver's sockets.

Wine uses host sockets, so the TCP table works for both builds; a
descriptor count of the Wine process says little, since Wine keeps each
socket's host descriptor in the wineserver (see DescriptorCount).
"""

import os
import resource
import time

from .env import WINE, pick


def fd_count(pid):
    """Open file descriptors of pid, or None if it cannot be read."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def fd_targets(pid):
    """What each open descriptor of pid refers to ({} if unreadable)."""
    out = {}
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                pass
    except OSError:
        pass
    return out


def vm_rss(pid):
    """Resident set size of pid in bytes, from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)


def sanitized_binary():
    """True if IOCPD_BIN is built with AddressSanitizer (its runtime or its
    hooks are named in the file)."""
    try:
        with open(os.environ.get("IOCPD_BIN", ""), "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def raise_fd_limit(need=None):
    """Raises this process's descriptor limit, and so that of the daemons it
    starts: to at least need if the hard limit allows, or with need None to
    the hard limit. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if need is None:
        if soft != hard:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            except (ValueError, OSError):
                pass
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        want = need if hard == resource.RLIM_INFINITY else min(hard, need)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft


# ---------------------------------------------------------------------------
# Descriptor counts that see connections, natively and under Wine


def wineserver_pid():
    """The wineserver of the Wine prefix in use ($WINEPREFIX, else ~/.wine),
    or None. A wineserver works in a directory named after the prefix's
    device and inode (server-DEV-INODE), which identifies it."""
    prefix = os.environ.get("WINEPREFIX") or os.path.expanduser("~/.wine")
    try:
        st = os.stat(prefix)
    except OSError:
        return None
    want = "server-%x-%x" % (st.st_dev, st.st_ino)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink("/proc/%s/exe" % entry)
            cwd = os.readlink("/proc/%s/cwd" % entry)
        except OSError:
            continue
        if os.path.basename(exe).startswith("wineserver") and os.path.basename(cwd) == want:
            return int(entry)
    return None


class DescriptorCount:
    """What the daemon holds open. Natively: every descriptor of the iocpd
    process. Under Wine the daemon's pid is the Wine process itself (the
    wrapper execs Wine), but measured here its descriptor count does not
    move with the number of open connections: Wine keeps each socket's
    host descriptor in the wineserver. So under Wine the socket descriptors
    of the prefix's wineserver are counted too (nothing else runs in the
    test prefix while this test runs)."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.server = wineserver_pid() if WINE else None
        if WINE and self.server is None:
            raise AssertionError("the wineserver of this Wine prefix was not found; "
                                 "without it no socket of the daemon can be counted")
        if WINE:
            exe = os.readlink("/proc/%d/exe" % daemon.pid)
            if "wine" not in os.path.basename(exe):
                raise AssertionError("under Wine, pid %d runs %s, not Wine: the wrapper "
                                     "did not exec" % (daemon.pid, exe))

    def what(self):
        return "iocpd descriptors" + (", wineserver sockets" if self.server else "")

    def now(self):
        counts = [len(fd_targets(self.daemon.pid))]
        if self.server is not None:
            counts.append(sum(1 for v in fd_targets(self.server).values()
                              if v.startswith("socket:")))
        return tuple(counts)

    def detail(self):
        targets = fd_targets(self.daemon.pid)
        kinds = {}
        for v in targets.values():
            k = v.split(":", 1)[0] if ":" in v else v
            kinds[k] = kinds.get(k, 0) + 1
        return "iocpd pid %d: %s" % (self.daemon.pid, kinds)


# ---------------------------------------------------------------------------
# Sockets the relay still holds, from /proc/net/tcp{,6} (Wine uses host
# sockets, so this works for both builds).

TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
              "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK",
              "0A": "LISTEN", "0B": "CLOSING"}
# A socket in one of these states is still open in the process holding it.
OPEN_STATES = {"ESTABLISHED", "SYN_SENT", "SYN_RECV", "CLOSE_WAIT"}

# How long a closed connection may take to disappear from the relay.
RELEASE_WITHIN = pick(2.0, 5.0)


def proc_net_rows(*paths):
    """The rows of the kernel's socket tables at paths (/proc/net/tcp,
    udp6, ...), each split into its fields, headings left out; a table that
    cannot be read gives none."""
    rows = []
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        rows.extend(line.split() for line in lines)
    return rows


def tcp_table():
    """(local port, remote port, state, inode) of every TCP socket."""
    rows = []
    for fields in proc_net_rows("/proc/net/tcp", "/proc/net/tcp6"):
        lport = int(fields[1].rsplit(":", 1)[1], 16)
        rport = int(fields[2].rsplit(":", 1)[1], 16)
        rows.append((lport, rport, TCP_STATES.get(fields[3], fields[3]), fields[9]))
    return rows


def own_socket_inodes():
    """Inodes of the sockets this test process holds."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def relay_open_sockets(listen_port, upstream_ports):
    """The relay's sockets that are still open: accepted ones (local port =
    the listen port) and upstream ones (remote port = an upstream port).
    Sockets of this test process (clients, upstream servers, blackhole
    fillers) are not counted."""
    ours = own_socket_inodes()
    return [(lp, rp, st) for lp, rp, st, inode in tcp_table()
            if st in OPEN_STATES and inode not in ours
            and (lp == listen_port or rp in upstream_ports)]


def assert_released(tc, sc, listen_port, upstream_ports):
    """Fails if, RELEASE_WITHIN seconds from now, the relay still holds an
    open socket of the listener or towards the upstreams, or (natively) has
    more file descriptors open than right after it started. The second check
    catches a socket that was never closed although both of its directions
    ended (TCP then shows no open state for it). Under Wine a socket's
    descriptors are spread over the Wine process and the wineserver, so only
    the TCP states are checked there."""
    deadline = time.monotonic() + RELEASE_WITHIN
    while True:
        left = relay_open_sockets(listen_port, set(upstream_ports))
        fds = {}
        for d in sc.daemons:
            base = getattr(d, "base_fds", None)
            now = fd_count(d.pid) if d.running() else None
            if base is not None and now is not None and now > base:
                fds[d.pid] = (base, now)
        if not left and not fds:
            return
        if time.monotonic() > deadline:
            if left:
                tc.fail("the relay still holds %d socket(s) %g s after the connections "
                        "ended (local port, remote port, state): %s"
                        % (len(left), RELEASE_WITHIN, left))
            pid, (base, now) = next(iter(fds.items()))
            targets = []
            try:
                for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
                    targets.append("%s->%s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
            except OSError:
                pass
            tc.fail("the relay has %d file descriptors open %g s after every connection "
                    "ended, %d right after it started (a socket not closed?): %s"
                    % (now, RELEASE_WITHIN, base, " ".join(targets[:24])
                       + (" ..." if len(targets) > 24 else "")))
        time.sleep(0.05)
