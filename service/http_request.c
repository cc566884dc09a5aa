/* The metrics endpoint's request-head parser (see http_request.h). */
#include <assert.h>
#include <string.h>

#include "http_request.h"

/* RFC 9110 token characters (methods, header names). */
static int is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The end of the line starting at p (at its "\n"), or NULL. */
static const char *line_end(const char *p, const char *end) {
  return memchr(p, '\n', (size_t)(end - p));
}

/* Length of the line [p, nl) without a trailing "\r". */
static size_t line_len(const char *p, const char *nl) {
  size_t n = (size_t)(nl - p);
  return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

/* "METHOD SP TARGET SP HTTP/1.x": the verdict for it, without the headers. */
static http_verdict check_request_line(const char *p, size_t n) {
  size_t m = 0, t, target_len, path_len;
  const char *target, *q;

  while (m < n && is_tchar(p[m])) m++;
  if (m == 0 || m == n || p[m] != ' ') return HTTP_BAD;
  target = p + m + 1;
  t = m + 1;
  while (t < n && p[t] > ' ' && p[t] < 0x7f) t++;
  target_len = (size_t)(p + t - target);
  if (target_len == 0 || t == n || p[t] != ' ') return HTTP_BAD;
  if (n - t - 1 != 8 || memcmp(p + t + 1, "HTTP/1.", 7) != 0 ||
      (p[n - 1] != '0' && p[n - 1] != '1'))
    return HTTP_BAD;
  if (target[0] != '/') return HTTP_BAD; /* only origin-form */
  q = memchr(target, '?', target_len);
  path_len = q != NULL ? (size_t)(q - target) : target_len;
  if (!(m == 3 && memcmp(p, "GET", 3) == 0) && !(m == 4 && memcmp(p, "HEAD", 4) == 0))
    return HTTP_METHOD;
  if (path_len != 8 || memcmp(target, "/metrics", 8) != 0) return HTTP_NOT_FOUND;
  return m == 4 ? HTTP_METRICS_HEAD : HTTP_METRICS;
}

/* "Name: value": a token, a colon, then visible characters, spaces and
 * tabs. Folded lines (starting with white space) are obsolete: bad. */
static int header_ok(const char *p, size_t n) {
  size_t i = 0;
  while (i < n && is_tchar(p[i])) i++;
  if (i == 0 || i == n || p[i] != ':') return 0;
  for (i++; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
  }
  return 1;
}

/* 1 if the n bytes at p can still become a request line: a method, a
 * space, a target, a space, then the start of "HTTP/1.0" or "HTTP/1.1". */
static int request_line_may_follow(const char *p, size_t n) {
  static const char version[] = "HTTP/1.";
  size_t i = 0, start;

  while (i < n && is_tchar(p[i])) i++;
  if (i == n) return 1;
  if (i == 0 || p[i] != ' ') return 0;
  start = ++i;
  while (i < n && p[i] > ' ' && p[i] < 0x7f) i++;
  if (i == n) return 1;
  if (i == start || p[i] != ' ') return 0;
  for (start = ++i; i < n; i++) {
    size_t at = i - start;
    int ok;
    if (at < 7)
      ok = p[i] == version[at];
    else if (at == 7)
      ok = p[i] == '0' || p[i] == '1';
    else
      ok = at == 8 && p[i] == '\r'; /* the "\r" of the line's end */
    if (!ok) return 0;
  }
  return 1;
}

/* The verdict stands once the head has ended (an empty line) with
 * well-formed headers; the request line is judged before that, as soon as
 * it can no longer become a valid one. */
static http_verdict check_head(const char *buf, size_t len) {
  const char *end = buf + len, *p = buf, *nl;
  http_verdict verdict;

  nl = line_end(p, end);
  if (nl == NULL) return request_line_may_follow(p, len) ? HTTP_NEED_MORE : HTTP_BAD;
  verdict = check_request_line(p, line_len(p, nl));
  if (verdict == HTTP_BAD) return HTTP_BAD;
  for (p = nl + 1; (nl = line_end(p, end)) != NULL; p = nl + 1) {
    size_t n = line_len(p, nl);
    if (n == 0) return verdict;
    if (!header_ok(p, n)) return HTTP_BAD;
  }
  return HTTP_NEED_MORE;
}

http_verdict http_request_check(const char *buf, size_t len) {
  http_verdict verdict;

  assert(len <= HTTP_REQUEST_MAX);
  verdict = check_head(buf, len);
  /* The caller keeps no more than HTTP_REQUEST_MAX bytes, so a head that
   * has not ended by then never will. */
  return verdict == HTTP_NEED_MORE && len == HTTP_REQUEST_MAX ? HTTP_TOO_LARGE : verdict;
}
