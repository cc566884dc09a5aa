/*
 * logfmt lines for the access log (access_log.c): key=value pairs
 * separated by single spaces, ending in "\n". Pure code: no I/O, no
 * allocation, no locale, no C library time functions, so
 * tests/fuzz/fuzz_logfmt.c checks it on its own.
 *
 * A value is written bare when it is not empty and holds none of: bytes
 * 0x00-0x20 (controls and space), 0x7f, '"', '=' and '\'. Any other value
 * is put in double quotes, with '"' and '\' preceded by a '\', and every
 * control character (0x00-0x1f, 0x7f) replaced by '?' (a name or address
 * carrying one could otherwise forge a line). Other bytes, UTF-8 included,
 * are written as they are. So a value never holds a newline, and reading
 * it back (drop the quotes, then each '\' before the next byte) gives the
 * original with its control characters as '?'.
 */
#ifndef IOCPD_LOGFMT_H
#define IOCPD_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

/* Room for any access-log line iocpd makes: listener names and addresses
 * are at most 63 bytes and end reasons 17, so a line is at most about 760
 * bytes even with every byte escaped (a UDP one). */
#define LOGFMT_LINE_MAX 1536

/* The fields of one access-log line, already as text and numbers. */
typedef struct logfmt_access {
  uint64_t time_ms;     /* when the connection ended: ms since 1970, UTC */
  const char *listener; /* NULL is written as "-" */
  const char *client;   /* the client's address, e.g. "[::1]:54260" */
  const char *upstream; /* the upstream's address, or "-" */
  uint64_t bytes_in, bytes_out, bytes_up, bytes_down, duration_ms;
  const char *end;   /* iocpd_end_reason_name */
  const char *proxy; /* the balancer that sent a PROXY header, or "-" */
  /* A UDP session rather than a TCP connection: its datagrams each way,
   * counted like the bytes. */
  int udp;
  uint64_t dgrams_in, dgrams_out, dgrams_up, dgrams_down;
} logfmt_access;

/* Writes a as one line into buf (size >= 2 bytes) and returns its length;
 * buf is NUL-terminated. The line is
 *
 *   time=YYYY-MM-DDTHH:MM:SS.mmmZ listener=V client=V upstream=V
 *   bytes_in=N bytes_out=N bytes_up=N bytes_down=N duration_ms=N end=V
 *   proxy=V\n
 *
 * for a TCP connection and, for a UDP session (a->udp), the same with
 *
 *   proto=udp dgrams_in=N dgrams_out=N dgrams_up=N dgrams_down=N
 *
 * after proxy=V, before the "\n" (one line; V a value as above, N decimal
 * digits; the time in the proleptic Gregorian calendar, for years 1970
 * to 9999). A line that does not fit is cut to size - 2 bytes and still
 * ends in "\n" (the key or value where it was cut is then incomplete); at
 * size LOGFMT_LINE_MAX that takes a string over 99 bytes, which iocpd
 * never makes. */
size_t logfmt_access_line(const logfmt_access *a, char *buf, size_t size);

#endif /* IOCPD_LOGFMT_H */
