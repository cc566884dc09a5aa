/*
 * Config unit test, part of test_config_units (see test_config_units.c):
 * UDP listeners (protocol = udp). The values the loader stores for them
 * (protocol, the session limits, the idle timeout a UDP forward session
 * gets when the key is absent, none for UDP echo), the problems of keys
 * that mean nothing for one protocol, listeners of the two protocols on
 * one address, and what the engine is given from such a config
 * (settings_new, service/settings.c): the protocol, the session limits as
 * its connection limits, and zeros where it requires them.
 */
#define _CRT_SECURE_NO_WARNINGS

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configtest.h"
#include "settings.h"

static const char udp_text[] = "[listener:dns]\n"           /* 1 */
                               "protocol = udp\n"           /* 2 */
                               "listen = 127.0.0.1:5353\n"  /* 3 */
                               "handler = forward\n"        /* 4 */
                               "upstream = 127.0.0.1:53\n"  /* 5 */
                               "max_sessions = 100\n"       /* 6 */
                               "max_sessions_per_ip = 10\n" /* 7 */
                               "max_fails = 2\n"            /* 8 */
                               "fail_timeout = 7s\n"        /* 9 */
                               "allow = 127.0.0.0/8\n"      /* 10 */
                               "[listener:dns-tcp]\n"       /* 11 */
                               "listen = 127.0.0.1:5353\n"  /* 12 */
                               "handler = forward\n"        /* 13 */
                               "upstream = 127.0.0.1:53\n"  /* 14 */
                               "max_connections = 5\n"      /* 15 */
                               "[listener:uecho]\n"         /* 16 */
                               "protocol = udp\n"           /* 17 */
                               "listen = 127.0.0.1:7007\n"  /* 18 */
                               "handler = echo\n"           /* 19 */
                               "[listener:slow]\n"          /* 20 */
                               "listen = 127.0.0.1:5354\n"  /* 21 */
                               "handler = forward\n"        /* 22 */
                               "upstream = 127.0.0.1:53\n"  /* 23 */
                               "idle_timeout = 5m\n"        /* 24 */
                               "protocol = udp\n"           /* 25 */
                               "[listener:tcp]\n"           /* 26 */
                               "protocol = tcp\n"           /* 27 */
                               "listen = 127.0.0.1:7007\n"  /* 28 */
                               "handler = echo\n"           /* 29 */
                               "[listener:v6]\n"            /* 30 */
                               "protocol = udp\n"           /* 31 */
                               "listen = [::]:7008\n"       /* 32 */
                               "ipv6_only = no\n"           /* 33 */
                               "handler = forward\n"        /* 34 */
                               "upstream = [::1]:53\n"      /* 35 */
                               "allow = ::1, 127.0.0.1\n";  /* 36 */

static void test_udp_values(void) {
  iocpd_config *c = load_text("udp.ini", udp_text, none);
  const iocpd_config_listener *dns, *dns_tcp, *uecho, *slow, *tcp, *v6;

  if (c == NULL) return;
  check(c->listener_count == 6, "udp: %d listeners", (int)c->listener_count);
  if (c->listener_count != 6) goto out;
  dns = &c->listeners[0];
  dns_tcp = &c->listeners[1];
  uecho = &c->listeners[2];
  slow = &c->listeners[3];
  tcp = &c->listeners[4];
  v6 = &c->listeners[5];

  check(dns->protocol == IOCPD_UDP, "udp: dns protocol %d", dns->protocol);
  check(dns->max_sessions == 100 && dns->max_sessions_per_ip == 10, "udp: dns sessions %llu, %llu",
        (unsigned long long)dns->max_sessions, (unsigned long long)dns->max_sessions_per_ip);
  check(dns->max_connections == 0 && dns->max_connections_per_ip == 0,
        "udp: dns connection limits %llu, %llu", (unsigned long long)dns->max_connections,
        (unsigned long long)dns->max_connections_per_ip);
  /* Absent on a UDP forward listener: the engine's UDP default, not the
   * row's 10m. */
  check(dns->idle_timeout_ms == IOCPD_DEFAULT_UDP_IDLE_TIMEOUT_MS, "udp: dns idle %llu",
        (unsigned long long)dns->idle_timeout_ms);
  check(dns->max_fails == 2 && dns->fail_timeout_ms == 7000, "udp: dns max_fails %u, %llu ms",
        dns->max_fails, (unsigned long long)dns->fail_timeout_ms);
  check(dns->upstream_count == 1 && dns->allow_count == 1, "udp: dns %d upstreams, %d allow",
        (int)dns->upstream_count, (int)dns->allow_count);

  /* Without protocol =: TCP, with the TCP defaults. */
  check(dns_tcp->protocol == IOCPD_TCP, "udp: dns-tcp protocol %d", dns_tcp->protocol);
  check(dns_tcp->idle_timeout_ms == 600000, "udp: dns-tcp idle %llu",
        (unsigned long long)dns_tcp->idle_timeout_ms);
  check(dns_tcp->max_connections == 5 && dns_tcp->max_sessions == 0,
        "udp: dns-tcp max_connections %llu, max_sessions %llu",
        (unsigned long long)dns_tcp->max_connections, (unsigned long long)dns_tcp->max_sessions);

  /* UDP echo keeps no sessions: no idle timeout at all. */
  check(uecho->protocol == IOCPD_UDP && uecho->handler == IOCPD_HANDLER_ECHO,
        "udp: uecho protocol %d handler %d", uecho->protocol, (int)uecho->handler);
  check(uecho->idle_timeout_ms == 0, "udp: uecho idle %llu",
        (unsigned long long)uecho->idle_timeout_ms);

  /* protocol after idle_timeout: the key given is kept. */
  check(slow->protocol == IOCPD_UDP && slow->idle_timeout_ms == 300000,
        "udp: slow protocol %d idle %llu", slow->protocol,
        (unsigned long long)slow->idle_timeout_ms);
  check(tcp->protocol == IOCPD_TCP, "udp: tcp protocol %d", tcp->protocol);
  /* max_sessions absent: 10000 on a UDP forward listener (what a flood
   * of source addresses may open), 0 where it means nothing. */
  check(slow->max_sessions == 10000 && v6->max_sessions == 10000,
        "udp: default max_sessions %llu, %llu", (unsigned long long)slow->max_sessions,
        (unsigned long long)v6->max_sessions);
  check(tcp->max_sessions == 0 && dns_tcp->max_sessions == 0 && uecho->max_sessions == 0,
        "udp: max_sessions where it means nothing %llu, %llu, %llu",
        (unsigned long long)tcp->max_sessions, (unsigned long long)dns_tcp->max_sessions,
        (unsigned long long)uecho->max_sessions);
  check(v6->protocol == IOCPD_UDP && v6->dual_stack == 1, "udp: v6 protocol %d dual %d",
        v6->protocol, v6->dual_stack);
out:
  iocpd_config_free(c);
}

