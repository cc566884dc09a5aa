/*
 * libFuzzer harness for the access log's line format, logfmt_access_line
 * (service/logfmt.c), linked on its own: no writer thread, no files.
 * scripts/fuzz.sh builds it under AddressSanitizer and
 * UndefinedBehaviorSanitizer.
 *
 * An input is a record as text, fields separated by NUL bytes:
 *
 *   TIME \0 LISTENER \0 CLIENT \0 UPSTREAM \0 IN \0 OUT \0 UP \0 DOWN \0
 *   DURATION \0 END \0 PROXY [\0 SIZE [\0 DGRAMS_IN [\0 DGRAMS_OUT
 *   [\0 DGRAMS_UP [\0 DGRAMS_DOWN]]]]]
 *
 * A record with a DGRAMS_IN field is a UDP session's (the datagram counts
 * it lacks are 0); one without is a TCP connection's.
 * Numbers are read from their decimal digits (other bytes are skipped,
 * overflow wraps, TIME is taken modulo the years 1970-9999 that
 * logfmt.h covers); the strings are any bytes but NUL. With fewer than two
 * fields the listener is NULL. SIZE, when present, is a second buffer size
 * (2 to 1025 bytes, from its first byte and digits) for checking how a
 * line that does not fit is cut.
 *
 * Checked against logfmt.h's contract, with a small logfmt reader written
 * here: the line has exactly the documented keys in order (the UDP ones
 * only for a UDP record), separated by single spaces, and ends in its
 * only "\n"; no other control character or
 * DEL appears; each value is bare exactly when it needs no quoting; each
 * string reads back as the original with control characters as '?'; each
 * number reads back as itself; the time is the civil date of TIME (by
 * another algorithm than logfmt.c's). A line whose strings are at most 99
 * bytes fits in LOGFMT_LINE_MAX; in a smaller buffer the line is the
 * full one cut to size - 2 bytes plus "\n". A broken rule aborts, so
 * libFuzzer keeps the input as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS 16
/* With this many fields or more, the record is a UDP session's. */
#define UDP_FIELDS 13
#define TCP_KEYS 11
#define UDP_KEYS 16
/* 9999-12-31T23:59:59.999Z is the last time logfmt.h covers. */
#define TIME_END 253402300800000u

static const char *const keys[UDP_KEYS] = {"time",        "listener",   "client",    "upstream",
                                           "bytes_in",    "bytes_out",  "bytes_up",  "bytes_down",
                                           "duration_ms", "end",        "proxy",     "proto",
                                           "dgrams_in",   "dgrams_out", "dgrams_up", "dgrams_down"};

static void fail(const char *what, const char *line) {
  fprintf(stderr, "fuzz_logfmt: %s\nline: ", what);
  for (; *line != '\0'; line++) {
    unsigned char c = (unsigned char)*line;
    if (c >= 0x20 && c < 0x7f)
      fputc(c, stderr);
    else
      fprintf(stderr, "\\x%02x", c);
  }
  fputc('\n', stderr);
  abort();
}

/* ------------------------------------------------------------------------ */
/* The input */

typedef struct record {
  logfmt_access a;
  char *strings[5]; /* listener, client, upstream, end, proxy: owned */
  size_t small;     /* a second buffer size, 0 if none */
} record;

static uint64_t number(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    if (p[i] >= '0' && p[i] <= '9') v = v * 10 + (uint64_t)(p[i] - '0');
  }
  return v;
}

