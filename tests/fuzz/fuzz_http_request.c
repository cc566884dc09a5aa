/*
 * libFuzzer harness for the metrics endpoint's request-head parser,
 * http_request_check (service/http_request.c), linked on its own: no
 * engine, no sockets. scripts/fuzz.sh builds it under AddressSanitizer and
 * UndefinedBehaviorSanitizer.
 *
 * Every input is used twice.
 *
 * As raw bytes a client sent: the verdict must be the one the grammar in
 * http_request.h calls for, computed here by a second, independent reader
 * of that grammar (a small state machine per line); verdicts of prefixes
 * must agree with it too, and once a prefix has a final verdict every
 * longer prefix must keep it (so the split into reads never matters);
 * padded to HTTP_REQUEST_MAX bytes, the verdict is never "need more".
 *
 * As the choices for a request built here to be valid (method, target,
 * version, headers, line ends, then the input again as bytes that follow
 * the head): every prefix of its head must be "need more", and the head
 * with anything after it must get the verdict the choices call for (431
 * when the head is longer than HTTP_REQUEST_MAX).
 *
 * A broken rule aborts, so libFuzzer keeps the input as a crash.
 *
 * Each check copies the bytes to the end of a buffer of exactly
 * HTTP_REQUEST_MAX bytes, so that a read past the length given lands in
 * AddressSanitizer's redzone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prefixes of up to this many bytes are all checked; longer inputs get a
 * sample (keeps a run at thousands of inputs a second). */
#define ALL_PREFIXES 256
#define SAMPLED_PREFIXES 48

static char *window; /* HTTP_REQUEST_MAX bytes, from malloc */

static const char *verdict_name(http_verdict v) {
  static const char *const names[] = {"NEED_MORE",          "BAD (400)",       "METRICS (200)",
                                      "METRICS_HEAD (200)", "NOT_FOUND (404)", "METHOD (405)",
                                      "TOO_LARGE (431)"};
  return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

static void fail(const char *rule, size_t len, http_verdict got, http_verdict want) {
  fprintf(stderr, "fuzz_http_request: %s: %zu bytes gave %s, expected %s\n", rule, len,
          verdict_name(got), verdict_name(want));
  abort();
}

/* The parser's verdict on p[0..len), with the bytes at the end of window. */
static http_verdict judge(const char *p, size_t len) {
  char *at = window + HTTP_REQUEST_MAX - len;
  if (len > 0) memmove(at, p, len);
  return http_request_check(at, len);
}

/* ------------------------------------------------------------------------ */
/* The reference reader, written from http_request.h's grammar */

static int tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int vchar(unsigned char c) { return c >= 0x21 && c <= 0x7e; }

/* States of the request-line machine: where in
 * method SP target SP "HTTP/1." [01] ["\r"] the bytes so far end. */
enum rl_state {
  RL_METHOD0, /* nothing yet */
  RL_METHOD,  /* in the method */
  RL_TARGET0, /* after the first space */
  RL_TARGET,  /* in the target */
  RL_VERSION, /* after the second space: vpos bytes of the version */
  RL_CR,      /* after the version and a "\r" */
  RL_FAIL
};

typedef struct rl {
  enum rl_state state;
  size_t vpos;
} rl;

static void rl_step(rl *m, unsigned char c) {
  static const char version[] = "HTTP/1.";
  switch (m->state) {
    case RL_METHOD0: m->state = tchar(c) ? RL_METHOD : RL_FAIL; break;
    case RL_METHOD: m->state = tchar(c) ? RL_METHOD : c == ' ' ? RL_TARGET0 : RL_FAIL; break;
    case RL_TARGET0: m->state = vchar(c) ? RL_TARGET : RL_FAIL; break;
    case RL_TARGET:
      m->state = vchar(c) ? RL_TARGET : c == ' ' ? RL_VERSION : RL_FAIL;
      m->vpos = 0;
      break;
    case RL_VERSION:
      if (m->vpos < 7 && c == (unsigned char)version[m->vpos])
        m->vpos++;
      else if (m->vpos == 7 && (c == '0' || c == '1'))
        m->vpos++;
      else if (m->vpos == 8 && c == '\r')
        m->state = RL_CR;
      else
        m->state = RL_FAIL;
      break;
    case RL_CR:
    case RL_FAIL: m->state = RL_FAIL; break;
  }
}

/* The request line p[0..n) (without its "\n"; a "\r" before it is still
 * there): HTTP_BAD, or what it asks for. */
static http_verdict ref_request_line(const unsigned char *p, size_t n) {
  rl m = {RL_METHOD0, 0};
  size_t i, sp1, path_end;

  for (i = 0; i < n; i++) rl_step(&m, p[i]);
  if (!((m.state == RL_VERSION && m.vpos == 8) || m.state == RL_CR)) return HTTP_BAD;
  for (sp1 = 0; p[sp1] != ' '; sp1++) continue;
  if (p[sp1 + 1] != '/') return HTTP_BAD;
  for (path_end = sp1 + 1; p[path_end] != ' ' && p[path_end] != '?'; path_end++) continue;
  if (!((sp1 == 3 && memcmp(p, "GET", 3) == 0) || (sp1 == 4 && memcmp(p, "HEAD", 4) == 0)))
    return HTTP_METHOD;
  if (path_end - (sp1 + 1) != 8 || memcmp(p + sp1 + 1, "/metrics", 8) != 0) return HTTP_NOT_FOUND;
  return sp1 == 4 ? HTTP_METRICS_HEAD : HTTP_METRICS;
}

/* 1 if the unfinished request line p[0..n) can still become one. */
static int ref_request_line_may_follow(const unsigned char *p, size_t n) {
  rl m = {RL_METHOD0, 0};
  size_t i;
  for (i = 0; i < n && m.state != RL_FAIL; i++) rl_step(&m, p[i]);
  return m.state != RL_FAIL;
}

/* 1 if the header line p[0..n) (without "\n" and one trailing "\r",
 * not empty) is well-formed. */
static int ref_header(const unsigned char *p, size_t n) {
  size_t i = 0;
  while (i < n && tchar(p[i])) i++;
  if (i == 0 || i == n || p[i] != ':') return 0;
  for (i++; i < n; i++) {
    if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) return 0;
  }
  return 1;
}

