/*
 * Config unit test, part of test_config_units (see test_config_units.c):
 * Forward listeners: upstreams, names, connect_timeout, buffer_size and
 * the listener limit.
 */
#define _CRT_SECURE_NO_WARNINGS

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configtest.h"

/* ------------------------------------------------------------------------ */
/* Forward listeners */

/* Returns 1 if a is the address written as text. */
static int addr_is(const iocpd_addr *a, const char *text) {
  char buf[IOCPD_ADDR_STRLEN];
  return strcmp(iocpd_addr_format(a, buf), text) == 0;
}

static void test_forward_values(void) {
  iocpd_config *c;
  const iocpd_config_listener *l;

  /* Two numeric upstreams, every other key left at its default, and
   * upstream before handler (the order of keys does not matter). */
  c = load_text("forward.ini",
                "[listener:proxy]\n"
                "listen = 127.0.0.1:7007\n"
                "upstream =  10.0.0.5:80 ,\t[fd00::6]:8080\n"
                "handler = forward\n",
                none);
  if (c == NULL) return;
  check(c->listener_count == 1, "forward: %d listeners", (int)c->listener_count);
  l = &c->listeners[0];
  check(l->handler == IOCPD_HANDLER_FORWARD, "forward: handler %d", (int)l->handler);
  check(l->upstream_count == 2, "forward: %d upstreams", (int)l->upstream_count);
  if (l->upstream_count == 2) {
    check(l->upstreams[0].family == IOCPD_AF_INET && addr_is(&l->upstreams[0], "10.0.0.5:80"),
          "forward: first upstream");
    check(l->upstreams[1].family == IOCPD_AF_INET6 && addr_is(&l->upstreams[1], "[fd00::6]:8080"),
          "forward: second upstream");
  }
  check(l->connect_timeout_ms == 5000, "forward: connect %llu",
        (unsigned long long)l->connect_timeout_ms);
  check(l->idle_timeout_ms == 600000, "forward: idle %llu", (unsigned long long)l->idle_timeout_ms);
  check(l->buffer_size == 65536, "forward: buffer %llu", (unsigned long long)l->buffer_size);
  check(l->max_fails == 3 && l->fail_timeout_ms == 10000, "forward: max_fails %u, fail %llu",
        l->max_fails, (unsigned long long)l->fail_timeout_ms);
  check(l->health_check == 0 && l->health_interval_ms == 5000 && l->health_timeout_ms == 2000 &&
            l->rise == 2 && l->fall == 3,
        "forward: health defaults");
  iocpd_config_free(c);

  /* Every key set; lower bounds on one listener, upper ones on the other.
   * idle_timeout and buffer_size are for echo listeners too. */
  c = load_text("forward-keys.ini",
                "[listener:low]\n"
                "listen = 0.0.0.0:7007\n"
                "handler = forward\n"
                "upstream = 127.0.0.1:7008\n"
                "connect_timeout = 1ms\n"
                "max_fails = 0\n"
                "fail_timeout = 1ms\n"
                "idle_timeout = 0\n"
                "buffer_size = 1k\n"
                "[listener:high]\n"
                "listen = [::]:7007\n"
                "handler = forward\n"
                "upstream = [::1]:7008\n"
                "connect_timeout = 1h\n"
                "max_fails = 1000\n"
                "fail_timeout = 1h\n"
                "idle_timeout = 24h\n"
                "buffer_size = 16m\n"
                "[listener:echo]\n"
                "listen = 127.0.0.1:7009\n"
                "handler = echo\n"
                "idle_timeout = 0s\n"
                "buffer_size = 16777216\n",
                none);
  if (c == NULL) return;
  check(c->listener_count == 3, "forward-keys: %d listeners", (int)c->listener_count);
  if (c->listener_count == 3) {
    const iocpd_config_listener *lo = &c->listeners[0];
    const iocpd_config_listener *hi = &c->listeners[1];
    const iocpd_config_listener *e = &c->listeners[2];
    check(lo->upstream_count == 1 && addr_is(&lo->upstreams[0], "127.0.0.1:7008"),
          "forward-keys: low upstream");
    check(lo->connect_timeout_ms == 1 && lo->idle_timeout_ms == 0 && lo->buffer_size == 1024,
          "forward-keys: low values %llu %llu %llu", (unsigned long long)lo->connect_timeout_ms,
          (unsigned long long)lo->idle_timeout_ms, (unsigned long long)lo->buffer_size);
    check(lo->max_fails == 0 && lo->fail_timeout_ms == 1, "forward-keys: low health %u %llu",
          lo->max_fails, (unsigned long long)lo->fail_timeout_ms);
    check(hi->max_fails == 1000 && hi->fail_timeout_ms == 3600000,
          "forward-keys: high health %u %llu", hi->max_fails,
          (unsigned long long)hi->fail_timeout_ms);
    check(hi->upstream_count == 1 && addr_is(&hi->upstreams[0], "[::1]:7008"),
          "forward-keys: high upstream");
    check(hi->connect_timeout_ms == 3600000 && hi->idle_timeout_ms == 86400000 &&
              hi->buffer_size == 16777216,
          "forward-keys: high values %llu %llu %llu", (unsigned long long)hi->connect_timeout_ms,
          (unsigned long long)hi->idle_timeout_ms, (unsigned long long)hi->buffer_size);
    check(e->handler == IOCPD_HANDLER_ECHO && e->upstream_count == 0 && e->idle_timeout_ms == 0 &&
              e->buffer_size == 16777216,
          "forward-keys: echo values");
  }
  iocpd_config_free(c);

  /* A name resolves at load time. /etc/hosts (or Windows' own hosts
   * handling) gives 127.0.0.1 and maybe ::1: every address is kept. */
  c = load_text("forward-name.ini",
                "[listener:proxy]\n"
                "listen = 127.0.0.1:7007\n"
                "handler = forward\n"
                "upstream = localhost:80, 10.0.0.5:81\n",
                none);
  if (c != NULL) {
    size_t i, n = c->listeners[0].upstream_count;
    int found = 0;
    const iocpd_addr *u = c->listeners[0].upstreams;
    check(n >= 2, "forward-name: %d upstreams", (int)n);
    for (i = 0; i + 1 < n; i++) found |= addr_is(&u[i], "127.0.0.1:80");
    check(found, "forward-name: 127.0.0.1:80 is not among the upstreams");
    check(n >= 1 && addr_is(&u[n - 1], "10.0.0.5:81"),
          "forward-name: the numeric entry is not last");
    iocpd_config_free(c);
  }
  /* A name that leads back to the listener itself. */
  {
    static const char *const loop[] = {
        ":4: upstream: localhost:7007 (127.0.0.1:7007) is this listener's "
        "own address (relay loop)",
        NULL};
    load_text("forward-loop.ini",
              "[listener:proxy]\n"
              "listen = 127.0.0.1:7007\n"
              "handler = forward\n"
              "upstream = localhost:7007\n",
              loop);
  }
  /* A name that does not resolve: a warning, and no address from it. */
  c = load_text("forward-nohost.ini",
                "[listener:proxy]\n"
                "listen = 127.0.0.1:7007\n"
                "handler = forward\n"
                "upstream = 10.0.0.5:80, nohost.invalid:80\n",
                none);
  if (c != NULL) {
    check(c->listeners[0].upstream_count == 1 &&
              addr_is(&c->listeners[0].upstreams[0], "10.0.0.5:80"),
          "forward-nohost: the numeric entry alone");
    check(c->has_names && c->resolve_interval_ms == 30000, "forward-nohost: names, interval");
    check(c->warning_count == 1 &&
              strstr(c->warnings[0], ":4: warning: upstream: cannot resolve 'nohost.invalid': ") !=
                  NULL,
          "forward-nohost: warning %s", c->warning_count > 0 ? c->warnings[0] : "(none)");
    iocpd_config_free(c);
  }
}

