"""Config text for the daemons the tests start.

Two builders, for two kinds of test:

  config_text(listeners, service)   listeners as (name, listen, handler)
                                    tuples (or (name, listen, handler,
                                    {key: value})) with their addresses
                                    written out; enough for echo listeners
  config_text_for(listeners, ports, service)
                                    Listener objects (any handler, any
                                    listener keys, either address family)
                                    placed on the given ports

[service] keys and listener keys are written in the order given, values as
text, so that a test controls every line (and so every line number a
message may name). A UDP listener is one with the key protocol = udp
(udp_echo(), udp_fwd()); its keys (max_sessions, max_sessions_per_ip,
idle_timeout...) are written like any other.
"""

import socket

from .ports import format_addr


def config_text(listeners, service=None):
    """INI text. listeners: list of (name, listen, handler) or (name,
    listen, handler, {key: value}), further listener keys written in order
    (e.g. {"protocol": "udp"}); service: dict of [service] keys written in
    order, e.g. {"workers": 2}."""
    lines = []
    if service:
        lines.append("[service]")
        for key, value in service.items():
            lines.append("%s = %s" % (key, value))
        lines.append("")
    for name, listen, handler, *more in listeners:
        lines.append("[listener:%s]" % name)
        lines.append("listen = %s" % listen)
        lines.append("handler = %s" % handler)
        for key, value in (more[0] if more else {}).items():
            lines.append("%s = %s" % (key, value))
        lines.append("")
    return "\n".join(lines)


class Listener:
    """One [listener:NAME] section: listen address family, handler, and
    further keys written in order (values as text; a list of texts writes
    the key once per item, as allow, deny and upstream may be).
    same_port_as names another listener whose port number this one
    listens on too (a TCP and a UDP listener on one port)."""

    def __init__(self, name, handler="forward", family=socket.AF_INET, bind=None,
                 same_port_as=None, **keys):
        self.name = name
        self.handler = handler
        self.family = family
        self.bind = bind  # the address part of listen; default the family's loopback
        self.same_port_as = same_port_as
        self.keys = keys


def fwd(name, upstreams, family=socket.AF_INET, **keys):
    """A forward listener to the given upstream addresses."""
    keys = dict(upstream=", ".join(upstreams), **keys)
    return Listener(name, "forward", family, **keys)


def echo(name, family=socket.AF_INET, **keys):
    """An echo [listener:NAME] with further keys (values as text)."""
    return Listener(name, "echo", family, **keys)


def udp_echo(name, family=socket.AF_INET, **keys):
    """A UDP echo listener: protocol = udp, then further keys in order."""
    return Listener(name, "echo", family, protocol="udp", **keys)


def udp_fwd(name, upstreams, family=socket.AF_INET, **keys):
    """A UDP forward listener to the given upstream addresses: upstream,
    protocol = udp, then further keys in order (max_sessions = 5,
    idle_timeout = 1s, ...)."""
    return fwd(name, upstreams, family, protocol="udp", **keys)


def config_text_for(listeners, ports, service):
    """INI text for Listener objects, each listening on the loopback address
    of its family at ports[name]; service: dict of [service] keys (or None)."""
    lines = []
    if service:
        lines.append("[service]")
        for k, v in service.items():
            lines.append("%s = %s" % (k, v))
        lines.append("")
    for l in listeners:
        lines.append("[listener:%s]" % l.name)
        if l.bind is not None:
            lines.append("listen = %s:%d" % (l.bind, ports[l.name]))
        else:
            lines.append("listen = %s" % format_addr(l.family, ports[l.name]))
        lines.append("handler = %s" % l.handler)
        for k, v in l.keys.items():
            # A list: the key on one line per item (a list key appends).
            for item in (v if isinstance(v, list) else [v]):
                lines.append("%s = %s" % (k, item))
        lines.append("")
    return "\n".join(lines)
