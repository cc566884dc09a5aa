/*
 * Config unit test, part of test_config_units (see test_config_units.c):
 * Units, whole files and line-level problems: iocpd_parse_duration,
 * iocpd_parse_size, a full valid file, defaults, problems of the file and
 * of lines, and many problems in one file.
 */
#define _CRT_SECURE_NO_WARNINGS

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configtest.h"

/* ------------------------------------------------------------------------ */
/* Units */

static void test_duration(void) {
  static const struct {
    const char *text;
    uint64_t ms;
  } good[] = {
      {"500ms", 500},
      {"30s", 30000},
      {"5m", 300000},
      {"1h", 3600000},
      {"7", 7000},
      {"0", 0},
      {"0ms", 0},
      {"007s", 7000},
      {"18446744073709551615ms", 18446744073709551615u},
      {"18446744073709551s", 18446744073709551000u},
  };
  static const char *const bad[] = {
      "",
      "-1",
      "-5s",
      "+5s",
      " 5s",
      "5s ",
      "5 s",
      "5x",
      "s",
      "ms",
      "5S",
      "5MS",
      "1.5s",
      "5sm",
      "0x10",
      "64q",
      "1d",
      "99999999999999999999h",
      "18446744073709551616ms",
      "18446744073709552s",
      "5124095576030432h",
  };
  size_t i;

  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    uint64_t ms = 12345;
    int rc = iocpd_parse_duration(good[i].text, &ms);
    check(rc == 0 && ms == good[i].ms, "duration '%s': rc %d, %llu ms, expected %llu ms",
          good[i].text, rc, (unsigned long long)ms, (unsigned long long)good[i].ms);
  }
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint64_t ms = 0;
    int rc = iocpd_parse_duration(bad[i], &ms);
    check(rc == IOCPD_EINVAL, "duration '%s' accepted (rc %d, %llu ms)", bad[i], rc,
          (unsigned long long)ms);
  }
  check(iocpd_parse_duration(NULL, NULL) == IOCPD_EINVAL, "duration NULL");
}

static void test_size(void) {
  static const struct {
    const char *text;
    uint64_t bytes;
  } good[] = {
      {"0", 0},
      {"123", 123},
      {"64k", 65536},
      {"64K", 65536},
      {"1m", 1048576},
      {"1M", 1048576},
      {"1g", 1073741824},
      {"2G", 2147483648u},
      {"17179869183g", 18446744072635809792u},
      {"18446744073709551615", 18446744073709551615u},
  };
  static const char *const bad[] = {
      "",
      "-1",
      "-1k",
      "+1k",
      "64q",
      "k",
      "1kb",
      "1.5k",
      " 1k",
      "1k ",
      "1 k",
      "0x10",
      "1t",
      "1kk",
      "99999999999999999999",
      "18446744073709551616",
      "17179869184g",
      "18014398509481984k",
  };
  size_t i;

  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    uint64_t bytes = 12345;
    int rc = iocpd_parse_size(good[i].text, &bytes);
    check(rc == 0 && bytes == good[i].bytes, "size '%s': rc %d, %llu bytes, expected %llu",
          good[i].text, rc, (unsigned long long)bytes, (unsigned long long)good[i].bytes);
  }
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint64_t bytes = 0;
    int rc = iocpd_parse_size(bad[i], &bytes);
    check(rc == IOCPD_EINVAL, "size '%s' accepted (rc %d, %llu bytes)", bad[i], rc,
          (unsigned long long)bytes);
  }
  check(iocpd_parse_size(NULL, NULL) == IOCPD_EINVAL, "size NULL");
}

