/*
 * Unit tests of the config module: iocpd_parse_duration, iocpd_parse_size,
 * iocpd_config_load on files written to a scratch directory, and
 * iocpd_config_load_buffer on the same texts in memory (which must give the
 * same messages), including NUL bytes, the size limit, the protection keys
 * (limits, allow/deny lists, handshake_timeout), the observability keys
 * (access_log and its rotation, metrics_listen) and the warnings a valid
 * config may carry.
 *
 * Usage: test_config_units [DIR]
 * DIR (default ".") must exist; the test writes its files there and removes
 * them again. Every message is compared exactly, with DIR in the path, which
 * also checks that messages quote the path exactly as the caller gave it.
 *
 * The forward tests resolve "localhost" (which must give 127.0.0.1) and
 * "nohost.invalid" (which must not resolve) through the system resolver.
 *
 * Prints one line per failure and "N passed, M failed" at the end; exits 0
 * only if nothing failed. Portable C11 (no POSIX), so it also runs in a
 * native Windows build.
 */
#define _CRT_SECURE_NO_WARNINGS

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* The keys listed by "unknown key" messages. */
#define SERVICE_KEYS                                                 \
  "workers, drain_timeout, log_level, max_connections, access_log, " \
  "access_log_max_size, access_log_keep or metrics_listen"
#define LISTENER_KEYS                                                        \
  "listen, handler, upstream, connect_timeout, idle_timeout, buffer_size, "  \
  "max_connections, max_connections_per_ip, allow, deny or "                 \
  "handshake_timeout"

static int passed;
static int failed;
static const char *dir = ".";

static void check(int ok, const char *fmt, ...) {
  va_list ap;
  if (ok) {
    passed++;
    return;
  }
  failed++;
  fputs("FAIL: ", stdout);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
}

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
    check(rc == 0 && ms == good[i].ms,
          "duration '%s': rc %d, %llu ms, expected %llu ms", good[i].text, rc,
          (unsigned long long)ms, (unsigned long long)good[i].ms);
  }
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint64_t ms = 0;
    int rc = iocpd_parse_duration(bad[i], &ms);
    check(rc == IOCPD_EINVAL, "duration '%s' accepted (rc %d, %llu ms)", bad[i],
          rc, (unsigned long long)ms);
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
    check(rc == 0 && bytes == good[i].bytes,
          "size '%s': rc %d, %llu bytes, expected %llu", good[i].text, rc,
          (unsigned long long)bytes, (unsigned long long)good[i].bytes);
  }
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    uint64_t bytes = 0;
    int rc = iocpd_parse_size(bad[i], &bytes);
    check(rc == IOCPD_EINVAL, "size '%s' accepted (rc %d, %llu bytes)", bad[i],
          rc, (unsigned long long)bytes);
  }
  check(iocpd_parse_size(NULL, NULL) == IOCPD_EINVAL, "size NULL");
}

/* ------------------------------------------------------------------------ */
/* Loading files */

/* The messages reported by one iocpd_config_load call. */
typedef struct messages {
  char *text[64];
  size_t count;
  size_t lost; /* beyond the 64 kept */
} messages;

static void collect(void *arg, const char *message) {
  messages *m = arg;
  size_t len = strlen(message);
  char *copy;

  check(strchr(message, '\n') == NULL, "message has a newline: %s", message);
  if (m->count == sizeof(m->text) / sizeof(m->text[0])) {
    m->lost++;
    return;
  }
  copy = malloc(len + 1);
  if (copy == NULL) {
    m->lost++;
    return;
  }
  memcpy(copy, message, len + 1);
  m->text[m->count++] = copy;
}

static void messages_free(messages *m) {
  size_t i;
  for (i = 0; i < m->count; i++) free(m->text[i]);
  m->count = 0;
}

/* DIR/name, in a static buffer (one path at a time is enough). */
static const char *path_of(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof(buf), "%s/%s", dir, name);
  return buf;
}

static void write_file(const char *path, const char *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) {
    check(0, "cannot create %s", path);
    return;
  }
  check(fwrite(data, 1, len, f) == len, "cannot write %s", path);
  check(fclose(f) == 0, "cannot close %s", path);
}

/* Compares the messages in m with expected, a NULL-terminated list of what
 * follows path in each message (":3: ..." or ": ..."). */
static void compare_messages(const char *what, const char *path,
                             char *const *got, size_t count,
                             const char *const *expected) {
  size_t want = 0, i;

  while (expected[want] != NULL) want++;
  check(count == want, "%s: %d messages, expected %d", what, (int)count,
        (int)want);
  for (i = 0; i < want || i < count; i++) {
    char full[1200];
    if (i < want) snprintf(full, sizeof(full), "%s%s", path, expected[i]);
    if (i >= count)
      check(0, "%s: missing message: %s", what, full);
    else if (i >= want)
      check(0, "%s: unexpected message: %s", what, got[i]);
    else
      check(strcmp(got[i], full) == 0, "%s: message %d\n   got: %s\n  want: %s",
            what, (int)i + 1, got[i], full);
  }
}

/* Loads data (len bytes) from a file DIR/name (from_file) or from memory
 * with iocpd_config_load_buffer under the name `name`, and compares the
 * problems with expected and, for a valid config, its warnings with
 * warnings (NULL: not compared, only checked to be well-formed). The
 * buffer handed to iocpd_config_load_buffer is a copy of exactly len
 * bytes, without a terminating NUL, so that a read past its end shows
 * under AddressSanitizer. Returns the config when valid, else NULL. */