/* What http_request.h says the first len bytes of p call for. */
static http_verdict reference(const unsigned char *p, size_t len) {
  size_t start = 0, i, n;
  http_verdict verdict = HTTP_NEED_MORE;
  int first = 1;

  for (i = 0; i < len; i++) {
    if (p[i] != '\n') continue;
    n = i - start;
    if (first) {
      verdict = ref_request_line(p + start, n);
      if (verdict == HTTP_BAD) return HTTP_BAD;
      first = 0;
    } else {
      if (n > 0 && p[start + n - 1] == '\r') n--;
      if (n == 0) return verdict;
      if (!ref_header(p + start, n)) return HTTP_BAD;
    }
    start = i + 1;
  }
  if (first && !ref_request_line_may_follow(p, len)) return HTTP_BAD;
  return len == HTTP_REQUEST_MAX ? HTTP_TOO_LARGE : HTTP_NEED_MORE;
}

/* ------------------------------------------------------------------------ */
/* Raw bytes */

/* The parser's verdict on the first at bytes: the reference's, and once
 * final, the same as for all len bytes (whole). */
static void check_prefix(const uint8_t *data, size_t at, size_t len, http_verdict whole) {
  http_verdict v = judge((const char *)data, at), want = reference(data, at);
  if (v != want) fail("prefix", at, v, want);
  if (v != HTTP_NEED_MORE && v != whole) fail("final verdict changed later", len, whole, v);
}

static void check_raw(const uint8_t *data, size_t size) {
  static char padded[HTTP_REQUEST_MAX];
  size_t len = size < HTTP_REQUEST_MAX ? size : HTTP_REQUEST_MAX, k, filled, lines = 0;
  const char *p = (const char *)data;
  http_verdict whole, v, want;

  whole = judge(p, len);
  want = reference(data, len);
  if (whole != want) fail("raw input", len, whole, want);

  /* Any split into reads gives the same answer: every prefix of a short
   * input; of a long one, the first 16, each side of the first line
   * ends, and a spread of others. */
  if (len <= ALL_PREFIXES) {
    for (k = 0; k < len; k++) check_prefix(data, k, len, whole);
  } else {
    for (k = 0; k < 16; k++) check_prefix(data, k, len, whole);
    for (k = 0; k < len && lines < 8; k++) {
      if (data[k] != '\n') continue;
      check_prefix(data, k, len, whole);
      check_prefix(data, k + 1, len, whole);
      lines++;
    }
    for (k = 0; k < SAMPLED_PREFIXES; k++)
      check_prefix(data, (size_t)((k * 2654435761u + data[k]) % len), len, whole);
  }

  /* Filled up to the limit (with the input over again, or 'a' if it is
   * empty): never "need more", and a final verdict stays. */
  if (len == 0) {
    memset(padded, 'a', sizeof(padded));
  } else {
    memcpy(padded, p, len);
    for (filled = len; filled < HTTP_REQUEST_MAX; filled += k) {
      k = HTTP_REQUEST_MAX - filled < filled ? HTTP_REQUEST_MAX - filled : filled;
      memcpy(padded + filled, padded, k);
    }
  }
  v = judge(padded, HTTP_REQUEST_MAX);
  if (v == HTTP_NEED_MORE) fail("need more at the limit", HTTP_REQUEST_MAX, v, HTTP_TOO_LARGE);
  if (whole != HTTP_NEED_MORE && v != whole) fail("padding changed a final verdict", len, v, whole);
  want = reference((const unsigned char *)padded, HTTP_REQUEST_MAX);
  if (v != want) fail("padded input", HTTP_REQUEST_MAX, v, want);
}

/* ------------------------------------------------------------------------ */
/* A valid request built from the input's bytes */

typedef struct reader {
  const uint8_t *p;
  size_t len, pos;
} reader;

static unsigned next(reader *r) { return r->pos < r->len ? r->p[r->pos++] : 0; }

