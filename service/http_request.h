/*
 * The request head of the metrics endpoint (metrics.c): which answer the
 * bytes a client has sent so far call for. Pure code: no I/O, no
 * allocation, no state, so tests/fuzz/fuzz_http_request.c checks it on
 * its own.
 *
 * The grammar accepted, a strict subset of RFC 9112:
 *
 *   head         = request-line *header-line empty-line
 *   request-line = method SP target SP ("HTTP/1.0" / "HTTP/1.1") EOL
 *   header-line  = name ":" *(any byte but 0x00-0x1f and 0x7f; tab is fine) EOL
 *   empty-line   = EOL
 *   EOL          = "\r\n" / "\n"       (a bare "\n" too, as RFC 9112 allows)
 *
 * method and name are tokens (RFC 9110 tchar: letters, digits and
 * !#$%&'*+-.^_`|~); target is one or more visible ASCII characters
 * (0x21-0x7e) starting with "/" (origin-form only). Methods are case
 * sensitive ("get" is a method other than GET); a "?query" after the path
 * is ignored. Folded header lines (starting with white space) are
 * obsolete and rejected: they are not tokens.
 */
#ifndef IOCPD_HTTP_REQUEST_H
#define IOCPD_HTTP_REQUEST_H

#include <stddef.h>

/* The request head may be this long; the caller keeps no more. */
#define HTTP_REQUEST_MAX 8192

typedef enum http_verdict {
  HTTP_NEED_MORE,    /* the head has not ended yet: read more */
  HTTP_BAD,          /* 400: not an HTTP/1.x request head */
  HTTP_METRICS,      /* 200: GET /metrics */
  HTTP_METRICS_HEAD, /* 200 without the body: HEAD /metrics */
  HTTP_NOT_FOUND,    /* 404: GET or HEAD of another path */
  HTTP_METHOD,       /* 405: a method other than GET and HEAD */
  HTTP_TOO_LARGE     /* 431: HTTP_REQUEST_MAX bytes and no end of head */
} http_verdict;

/* Judges the first len bytes a client sent (len <= HTTP_REQUEST_MAX).
 *
 * - Lines are judged in order, each once it has ended: the first bad line
 *   gives HTTP_BAD; the empty line that ends the head gives the request
 *   line's verdict (so 405 and 404 wait for the whole head, and a bad
 *   header line after a good request line is still HTTP_BAD).
 * - A request line that has not ended gives HTTP_BAD as soon as it can no
 *   longer become "token SP visible-chars SP HTTP/1.x" (garbage such as a
 *   TLS handshake is answered at once). Other defects (a target without
 *   its "/", a bad header line) are found when their line ends.
 * - HTTP_NEED_MORE only while len < HTTP_REQUEST_MAX; at
 *   HTTP_REQUEST_MAX bytes without an end of head it is HTTP_TOO_LARGE.
 * - Every other verdict is final: bytes after it (after the head, or
 *   after a bad line) never change it. So the answer does not depend on
 *   how the bytes were split into reads, and a prefix of a valid head is
 *   never anything but HTTP_NEED_MORE. */
http_verdict http_request_check(const char *buf, size_t len);

#endif /* IOCPD_HTTP_REQUEST_H */