/* Every problem of the new keys, in one file, in line order. */
static void test_forward_problems(void) {
  static const char text[] = "[listener:a]\n"                                               /* 1 */
                             "listen = 127.0.0.1:7000\n"                                    /* 2 */
                             "upstream = 10.0.0.1:80x, 10.0.0.1:0, 10.0.0.1\n"              /* 3 */
                             "handler = forward\n"                                          /* 4 */
                             "connect_timeout = 0\n"                                        /* 5 */
                             "idle_timeout = 25h\n"                                         /* 6 */
                             "buffer_size = 1023\n"                                         /* 7 */
                             "[listener:b]\n"                                               /* 8 */
                             "upstream = 10.0.0.1:80\n"                                     /* 9 */
                             "connect_timeout = 5s\n"                                       /* 10 */
                             "listen = 127.0.0.1:7001\n"                                    /* 11 */
                             "handler = echo\n"                                             /* 12 */
                             "buffer_size = 16777217\n"                                     /* 13 */
                             "[listener:c]\n"                                               /* 14 */
                             "listen = 127.0.0.1:7002\n"                                    /* 15 */
                             "handler = forward\n"                                          /* 16 */
                             "connect_timeout = 61m\n"                                      /* 17 */
                             "idle_timeout = soon\n"                                        /* 18 */
                             "buffer_size = 64kb\n"                                         /* 19 */
                             "[listener:d]\n"                                               /* 20 */
                             "listen = 127.0.0.1:7003\n"                                    /* 21 */
                             "handler = forward\n"                                          /* 22 */
                             "upstream = 10.0.0.1:1,, [::1]:2,\n"                           /* 23 */
                             "upstream = 10.0.0.1:2\n"                                      /* 24 */
                             "connect_timeout = 5 s\n"                                      /* 25 */
                             "[listener:e]\n"                                               /* 26 */
                             "listen = 0.0.0.0:7004\n"                                      /* 27 */
                             "handler = forward\n"                                          /* 28 */
                             "upstream = 127.0.0.1:7004, 127.9.9.9:7004, [::1]:7004\n"      /* 29 */
                             "[listener:f]\n"                                               /* 30 */
                             "listen = [::1]:7005\n"                                        /* 31 */
                             "handler = forward\n"                                          /* 32 */
                             "upstream = [::1]:7005, [::2]:7005\n"                          /* 33 */
                             "[listener:g]\n"                                               /* 34 */
                             "listen = 127.0.0.1:7006\n"                                    /* 35 */
                             "handler = forward\n"                                          /* 36 */
                             "upstream = [::1]:x, [1.2.3.4]:1, [::1, 1.2.3:4, a_b.c-d!:5\n" /* 37 */
                             "[listener:h]\n"                                               /* 38 */
                             "listen = 127.0.0.1:7007\n"                                    /* 39 */
                             "handler = forwarder\n"                                        /* 40 */
                             "upstream = ::1:80\n"                                          /* 41 */
                             "[listener:i]\n"                                               /* 42 */
                             "listen = 127.0.0.1:7008\n"                                    /* 43 */
                             "upstream = :80, 10.0.0.1:80\n"                                /* 44 */
                             "[listener:j]\n"                                               /* 45 */
                             "listen = 127.0.0.1:7009\n"                                    /* 46 */
                             "handler = forward\n"                                          /* 47 */
                             "upstream =\n"                                                 /* 48 */
                             "Upstream = 10.0.0.1:80\n"                                     /* 49 */
                             "[listener:k]\n"                                               /* 50 */
                             "listen = 127.0.0.1:7010\n"                                    /* 51 */
                             "handler = forward\n"                                          /* 52 */
                             "upstream = 10.0.0.1:80\n"                                     /* 53 */
                             "max_fails = 1001\n"                                           /* 54 */
                             "fail_timeout = 0\n"                                           /* 55 */
                             "[listener:l]\n"                                               /* 56 */
                             "listen = 127.0.0.1:7011\n"                                    /* 57 */
                             "handler = echo\n"                                             /* 58 */
                             "max_fails = 3\n"                                              /* 59 */
                             "fail_timeout = 61m\n"                                         /* 60 */
                             "health_check = connect\n"                                     /* 61 */
                             "[listener:m]\n"                                               /* 62 */
                             "listen = 127.0.0.1:7012\n"                                    /* 63 */
                             "handler = forward\n"                                          /* 64 */
                             "upstream = 10.0.0.1:80\n"                                     /* 65 */
                             "health_check = ping\n"                                        /* 66 */
                             "rise = 0\n"                                                   /* 67 */
                             "fall = 101\n"                                                 /* 68 */
                             "health_interval = 0\n";                                       /* 69 */
  static const char *const expected[] = {
      ":3: upstream: port '80x' is not a number (in '10.0.0.1:80x')",
      ":3: upstream: port 0 out of range 1-65535 (in '10.0.0.1:0')",
      ":3: upstream: '10.0.0.1' has no port (expected host:port, "
      "a.b.c.d:port or [ipv6]:port)",
      ":5: connect_timeout: '0' must be more than 0",
      ":6: idle_timeout: '25h' is more than the maximum of 24h",
      ":7: buffer_size: 1023 out of range 1k-16m",
      ":9: upstream: only valid with handler = forward",
      ":10: connect_timeout: only valid with handler = forward",
      ":13: buffer_size: 16777217 out of range 1k-16m",
      ":14: missing key 'upstream' in [listener:c] (required by handler = "
      "forward)",
      ":17: connect_timeout: '61m' is more than the maximum of 1h",
      ":18: idle_timeout: invalid duration 'soon' (expected e.g. 500ms, 30s, "
      "5m or 1h)",
      ":19: buffer_size: invalid size '64kb' (expected e.g. 4096, 64k or 1m)",
      ":23: upstream: entry 2 of '10.0.0.1:1,, [::1]:2,' is empty",
      ":23: upstream: entry 4 of '10.0.0.1:1,, [::1]:2,' is empty",
      ":25: connect_timeout: invalid duration '5 s' (expected e.g. 500ms, "
      "30s, 5m or 1h)",
      ":29: upstream: 127.0.0.1:7004 is this listener's own address (relay "
      "loop)",
      ":29: upstream: 127.9.9.9:7004 is this listener's own address (relay "
      "loop)",
      ":33: upstream: [::1]:7005 is this listener's own address (relay loop)",
      ":37: upstream: port 'x' is not a number (in '[::1]:x')",
      ":37: upstream: '1.2.3.4' is not a valid IPv6 address (in "
      "'[1.2.3.4]:1')",
      ":37: upstream: '[::1' is missing ']' (expected [ipv6]:port)",
      ":37: upstream: '1.2.3' is not a valid IPv4 address (in '1.2.3:4')",
      ":37: upstream: 'a_b.c-d!' is not a valid host name (in "
      "'a_b.c-d!:5')",
      ":40: handler: unknown handler 'forwarder' (expected echo or forward)",
      ":41: upstream: IPv6 address in '::1:80' must be in brackets, e.g. "
      "[::1]:7007",
      ":42: missing key 'handler' in [listener:i]",
      ":44: upstream: ':80' has no address before the port",
      ":48: upstream: value is empty (expected host:port, a.b.c.d:port or "
      "[ipv6]:port)",
      ":49: unknown key 'Upstream' in [listener:j] (expected " LISTENER_KEYS ")",
      ":54: max_fails: invalid value '1001' (expected a number from 0 to 1000)",
      ":55: fail_timeout: '0' must be more than 0",
      ":59: max_fails: only valid with handler = forward",
      ":60: fail_timeout: only valid with handler = forward",
      ":61: health_check: only valid with handler = forward",
      ":66: health_check: invalid value 'ping' (expected none or connect)",
      ":67: rise: invalid value '0' (expected a number from 1 to 100)",
      ":68: fall: invalid value '101' (expected a number from 1 to 100)",
      ":69: health_interval: '0' must be more than 0",
      NULL};
  load_text("forward-many.ini", text, expected);
}