static iocpd_config *load_any(const char *name, const char *data, size_t len,
                              int from_file, const char *const *expected,
                              const char *const *warnings) {
  char path[1024], what[1100];
  messages m;
  iocpd_config *config = NULL;
  size_t want = 0, i;
  int rc;

  memset(&m, 0, sizeof(m));
  while (expected[want] != NULL) want++;
  if (from_file) {
    snprintf(path, sizeof(path), "%s", path_of(name));
    snprintf(what, sizeof(what), "%s", name);
    if (data != NULL) write_file(path, data, len);
    rc = iocpd_config_load(path, &config, collect, &m);
  } else {
    char *copy = malloc(len > 0 ? len : 1);
    snprintf(path, sizeof(path), "%s", name);
    snprintf(what, sizeof(what), "%s (buffer)", name);
    if (copy == NULL) {
      check(0, "out of memory");
      return NULL;
    }
    if (len > 0) memcpy(copy, data, len);
    rc = iocpd_config_load_buffer(name, copy, len, &config, collect, &m);
    free(copy);
  }

  check(rc == (int)want, "%s: returned %d, expected %d", what, rc, (int)want);
  check(m.lost == 0, "%s: %d messages lost", what, (int)m.lost);
  compare_messages(what, path, m.text, m.count, expected);
  messages_free(&m);
  if (from_file && data != NULL) remove(path);
  if (want > 0) {
    check(config == NULL, "%s: config set although invalid", what);
    return NULL;
  }
  check(config != NULL, "%s: no config although valid", what);
  if (config == NULL) return NULL;
  check(strcmp(config->path, path) == 0, "%s: path %s", what, config->path);
  for (i = 0; i < config->warning_count; i++) {
    const char *w = config->warnings[i];
    check(strncmp(w, path, strlen(path)) == 0 && w[strlen(path)] == ':' &&
              strstr(w, ": warning: ") != NULL && strchr(w, '\n') == NULL,
          "%s: malformed warning: %s", what, w);
  }
  if (warnings != NULL)
    compare_messages(what, path, config->warnings, config->warning_count,
                     warnings);
  return config;
}

/* Writes data to DIR/name, loads it and compares the messages with expected
 * (see load_any); then loads the same bytes through
 * iocpd_config_load_buffer, which must say the same. Returns the config
 * from the file when valid, else NULL. */
static iocpd_config *load_bytes(const char *name, const char *data, size_t len,
                                const char *const *expected) {
  iocpd_config *config = load_any(name, data, len, 1, expected, NULL);
  if (data != NULL)
    iocpd_config_free(load_any(name, data, len, 0, expected, NULL));
  return config;
}

static iocpd_config *load_text(const char *name, const char *text,
                               const char *const *expected) {
  return load_bytes(name, text, strlen(text), expected);
}

