"""Real servers from Debian that iocpd must interoperate with (HAProxy,
nginx), each run in the foreground for one sub-test with a config written
into the scope's work directory, and stopped with it (sc.add).

  have(name)            whether the program is installed
  haproxy(sc, cfg)      haproxy -db -f CFG; waits until `ports` accept
  nginx(sc, conf)       nginx with its own prefix, error log and pid file,
                        no daemon, no master process; waits for `ports`
  connect_from(src, port)
                        a client socket bound to the loopback address src
                        (e.g. "127.0.0.2"), so that the address a server
                        reports can be told from the relay's own
  bound_from(src)       the same, bound but not connected yet
"""

import os
import socket
import subprocess
import time

from .env import pick
from .ports import port_accepts

NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
PROGRAMS = {"haproxy": "/usr/sbin/haproxy", "nginx": "/usr/sbin/nginx"}


def have(name):
    path = PROGRAMS[name]
    if not os.access(path, os.X_OK):
        return False
    return name != "nginx" or os.path.exists(NGINX_STREAM_MODULE)


class External:
    """One external server process; close() stops it (the scope calls it)
    and returns the names of anything left behind (nothing)."""

    def __init__(self, name, argv, workdir, ports):
        self.name = name
        self.log_path = os.path.join(workdir.path, name + ".log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=workdir.path)
        deadline = time.monotonic() + pick(10, 20)
        waiting = list(ports)
        while waiting:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %d:\n%s"
                                     % (name, self.proc.returncode, self.log()))
            if port_accepts(waiting[0]):
                waiting.pop(0)
                continue
            if time.monotonic() > deadline:
                raise AssertionError("%s does not listen on %s:\n%s"
                                     % (name, waiting, self.log()))
            time.sleep(0.05)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return []


def haproxy(sc, cfg, ports):
    sc.workdir.write("haproxy.cfg", cfg)
    path = os.path.join(sc.workdir.path, "haproxy.cfg")
    return sc.add(External("haproxy", [PROGRAMS["haproxy"], "-db", "-f", path], sc.workdir,
                           ports))


def nginx(sc, conf, ports):
    """conf: the stream {} block and anything else of the main context."""
    prefix = os.path.join(sc.workdir.path, "nginx") + "/"
    os.makedirs(prefix + "logs", exist_ok=True)
    text = ("load_module %s;\n"
            "daemon off;\nmaster_process off;\n"
            "pid %snginx.pid;\nerror_log %slogs/error.log info;\n"
            "events { worker_connections 256; }\n%s\n"
            % (NGINX_STREAM_MODULE, prefix, prefix, conf))
    sc.workdir.write("nginx/nginx.conf", text)
    argv = [PROGRAMS["nginx"], "-p", prefix, "-e", prefix + "logs/error.log",
            "-c", prefix + "nginx.conf"]
    return sc.add(External("nginx", argv, sc.workdir, ports))


def bound_from(src, timeout=None):
    """A client socket bound to the loopback address src (e.g.
    "127.0.0.2"), not yet connected: its address is known before the
    connect, which a server may reset at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout or pick(10, 30))
        s.bind((src, 0))
    except BaseException:
        s.close()
        raise
    return s


def connect_from(src, port, timeout=None):
    s = bound_from(src, timeout)
    try:
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s
