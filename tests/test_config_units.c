/*
 * Unit tests of the config module: iocpd_parse_duration, iocpd_parse_size,
 * iocpd_config_load on files written to a scratch directory, and
 * iocpd_config_load_buffer on the same texts in memory (which must give the
 * same messages), including NUL bytes, the size limit, the protection keys
 * (limits, allow/deny lists, handshake_timeout), the observability keys
 * (access_log and its rotation, metrics_listen), UDP listeners and the
 * engine options made from them, and the warnings a valid config may
 * carry.
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

#include "configtest.h"

static int passed;
static int failed;
const char *dir = ".";

void check(int ok, const char *fmt, ...) {
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
/* Loading files */

void collect(void *arg, const char *message) {
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

void messages_free(messages *m) {
  size_t i;
  for (i = 0; i < m->count; i++) free(m->text[i]);
  m->count = 0;
}

/* DIR/name, in a static buffer (one path at a time is enough). */
const char *path_of(const char *name) {
  static char buf[1024];
  snprintf(buf, sizeof(buf), "%s/%s", dir, name);
  return buf;
}

void write_file(const char *path, const char *data, size_t len) {
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
void compare_messages(const char *what, const char *path, char *const *got, size_t count,
                      const char *const *expected) {
  size_t want = 0, i;

  while (expected[want] != NULL) want++;
  check(count == want, "%s: %d messages, expected %d", what, (int)count, (int)want);
  for (i = 0; i < want || i < count; i++) {
    char full[1200];
    if (i < want) snprintf(full, sizeof(full), "%s%s", path, expected[i]);
    if (i >= count)
      check(0, "%s: missing message: %s", what, full);
    else if (i >= want)
      check(0, "%s: unexpected message: %s", what, got[i]);
    else
      check(strcmp(got[i], full) == 0, "%s: message %d\n   got: %s\n  want: %s", what, (int)i + 1,
            got[i], full);
  }
}

/* Loads data (len bytes) from a file DIR/name (from_file) or from memory
 * with iocpd_config_load_buffer under the name `name`, and compares the
 * problems with expected and, for a valid config, its warnings with
 * warnings (NULL: not compared, only checked to be well-formed). The
 * buffer handed to iocpd_config_load_buffer is a copy of exactly len
 * bytes, without a terminating NUL, so that a read past its end shows
 * under AddressSanitizer. Returns the config when valid, else NULL. */
iocpd_config *load_any(const char *name, const char *data, size_t len, int from_file,
                       const char *const *expected, const char *const *warnings) {
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
    compare_messages(what, path, config->warnings, config->warning_count, warnings);
  return config;
}

/* Writes data to DIR/name, loads it and compares the messages with expected
 * (see load_any); then loads the same bytes through
 * iocpd_config_load_buffer, which must say the same. Returns the config
 * from the file when valid, else NULL. */
iocpd_config *load_bytes(const char *name, const char *data, size_t len,
                         const char *const *expected) {
  iocpd_config *config = load_any(name, data, len, 1, expected, NULL);
  if (data != NULL) iocpd_config_free(load_any(name, data, len, 0, expected, NULL));
  return config;
}

iocpd_config *load_text(const char *name, const char *text, const char *const *expected) {
  return load_bytes(name, text, strlen(text), expected);
}

const char *const none[] = {NULL};

int main(int argc, char **argv) {
  if (argc > 1) dir = argv[1];

  test_units();
  test_basics();
  test_forward();
  test_protection();
  test_observability();
  test_udp();

  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