/* ------------------------------------------------------------------------ */
/* iocpd_config_load_buffer */

static void test_buffer(void) {
  static const char valid[] = "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n";
  static const char *const nul[] = {":4: line contains a NUL byte", NULL};
  static const char *const nul_key[] = {":1: missing key 'handler' in [listener:x]",
                                        ":3: line contains a NUL byte", NULL};
  static const char *const empty[] = {": no [listener:NAME] section; nothing to serve", NULL};
  static const char *const utf16[] = {": file is not UTF-8 text (UTF-16?)", NULL};
  static const char *const too_big[] = {": file is larger than 1 MiB", NULL};
  static const char nul_comment[] = "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n; a\0b\n";
  static const char nul_last[] = "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n\0";
  static const char nul_value[] = "[listener:x]\nlisten = 127.0.0.1:1\nhandler = e\0cho\n";
  iocpd_config *c;
  messages m;
  int rc;

  /* The name is used as given, also in the config. */
  c = load_any("memory:valid", valid, sizeof(valid) - 1, 0, none, none);
  iocpd_config_free(c);

  /* NUL bytes inside the buffer: the line that holds one is reported, the
   * rest of the text is still read (a NUL is not the end of the text). */
  load_any("nul-comment", nul_comment, sizeof(nul_comment) - 1, 0, nul, NULL);
  load_any("nul-last", nul_last, sizeof(nul_last) - 1, 0, nul, NULL);
  load_any("nul-value", nul_value, sizeof(nul_value) - 1, 0, nul_key, NULL);
  load_any("only-nul", "\0", 1, 0, utf16, NULL);

  /* Only len bytes count: what follows them is not read. */
  {
    static const char longer[] = "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n"
                                 "this line is not part of the text";
    static const char *const cut_key[] = {":1: missing key 'handler' in [listener:x]",
                                          ":3: missing '=' (expected 'key = value')", NULL};
    iocpd_config_free(load_any("cut", longer, sizeof(valid) - 1, 0, none, none));
    /* Cut inside "handler = echo": the last line is "han". */
    load_any("cut-short", longer, 37, 0, cut_key, NULL);
  }

  /* No text at all: data may be NULL when len is 0. */
  memset(&m, 0, sizeof(m));
  c = NULL;
  rc = iocpd_config_load_buffer("none.ini", NULL, 0, &c, collect, &m);
  check(rc == 1 && c == NULL, "buffer NULL: returned %d", rc);
  compare_messages("buffer NULL", "none.ini", m.text, m.count, empty);
  messages_free(&m);

  /* No report callback: only the count. */
  check(iocpd_config_load_buffer("x", nul_value, sizeof(nul_value) - 1, &c, NULL, NULL) == 2 &&
            c == NULL,
        "buffer without callback");

  /* The size limit applies to a buffer as to a file. */
  {
    size_t size = 1024 * 1024 + 1;
    char *big = malloc(size);
    if (big == NULL) {
      check(0, "out of memory");
      return;
    }
    memset(big, '\n', size);
    memcpy(big, valid, sizeof(valid) - 1);
    load_any("big-buffer", big, size, 0, too_big, NULL);
    iocpd_config_free(load_any("limit-buffer", big, size - 1, 0, none, none));
    free(big);
  }
}