static void test_good(void) {
  static const char text[] =
      "\xEF\xBB\xBF; a full config with a BOM, CRLF, indentation, comments\r\n"
      "[service]\r\n"
      "  workers = 4   ; four\r\n"
      "\tdrain_timeout = 500ms\r\n"
      "log_level = debug\r\n"
      "\r\n"
      "[listener:echo-1.a_B]   ; comment after a header\r\n"
      "listen = 127.0.0.1:7007\r\n"
      "handler = echo\r\n"
      "[listener:v6]\r\n"
      "    listen = [::1]:8008\r\n"
      "    handler = echo    ; indented keys are not continuation lines\r\n"
      "# hash comment, no line ending at the end";
  iocpd_config *c = load_text("good.ini", text, none);
  if (c == NULL) return;

  check(strcmp(c->path, path_of("good.ini")) == 0, "good: path %s", c->path);
  check(c->workers == 4, "good: workers %u", c->workers);
  check(c->drain_timeout_ms == 500, "good: drain %llu", (unsigned long long)c->drain_timeout_ms);
  check(c->log_level == IOCPD_LOG_DEBUG, "good: log_level %d", c->log_level);
  check(c->listener_count == 2, "good: %d listeners", (int)c->listener_count);
  if (c->listener_count == 2) {
    const iocpd_config_listener *a = &c->listeners[0], *b = &c->listeners[1];
    static const uint8_t v4[4] = {127, 0, 0, 1};
    static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    check(strcmp(a->name, "echo-1.a_B") == 0, "good: name %s", a->name);
    check(a->line == 7, "good: line %d", a->line);
    check(a->listen.family == IOCPD_AF_INET && a->listen.port == 7007 &&
              memcmp(a->listen.ip, v4, 4) == 0,
          "good: listen of echo-1.a_B");
    check(strcmp(a->listen_text, "127.0.0.1:7007") == 0, "good: text %s", a->listen_text);
    check(a->handler == IOCPD_HANDLER_ECHO, "good: handler");
    check(strcmp(b->name, "v6") == 0, "good: name %s", b->name);
    check(b->line == 10, "good: line %d", b->line);
    check(b->listen.family == IOCPD_AF_INET6 && b->listen.port == 8008 &&
              memcmp(b->listen.ip, v6, 16) == 0,
          "good: listen of v6");
    check(strcmp(b->listen_text, "[::1]:8008") == 0, "good: text %s", b->listen_text);
  }
  iocpd_config_free(c);
}

static void test_defaults(void) {
  iocpd_config *c = load_text("defaults.ini",
                              "[listener:only]\n"
                              "handler = echo\n"
                              "listen = 0.0.0.0:1\n",
                              none);
  if (c == NULL) return;
  check(c->workers == 0, "defaults: workers %u", c->workers);
  check(c->drain_timeout_ms == 30000, "defaults: drain %llu",
        (unsigned long long)c->drain_timeout_ms);
  check(c->log_level == IOCPD_LOG_INFO, "defaults: log_level %d", c->log_level);
  check(c->listener_count == 1 && c->listeners[0].listen.port == 1 && c->listeners[0].line == 1,
        "defaults: listener");
  if (c->listener_count == 1) {
    const iocpd_config_listener *l = &c->listeners[0];
    check(l->upstreams == NULL && l->upstream_count == 0, "defaults: echo has upstreams");
    check(l->idle_timeout_ms == 600000, "defaults: idle %llu",
          (unsigned long long)l->idle_timeout_ms);
    check(l->buffer_size == 65536, "defaults: buffer %llu", (unsigned long long)l->buffer_size);
    check(l->max_connections == 0 && l->max_connections_per_ip == 0 && l->handshake_timeout_ms == 0,
          "defaults: protection limits");
    check(l->allow == NULL && l->allow_count == 0 && l->deny == NULL && l->deny_count == 0,
          "defaults: allow/deny lists");
  }
  check(c->max_connections == 10000, "defaults: max_connections %llu",
        (unsigned long long)c->max_connections);
  iocpd_config_free(c);

  /* Upper bounds that are still valid. */
  c = load_text("bounds.ini",
                "[service]\nworkers = 64\ndrain_timeout = 24h\n"
                "log_level = error\n"
                "[listener:x]\nlisten = [::]:65535\nhandler = echo\n"
                "[listener:y]\nlisten = 0.0.0.0:65535\nhandler = echo\n",
                none);
  if (c == NULL) return;
  check(c->workers == 64 && c->drain_timeout_ms == 86400000u && c->log_level == IOCPD_LOG_ERROR,
        "bounds: service values");
  iocpd_config_free(c);
}

