/*
 * What the access log and the metrics endpoint write, without a daemon:
 * access_log_format on records of both protocols (a TCP line exactly as
 * it has always been, a UDP session's with proto=udp and its datagram
 * counts), and metrics_format on listener counters of both protocols
 * (each listener has the families of its protocol only; a UDP listener
 * has every drop reason, named by iocpd_udp_drop_name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_log.h"
#include "metrics.h"
#include "testengine.h"

static iocpd_addr addr_of(const char *text) {
  iocpd_addr a;
  memset(&a, 0, sizeof(a));
  CHECK(iocpd_addr_parse(text, &a) == 0);
  return a;
}

/* 2025-11-25T00:29:03.023Z. */
#define LINE_TIME_MS 1764030543023u

/* Checks that r is written exactly as want, with the length returned. */
static void check_line(const iocpd_access_record *r, const char *want) {
  char line[ACCESS_LOG_LINE_MAX];
  size_t len = access_log_format(r, line, sizeof(line));
  CHECK(strcmp(line, want) == 0);
  CHECK(len == strlen(line));
  printf("%s", line);
}

static void test_tcp_line(void) {
  iocpd_access_record r;

  memset(&r, 0, sizeof(r));
  r.listener = "fwd";
  r.client = addr_of("127.0.0.1:39472");
  r.has_upstream = 1;
  r.upstream = addr_of("127.0.0.1:7007");
  r.bytes_in = r.bytes_out = r.bytes_up = r.bytes_down = 15;
  r.start_ms = LINE_TIME_MS;
  r.end = IOCPD_END_CLIENT_FIN;
  /* Datagram counts on a TCP record are not written. */
  r.datagrams_in = 9;
  check_line(&r, "time=2025-11-25T00:29:03.023Z listener=fwd client=127.0.0.1:39472 "
                 "upstream=127.0.0.1:7007 bytes_in=15 bytes_out=15 bytes_up=15 "
                 "bytes_down=15 duration_ms=0 end=client_fin proxy=-\n");
}

static void test_udp_line(void) {
  iocpd_access_record r;

  memset(&r, 0, sizeof(r));
  r.listener = "dns";
  r.client = addr_of("[::1]:40213");
  r.has_upstream = 1;
  r.upstream = addr_of("[::1]:53");
  r.bytes_in = 120;
  r.bytes_out = 480;
  r.bytes_up = 120;
  r.bytes_down = 480;
  r.start_ms = LINE_TIME_MS - 60012;
  r.duration_ms = 60012;
  r.end = IOCPD_END_IDLE_TIMEOUT;
  r.udp = 1;
  r.datagrams_in = 3;
  r.datagrams_out = 4;
  r.datagrams_up = 5;
  r.datagrams_down = 18446744073709551615u;
  check_line(&r, "time=2025-11-25T00:29:03.023Z listener=dns client=[::1]:40213 "
                 "upstream=[::1]:53 bytes_in=120 bytes_out=480 bytes_up=120 "
                 "bytes_down=480 duration_ms=60012 end=idle_timeout proxy=- proto=udp "
                 "dgrams_in=3 dgrams_out=4 dgrams_up=5 "
                 "dgrams_down=18446744073709551615\n");
}

/* ------------------------------------------------------------------------ */
/* Metrics */

/* 1 if text has line as a whole line. */
static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  const char *p = text;
  while ((p = strstr(p, line)) != NULL) {
    if ((p == text || p[-1] == '\n') && p[n] == '\n') return 1;
    p += n;
  }
  return 0;
}

/* 1 if text has a sample line starting with prefix. */
static int has_prefix(const char *text, const char *prefix) {
  const char *p = text;
  size_t n = strlen(prefix);
  while ((p = strstr(p, prefix)) != NULL) {
    if (p == text || p[-1] == '\n') return 1;
    p += n;
  }
  return 0;
}