/* What the engine gets: settings_new on the config above. */
static void test_udp_settings(void) {
  iocpd_config *c = load_text("udp-settings.ini", udp_text, none);
  daemon_settings *st;
  const iocpd_listener_options *dns, *dns_tcp, *uecho, *slow;
  const iocpd_forward_options *fwd;

  if (c == NULL) return;
  st = settings_new(c);
  check(st != NULL, "udp settings: out of memory");
  if (st == NULL) {
    iocpd_config_free(c);
    return;
  }
  dns = &st->listeners[0];
  dns_tcp = &st->listeners[1];
  uecho = &st->listeners[2];
  slow = &st->listeners[3];

  check(dns->protocol == IOCPD_UDP, "udp settings: dns protocol %d", dns->protocol);
  check(dns->handler == &iocpd_forward_handler, "udp settings: dns handler");
  check(dns->max_connections == 100 && dns->max_connections_per_ip == 10,
        "udp settings: dns limits %zu, %zu (the session limits)", dns->max_connections,
        dns->max_connections_per_ip);
  /* The engine requires these 0 on a UDP listener. */
  check(dns->buffer_size == 0 && dns->accept_proxy == 0 && dns->proxy_timeout_ms == 0 &&
            dns->health_interval_ms == 0,
        "udp settings: dns buffer %zu accept_proxy %u proxy_timeout %u health %u", dns->buffer_size,
        dns->accept_proxy, (unsigned)dns->proxy_timeout_ms, (unsigned)dns->health_interval_ms);
  check(dns->max_fails == 2 && dns->fail_timeout_ms == 7000, "udp settings: dns fails %u, %u",
        (unsigned)dns->max_fails, (unsigned)dns->fail_timeout_ms);
  check(dns->allow_count == 1, "udp settings: dns allow %zu", dns->allow_count);
  fwd = dns->handler_arg;
  check(fwd == &st->forward[0], "udp settings: dns handler_arg");
  if (fwd == &st->forward[0]) {
    check(fwd->idle_timeout_ms == IOCPD_DEFAULT_UDP_IDLE_TIMEOUT_MS && fwd->upstream_count == 1,
          "udp settings: dns idle %u, %zu upstreams", (unsigned)fwd->idle_timeout_ms,
          fwd->upstream_count);
    check(fwd->send_proxy == 0 && fwd->handshake_timeout_ms == 0 && fwd->connect_timeout_ms == 0,
          "udp settings: dns send_proxy %d handshake %u connect %u", fwd->send_proxy,
          (unsigned)fwd->handshake_timeout_ms, (unsigned)fwd->connect_timeout_ms);
  }

  /* TCP as before. */
  check(dns_tcp->protocol == IOCPD_TCP, "udp settings: dns-tcp protocol %d", dns_tcp->protocol);
  check(dns_tcp->max_connections == 5 && dns_tcp->buffer_size == 64 * 1024 &&
            dns_tcp->proxy_timeout_ms == 5000,
        "udp settings: dns-tcp max %zu buffer %zu proxy_timeout %u", dns_tcp->max_connections,
        dns_tcp->buffer_size, (unsigned)dns_tcp->proxy_timeout_ms);
  fwd = dns_tcp->handler_arg;
  check(fwd == &st->forward[1] && fwd->idle_timeout_ms == 600000 && fwd->connect_timeout_ms == 5000,
        "udp settings: dns-tcp forward options");

  check(uecho->protocol == IOCPD_UDP && uecho->handler == &iocpd_echo_handler &&
            uecho->handler_arg == &st->echo[2],
        "udp settings: uecho protocol %d", uecho->protocol);
  check(st->echo[2].idle_timeout_ms == 0 && uecho->max_connections == 0,
        "udp settings: uecho idle %u max %zu", (unsigned)st->echo[2].idle_timeout_ms,
        uecho->max_connections);
  fwd = slow->handler_arg;
  check(fwd == &st->forward[3] && fwd->idle_timeout_ms == 300000, "udp settings: slow idle");

  /* Both references: the engine's and the daemon's. */
  settings_free(st);
  settings_free(st);
}

