"""The harness of iocpd's Python tests: everything the test scripts share,
so that no test script imports another one.

The black-box scripts (tests/test_*.py) drive the real iocpd executable
over real sockets on loopback, natively or under Wine (IOCPD_PLATFORM=wine,
IOCPD_WRAPPER; see env.py). One module per job:

  env         the environment: IOCPD_BIN, IOCPD_WRAPPER, IOCPD_PLATFORM,
              pick(native, wine), the random seed
  ports       free ports, loopback addresses as iocpd writes them
  config      config text: (name, listen, handler) tuples, or Listener
              objects (fwd(), echo()) on given ports
  daemon      one iocpd process: work directory, start on fresh ports,
              readiness, clean stop, kill; an echo-listener test class
  cli         iocpd run to completion (check-config ...), the forward probe
  runner      a script's main(): unittest under an overall watchdog
  sockets     client sockets: connect, read exactly / to EOF, reset, the
              address a client shows in the log
  clients     clients that check being served, kept waiting or rejected
  logs        iocpd's log lines: the line pattern, relaying and rejections
  scope       one sub-test's resources and time limit (@limited, Scope)
  procinfo    /proc: descriptors, RSS, descriptor limit, the TCP table,
              the wineserver
  streams     seeded byte streams, hashed at both ends
  upstreams   upstream servers for the forward tests
  accesslog   the access log: conf/ layout, its daemon, its lines
  metrics     the Prometheus endpoint: scrape, parse, raw HTTP requests
  winservice  Wine's service control manager and Event Log (Wine only)

`import harness as t` gives the core that nearly every script uses (the
names below, those of the former iocpdtest.py); the other names are
imported from their module by the scripts that need them.

Only the Python standard library is used (and prometheus_client, in
metrics.py only).
"""

from .cli import Result, run_cli
from .config import config_text
from .daemon import (Daemon, EchoListenerTest, Workdir, settle, start,
                     start_on_fresh_ports, wait_running)
from .env import HOST, PLATFORM, READY_TIMEOUT, WINE, command, pick
from .logs import TIMESTAMP, log_rx
from .ports import addr, free_ports, port_accepts
from .runner import main
from .sockets import connect, recv_exact, recv_until_eof

__all__ = [
    "HOST", "PLATFORM", "READY_TIMEOUT", "WINE", "command", "pick",
    "addr", "free_ports", "port_accepts",
    "config_text",
    "Daemon", "EchoListenerTest", "Workdir", "settle", "start",
    "start_on_fresh_ports", "wait_running",
    "Result", "run_cli",
    "TIMESTAMP", "log_rx",
    "main",
    "connect", "recv_exact", "recv_until_eof",
]