static void test_file_problems(void) {
  static const char *const empty[] = {": no [listener:NAME] section; nothing to serve", NULL};
  static const char *const is_dir[] = {": cannot open: is a directory", NULL};
  static const char *const utf16[] = {": file is not UTF-8 text (UTF-16?)", NULL};
  static const char *const too_big[] = {": file is larger than 1 MiB", NULL};
  static const char utf16le[] = "\xFF\xFE[\0s\0e\0r\0v\0i\0c\0e\0]\0\n\0";
  static const char utf16be_nobom[] = "\0[\0s\0e\0r\0v\0i\0c\0e\0]\0\n";
  static const char utf16le_nobom[] = "[\0s\0e\0r\0v\0i\0c\0e\0]\0\n\0";
  char *big;
  size_t i, size = 1024 * 1024;
  messages m;
  iocpd_config *config = NULL;
  const char *path = path_of("does-not-exist.ini");

  /* A missing file: the OS text after the prefix differs per platform. */
  memset(&m, 0, sizeof(m));
  check(iocpd_config_load(path, &config, collect, &m) == 1 && config == NULL,
        "missing: return value");
  check(m.count == 1, "missing: %d messages", (int)m.count);
  if (m.count == 1) {
    char want[1100];
    snprintf(want, sizeof(want), "%s: cannot open: ", path);
    check(strncmp(m.text[0], want, strlen(want)) == 0 && strlen(m.text[0]) > strlen(want),
          "missing: %s", m.text[0]);
  }
  messages_free(&m);

  /* The directory itself, given as a path. */
  memset(&m, 0, sizeof(m));
  check(iocpd_config_load(dir, &config, collect, &m) == 1, "dir: count");
  check(m.count == 1 && strncmp(m.text[0], dir, strlen(dir)) == 0 &&
            strcmp(m.text[0] + strlen(dir), is_dir[0]) == 0,
        "dir: %s", m.count ? m.text[0] : "(none)");
  messages_free(&m);

  /* No report callback: only the count. */
  check(iocpd_config_load(dir, &config, NULL, NULL) == 1 && config == NULL, "dir without callback");

  load_text("empty.ini", "", empty);
  load_text("comments.ini", "; nothing\n\n[service]\nworkers = 1\n", empty);
  load_bytes("utf16le.ini", utf16le, sizeof(utf16le) - 1, utf16);
  load_bytes("utf16be.ini", utf16be_nobom, sizeof(utf16be_nobom) - 1, utf16);
  load_bytes("utf16le2.ini", utf16le_nobom, sizeof(utf16le_nobom) - 1, utf16);

  /* Exactly 1 MiB is fine; one byte more is not. */
  big = malloc(size + 2);
  if (big == NULL) {
    check(0, "out of memory");
    return;
  }
  memset(big, 'x', size + 1);
  memcpy(big, "[listener:big]\nlisten = 127.0.0.1:9\nhandler = echo\n", 51);
  for (i = 51; i < size + 1; i += 100) {
    big[i] = ';';
    if (i + 99 < size + 1) big[i + 99] = '\n';
  }
  big[size - 1] = '\n';
  config = load_bytes("big.ini", big, size, none);
  iocpd_config_free(config);
  big[size] = '\n';
  load_bytes("toobig.ini", big, size + 1, too_big);
  free(big);
}

static void test_line_problems(void) {
  /* Debian's inih takes lines of at most INI_MAX_LINE - 3 = 197 bytes. */
  char text[1024];
  static const char *const long_line[] = {":1: missing key 'listen' in [listener:x]",
                                          ":2: line is too long (198 bytes; the limit is 197)",
                                          NULL};
  static const char *const nul[] = {":1: missing key 'handler' in [listener:x]",
                                    ":3: line contains a NUL byte",
                                    ":4: missing key 'handler' in [listener:y]", NULL};
  static const char nul_text[] = "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\x00x\n"
                                 "[listener:y]\nlisten = 127.0.0.1:2\n";
  static const char *const latin1[] = {":1: line is not valid UTF-8 text", NULL};
  static const char *const broken_header[] = {":1: missing key 'handler' in [listener:x]",
                                              ":4: line contains a NUL byte", NULL};
  static const char broken_header_text[] =
      "[listener:x]\nlisten = 127.0.0.1:1\n\n[listen\0er:y]\nhandler = echo\n";
  static const char *const continuation[] = {
      ":2: listen: value is empty (expected a.b.c.d:port or [ipv6]:port)",
      ":3: missing '=' (expected 'key = value')", NULL};
  static const char *const forward[] = {
      ":1: missing key 'upstream' in [listener:x] (required by handler = "
      "forward)",
      NULL};

  /* 197 bytes: the longest line accepted, also with CRLF. */
  snprintf(text, sizeof(text),
           "; %0195d\r\n[listener:x]\nlisten = 1.2.3.4:5\n"
           "handler = echo\n",
           0);
  iocpd_config_free(load_text("limit.ini", text, none));
  snprintf(text, sizeof(text), "[listener:x]\n; %0196d\nhandler = echo\n", 0);
  load_text("long.ini", text, long_line);
  snprintf(text, sizeof(text), "[listener:x]\nlisten = 1.2.3.4:5   ; %0250d\nhandler = echo\n", 0);
  {
    static const char *const long_key[] = {":1: missing key 'listen' in [listener:x]",
                                           ":2: line is too long (273 bytes; the limit is 197)",
                                           NULL};
    load_text("longkey.ini", text, long_key);
  }
  /* Not "nul.ini": NUL is a device name on Windows, whatever the extension. */
  load_bytes("nulbyte.ini", nul_text, sizeof(nul_text) - 1, nul);
  load_text("latin1.ini", "; caf\xE9\n[listener:x]\nlisten = 1.2.3.4:5\nhandler = echo\n", latin1);
  iocpd_config_free(load_text("utf8.ini",
                              "; caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n[listener:x]\n"
                              "listen = 1.2.3.4:5\nhandler = echo\n",
                              none));
  load_bytes("brokenheader.ini", broken_header_text, sizeof(broken_header_text) - 1, broken_header);
  /* A value cannot continue on an indented line. */
  load_text("continuation.ini", "[listener:x]\nlisten =\n   127.0.0.1:1\nhandler = echo\n",
            continuation);
  load_text("forward.ini", "[listener:x]\nlisten = 127.0.0.1:1\nhandler = forward\n", forward);
}