/* Problems, one per line, also when protocol comes after the keys. */
static void test_udp_problems(void) {
  static const char text[] = "[listener:a]\n"               /* 1 */
                             "handshake_timeout = 5s\n"     /* 2 */
                             "max_connections_per_ip = 3\n" /* 3 */
                             "health_check = connect\n"     /* 4 */
                             "listen = 127.0.0.1:5353\n"    /* 5 */
                             "handler = forward\n"          /* 6 */
                             "upstream = 127.0.0.1:53\n"    /* 7 */
                             "protocol = udp\n"             /* 8 */
                             "[listener:b]\n"               /* 9 */
                             "listen = 127.0.0.1:5353\n"    /* 10 */
                             "handler = echo\n"             /* 11 */
                             "max_sessions = 1\n"           /* 12 */
                             "[listener:c]\n"               /* 13 */
                             "protocol = udp\n"             /* 14 */
                             "listen = 127.0.0.1:5353\n"    /* 15 */
                             "handler = echo\n"             /* 16 */
                             "max_sessions_per_ip = 1\n"    /* 17 */
                             "[listener:d]\n"               /* 18 */
                             "protocol = udp\n"             /* 19 */
                             "listen = 127.0.0.1:5355\n"    /* 20 */
                             "handler = forward\n"          /* 21 */
                             "upstream = 127.0.0.1:53\n"    /* 22 */
                             "idle_timeout = 0s\n"          /* 23 */
                             "[listener:e]\n"               /* 24 */
                             "protocol = Udp\n"             /* 25 */
                             "listen = 127.0.0.1:5356\n"    /* 26 */
                             "handler = echo\n"             /* 27 */
                             "max_sessions = 1\n";          /* 28 */
  static const char *const expected[] = {
      ":2: handshake_timeout: means nothing for a UDP listener (protocol = udp)",
      ":3: max_connections_per_ip: means nothing for a UDP listener (protocol = udp); use "
      "max_sessions_per_ip",
      ":4: health_check: means nothing for a UDP listener (protocol = udp)",
      ":12: max_sessions: only valid with protocol = udp; use max_connections for a TCP listener",
      ":15: listen: 127.0.0.1:5353 is already used by [listener:a] (line 5)",
      ":17: max_sessions_per_ip: means nothing for a UDP echo listener (UDP echo keeps no "
      "sessions)",
      ":23: idle_timeout: '0s' must be more than 0 for a UDP listener (its sessions end only when "
      "idle)",
      ":25: protocol: invalid value 'Udp' (expected tcp or udp)",
      NULL};
  iocpd_config *c = load_text("udp-problems.ini", text, expected);
  check(c == NULL, "udp problems: loaded");
  iocpd_config_free(c);
}

/* Warnings of a valid UDP config: the session limits meet as the
 * connection limits do, but [service] max_connections counts TCP only. */
static void test_udp_warnings(void) {
  static const char text[] = "[service]\n"                 /* 1 */
                             "max_connections = 10\n"      /* 2 */
                             "[listener:a]\n"              /* 3 */
                             "protocol = udp\n"            /* 4 */
                             "listen = 127.0.0.1:5353\n"   /* 5 */
                             "handler = forward\n"         /* 6 */
                             "upstream = 127.0.0.1:53\n"   /* 7 */
                             "max_sessions = 5\n"          /* 8 */
                             "max_sessions_per_ip = 6\n"   /* 9 */
                             "[listener:b]\n"              /* 10 */
                             "protocol = udp\n"            /* 11 */
                             "listen = 127.0.0.1:5354\n"   /* 12 */
                             "handler = forward\n"         /* 13 */
                             "upstream = 127.0.0.1:53\n"   /* 14 */
                             "max_sessions_per_ip = 50\n"; /* 15 */
  static const char *const warnings[] = {
      ":9: warning: max_sessions_per_ip = 6 is more than max_sessions = 5 of [listener:a]; it "
      "never applies",
      NULL};
  iocpd_config *c = load_any("udp-warnings.ini", text, strlen(text), 1, none, warnings);
  check(c != NULL, "udp warnings: not loaded");
  iocpd_config_free(c);
}

void test_udp(void) {
  test_udp_values();
  test_udp_settings();
  test_udp_problems();
  test_udp_warnings();
}
