/* logfmt lines for the access log (see logfmt.h). */
#include <assert.h>

#include "logfmt.h"

/* A bounded string builder: appends are cut at the end of the buffer,
 * which always keeps its terminating NUL. */
typedef struct line_buf {
  char *p;
  size_t len, size;
} line_buf;

static void put_char(line_buf *b, char c) {
  if (b->len + 1 < b->size) b->p[b->len++] = c;
  b->p[b->len] = '\0';
}

static void put_text(line_buf *b, const char *s) {
  for (; *s != '\0'; s++) put_char(b, *s);
}

static void put_u64(line_buf *b, uint64_t v) {
  char digits[24];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) put_char(b, digits[--n]);
}

/* Writes v as a logfmt value: bare if it needs nothing, else in double
 * quotes with '"' and '\' escaped. Control characters never reach the
 * file (a name or address carrying one could forge a line): they become
 * '?', as in the event log. */
static void put_value(line_buf *b, const char *v) {
  const char *s;
  int quote = v[0] == '\0';
  for (s = v; *s != '\0' && !quote; s++) {
    unsigned char c = (unsigned char)*s;
    quote = c <= ' ' || c == 0x7f || c == '"' || c == '=' || c == '\\';
  }
  if (!quote) {
    put_text(b, v);
    return;
  }
  put_char(b, '"');
  for (s = v; *s != '\0'; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      put_char(b, '\\');
      put_char(b, (char)c);
    } else if (c < 0x20 || c == 0x7f) {
      put_char(b, '?');
    } else {
      put_char(b, (char)c);
    }
  }
  put_char(b, '"');
}

static void put_key(line_buf *b, const char *key) {
  if (b->len > 0) put_char(b, ' ');
  put_text(b, key);
  put_char(b, '=');
}

static void put_pad(line_buf *b, unsigned v, int width) {
  char digits[8];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0 && n < (int)sizeof(digits));
  while (n < width) digits[n++] = '0';
  while (n > 0) put_char(b, digits[--n]);
}

static int is_leap(uint64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* ms since 1970 (UTC) as "2026-11-24T23:10:57.123Z". Plain arithmetic on
 * the proleptic Gregorian calendar (UTC has no time zones or daylight
 * saving to look up), so no C library time function, none of which is
 * both thread-safe and portable. */
static void put_utc(line_buf *b, uint64_t ms) {
  static const unsigned month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  uint64_t secs = ms / 1000, days = secs / 86400, year = 1970;
  unsigned of_day = (unsigned)(secs % 86400), month = 0;

  for (;;) {
    uint64_t in_year = is_leap(year) ? 366 : 365;
    if (days < in_year) break;
    days -= in_year;
    year++;
  }
  for (;;) {
    unsigned in_month = month_days[month] + (month == 1 && is_leap(year));
    if (days < in_month) break;
    days -= in_month;
    month++;
  }
  put_pad(b, (unsigned)(year % 10000), 4);
  put_char(b, '-');
  put_pad(b, month + 1, 2);
  put_char(b, '-');
  put_pad(b, (unsigned)days + 1, 2);
  put_char(b, 'T');
  put_pad(b, of_day / 3600, 2);
  put_char(b, ':');
  put_pad(b, of_day / 60 % 60, 2);
  put_char(b, ':');
  put_pad(b, of_day % 60, 2);
  put_char(b, '.');
  put_pad(b, (unsigned)(ms % 1000), 3);
  put_char(b, 'Z');
}

size_t logfmt_access_line(const logfmt_access *a, char *buf, size_t size) {
  line_buf b;

  assert(size >= 2);
  b.p = buf;
  b.len = 0;
  b.size = size - 1; /* room for the newline */
  buf[0] = '\0';
  put_key(&b, "time");
  put_utc(&b, a->time_ms);
  put_key(&b, "listener");
  put_value(&b, a->listener != NULL ? a->listener : "-");
  put_key(&b, "client");
  put_value(&b, a->client);
  put_key(&b, "upstream");
  put_value(&b, a->upstream);
  put_key(&b, "bytes_in");
  put_u64(&b, a->bytes_in);
  put_key(&b, "bytes_out");
  put_u64(&b, a->bytes_out);
  put_key(&b, "bytes_up");
  put_u64(&b, a->bytes_up);
  put_key(&b, "bytes_down");
  put_u64(&b, a->bytes_down);
  put_key(&b, "duration_ms");
  put_u64(&b, a->duration_ms);
  put_key(&b, "end");
  put_value(&b, a->end);
  put_key(&b, "proxy");
  put_value(&b, a->proxy);
  /* A TCP line ends here, as it always has: readers of those lines see
   * nothing new. */
  if (a->udp) {
    put_key(&b, "proto");
    put_text(&b, "udp");
    put_key(&b, "dgrams_in");
    put_u64(&b, a->dgrams_in);
    put_key(&b, "dgrams_out");
    put_u64(&b, a->dgrams_out);
    put_key(&b, "dgrams_up");
    put_u64(&b, a->dgrams_up);
    put_key(&b, "dgrams_down");
    put_u64(&b, a->dgrams_down);
  }
  buf[b.len++] = '\n';
  buf[b.len] = '\0';
  return b.len;
}