static const char *const none[] = {NULL};

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
  check(c->drain_timeout_ms == 500, "good: drain %llu",
        (unsigned long long)c->drain_timeout_ms);
  check(c->log_level == IOCPD_LOG_DEBUG, "good: log_level %d", c->log_level);
  check(c->listener_count == 2, "good: %d listeners", (int)c->listener_count);
  if (c->listener_count == 2) {
    const iocpd_config_listener *a = &c->listeners[0], *b = &c->listeners[1];
    static const uint8_t v4[4] = {127, 0, 0, 1};
    static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 1};
    check(strcmp(a->name, "echo-1.a_B") == 0, "good: name %s", a->name);
    check(a->line == 7, "good: line %d", a->line);
    check(a->listen.family == IOCPD_AF_INET && a->listen.port == 7007 &&
              memcmp(a->listen.ip, v4, 4) == 0,
          "good: listen of echo-1.a_B");
    check(strcmp(a->listen_text, "127.0.0.1:7007") == 0, "good: text %s",
          a->listen_text);
    check(a->handler == IOCPD_HANDLER_ECHO, "good: handler");
    check(strcmp(b->name, "v6") == 0, "good: name %s", b->name);
    check(b->line == 10, "good: line %d", b->line);
    check(b->listen.family == IOCPD_AF_INET6 && b->listen.port == 8008 &&
              memcmp(b->listen.ip, v6, 16) == 0,
          "good: listen of v6");
    check(strcmp(b->listen_text, "[::1]:8008") == 0, "good: text %s",
          b->listen_text);
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
  check(c->listener_count == 1 && c->listeners[0].listen.port == 1 &&
            c->listeners[0].line == 1,
        "defaults: listener");
  if (c->listener_count == 1) {
    const iocpd_config_listener *l = &c->listeners[0];
    check(l->upstreams == NULL && l->upstream_count == 0,
          "defaults: echo has upstreams");
    check(l->idle_timeout_ms == 600000, "defaults: idle %llu",
          (unsigned long long)l->idle_timeout_ms);
    check(l->buffer_size == 65536, "defaults: buffer %llu",
          (unsigned long long)l->buffer_size);
    check(l->max_connections == 0 && l->max_connections_per_ip == 0 &&
              l->handshake_timeout_ms == 0,
          "defaults: protection limits");
    check(l->allow == NULL && l->allow_count == 0 && l->deny == NULL &&
              l->deny_count == 0,
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
  check(c->workers == 64 && c->drain_timeout_ms == 86400000u &&
            c->log_level == IOCPD_LOG_ERROR,
        "bounds: service values");
  iocpd_config_free(c);
}

static void test_file_problems(void) {
  static const char *const empty[] = {
      ": no [listener:NAME] section; nothing to serve", NULL};
  static const char *const is_dir[] = {": cannot open: is a directory", NULL};
  static const char *const utf16[] = {": file is not UTF-8 text (UTF-16?)",
                                      NULL};
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
    check(strncmp(m.text[0], want, strlen(want)) == 0 &&
              strlen(m.text[0]) > strlen(want),
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
  check(iocpd_config_load(dir, &config, NULL, NULL) == 1 && config == NULL,
        "dir without callback");

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
  static const char *const long_line[] = {
      ":1: missing key 'listen' in [listener:x]",
      ":2: line is too long (198 bytes; the limit is 197)", NULL};
  static const char *const nul[] = {":1: missing key 'handler' in [listener:x]",
                                    ":3: line contains a NUL byte",
                                    ":4: missing key 'handler' in [listener:y]",
                                    NULL};
  static const char nul_text[] =
      "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\x00x\n"
      "[listener:y]\nlisten = 127.0.0.1:2\n";
  static const char *const latin1[] = {":1: line is not valid UTF-8 text",
                                       NULL};
  static const char *const broken_header[] = {
      ":1: missing key 'handler' in [listener:x]",
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
  snprintf(text, sizeof(text),
           "[listener:x]\nlisten = 1.2.3.4:5   ; %0250d\nhandler = echo\n", 0);
  {
    static const char *const long_key[] = {
        ":1: missing key 'listen' in [listener:x]",
        ":2: line is too long (273 bytes; the limit is 197)", NULL};
    load_text("longkey.ini", text, long_key);
  }
  /* Not "nul.ini": NUL is a device name on Windows, whatever the extension. */
  load_bytes("nulbyte.ini", nul_text, sizeof(nul_text) - 1, nul);
  load_text("latin1.ini",
            "; caf\xE9\n[listener:x]\nlisten = 1.2.3.4:5\nhandler = echo\n",
            latin1);
  iocpd_config_free(
      load_text("utf8.ini",
                "; caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\n[listener:x]\n"
                "listen = 1.2.3.4:5\nhandler = echo\n",
                none));
  load_bytes("brokenheader.ini", broken_header_text,
             sizeof(broken_header_text) - 1, broken_header);
  /* A value cannot continue on an indented line. */
  load_text("continuation.ini",
            "[listener:x]\nlisten =\n   127.0.0.1:1\nhandler = echo\n",
            continuation);
  load_text("forward.ini",
            "[listener:x]\nlisten = 127.0.0.1:1\nhandler = forward\n", forward);
}

/* One file with one of almost every problem; every message, in line order. */
static void test_many_problems(void) {
  static const char text[] =
      "key_before = 1\n"           /* 1 */
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
      ":63: unknown key 'Listen' in [listener:o] (expected " LISTENER_KEYS
      ")",
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

/* ------------------------------------------------------------------------ */
/* Forward listeners */

/* Returns 1 if a is the address written as text. */
static int addr_is(const iocpd_addr *a, const char *text) {
  char buf[IOCPD_ADDR_STRLEN];
  return strcmp(iocpd_addr_format(a, buf), text) == 0;
}

/* Loads text, which must give exactly one message, starting with prefix
 * after the path (the rest is the OS's, e.g. a resolver's reason). */
static void load_prefix(const char *name, const char *text,
                        const char *prefix) {
  char want[1100];
  messages m;
  iocpd_config *config = NULL;
  const char *path = path_of(name);
  int rc;

  memset(&m, 0, sizeof(m));
  write_file(path, text, strlen(text));
  rc = iocpd_config_load(path, &config, collect, &m);
  snprintf(want, sizeof(want), "%s%s", path, prefix);
  check(rc == 1 && config == NULL, "%s: returned %d", name, rc);
  check(m.count == 1, "%s: %d messages", name, (int)m.count);
  if (m.count >= 1)
    check(strncmp(m.text[0], want, strlen(want)) == 0 &&
              strlen(m.text[0]) > strlen(want),
          "%s:\n   got: %s\n  want: %s...", name, m.text[0], want);
  messages_free(&m);
  remove(path);
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
  check(c->listener_count == 1, "forward: %d listeners",
        (int)c->listener_count);
  l = &c->listeners[0];
  check(l->handler == IOCPD_HANDLER_FORWARD, "forward: handler %d",
        (int)l->handler);
  check(l->upstream_count == 2, "forward: %d upstreams",
        (int)l->upstream_count);
  if (l->upstream_count == 2) {
    check(l->upstreams[0].family == IOCPD_AF_INET &&
              addr_is(&l->upstreams[0], "10.0.0.5:80"),
          "forward: first upstream");
    check(l->upstreams[1].family == IOCPD_AF_INET6 &&
              addr_is(&l->upstreams[1], "[fd00::6]:8080"),
          "forward: second upstream");
  }
  check(l->connect_timeout_ms == 5000, "forward: connect %llu",
        (unsigned long long)l->connect_timeout_ms);
  check(l->idle_timeout_ms == 600000, "forward: idle %llu",
        (unsigned long long)l->idle_timeout_ms);
  check(l->buffer_size == 65536, "forward: buffer %llu",
        (unsigned long long)l->buffer_size);
  iocpd_config_free(c);

  /* Every key set; lower bounds on one listener, upper ones on the other.
   * idle_timeout and buffer_size are for echo listeners too. */
  c = load_text("forward-keys.ini",
                "[listener:low]\n"
                "listen = 0.0.0.0:7007\n"
                "handler = forward\n"
                "upstream = 127.0.0.1:7008\n"
                "connect_timeout = 1ms\n"
                "idle_timeout = 0\n"
                "buffer_size = 1k\n"
                "[listener:high]\n"
                "listen = [::]:7007\n"
                "handler = forward\n"
                "upstream = [::1]:7008\n"
                "connect_timeout = 1h\n"
                "idle_timeout = 24h\n"
                "buffer_size = 16m\n"
                "[listener:echo]\n"
                "listen = 127.0.0.1:7009\n"
                "handler = echo\n"
                "idle_timeout = 0s\n"
                "buffer_size = 16777216\n",
                none);
  if (c == NULL) return;
  check(c->listener_count == 3, "forward-keys: %d listeners",
        (int)c->listener_count);
  if (c->listener_count == 3) {
    const iocpd_config_listener *lo = &c->listeners[0];
    const iocpd_config_listener *hi = &c->listeners[1];
    const iocpd_config_listener *e = &c->listeners[2];
    check(lo->upstream_count == 1 && addr_is(&lo->upstreams[0],
                                             "127.0.0.1:7008"),
          "forward-keys: low upstream");
    check(lo->connect_timeout_ms == 1 && lo->idle_timeout_ms == 0 &&
              lo->buffer_size == 1024,
          "forward-keys: low values %llu %llu %llu",
          (unsigned long long)lo->connect_timeout_ms,
          (unsigned long long)lo->idle_timeout_ms,
          (unsigned long long)lo->buffer_size);
    check(hi->upstream_count == 1 && addr_is(&hi->upstreams[0], "[::1]:7008"),
          "forward-keys: high upstream");
    check(hi->connect_timeout_ms == 3600000 &&
              hi->idle_timeout_ms == 86400000 &&
              hi->buffer_size == 16777216,
          "forward-keys: high values %llu %llu %llu",
          (unsigned long long)hi->connect_timeout_ms,
          (unsigned long long)hi->idle_timeout_ms,
          (unsigned long long)hi->buffer_size);
    check(e->handler == IOCPD_HANDLER_ECHO && e->upstream_count == 0 &&
              e->idle_timeout_ms == 0 && e->buffer_size == 16777216,
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
  load_prefix("forward-nohost.ini",
              "[listener:proxy]\n"
              "listen = 127.0.0.1:7007\n"
              "handler = forward\n"
              "upstream = 10.0.0.5:80, nohost.invalid:80\n",
              ":4: upstream: cannot resolve 'nohost.invalid': ");
}

/* Every problem of the new keys, in one file, in line order. */
static void test_forward_problems(void) {
  static const char text[] =
      "[listener:a]\n"                                    /* 1 */
      "listen = 127.0.0.1:7000\n"                         /* 2 */
      "upstream = 10.0.0.1:80x, 10.0.0.1:0, 10.0.0.1\n"   /* 3 */
      "handler = forward\n"                               /* 4 */
      "connect_timeout = 0\n"                             /* 5 */
      "idle_timeout = 25h\n"                              /* 6 */
      "buffer_size = 1023\n"                              /* 7 */
      "[listener:b]\n"                                    /* 8 */
      "upstream = 10.0.0.1:80\n"                          /* 9 */
      "connect_timeout = 5s\n"                            /* 10 */
      "listen = 127.0.0.1:7001\n"                         /* 11 */
      "handler = echo\n"                                  /* 12 */
      "buffer_size = 16777217\n"                          /* 13 */
      "[listener:c]\n"                                    /* 14 */
      "listen = 127.0.0.1:7002\n"                         /* 15 */
      "handler = forward\n"                               /* 16 */
      "connect_timeout = 61m\n"                           /* 17 */
      "idle_timeout = soon\n"                             /* 18 */
      "buffer_size = 64kb\n"                              /* 19 */
      "[listener:d]\n"                                    /* 20 */
      "listen = 127.0.0.1:7003\n"                         /* 21 */
      "handler = forward\n"                               /* 22 */
      "upstream = 10.0.0.1:1,, [::1]:2,\n"                /* 23 */
      "upstream = 10.0.0.1:2\n"                           /* 24 */
      "connect_timeout = 5 s\n"                           /* 25 */
      "[listener:e]\n"                                    /* 26 */
      "listen = 0.0.0.0:7004\n"                           /* 27 */
      "handler = forward\n"                               /* 28 */
      "upstream = 127.0.0.1:7004, 127.9.9.9:7004, [::1]:7004\n" /* 29 */
      "[listener:f]\n"                                    /* 30 */
      "listen = [::1]:7005\n"                             /* 31 */
      "handler = forward\n"                               /* 32 */
      "upstream = [::1]:7005, [::2]:7005\n"              /* 33 */
      "[listener:g]\n"                                    /* 34 */
      "listen = 127.0.0.1:7006\n"                         /* 35 */
      "handler = forward\n"                               /* 36 */
      "upstream = [::1]:x, [1.2.3.4]:1, [::1, 1.2.3:4, a_b.c-d!:5\n" /* 37 */
      "[listener:h]\n"                                    /* 38 */
      "listen = 127.0.0.1:7007\n"                         /* 39 */
      "handler = forwarder\n"                             /* 40 */
      "upstream = ::1:80\n"                               /* 41 */
      "[listener:i]\n"                                    /* 42 */
      "listen = 127.0.0.1:7008\n"                         /* 43 */
      "upstream = :80, 10.0.0.1:80\n"                     /* 44 */
      "[listener:j]\n"                                    /* 45 */
      "listen = 127.0.0.1:7009\n"                         /* 46 */
      "handler = forward\n"                               /* 47 */
      "upstream =\n"                                      /* 48 */
      "Upstream = 10.0.0.1:80\n";                         /* 49 */
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
      ":24: duplicate key 'upstream' in [listener:d] (first at line 23)",
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
      ":49: unknown key 'Upstream' in [listener:j] (expected " LISTENER_KEYS
      ")",
      NULL};
  load_text("forward-many.ini", text, expected);
}

/* ------------------------------------------------------------------------ */
/* iocpd_config_load_buffer */

static void test_buffer(void) {
  static const char valid[] =
      "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n";
  static const char *const nul[] = {":4: line contains a NUL byte", NULL};
  static const char *const nul_key[] = {
      ":1: missing key 'handler' in [listener:x]",
      ":3: line contains a NUL byte", NULL};
  static const char *const empty[] = {
      ": no [listener:NAME] section; nothing to serve", NULL};
  static const char *const utf16[] = {": file is not UTF-8 text (UTF-16?)",
                                      NULL};
  static const char *const too_big[] = {": file is larger than 1 MiB", NULL};
  static const char nul_comment[] =
      "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n; a\0b\n";
  static const char nul_last[] =
      "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n\0";
  static const char nul_value[] =
      "[listener:x]\nlisten = 127.0.0.1:1\nhandler = e\0cho\n";
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
    static const char longer[] =
        "[listener:x]\nlisten = 127.0.0.1:1\nhandler = echo\n"
        "this line is not part of the text";
    static const char *const cut_key[] = {
        ":1: missing key 'handler' in [listener:x]",
        ":3: missing '=' (expected 'key = value')", NULL};
    iocpd_config_free(load_any("cut", longer, sizeof(valid) - 1, 0, none,
                               none));
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
  check(iocpd_config_load_buffer("x", nul_value, sizeof(nul_value) - 1, &c,
                                 NULL, NULL) == 2 &&
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

/* ------------------------------------------------------------------------ */
/* Protection keys */

/* Returns 1 if c is the block written as text. */
static int block_is(const iocpd_cidr *c, const char *text) {
  char buf[IOCPD_ADDR_STRLEN];
  return strcmp(iocpd_cidr_format(c, buf), text) == 0;
}

static void test_protection_values(void) {
  static const char text[] =
      "[service]\n"
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
  iocpd_config *c = load_any("protection.ini", text, strlen(text), 1, none,
                             none);
  const iocpd_config_listener *a, *b, *l;

  if (c == NULL) return;
  check(c->max_connections == 0, "protection: service max %llu",
        (unsigned long long)c->max_connections);
  check(c->listener_count == 3, "protection: %d listeners",
        (int)c->listener_count);
  if (c->listener_count != 3) {
    iocpd_config_free(c);
    return;
  }
  a = &c->listeners[0];
  b = &c->listeners[1];
  l = &c->listeners[2];
  check(a->max_connections == 1000000 && a->max_connections_per_ip == 50 &&
            a->handshake_timeout_ms == 10000,
        "protection: a limits %llu %llu %llu",
        (unsigned long long)a->max_connections,
        (unsigned long long)a->max_connections_per_ip,
        (unsigned long long)a->handshake_timeout_ms);
  check(a->allow_count == 5, "protection: a has %d allow entries",
        (int)a->allow_count);
  if (a->allow_count == 5) {
    check(block_is(&a->allow[0], "10.0.0.0/8") &&
              block_is(&a->allow[1], "192.168.1.0/24") &&
              block_is(&a->allow[2], "::1/128") &&
              block_is(&a->allow[3], "127.0.0.1/32") &&
              block_is(&a->allow[4], "0.0.0.0/0"),
          "protection: a allow entries");
  }
  check(a->deny_count == 1 && block_is(&a->deny[0], "10.9.0.0/16"),
        "protection: a deny");
  check(b->max_connections == 0 && b->max_connections_per_ip == 1000000 &&
            b->handshake_timeout_ms == 3600000,
        "protection: b limits");
  check(b->allow_count == 4 && b->deny_count == 0 && b->deny == NULL,
        "protection: b lists %d %d", (int)b->allow_count, (int)b->deny_count);
  if (b->allow_count == 4) {
    check(block_is(&b->allow[0], "::/0") &&
              block_is(&b->allow[1], "fe80::/10") &&
              block_is(&b->allow[2], "2001:db8::1/128") &&
              block_is(&b->allow[3], "10.0.0.0/8"),
          "protection: b allow entries");
  }
  check(l->max_connections == 0 && l->max_connections_per_ip == 0 &&
            l->handshake_timeout_ms == 0 && l->allow_count == 0,
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

/* Every problem of the protection keys, in one file, in line order. */
static void test_protection_problems(void) {
  static const char text[] =
      "[service]\n"                                                /* 1 */
      "max_connections = 1000001\n"                                /* 2 */
      "[listener:a]\n"                                             /* 3 */
      "listen = 127.0.0.1:7000\n"                                  /* 4 */
      "handler = echo\n"                                           /* 5 */
      "max_connections = -1\n"                                     /* 6 */
      "max_connections_per_ip = 10k\n"                             /* 7 */
      "allow = 10.0.0.0/33, ::1/129, 1.2.3/8\n"                    /* 8 */
      "deny = 10.0.0.1/8, fe80::1/10, 10.0.0.0/\n"                 /* 9 */
      "handshake_timeout = 61m\n"                                  /* 10 */
      "[listener:b]\n"                                             /* 11 */
      "listen = 127.0.0.1:7001\n"                                  /* 12 */
      "handler = echo\n"                                           /* 13 */
      "allow =\n"                                                  /* 14 */
      "deny = 10.0.0.0/8,, ::1\n"                                  /* 15 */
      "handshake_timeout = -5s\n"                                  /* 16 */
      "max_connections =\n"                                        /* 17 */
      "allow = 10.0.0.0/8\n"                                       /* 18 */
      "[listener:c]\n"                                             /* 19 */
      "listen = 127.0.0.1:7002\n"                                  /* 20 */
      "handler = echo\n"                                           /* 21 */
      "allow = 10.0.0.0/8/9, /8, fe80::1%1/64, 10.0.0.0 /8, localhost, "
      "10.0.0.0/0008\n"                                            /* 22 */
      "handshake_timeout = 99999999999h\n"                         /* 23 */
      "max_connections_per_ip = 1000001\n"                         /* 24 */
      "deny = 1.2.3.4/32,\n"                                       /* 25 */
      "max_connections_per_ip = 5\n"                               /* 26 */
      "buffer_size = 64q\n"                                        /* 27 */
      "[service]\n"                                                /* 28 */
      "max_connections = 5\n"                                      /* 29 */
      "[listener:d]\n"                                             /* 30 */
      "listen = 127.0.0.1:7003\n"                                  /* 31 */
      "handler = echo\n"                                           /* 32 */
      "max_connections = 1e6\n"                                    /* 33 */
      "allow = 0.0.0.1/0, ::1/64, 192.168.1.1/24\n"                /* 34 */
      "handshake_timeout = 5124095576030432h\n";                   /* 35 */
#define BLOCK_HELP \
  "(expected a.b.c.d/N with N 0-32, or ipv6/N with N 0-128)"
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
      ":18: duplicate key 'allow' in [listener:b] (first at line 14)",
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
  static const char text[] =
      "[service]\n"                                        /* 1 */
      "max_connections = 100\n"                            /* 2 */
      "[listener:public]\n"                                /* 3 */
      "listen = 0.0.0.0:8080\n"                            /* 4 */
      "handler = echo\n"                                   /* 5 */
      "[listener:public6]\n"                               /* 6 */
      "listen = [::]:8081\n"                               /* 7 */
      "handler = echo\n"                                   /* 8 */
      "deny = 10.0.0.0/8\n"                                /* 9 */
      "[listener:closed]\n"                                /* 10 */
      "listen = 127.0.0.1:8082\n"                          /* 11 */
      "handler = echo\n"                                   /* 12 */
      "allow = 10.0.0.0/8, 192.168.1.0/24, ::1/128\n"      /* 13 */
      "deny = 10.0.0.0/7, 192.168.0.0/16\n"                /* 14 */
      "[listener:wrong-family]\n"                          /* 15 */
      "listen = [::1]:8083\n"                              /* 16 */
      "handler = echo\n"                                   /* 17 */
      "allow = 127.0.0.1\n"                                /* 18 */
      "[listener:all-denied]\n"                            /* 19 */
      "listen = 127.0.0.1:8084\n"                          /* 20 */
      "handler = echo\n"                                   /* 21 */
      "deny = ::/0, 0.0.0.0/0\n"                           /* 22 */
      "[listener:per-ip]\n"                                /* 23 */
      "listen = 127.0.0.1:8085\n"                          /* 24 */
      "handler = echo\n"                                   /* 25 */
      "max_connections = 10\n"                             /* 26 */
      "max_connections_per_ip = 11\n"                      /* 27 */
      "[listener:per-ip-service]\n"                        /* 28 */
      "listen = 127.0.0.1:8086\n"                          /* 29 */
      "handler = echo\n"                                   /* 30 */
      "max_connections_per_ip = 101\n"                     /* 31 */
      "[listener:fine]\n"                                  /* 32 */
      "listen = 10.1.2.3:8087\n"                           /* 33 */
      "handler = echo\n"                                   /* 34 */
      "allow = 10.0.0.0/8, 10.1.0.0/16\n"                  /* 35 */
      "deny = 10.1.0.0/16, 10.0.0.0/9\n"                   /* 36 */
      "max_connections = 10\n"                             /* 37 */
      "max_connections_per_ip = 10\n"                      /* 38 */
      "[listener:loop6]\n"                                 /* 39 */
      "listen = [::1]:8088\n"                              /* 40 */
      "handler = echo\n"                                   /* 41 */
      "deny = 0.0.0.0/0\n"                                 /* 42 */
      "[listener:v6-closed]\n"                             /* 43 */
      "listen = [::1]:8089\n"                              /* 44 */
      "handler = echo\n"                                   /* 45 */
      "allow = ::1, 127.0.0.0/8\n"                         /* 46 */
      "deny = ::/1, 8000::/1\n";                           /* 47 */
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
      ":2: workers: invalid value 'x' (expected a number from 0 to 64)",
      NULL};
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
  rc = iocpd_config_load_buffer(
      "w.ini", "[listener:x]\nlisten = 0.0.0.0:1\nhandler = echo\n", 46, &c,
      collect, &m);
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

/* ------------------------------------------------------------------------ */
/* Observability: access_log, access_log_max_size, access_log_keep,
 * metrics_listen */

/* Loads text from DIR/name and from memory under name, expecting it to be
 * valid, and checks that access_log became want_file (from the file) and
 * want_buffer (from memory, where the name has no directory). */
static void check_access_path(const char *name, const char *text,
                              const char *want_file, const char *want_buffer) {
  iocpd_config *c = load_any(name, text, strlen(text), 1, none, NULL);
  if (c != NULL) {
    check(c->access_log != NULL && strcmp(c->access_log, want_file) == 0,
          "%s: access_log '%s', expected '%s'", name,
          c->access_log != NULL ? c->access_log : "(null)", want_file);
    iocpd_config_free(c);
  }
  c = load_any(name, text, strlen(text), 0, none, NULL);
  if (c != NULL) {
    check(c->access_log != NULL && strcmp(c->access_log, want_buffer) == 0,
          "%s (buffer): access_log '%s', expected '%s'", name,
          c->access_log != NULL ? c->access_log : "(null)", want_buffer);
    iocpd_config_free(c);
  }
}

static void test_observability_values(void) {
  static const char full[] =
      "[service]\n"
      "access_log = logs/access.log\n"
      "access_log_max_size = 1g\n"
      "access_log_keep = 100\n"
      "metrics_listen = [::1]:9180\n"
      "[listener:a]\n"
      "listen = 127.0.0.1:9180\n" /* same port, other family: fine */
      "handler = echo\n";
  static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0, 0, 1};
  char want[1100];
  iocpd_config *c;

  /* Defaults: both off, rotation at 100 MiB keeping 5. */
  c = load_text("obs-defaults.ini",
                "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n", none);
  if (c != NULL) {
    check(c->access_log == NULL && c->access_log_max_size == 104857600 &&
              c->access_log_keep == 5,
          "obs-defaults: access log %s %llu %u",
          c->access_log != NULL ? c->access_log : "(null)",
          (unsigned long long)c->access_log_max_size, c->access_log_keep);
    check(!c->metrics_enabled && c->metrics_listen_text == NULL,
          "obs-defaults: metrics enabled");
    iocpd_config_free(c);
  }

  c = load_any("obs-full.ini", full, strlen(full), 1, none, none);
  if (c != NULL) {
    snprintf(want, sizeof(want), "%s/logs/access.log", dir);
    check(c->access_log != NULL && strcmp(c->access_log, want) == 0,
          "obs-full: access_log %s", c->access_log != NULL ? c->access_log : "(null)");
    check(c->access_log_max_size == 1073741824 && c->access_log_keep == 100,
          "obs-full: rotation %llu %u", (unsigned long long)c->access_log_max_size,
          c->access_log_keep);
    check(c->metrics_enabled && c->metrics_listen.family == IOCPD_AF_INET6 &&
              c->metrics_listen.port == 9180 &&
              memcmp(c->metrics_listen.ip, v6_loopback, 16) == 0 &&
              c->metrics_listen_text != NULL &&
              strcmp(c->metrics_listen_text, "[::1]:9180") == 0,
          "obs-full: metrics_listen");
    iocpd_config_free(c);
  }

  /* The lower bounds. */
  c = load_text("obs-min.ini",
                "[service]\naccess_log = /var/log/iocpd.log\n"
                "access_log_max_size = 1k\naccess_log_keep = 0\n"
                "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                none);
  if (c != NULL) {
    check(c->access_log_max_size == 1024 && c->access_log_keep == 0,
          "obs-min: rotation %llu %u", (unsigned long long)c->access_log_max_size,
          c->access_log_keep);
    iocpd_config_free(c);
  }

  /* Relative paths join the config's directory; absolute ones (either
   * separator, with or without a drive letter) are kept as written. */
  snprintf(want, sizeof(want), "%s/access.log", dir);
  check_access_path("obs-rel.ini",
                    "[service]\naccess_log = access.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    want, "access.log");
  snprintf(want, sizeof(want), "%s/..\\logs\\a b.log", dir);
  check_access_path("obs-rel2.ini",
                    "[service]\naccess_log = ..\\logs\\a b.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    want, "..\\logs\\a b.log");
  check_access_path("obs-abs.ini",
                    "[service]\naccess_log = /var/log/iocpd/access.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    "/var/log/iocpd/access.log", "/var/log/iocpd/access.log");
  check_access_path("obs-drive.ini",
                    "[service]\naccess_log = C:\\ProgramData\\iocpd\\access.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    "C:\\ProgramData\\iocpd\\access.log",
                    "C:\\ProgramData\\iocpd\\access.log");
  check_access_path("obs-unc.ini",
                    "[service]\naccess_log = \\\\server\\share\\a.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    "\\\\server\\share\\a.log", "\\\\server\\share\\a.log");

  /* A config name with backslashes (as on Windows) gives its directory
   * the same way. */
  c = NULL;
  {
    static const char text[] = "[service]\naccess_log = access.log\n"
                               "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n";
    messages m;
    memset(&m, 0, sizeof(m));
    iocpd_config_load_buffer("C:\\ProgramData\\iocpd\\iocpd.ini", text, strlen(text), &c,
                             collect, &m);
    check(m.count == 0 && c != NULL && c->access_log != NULL &&
              strcmp(c->access_log, "C:\\ProgramData\\iocpd\\access.log") == 0,
          "obs-windows-dir: %s", c != NULL && c->access_log != NULL ? c->access_log : "(null)");
    messages_free(&m);
    iocpd_config_free(c);
  }
}

/* Every problem of the observability keys, in one file, in line order. */
static void test_observability_problems(void) {
  static const char text[] =
      "[service]\n"                             /* 1 */
      "access_log =\n"                          /* 2 */
      "access_log = other.log\n"                /* 3 */
      "access_log_max_size = 1023\n"            /* 4 */
      "access_log_max_size = 2g\n"              /* 5 */
      "access_log_keep = 101\n"                 /* 6 */
      "access_log_keep = -1\n"                  /* 7 */
      "metrics_listen = 127.0.0.1:7007\n"       /* 8 */
      "metrics_listen = 127.0.0.1:9\n"          /* 9 */
      "[listener:a]\n"                          /* 10 */
      "listen = 127.0.0.1:7007\n"               /* 11 */
      "handler = echo\n";                       /* 12 */
  static const char *const expected[] = {
      ":2: access_log: value is empty (expected a file path)",
      ":3: duplicate key 'access_log' in [service] (first at line 2)",
      ":4: access_log_max_size: 1023 out of range 1k-1g",
      ":5: duplicate key 'access_log_max_size' in [service] (first at line 4)",
      ":6: access_log_keep: invalid value '101' (expected a number from 0 to "
      "100)",
      ":7: duplicate key 'access_log_keep' in [service] (first at line 6)",
      ":8: metrics_listen: 127.0.0.1:7007 is already used by [listener:a] "
      "(line 11)",
      ":9: duplicate key 'metrics_listen' in [service] (first at line 8)",
      NULL};
  static const char text2[] =
      "[service]\n"                                  /* 1 */
      "access_log = \"C:\\Program Files\\a.log\"\n"   /* 2 */
      "access_log_max_size = 2g\n"                   /* 3 */
      "access_log_keep = x\n"                        /* 4 */
      "metrics_listen = 0.0.0.0:7008\n"              /* 5 */
      "[listener:a]\n"                               /* 6 */
      "listen = 127.0.0.1:7008\n"                    /* 7 */
      "handler = echo\n";                            /* 8 */
  static const char *const expected2[] = {
      ":2: access_log: write the path without quotes (spaces are fine)",
      ":3: access_log_max_size: 2g out of range 1k-1g",
      ":4: access_log_keep: invalid value 'x' (expected a number from 0 to "
      "100)",
      ":5: metrics_listen: 0.0.0.0:7008 overlaps 127.0.0.1:7008 of "
      "[listener:a] (line 7)",
      NULL};
  static const char text3[] =
      "[service]\n"                           /* 1 */
      "access_log = logs/\n"                  /* 2 */
      "access_log_max_size = 10x\n"           /* 3 */
      "metrics_listen = localhost:9180\n"     /* 4 */
      "[listener:a]\n"                        /* 5 */
      "listen = [::]:9180\n"                  /* 6 */
      "handler = echo\n"                      /* 7 */
      "[service2]\n";                         /* 8 */
  static const char *const expected3[] = {
      ":2: access_log: 'logs/' names a directory (expected a file path)",
      ":3: access_log_max_size: invalid size '10x' (expected e.g. 512k, 100m "
      "or 1g)",
      ":4: metrics_listen: 'localhost' is not a numeric IPv4 address (host "
      "names are not supported)",
      ":8: unknown section [service2] (expected [service] or [listener:NAME])",
      NULL};
  static const char text4[] =
      "[service]\n"                           /* 1 */
      "access_log = a\tb.log\n"               /* 2 */
      "metrics_listen = [::1]:0\n"            /* 3 */
      "[listener:a]\n"                        /* 4 */
      "listen = [::]:9180\n"                  /* 5 */
      "handler = echo\n"                      /* 6 */
      "[listener:b]\n"                        /* 7 */
      "metrics_listen = 127.0.0.1:1\n"        /* 8 */
      "listen = 127.0.0.1:2\n"                /* 9 */
      "handler = echo\n";                     /* 10 */
  static const char *const expected4[] = {
      ":2: access_log: path contains a control character",
      ":3: metrics_listen: port 0 out of range 1-65535",
      ":8: unknown key 'metrics_listen' in [listener:b] (expected " LISTENER_KEYS
      ")",
      NULL};
  load_text("obs-many.ini", text, expected);
  load_text("obs-many2.ini", text2, expected2);
  load_text("obs-many3.ini", text3, expected3);
  load_text("obs-many4.ini", text4, expected4);
}

static void test_observability_warnings(void) {
  static const char text[] =
      "[service]\n"                          /* 1 */
      "access_log_max_size = 10m\n"          /* 2 */
      "access_log_keep = 3\n"                /* 3 */
      "metrics_listen = 0.0.0.0:9180\n"      /* 4 */
      "[listener:a]\n"                       /* 5 */
      "listen = 127.0.0.1:7000\n"            /* 6 */
      "handler = echo\n";                    /* 7 */
  static const char *const warnings[] = {
      ":2: warning: access_log_max_size has no effect without access_log",
      ":3: warning: access_log_keep has no effect without access_log",
      ":4: warning: metrics_listen = 0.0.0.0:9180 is not a loopback address: "
      "every host that can reach it can read the metrics",
      NULL};
  static const char quiet[] =
      "[service]\n"
      "access_log = a.log\n"
      "access_log_max_size = 10m\n"
      "access_log_keep = 3\n"
      "metrics_listen = 127.0.0.2:9180\n"
      "[listener:a]\n"
      "listen = 127.0.0.1:7000\n"
      "handler = echo\n";
  iocpd_config *c = load_any("obs-warnings.ini", text, strlen(text), 1, none, warnings);
  iocpd_config_free(c);
  c = load_any("obs-warnings-buffer.ini", text, strlen(text), 0, none, warnings);
  iocpd_config_free(c);
  c = load_any("obs-quiet.ini", quiet, strlen(quiet), 1, none, none);
  iocpd_config_free(c);
}

int main(int argc, char **argv) {
  if (argc > 1) dir = argv[1];

  test_duration();
  test_size();
  test_good();
  test_defaults();
  test_file_problems();
  test_line_problems();
  test_many_problems();
  test_forward_values();
  test_forward_problems();
  test_buffer();
  test_listener_limit();
  test_protection_values();
  test_protection_problems();
  test_warnings();
  test_observability_values();
  test_observability_problems();
  test_observability_warnings();

  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
