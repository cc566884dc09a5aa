/*
 * Config unit test, part of test_config_units (see test_config_units.c):
 * The protection keys (limits, allow and deny, handshake_timeout), the
 * PROXY protocol keys, and the warnings a valid config may carry.
 */
#define _CRT_SECURE_NO_WARNINGS

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configtest.h"

/* ------------------------------------------------------------------------ */
/* Protection keys */

/* Returns 1 if c is the block written as text. */
static int block_is(const iocpd_cidr *c, const char *text) {
  char buf[IOCPD_ADDR_STRLEN];
  return strcmp(iocpd_cidr_format(c, buf), text) == 0;
}

static void test_protection_values(void) {
  static const char text[] = "[service]\n"
                             "max_connections = 0\n"
                             "[listener:a]\n"
                             "listen = 127.0.0.1:7000\n"
                             "handler = echo\n"
                             "max_connections = 1000000\n"
                             "max_connections_per_ip = 50\n"
                             "allow = 10.0.0.0/8, 192.168.1.0/24 ,::1/128,\t127.0.0.1, 0.0.0.0/0\n"
                             "deny = 10.9.0.0/16\n"
                             "handshake_timeout = 10s\n"
                             "[listener:b]\n"
                             "listen = [::1]:7000\n"
                             "handler = forward\n"
                             "upstream = 127.0.0.1:1\n"
                             "handshake_timeout = 1h\n"
                             "max_connections_per_ip = 1000000\n"
                             "allow = ::/0, fe80::/10, 2001:db8::1, 10.0.0.0/8\n"
                             "[listener:c]\n"
                             "listen = 127.0.0.1:7001\n"
                             "handler = echo\n"
                             "handshake_timeout = 0\n"
                             "max_connections = 0\n"
                             "max_connections_per_ip = 0\n";
  iocpd_config *c = load_any("protection.ini", text, strlen(text), 1, none, none);
  const iocpd_config_listener *a, *b, *l;

  if (c == NULL) return;
  check(c->max_connections == 0, "protection: service max %llu",
        (unsigned long long)c->max_connections);
  check(c->listener_count == 3, "protection: %d listeners", (int)c->listener_count);
  if (c->listener_count != 3) {
    iocpd_config_free(c);
    return;
  }
  a = &c->listeners[0];
  b = &c->listeners[1];
  l = &c->listeners[2];
  check(a->max_connections == 1000000 && a->max_connections_per_ip == 50 &&
            a->handshake_timeout_ms == 10000,
        "protection: a limits %llu %llu %llu", (unsigned long long)a->max_connections,
        (unsigned long long)a->max_connections_per_ip, (unsigned long long)a->handshake_timeout_ms);
  check(a->allow_count == 5, "protection: a has %d allow entries", (int)a->allow_count);
  if (a->allow_count == 5) {
    check(block_is(&a->allow[0], "10.0.0.0/8") && block_is(&a->allow[1], "192.168.1.0/24") &&
              block_is(&a->allow[2], "::1/128") && block_is(&a->allow[3], "127.0.0.1/32") &&
              block_is(&a->allow[4], "0.0.0.0/0"),
          "protection: a allow entries");
  }
  check(a->deny_count == 1 && block_is(&a->deny[0], "10.9.0.0/16"), "protection: a deny");
  check(b->max_connections == 0 && b->max_connections_per_ip == 1000000 &&
            b->handshake_timeout_ms == 3600000,
        "protection: b limits");
  check(b->allow_count == 4 && b->deny_count == 0 && b->deny == NULL, "protection: b lists %d %d",
        (int)b->allow_count, (int)b->deny_count);
  if (b->allow_count == 4) {
    check(block_is(&b->allow[0], "::/0") && block_is(&b->allow[1], "fe80::/10") &&
              block_is(&b->allow[2], "2001:db8::1/128") && block_is(&b->allow[3], "10.0.0.0/8"),
          "protection: b allow entries");
  }
  check(l->max_connections == 0 && l->max_connections_per_ip == 0 && l->handshake_timeout_ms == 0 &&
            l->allow_count == 0,
        "protection: c explicit zeros");
  iocpd_config_free(c);

  /* The service's upper bound. */
  c = load_text("service-max.ini",
                "[service]\nmax_connections = 1000000\n"
                "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                none);
  if (c != NULL) {
    check(c->max_connections == 1000000, "service-max: %llu",
          (unsigned long long)c->max_connections);
    iocpd_config_free(c);
  }
}

/* send_proxy, accept_proxy, proxy_trusted, proxy_timeout: values and
 * defaults. (Their problems are config cases: proxy-*.ini.) */
static void test_proxy_values(void) {
  static const char text[] = "[listener:a]\n"
                             "listen = 127.0.0.1:7000\n"
                             "handler = forward\n"
                             "upstream = 127.0.0.1:1\n"
                             "send_proxy = v2\n"
                             "accept_proxy = any\n"
                             "proxy_trusted = 10.0.0.5, 192.168.0.0/16\n"
                             "proxy_timeout = 750ms\n"
                             "[listener:b]\n"
                             "listen = 127.0.0.1:7001\n"
                             "handler = echo\n"
                             "accept_proxy = v1\n"
                             "proxy_trusted = ::1\n"
                             "[listener:c]\n"
                             "listen = 127.0.0.1:7002\n"
                             "handler = forward\n"
                             "upstream = 127.0.0.1:1\n"
                             "send_proxy = v1\n"
                             "accept_proxy = off\n"
                             "[listener:d]\n"
                             "listen = 127.0.0.1:7003\n"
                             "handler = echo\n";
  iocpd_config *c = load_any("proxy.ini", text, strlen(text), 1, none, none);
  const iocpd_config_listener *a, *b, *l, *d;

  if (c == NULL) return;
  check(c->listener_count == 4, "proxy: %d listeners", (int)c->listener_count);
  if (c->listener_count != 4) {
    iocpd_config_free(c);
    return;
  }
  a = &c->listeners[0];
  b = &c->listeners[1];
  l = &c->listeners[2];
  d = &c->listeners[3];
  check(a->send_proxy == 2 && a->accept_proxy == 3 && a->proxy_timeout_ms == 750,
        "proxy: a %d %d %llu", a->send_proxy, a->accept_proxy,
        (unsigned long long)a->proxy_timeout_ms);
  check(a->proxy_trusted_count == 2 && block_is(&a->proxy_trusted[0], "10.0.0.5/32") &&
            block_is(&a->proxy_trusted[1], "192.168.0.0/16"),
        "proxy: a trusted");
  check(b->send_proxy == 0 && b->accept_proxy == 1 && b->proxy_timeout_ms == 5000 &&
            b->proxy_trusted_count == 1 && block_is(&b->proxy_trusted[0], "::1/128"),
        "proxy: b %d %d %llu", b->send_proxy, b->accept_proxy,
        (unsigned long long)b->proxy_timeout_ms);
  check(l->send_proxy == 1 && l->accept_proxy == 0, "proxy: c %d %d", l->send_proxy,
        l->accept_proxy);
  check(d->send_proxy == 0 && d->accept_proxy == 0 && d->proxy_trusted == NULL &&
            d->proxy_timeout_ms == 5000,
        "proxy: d defaults");
  iocpd_config_free(c);
}

/* allow, deny, proxy_trusted and upstream may be repeated in a section:
 * each line appends, in file order, up to MAX_BLOCKS blocks in all (an
 * allow list of 500 blocks takes 50 lines: inih reads lines of up to 200
 * bytes). Any other key repeated is an error (test_protection_problems). */
static void test_repeated_lists(void) {
  char *text = malloc(256 * 1024), *p;
  static const char *const too_many[] = {":414: allow: more than 4096 entries in all (the limit)",
                                         NULL};
  iocpd_config *c;
  int i, line;

  if (text == NULL) return;
  p = text;
  p += sprintf(p, "[listener:a]\n"                        /* 1 */
                  "listen = 127.0.0.1:7000\n"             /* 2 */
                  "handler = forward\n"                   /* 3 */
                  "upstream = 127.0.0.1:1, 127.0.0.1:2\n" /* 4 */
                  "deny = 10.9.0.0/16\n"                  /* 5 */
                  "upstream = 127.0.0.1:3\n"              /* 6 */
                  "deny = 10.8.0.0/16, ::1/128\n"         /* 7 */
                  "upstream = [::1]:4, 127.0.0.1:5\n"     /* 8 */
                  "accept_proxy = v1\n"                   /* 9 */
                  "proxy_trusted = 192.168.0.1\n"         /* 10 */
                  "proxy_trusted = 192.168.0.2\n");       /* 11 */
  /* Lines 12-61: 50 lines of 10 blocks, 10.0.0.0/32 to 10.0.1.243/32. */
  for (line = 0; line < 50; line++) {
    p += sprintf(p, "allow = ");
    for (i = 0; i < 10; i++) {
      int n = line * 10 + i;
      p += sprintf(p, "%s10.0.%d.%d", i > 0 ? ", " : "", n / 256, n % 256);
    }
    p += sprintf(p, "\n");
  }
  c = load_any("repeated.ini", text, strlen(text), 1, none, none);
  if (c != NULL) {
    const iocpd_config_listener *a = &c->listeners[0];
    char buf[IOCPD_ADDR_STRLEN];
    check(a->allow_count == 500 && block_is(&a->allow[0], "10.0.0.0/32") &&
              block_is(&a->allow[255], "10.0.0.255/32") &&
              block_is(&a->allow[499], "10.0.1.243/32"),
          "repeated: %d allow blocks", (int)a->allow_count);
    check(a->deny_count == 3 && block_is(&a->deny[0], "10.9.0.0/16") &&
              block_is(&a->deny[2], "::1/128"),
          "repeated: %d deny blocks", (int)a->deny_count);
    check(a->proxy_trusted_count == 2 && block_is(&a->proxy_trusted[1], "192.168.0.2/32"),
          "repeated: %d trusted", (int)a->proxy_trusted_count);
    check(a->upstream_count == 5 &&
              strcmp(iocpd_addr_format(&a->upstreams[2], buf), "127.0.0.1:3") == 0 &&
              strcmp(iocpd_addr_format(&a->upstreams[3], buf), "[::1]:4") == 0,
          "repeated: %d upstreams", (int)a->upstream_count);
    iocpd_config_free(c);
  }

  /* 410 lines of 10 blocks pass the limit on the last one; a problem of
   * a later line names that line. */
  p = text;
  p += sprintf(p, "[listener:b]\nlisten = 127.0.0.1:7001\nhandler = forward\n"
                  "upstream = 127.0.0.1:1\n");
  for (line = 0; line < 410; line++) {
    p += sprintf(p, "allow = ");
    for (i = 0; i < 10; i++) {
      int n = line * 10 + i;
      p += sprintf(p, "%s10.%d.%d.%d", i > 0 ? ", " : "", n / 65536, n / 256 % 256, n % 256);
    }
    p += sprintf(p, "\n");
  }
  load_any("too-many.ini", text, strlen(text), 1, too_many, NULL);
  {
    static const char bad[] = "[listener:c]\nlisten = 127.0.0.1:7002\nhandler = forward\n"
                              "upstream = 127.0.0.1:1\nupstream = 127.0.0.1:2,\n"
                              "allow = 10.0.0.0/8\nallow = 10.0.0.1/8\n";
    static const char *const expected[] = {
        ":5: upstream: entry 2 of '127.0.0.1:2,' is empty",
        ":7: allow: '10.0.0.1/8' has bits set after the /8 prefix (did you mean 10.0.0.0/8?)",
        NULL};
    load_any("bad-line.ini", bad, strlen(bad), 1, expected, NULL);
  }
  free(text);
}

/* Every problem of the protection keys, in one file, in line order. */
static void test_protection_problems(void) {
  static const char text[] = "[service]\n"                                /* 1 */
                             "max_connections = 1000001\n"                /* 2 */
                             "[listener:a]\n"                             /* 3 */
                             "listen = 127.0.0.1:7000\n"                  /* 4 */
                             "handler = echo\n"                           /* 5 */
                             "max_connections = -1\n"                     /* 6 */
                             "max_connections_per_ip = 10k\n"             /* 7 */
                             "allow = 10.0.0.0/33, ::1/129, 1.2.3/8\n"    /* 8 */
                             "deny = 10.0.0.1/8, fe80::1/10, 10.0.0.0/\n" /* 9 */
                             "handshake_timeout = 61m\n"                  /* 10 */
                             "[listener:b]\n"                             /* 11 */
                             "listen = 127.0.0.1:7001\n"                  /* 12 */
                             "handler = echo\n"                           /* 13 */
                             "allow =\n"                                  /* 14 */
                             "deny = 10.0.0.0/8,, ::1\n"                  /* 15 */
                             "handshake_timeout = -5s\n"                  /* 16 */
                             "max_connections =\n"                        /* 17 */
                             "allow = 10.0.0.0/8\n"                       /* 18 */
                             "[listener:c]\n"                             /* 19 */
                             "listen = 127.0.0.1:7002\n"                  /* 20 */
                             "handler = echo\n"                           /* 21 */
                             "allow = 10.0.0.0/8/9, /8, fe80::1%1/64, 10.0.0.0 /8, localhost, "
                             "10.0.0.0/0008\n"                             /* 22 */
                             "handshake_timeout = 99999999999h\n"          /* 23 */
                             "max_connections_per_ip = 1000001\n"          /* 24 */
                             "deny = 1.2.3.4/32,\n"                        /* 25 */
                             "max_connections_per_ip = 5\n"                /* 26 */
                             "buffer_size = 64q\n"                         /* 27 */
                             "[service]\n"                                 /* 28 */
                             "max_connections = 5\n"                       /* 29 */
                             "[listener:d]\n"                              /* 30 */
                             "listen = 127.0.0.1:7003\n"                   /* 31 */
                             "handler = echo\n"                            /* 32 */
                             "max_connections = 1e6\n"                     /* 33 */
                             "allow = 0.0.0.1/0, ::1/64, 192.168.1.1/24\n" /* 34 */
                             "handshake_timeout = 5124095576030432h\n";    /* 35 */
#define BLOCK_HELP "(expected a.b.c.d/N with N 0-32, or ipv6/N with N 0-128)"
#define LIMIT_HELP "(expected a number from 0 to 1000000; 0 means no limit)"
  static const char *const expected[] = {
      ":2: max_connections: invalid value '1000001' " LIMIT_HELP,
      ":6: max_connections: invalid value '-1' " LIMIT_HELP,
      ":7: max_connections_per_ip: invalid value '10k' " LIMIT_HELP,
      ":8: allow: '10.0.0.0/33' is not a valid address block " BLOCK_HELP,
      ":8: allow: '::1/129' is not a valid address block " BLOCK_HELP,
      ":8: allow: '1.2.3/8' is not a valid address block " BLOCK_HELP,
      ":9: deny: '10.0.0.1/8' has bits set after the /8 prefix (did you "
      "mean 10.0.0.0/8?)",
      ":9: deny: 'fe80::1/10' has bits set after the /10 prefix (did you "
      "mean fe80::/10?)",
      ":9: deny: '10.0.0.0/' is not a valid address block " BLOCK_HELP,
      ":10: handshake_timeout: '61m' is more than the maximum of 1h",
      ":14: allow: value is empty (expected address blocks such as "
      "10.0.0.0/8 or ::1/128, separated by commas)",
      ":15: deny: entry 2 of '10.0.0.0/8,, ::1' is empty",
      ":16: handshake_timeout: invalid duration '-5s' (expected e.g. 500ms, "
      "30s, 5m or 1h)",
      ":17: max_connections: invalid value '' " LIMIT_HELP,
      ":22: allow: '10.0.0.0/8/9' is not a valid address block " BLOCK_HELP,
      ":22: allow: '/8' is not a valid address block " BLOCK_HELP,
      ":22: allow: 'fe80::1%1/64' is not a valid address block " BLOCK_HELP,
      ":22: allow: '10.0.0.0 /8' is not a valid address block " BLOCK_HELP,
      ":22: allow: 'localhost' is not a valid address block " BLOCK_HELP,
      ":22: allow: '10.0.0.0/0008' is not a valid address block " BLOCK_HELP,
      ":23: handshake_timeout: '99999999999h' is more than the maximum of 1h",
      ":24: max_connections_per_ip: invalid value '1000001' " LIMIT_HELP,
      ":25: deny: entry 2 of '1.2.3.4/32,' is empty",
      ":26: duplicate key 'max_connections_per_ip' in [listener:c] (first at "
      "line 24)",
      ":27: buffer_size: invalid size '64q' (expected e.g. 4096, 64k or 1m)",
      ":28: duplicate section [service] (first at line 1)",
      ":33: max_connections: invalid value '1e6' " LIMIT_HELP,
      ":34: allow: '0.0.0.1/0' has bits set after the /0 prefix (did you "
      "mean 0.0.0.0/0?)",
      ":34: allow: '::1/64' has bits set after the /64 prefix (did you mean "
      "::/64?)",
      ":34: allow: '192.168.1.1/24' has bits set after the /24 prefix (did "
      "you mean 192.168.1.0/24?)",
      ":35: handshake_timeout: invalid duration '5124095576030432h' "
      "(expected e.g. 500ms, 30s, 5m or 1h)",
      NULL};
#undef BLOCK_HELP
#undef LIMIT_HELP
  load_text("protection-many.ini", text, expected);
}

/* Valid but useless settings: warnings, and the config is still valid. */
static void test_warnings(void) {
  static const char text[] = "[service]\n"                                   /* 1 */
                             "max_connections = 100\n"                       /* 2 */
                             "[listener:public]\n"                           /* 3 */
                             "listen = 0.0.0.0:8080\n"                       /* 4 */
                             "handler = echo\n"                              /* 5 */
                             "[listener:public6]\n"                          /* 6 */
                             "listen = [::]:8081\n"                          /* 7 */
                             "handler = echo\n"                              /* 8 */
                             "deny = 10.0.0.0/8\n"                           /* 9 */
                             "[listener:closed]\n"                           /* 10 */
                             "listen = 127.0.0.1:8082\n"                     /* 11 */
                             "handler = echo\n"                              /* 12 */
                             "allow = 10.0.0.0/8, 192.168.1.0/24, ::1/128\n" /* 13 */
                             "deny = 10.0.0.0/7, 192.168.0.0/16\n"           /* 14 */
                             "[listener:wrong-family]\n"                     /* 15 */
                             "listen = [::1]:8083\n"                         /* 16 */
                             "handler = echo\n"                              /* 17 */
                             "allow = 127.0.0.1\n"                           /* 18 */
                             "[listener:all-denied]\n"                       /* 19 */
                             "listen = 127.0.0.1:8084\n"                     /* 20 */
                             "handler = echo\n"                              /* 21 */
                             "deny = ::/0, 0.0.0.0/0\n"                      /* 22 */
                             "[listener:per-ip]\n"                           /* 23 */
                             "listen = 127.0.0.1:8085\n"                     /* 24 */
                             "handler = echo\n"                              /* 25 */
                             "max_connections = 10\n"                        /* 26 */
                             "max_connections_per_ip = 11\n"                 /* 27 */
                             "[listener:per-ip-service]\n"                   /* 28 */
                             "listen = 127.0.0.1:8086\n"                     /* 29 */
                             "handler = echo\n"                              /* 30 */
                             "max_connections_per_ip = 101\n"                /* 31 */
                             "[listener:fine]\n"                             /* 32 */
                             "listen = 10.1.2.3:8087\n"                      /* 33 */
                             "handler = echo\n"                              /* 34 */
                             "allow = 10.0.0.0/8, 10.1.0.0/16\n"             /* 35 */
                             "deny = 10.1.0.0/16, 10.0.0.0/9\n"              /* 36 */
                             "max_connections = 10\n"                        /* 37 */
                             "max_connections_per_ip = 10\n"                 /* 38 */
                             "[listener:loop6]\n"                            /* 39 */
                             "listen = [::1]:8088\n"                         /* 40 */
                             "handler = echo\n"                              /* 41 */
                             "deny = 0.0.0.0/0\n"                            /* 42 */
                             "[listener:v6-closed]\n"                        /* 43 */
                             "listen = [::1]:8089\n"                         /* 44 */
                             "handler = echo\n"                              /* 45 */
                             "allow = ::1, 127.0.0.0/8\n"                    /* 46 */
                             "deny = ::/1, 8000::/1\n";                      /* 47 */
  static const char *const warnings[] = {
      ":4: warning: [listener:public] listens on 0.0.0.0:8080 without an "
      "allow list: every address can connect",
      ":7: warning: [listener:public6] listens on [::]:8081 without an allow "
      "list: every address not in deny can connect",
      ":14: warning: deny = 10.0.0.0/7, 192.168.0.0/16 covers every address "
      "in allow; nothing can connect to [listener:closed]",
      ":18: warning: allow = 127.0.0.1 has no IPv6 entry, and "
      "[listener:wrong-family] listens on [::1]:8083: nothing can connect",
      ":22: warning: deny = ::/0, 0.0.0.0/0 covers every IPv4 address; "
      "nothing can connect to [listener:all-denied]",
      ":27: warning: max_connections_per_ip = 11 is more than "
      "max_connections = 10 of [listener:per-ip]; it never applies",
      ":31: warning: max_connections_per_ip = 101 is more than [service] "
      "max_connections = 100; it never applies",
      ":47: warning: deny = ::/1, 8000::/1 covers every address in allow; "
      "nothing can connect to [listener:v6-closed]",
      NULL};
  static const char *const broken[] = {
      ":2: workers: invalid value 'x' (expected a number from 0 to 64)", NULL};
  iocpd_config *c;
  messages m;
  int rc;

  c = load_any("warnings.ini", text, strlen(text), 1, none, warnings);
  iocpd_config_free(c);
  c = load_any("warnings-buffer.ini", text, strlen(text), 0, none, warnings);
  iocpd_config_free(c);

  /* Warnings are no problems: the report callback never sees them, and
   * a file with warnings and a problem reports only the problem. */
  memset(&m, 0, sizeof(m));
  c = NULL;
  rc = iocpd_config_load_buffer("w.ini", "[listener:x]\nlisten = 0.0.0.0:1\nhandler = echo\n", 46,
                                &c, collect, &m);
  check(rc == 0 && c != NULL && m.count == 0 && c->warning_count == 1,
        "warnings: rc %d, %d messages, %d warnings", rc, (int)m.count,
        c != NULL ? (int)c->warning_count : -1);
  iocpd_config_free(c);
  messages_free(&m);
  load_text("warnings-broken.ini",
            "[service]\nworkers = x\n"
            "[listener:x]\nlisten = 0.0.0.0:1\nhandler = echo\n",
            broken);

  /* A loopback listener without allow, and one with allow, warn nothing. */
  c = load_any("no-warnings.ini",
               "[listener:a]\nlisten = 127.0.0.2:1\nhandler = echo\n"
               "[listener:b]\nlisten = [::1]:1\nhandler = echo\n"
               "[listener:c]\nlisten = 0.0.0.0:2\nhandler = echo\n"
               "allow = 0.0.0.0/0\n",
               strlen("[listener:a]\nlisten = 127.0.0.2:1\nhandler = echo\n"
                      "[listener:b]\nlisten = [::1]:1\nhandler = echo\n"
                      "[listener:c]\nlisten = 0.0.0.0:2\nhandler = echo\n"
                      "allow = 0.0.0.0/0\n"),
               1, none, none);
  iocpd_config_free(c);
}

void test_protection(void) {
  test_protection_values();
  test_proxy_values();
  test_repeated_lists();
  test_protection_problems();
  test_warnings();
}