static char *string(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if (s == NULL) abort();
  if (n > 0) memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static void read_record(const uint8_t *data, size_t size, record *r) {
  const uint8_t *field[FIELDS];
  size_t len[FIELDS], count = 0, start = 0, i;

  memset(r, 0, sizeof(*r));
  for (i = 0; i <= size && count < FIELDS; i++) {
    if (i < size && data[i] != 0) continue;
    field[count] = data + start;
    len[count] = i - start;
    count++;
    start = i + 1;
  }
  for (i = count; i < FIELDS; i++) {
    field[i] = data;
    len[i] = 0;
  }
  r->a.time_ms = number(field[0], len[0]) % TIME_END;
  r->strings[0] = string(field[1], len[1]);
  r->strings[1] = string(field[2], len[2]);
  r->strings[2] = string(field[3], len[3]);
  r->strings[3] = string(field[9], len[9]);
  r->strings[4] = string(field[10], len[10]);
  r->a.listener = count >= 2 ? r->strings[0] : NULL;
  r->a.client = r->strings[1];
  r->a.upstream = r->strings[2];
  r->a.bytes_in = number(field[4], len[4]);
  r->a.bytes_out = number(field[5], len[5]);
  r->a.bytes_up = number(field[6], len[6]);
  r->a.bytes_down = number(field[7], len[7]);
  r->a.duration_ms = number(field[8], len[8]);
  r->a.end = r->strings[3];
  r->a.proxy = r->strings[4];
  if (count >= 12)
    r->small = 2 + (len[11] > 0 ? (field[11][0] + number(field[11], len[11])) % 1024 : 0);
  r->a.udp = count >= UDP_FIELDS;
  r->a.dgrams_in = number(field[12], len[12]);
  r->a.dgrams_out = number(field[13], len[13]);
  r->a.dgrams_up = number(field[14], len[14]);
  r->a.dgrams_down = number(field[15], len[15]);
}

static void free_record(record *r) {
  size_t i;
  for (i = 0; i < 5; i++) free(r->strings[i]);
}

/* ------------------------------------------------------------------------ */
/* A logfmt reader, from logfmt.h's description */

static int needs_quotes(const char *v) {
  if (*v == '\0') return 1;
  for (; *v != '\0'; v++) {
    unsigned char c = (unsigned char)*v;
    if (c <= 0x20 || c == 0x7f || c == '"' || c == '=' || c == '\\') return 1;
  }
  return 0;
}

typedef struct pair {
  char key[16];
  char *value; /* unescaped, NUL-terminated; owned */
  int quoted;
} pair;

/* Splits line (without its "\n") into pairs; returns how many, or -1 if it
 * is not logfmt as logfmt.h writes it. */
static int read_pairs(const char *line, pair *out, int max) {
  const char *p = line;
  int n = 0;

  while (*p != '\0') {
    size_t k = 0, cap = strlen(p) + 1, len = 0;
    char *v;
    if (n == max) return -1;
    while ((p[k] >= 'a' && p[k] <= 'z') || p[k] == '_') k++;
    if (k == 0 || k >= sizeof(out[n].key) || p[k] != '=') return -1;
    memcpy(out[n].key, p, k);
    out[n].key[k] = '\0';
    p += k + 1;
    v = malloc(cap);
    if (v == NULL) abort();
    out[n].value = v;
    out[n].quoted = *p == '"';
    n++;
    if (*p == '"') {
      for (p++; *p != '"'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\0' || c < 0x20 || c == 0x7f) return -1;
        if (c == '\\') {
          p++;
          if (*p != '"' && *p != '\\') return -1; /* only these are escaped */
        }
        v[len++] = *p;
      }
      p++;
    } else {
      for (; *p != '\0' && *p != ' '; p++) v[len++] = *p;
    }
    v[len] = '\0';
    if (*p == ' ') {
      p++;
      if (*p == '\0') return -1; /* a trailing space */
    } else if (*p != '\0') {
      return -1;
    }
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* The checks */

/* What a string field must read back as: control characters as '?'. */
static void mapped(const char *s, char *out) {
  for (; *s != '\0'; s++, out++) {
    unsigned char c = (unsigned char)*s;
    *out = c < 0x20 || c == 0x7f ? '?' : *s;
  }
  *out = '\0';
}

static void check_string(const pair *p, const char *original, const char *line) {
  char *want = malloc(strlen(original) + 1);
  if (want == NULL) abort();
  mapped(original, want);
  if (strcmp(p->value, want) != 0) fail("a value does not read back", line);
  if (p->quoted != needs_quotes(original))
    fail("quoted when it need not be, or not when it must", line);
  free(want);
}

static void check_number(const pair *p, uint64_t want, const char *line) {
  char digits[24];
  snprintf(digits, sizeof(digits), "%llu", (unsigned long long)want);
  if (p->quoted || strcmp(p->value, digits) != 0) fail("a number does not read back", line);
}

/* Days since 1970-01-01 to year, month, day: Howard Hinnant's
 * days_from_civil inverse, a different method from logfmt.c's loops. */
static void civil(uint64_t days, uint64_t *y, unsigned *m, unsigned *d) {
  uint64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
  uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
  *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static void check_time(const pair *p, uint64_t ms, const char *line) {
  char want[64]; /* room for any unsigned values: gcc checks the format */
  uint64_t y, secs = ms / 1000;
  unsigned mo, d, of_day = (unsigned)(secs % 86400);
  civil(secs / 86400, &y, &mo, &d);
  snprintf(want, sizeof(want), "%04llu-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned long long)y, mo,
           d, of_day / 3600, of_day / 60 % 60, of_day % 60, (unsigned)(ms % 1000));
  if (p->quoted || strcmp(p->value, want) != 0) fail("the time is not the record's", line);
}

/* The full line: every rule of logfmt.h. */
static void check_line(const record *r, const char *line, size_t len) {
  pair pairs[UDP_KEYS + 1];
  char *body;
  int n, i, want = r->a.udp ? UDP_KEYS : TCP_KEYS;
  size_t k;

  if (len == 0 || strlen(line) != len || line[len - 1] != '\n') fail("not one line", line);
  for (k = 0; k + 1 < len; k++) {
    unsigned char c = (unsigned char)line[k];
    if (c < 0x20 || c == 0x7f) fail("a control character in the line", line);
  }
  body = string((const uint8_t *)line, len - 1);
  n = read_pairs(body, pairs, UDP_KEYS + 1);
  if (n != want) fail("not logfmt, or not 11 (TCP) or 16 (UDP) pairs", line);
  for (i = 0; i < n; i++) {
    if (strcmp(pairs[i].key, keys[i]) != 0) fail("keys not as documented", line);
  }
  check_time(&pairs[0], r->a.time_ms, line);
  check_string(&pairs[1], r->a.listener != NULL ? r->a.listener : "-", line);
  check_string(&pairs[2], r->a.client, line);
  check_string(&pairs[3], r->a.upstream, line);
  check_number(&pairs[4], r->a.bytes_in, line);
  check_number(&pairs[5], r->a.bytes_out, line);
  check_number(&pairs[6], r->a.bytes_up, line);
  check_number(&pairs[7], r->a.bytes_down, line);
  check_number(&pairs[8], r->a.duration_ms, line);
  check_string(&pairs[9], r->a.end, line);
  check_string(&pairs[10], r->a.proxy, line);
  if (r->a.udp) {
    check_string(&pairs[11], "udp", line);
    check_number(&pairs[12], r->a.dgrams_in, line);
    check_number(&pairs[13], r->a.dgrams_out, line);
    check_number(&pairs[14], r->a.dgrams_up, line);
    check_number(&pairs[15], r->a.dgrams_down, line);
  }
  for (i = 0; i < n; i++) free(pairs[i].value);
  free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  record r;
  size_t room, len, cut, longest = 0, i;
  char *full, *small;

  read_record(data, size, &r);
  /* Big enough for any line: every string byte escaped, plus the rest. */
  room = 2 * size + 512;
  full = malloc(room);
  if (full == NULL) abort();
  len = logfmt_access_line(&r.a, full, room);
  if (len >= room) fail("longer than its buffer", full);
  check_line(&r, full, len);

  for (i = 0; i < 5; i++) {
    size_t n = strlen(r.strings[i]);
    if (n > longest) longest = n;
  }
  if (longest <= 99 && len >= LOGFMT_LINE_MAX) fail("does not fit in LOGFMT_LINE_MAX", full);

  /* Cut: the full line's first size - 2 bytes and "\n", in exactly size
   * bytes (so an overrun shows up under AddressSanitizer). */
  if (r.small != 0) {
    small = malloc(r.small);
    if (small == NULL) abort();
    cut = logfmt_access_line(&r.a, small, r.small);
    if (len <= r.small - 1) {
      if (cut != len || memcmp(small, full, len + 1) != 0)
        fail("differs in a buffer that fits", small);
    } else if (cut != r.small - 1 || memcmp(small, full, cut - 1) != 0 || small[cut - 1] != '\n' ||
               small[cut] != '\0') {
      fail("not cut as documented", small);
    }
    free(small);
  }
  free(full);
  free_record(&r);
  return 0;
}