/* One file with one of almost every problem; every message, in line order. */
static void test_many_problems(void) {
  static const char text[] = "key_before = 1\n"           /* 1 */
                             "[service]\n"                /* 2 */
                             "workers = 65\n"             /* 3 */
                             "drain_timeout = -5s\n"      /* 4 */
                             "log_level = verbose\n"      /* 5 */
                             "workers = 2\n"              /* 6 */
                             "colour = blue\n"            /* 7 */
                             "[Service]\n"                /* 8 */
                             "[listener:a]\n"             /* 9 */
                             "listen = 127.0.0.1:70000\n" /* 10 */
                             "handler = forward\n"        /* 11 */
                             "[listener:b]\n"             /* 12 */
                             "listen = 127.0.0.1:80x\n"   /* 13 */
                             "handler = telnet\n"         /* 14 */
                             "[listener:a]\n"             /* 15 */
                             "listen = 1.2.3.4:1\n"       /* 16 */
                             "[listener:bad name]\n"      /* 17 */
                             "listen = 127.0.0.1\n"       /* 18 */
                             "[listener:c]\n"             /* 19 */
                             "listen = 300.1.1.1:80\n"    /* 20 */
                             "[listener:d]\n"             /* 21 */
                             "listen = [::g]:80\n"        /* 22 */
                             "handler = echo\n"           /* 23 */
                             "listen:x = 1.2.3.4:5\n"     /* 24 */
                             "just words\n"               /* 25 */
                             "[unterminated\n"            /* 26 */
                             "listen = 1.1.1.1:1\n"       /* 27 */
                             "[listener:e] junk\n"        /* 28 */
                             "= value\n"                  /* 29 */
                             "[listener:f]\n"             /* 30 */
                             "listen = localhost:80\n"    /* 31 */
                             "handler = echo\n"           /* 32 */
                             "[listener:g]\n"             /* 33 */
                             "listen = ::1:80\n"          /* 34 */
                             "handler = echo\n"           /* 35 */
                             "[listener:h]\n"             /* 36 */
                             "listen = 10.0.0.1:7000\n"   /* 37 */
                             "handler = echo\n"           /* 38 */
                             "[listener:i]\n"             /* 39 */
                             "listen = 10.0.0.1:7000\n"   /* 40 */
                             "handler = echo\n"           /* 41 */
                             "[listener:j]\n"             /* 42 */
                             "listen = 0.0.0.0:7000\n"    /* 43 */
                             "handler = echo\n"           /* 44 */
                             "[listener:]\n"              /* 45 */
                             "listen = [::1]:7001\n"      /* 46 */
                             "handler = echo\n"           /* 47 */
                             "[listener:k]\n"             /* 48 */
                             "listen = [::1\n"            /* 49 */
                             "handler = echo\n"           /* 50 */
                             "[listener:l]\n"             /* 51 */
                             "listen = \n"                /* 52 */
                             "handler =\n"                /* 53 */
                             "[listener:m]\n"             /* 54 */
                             "listen = [1.2.3.4]:80\n"    /* 55 */
                             "handler = echo\n"           /* 56 */
                             "[listener:n]\n"             /* 57 */
                             "listen = :80\n"             /* 58 */
                             "handler = echo\n"           /* 59 */
                             "[listener:o]\n"             /* 60 */
                             "listen = 1.2.3.4:0\n"       /* 61 */
                             "handler = echo\n"           /* 62 */
                             "Listen = 1.2.3.4:9\n"       /* 63 */
                             "[listener:"
                             "a123456789b123456789c123456789d123456789e123456789f123456789g123]\n"
                             "[listener:p]\n"                             /* 65 */
                             "listen = [::1]\n"                           /* 66 */
                             "handler = echo\n"                           /* 67 */
                             "[listener:q]\n"                             /* 68 */
                             "listen = 1.2.3.4:99999999999999999999999\n" /* 69 */
                             "handler = echo\n";                          /* 70 */
  static const char *const expected[] = {
      ":1: key 'key_before' is outside any section (expected under [service] "
      "or [listener:NAME])",
      ":3: workers: invalid value '65' (expected a number from 0 to 64)",
      ":4: drain_timeout: invalid duration '-5s' (expected e.g. 500ms, 30s, "
      "5m or 1h)",
      ":5: log_level: invalid value 'verbose' (expected error, warning, info "
      "or debug)",
      ":6: duplicate key 'workers' in [service] (first at line 3)",
      ":7: unknown key 'colour' in [service] (expected " SERVICE_KEYS ")",
      ":8: unknown section [Service] (expected [service] or "
      "[listener:NAME])",
      ":9: missing key 'upstream' in [listener:a] (required by handler = "
      "forward)",
      ":10: listen: port 70000 out of range 1-65535",
      ":13: listen: port '80x' is not a number",
      ":14: handler: unknown handler 'telnet' (expected echo or forward)",
      ":15: duplicate section [listener:a] (first at line 9)",
      ":17: listener name 'bad name' contains characters other than A-Z a-z "
      "0-9 _ . -",
      ":17: missing key 'handler' in [listener:bad name]",
      ":18: listen: '127.0.0.1' has no port (expected a.b.c.d:port or "
      "[ipv6]:port)",
      ":19: missing key 'handler' in [listener:c]",
      ":20: listen: '300.1.1.1' is not a valid IPv4 address",
      ":22: listen: '::g' is not a valid IPv6 address",
      ":24: ':' is not allowed in a key name (expected 'key = value')",
      ":25: missing '=' (expected 'key = value')",
      ":26: section header is missing ']'",
      ":28: unexpected text after ']' in section header",
      ":29: missing key name before '='",
      ":31: listen: 'localhost' is not a numeric IPv4 address (host names "
      "are not supported)",
      ":34: listen: IPv6 address in '::1:80' must be in brackets, e.g. "
      "[::1]:7007",
      ":40: listen: 10.0.0.1:7000 is already used by [listener:h] (line 37)",
      ":43: listen: 0.0.0.0:7000 overlaps 10.0.0.1:7000 of [listener:h] "
      "(line 37)",
      ":45: listener name is empty",
      ":49: listen: '[::1' is missing ']' (expected [ipv6]:port)",
      ":52: listen: value is empty (expected a.b.c.d:port or [ipv6]:port)",
      ":53: handler: value is empty (expected echo or forward)",
      ":55: listen: '1.2.3.4' is not a valid IPv6 address",
      ":58: listen: ':80' has no address before the port",
      ":61: listen: port 0 out of range 1-65535",
      ":63: unknown key 'Listen' in [listener:o] (expected " LISTENER_KEYS ")",
      ":64: listener name is longer than 63 characters",
      ":64: missing key 'listen' in "
      "[listener:a123456789b123456789c123456789d123456789e123456789f123456789"
      "g123]",
      ":64: missing key 'handler' in "
      "[listener:a123456789b123456789c123456789d123456789e123456789f123456789"
      "g123]",
      ":66: listen: '[::1]' has no port (expected [ipv6]:port)",
      ":69: listen: port 99999999999999999999999 out of range 1-65535",
      NULL};
  load_text("many.ini", text, expected);
}

void test_units(void) {
  test_duration();
  test_size();
}

void test_basics(void) {
  test_good();
  test_defaults();
  test_file_problems();
  test_line_problems();
  test_many_problems();
}