static void test_metrics(void) {
  iocpd_listener_stats st[2];
  metrics_source src;
  char *text, want[160];
  size_t len = 0;
  int k;

  memset(st, 0, sizeof(st));
  memset(&src, 0, sizeof(src));
  src.start_ms = LINE_TIME_MS;
  st[0].name = "web";
  st[0].protocol = IOCPD_TCP;
  st[0].accepted = 7;
  st[0].bytes_in = 100;
  st[0].duration_buckets[0] = 7;
  st[1].name = "dns";
  st[1].protocol = IOCPD_UDP;
  st[1].bytes_in = 120;
  st[1].bytes_down = 480;
  st[1].datagrams_in = 3;
  st[1].datagrams_out = 4;
  st[1].datagrams_up = 5;
  st[1].datagrams_down = 6;
  for (k = 0; k < IOCPD_UDP_DROP_KINDS; k++) st[1].udp_dropped[k] = (uint64_t)(10 + k);
  st[1].sessions = 42;
  st[1].sessions_open = 2;

  text = metrics_format(&src, st, 2, NULL, 0, &len);
  CHECK(text != NULL);
  if (text == NULL) return;
  CHECK(len == strlen(text));

  /* TCP as before. */
  CHECK(has_line(text, "iocpd_connections_total{listener=\"web\"} 7"));
  CHECK(has_line(text, "iocpd_bytes_total{listener=\"web\",direction=\"in\"} 100"));
  CHECK(has_line(text, "iocpd_connection_duration_seconds_count{listener=\"web\"} 7"));
  CHECK(!has_prefix(text, "iocpd_udp_datagrams_total{listener=\"web\""));
  CHECK(!has_prefix(text, "iocpd_udp_dropped_total{listener=\"web\""));
  CHECK(!has_prefix(text, "iocpd_udp_sessions_open{listener=\"web\""));

  /* UDP: bytes and its own families, none of the connection ones. */
  CHECK(has_line(text, "iocpd_bytes_total{listener=\"dns\",direction=\"in\"} 120"));
  CHECK(has_line(text, "iocpd_bytes_total{listener=\"dns\",direction=\"down\"} 480"));
  CHECK(has_line(text, "iocpd_udp_datagrams_total{listener=\"dns\",direction=\"in\"} 3"));
  CHECK(has_line(text, "iocpd_udp_datagrams_total{listener=\"dns\",direction=\"out\"} 4"));
  CHECK(has_line(text, "iocpd_udp_datagrams_total{listener=\"dns\",direction=\"up\"} 5"));
  CHECK(has_line(text, "iocpd_udp_datagrams_total{listener=\"dns\",direction=\"down\"} 6"));
  for (k = 0; k < IOCPD_UDP_DROP_KINDS; k++) {
    snprintf(want, sizeof(want), "iocpd_udp_dropped_total{listener=\"dns\",reason=\"%s\"} %d",
             iocpd_udp_drop_name(k), 10 + k);
    CHECK(strcmp(iocpd_udp_drop_name(k), "-") != 0);
    CHECK(has_line(text, want));
    if (!has_line(text, want)) fprintf(stderr, "missing: %s\n", want);
  }
  CHECK(has_line(text, "iocpd_udp_sessions_open{listener=\"dns\"} 2"));
  CHECK(has_line(text, "iocpd_udp_sessions_total{listener=\"dns\"} 42"));
  CHECK(has_line(text, "# TYPE iocpd_udp_datagrams_total counter"));
  CHECK(has_line(text, "# TYPE iocpd_udp_dropped_total counter"));
  CHECK(has_line(text, "# TYPE iocpd_udp_sessions_open gauge"));
  CHECK(has_line(text, "# TYPE iocpd_udp_sessions_total counter"));
  CHECK(!has_prefix(text, "iocpd_connections_total{listener=\"dns\""));
  CHECK(!has_prefix(text, "iocpd_connections_active{listener=\"dns\""));
  CHECK(!has_prefix(text, "iocpd_connections_rejected_total{listener=\"dns\""));
  CHECK(!has_prefix(text, "iocpd_accept_paused_total{listener=\"dns\""));
  CHECK(!has_prefix(text, "iocpd_proxy_header_errors_total{listener=\"dns\""));
  CHECK(!has_prefix(text, "iocpd_descriptors_exhausted_total{listener=\"dns\""));
  CHECK(!has_prefix(text, "iocpd_connection_duration_seconds_bucket{listener=\"dns\""));
  CHECK(!has_prefix(text, "iocpd_connection_duration_seconds_count{listener=\"dns\""));
  free(text);
}

int main(void) {
  test_tcp_line();
  test_udp_line();
  test_metrics();
  return check_summary();
}