typedef struct head {
  char text[HTTP_REQUEST_MAX + 512];
  size_t len;
  int overflow; /* some part did not fit in text */
} head;

static void add(head *h, const char *s, size_t n) {
  if (h->len + n > sizeof(h->text)) {
    h->overflow = 1;
    return;
  }
  memcpy(h->text + h->len, s, n);
  h->len += n;
}

static void add_str(head *h, const char *s) { add(h, s, strlen(s)); }

static void add_eol(head *h, reader *r) { add_str(h, next(r) & 1 ? "\n" : "\r\n"); }

/* A token of 1..16 characters, mapped from the input. */
static void add_token(head *h, reader *r) {
  static const char tchars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "!#$%&'*+-.^_`|~";
  unsigned n = 1 + next(r) % 16, i;
  for (i = 0; i < n; i++) {
    char c = tchars[next(r) % (sizeof(tchars) - 1)];
    add(h, &c, 1);
  }
}

/* What a request line with this method and target asks for (both valid). */
static http_verdict expected(const char *method, size_t method_len, const char *target,
                             size_t target_len) {
  const char *q = memchr(target, '?', target_len);
  size_t path_len = q != NULL ? (size_t)(q - target) : target_len;
  int get = method_len == 3 && memcmp(method, "GET", 3) == 0;
  int head = method_len == 4 && memcmp(method, "HEAD", 4) == 0;

  if (!get && !head) return HTTP_METHOD;
  if (path_len != 8 || memcmp(target, "/metrics", 8) != 0) return HTTP_NOT_FOUND;
  return head ? HTTP_METRICS_HEAD : HTTP_METRICS;
}

/* Builds the head; returns the verdict it must get. */
static http_verdict build(head *h, reader *r) {
  static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "get", "OPTIONS"};
  static const char *const targets[] = {"/metrics",  "/metrics?x=1&y", "/",
                                        "/metrics/", "/Metrics",       "/other?/metrics"};
  unsigned m = next(r) % 8, t = next(r) % 8, headers = next(r) % 6, i, j;
  size_t method_len, target_at, target_len;

  if (m < 6)
    add_str(h, methods[m]);
  else
    add_token(h, r);
  method_len = h->len;
  add_str(h, " ");
  target_at = h->len;
  if (t < 6) {
    add_str(h, targets[t]);
  } else {
    /* "/" and up to 23 visible characters. */
    unsigned n = next(r) % 24;
    add_str(h, "/");
    for (i = 0; i < n; i++) {
      char c = (char)(0x21 + next(r) % 94);
      add(h, &c, 1);
    }
  }
  target_len = h->len - target_at;
  add_str(h, next(r) & 1 ? " HTTP/1.1" : " HTTP/1.0");
  add_eol(h, r);
  for (i = 0; i < headers; i++) {
    unsigned n = next(r) % 64, repeat = next(r) % 16 == 0 ? 200 : 1, k;
    char value[64];
    add_token(h, r);
    add_str(h, ":");
    for (j = 0; j < n; j++) {
      unsigned c = next(r);
      /* Anything but controls other than tab: space, visible, 0x80-0xff. */
      value[j] = (char)(c == '\t' || (c >= 0x20 && c != 0x7f) ? c : ' ');
    }
    for (k = 0; k < repeat; k++) add(h, value, n);
    add_eol(h, r);
  }
  add_eol(h, r);
  return expected(h->text, method_len, h->text + target_at, target_len);
}

static void check_built(const uint8_t *data, size_t size) {
  static head h;
  static char with_rest[HTTP_REQUEST_MAX];
  reader r = {data, size, 0};
  http_verdict want, v;
  size_t k, count, n, rest;

  h.len = 0;
  h.overflow = 0;
  want = build(&h, &r);
  if (h.overflow) return;
  if (h.len > HTTP_REQUEST_MAX) want = HTTP_TOO_LARGE;
  n = h.len < HTTP_REQUEST_MAX ? h.len : HTTP_REQUEST_MAX;

  /* Every prefix shorter than the head is "need more". */
  count = n <= ALL_PREFIXES ? n : SAMPLED_PREFIXES;
  for (k = 0; k < count; k++) {
    size_t at = n <= ALL_PREFIXES ? k : (k * 2654435761u) % n;
    if (at >= h.len) continue;
    v = judge(h.text, at);
    if (v != HTTP_NEED_MORE) fail("prefix of a valid head", at, v, HTTP_NEED_MORE);
  }
  /* The whole head, then with the input's bytes after it. */
  v = judge(h.text, n);
  if (v != want) fail("valid head", n, v, want);
  memcpy(with_rest, h.text, n);
  rest = HTTP_REQUEST_MAX - n < size ? HTTP_REQUEST_MAX - n : size;
  if (rest > 0) memcpy(with_rest + n, data, rest);
  v = judge(with_rest, n + rest);
  if (v != want) fail("valid head and more bytes", n + rest, v, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (window == NULL) {
    window = malloc(HTTP_REQUEST_MAX);
    if (window == NULL) abort();
  }
  check_raw(data, size);
  check_built(data, size);
  return 0;
}