/* At most 1024 listeners: the checks between listeners compare every pair,
 * and a file near the size limit could otherwise hold 60000 of them. */
static void test_listener_limit(void) {
  static const char *const too_many[] = {
      ":3073: more than 1024 listeners (the limit); [listener:l1025] and the "
      "listeners after it are not read",
      NULL};
  size_t size = 1100 * 64, used = 0;
  char *text = malloc(size);
  int i;

  if (text == NULL) {
    check(0, "out of memory");
    return;
  }
  for (i = 1; i <= 1024; i++)
    used += (size_t)snprintf(text + used, size - used,
                             "[listener:l%d]\nlisten = 127.0.0.1:%d\n"
                             "handler = echo\n",
                             i, i);
  {
    iocpd_config *c = load_any("1024.ini", text, used, 0, none, none);
    check(c != NULL && c->listener_count == 1024, "1024 listeners");
    iocpd_config_free(c);
  }
  /* Two more; only the first one beyond the limit is reported, and what
   * follows it is not checked (its port 0 would be a problem). */
  used += (size_t)snprintf(text + used, size - used,
                           "[listener:l1025]\nlisten = 127.0.0.1:1025\n"
                           "handler = echo\n"
                           "[listener:l1026]\nlisten = 127.0.0.1:0\n");
  load_any("1026.ini", text, used, 0, too_many, NULL);
  free(text);
}

void test_forward(void) {
  test_forward_values();
  test_forward_problems();
  test_buffer();
  test_listener_limit();
}
