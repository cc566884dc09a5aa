/*
 * PROXY headers through the engine, on both backends: a listener with
 * accept_proxy reads the header however it is split across reads, hands
 * the bytes after it to the handler as payload, and shows the header's
 * addresses to the handler, allow/deny and the per-address limit; it
 * refuses untrusted peers and bad, late or cut headers, counting each by
 * reason. The forward handler's send_proxy puts the header first on the
 * upstream connection, and a health check sends the header that carries
 * no address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testengine.h"

#define LINE_MAX_LEN 256

/* A handler that first tells the client what the engine says of it:
 * "peer=A local=B proxy=C\n", then echoes. */
static void who_sent(iocpd_conn *c, size_t len, void *arg) {
  (void)len;
  if (arg != NULL) free(arg); /* the first line */
  if (iocpd_read(c) != 0) iocpd_abort(c);
}

static int who_accept(iocpd_conn *c) {
  char p[IOCPD_ADDR_STRLEN], l[IOCPD_ADDR_STRLEN], x[IOCPD_ADDR_STRLEN];
  const iocpd_addr *proxy = iocpd_conn_proxy_addr(c);
  char *line = malloc(LINE_MAX_LEN);
  int n;
  if (line == NULL) return IOCPD_ENOMEM;
  n = snprintf(line, LINE_MAX_LEN, "peer=%s local=%s proxy=%s\n",
               iocpd_addr_format(iocpd_conn_peer_addr(c), p),
               iocpd_addr_format(iocpd_conn_local_addr(c), l),
               proxy != NULL ? iocpd_addr_format(proxy, x) : "-");
  return iocpd_write(c, line, (size_t)n, line);
}

static void who_data(iocpd_conn *c, const char *data, size_t len) {
  if (iocpd_write(c, data, len, NULL) != 0) iocpd_abort(c);
}

static void who_peer_closed(iocpd_conn *c) { iocpd_close(c); }

static const iocpd_handler who_handler = {
    .name = "who",
    .on_accept = who_accept,
    .on_data = who_data,
    .on_sent = who_sent,
    .on_peer_closed = who_peer_closed,
};

/* ------------------------------------------------------------------------ */
/* The server under test */

static iocpd_server *server;
static uint16_t port;

static iocpd_listener_stats stats(void) {
  iocpd_listener_stats st;
  memset(&st, 0, sizeof(st));
  iocpd_server_listener_stats(server, &st, 1);
  return st;
}

/* A server with one listener on 127.0.0.1 that accepts `versions` from
 * `trusted` (a CIDR), with deny (may be NULL) and a per-address limit. */
static int start_limited(unsigned versions, const char *trusted, const char *deny, size_t per_ip,
                         uint32_t timeout_ms, size_t max_conns, const iocpd_handler *h) {
  iocpd_listener_options l;
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_cidr t, d;
  memset(&l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  iocpd_cidr_parse(trusted, &t);
  port = tnet_free_port();
  l.name = "lb";
  l.addr = loopback(port);
  l.handler = h;
  l.accept_proxy = versions;
  l.proxy_trusted = &t;
  l.proxy_trusted_count = 1;
  l.proxy_timeout_ms = timeout_ms;
  l.max_connections_per_ip = per_ip;
  l.max_connections = max_conns;
  if (deny != NULL) {
    iocpd_cidr_parse(deny, &d);
    l.deny = &d;
    l.deny_count = 1;
  }
  o.workers = 2;
  o.listeners = &l;
  o.listener_count = 1;
  if (iocpd_server_create(&o, &server, &err) != 0) {
    fprintf(stderr, "cannot start: %s\n", err.message);
    return 0;
  }
  return 1;
}

static int start(unsigned versions, const char *trusted, const char *deny, size_t per_ip,
                 uint32_t timeout_ms) {
  return start_limited(versions, trusted, deny, per_ip, timeout_ms, 0, &who_handler);
}

static void stop(void) {
  iocpd_server_destroy(server);
  server = NULL;
}

/* Reads the first line (up to '\n') into line. */
static int read_line(tsock s, char *line, size_t size) {
  size_t n = 0;
  while (n + 1 < size) {
    if (recv(s, line + n, 1, 0) != 1) return -1;
    if (line[n++] == '\n') break;
  }
  line[n] = '\0';
  return 0;
}

/* Connects, sends the header (and payload, in the same write), and
 * returns the first line in `line`; -1 if the connection ended first. */
static int ask(const void *header, size_t len, const char *payload, char *line) {
  char buf[600];
  tsock s = tnet_connect(port);
  int rc = -1;
  if (s == TSOCK_BAD) return -1;
  memcpy(buf, header, len);
  memcpy(buf + len, payload, strlen(payload));
  if (tnet_send_all(s, buf, len + strlen(payload)) == 0 && read_line(s, line, LINE_MAX_LEN) == 0)
    rc = 0;
  if (rc == 0 && payload[0] != '\0') {
    char echo[64];
    if (tnet_recv_exact(s, echo, strlen(payload)) != 0 ||
        memcmp(echo, payload, strlen(payload)) != 0)
      rc = -2;
  }
  tnet_close(s);
  return rc;
}

static iocpd_addr addr_of(const char *ip, uint16_t p) {
  iocpd_addr a;
  iocpd_addr_parse_ip(ip, &a);
  a.port = p;
  return a;
}

/* ------------------------------------------------------------------------ */

static void test_addresses_and_payload(void) {
  char h[IOCPD_PROXY_FORMAT_MAX], line[LINE_MAX_LEN];
  iocpd_addr src = addr_of("203.0.113.9", 51000), dst = addr_of("198.51.100.1", 443);
  iocpd_addr src6 = addr_of("2001:db8::9", 4000), dst6 = addr_of("2001:db8::1", 80);
  size_t n;

  if (!start(IOCPD_PROXY_V1 | IOCPD_PROXY_V2, "127.0.0.0/8", NULL, 0, 0)) {
    CHECK(0);
    return;
  }
  n = iocpd_proxy_format(h, 1, &src, &dst);
  CHECK(ask(h, n, "hello", line) == 0);
  CHECK(strcmp(line, "peer=203.0.113.9:51000 local=198.51.100.1:443 proxy=127.0.0.1:") > 0 &&
        strncmp(line, "peer=203.0.113.9:51000 local=198.51.100.1:443 proxy=127.0.0.1:", 62) == 0);
  n = iocpd_proxy_format(h, 2, &src6, &dst6);
  CHECK(ask(h, n, "payload in the header's read", line) == 0);
  CHECK(strncmp(line, "peer=[2001:db8::9]:4000 local=[2001:db8::1]:80 proxy=127.0.0.1:", 63) == 0);
  /* LOCAL and UNKNOWN: the connection's own addresses stand. */
  n = iocpd_proxy_format(h, 2, NULL, NULL);
  CHECK(ask(h, n, "x", line) == 0);
  CHECK(strncmp(line, "peer=127.0.0.1:", 15) == 0 && strstr(line, "proxy=-\n") != NULL);
  n = iocpd_proxy_format(h, 1, NULL, NULL);
  CHECK(ask(h, n, "", line) == 0);
  CHECK(strncmp(line, "peer=127.0.0.1:", 15) == 0 && strstr(line, "proxy=-\n") != NULL);
  CHECK(wait_count(server, 0));
  CHECK(stats().accepted == 4);
  stop();
}

/* The header in two writes, split at every byte, with a pause between
 * them so that the engine reads them apart; payload follows the second. */
static void test_split_everywhere(void) {
  char h[IOCPD_PROXY_FORMAT_MAX], line[LINE_MAX_LEN];
  iocpd_addr src = addr_of("192.0.2.77", 1000), dst = addr_of("192.0.2.1", 2000);
  int v, bad = 0, tried = 0;

  if (!start(IOCPD_PROXY_V1 | IOCPD_PROXY_V2, "127.0.0.1", NULL, 0, 0)) {
    CHECK(0);
    return;
  }
  for (v = 1; v <= 2; v++) {
    size_t n = iocpd_proxy_format(h, v, &src, &dst), k;
    for (k = 1; k < n; k++) {
      tsock s = tnet_connect(port);
      char echo[8];
      tried++;
      if (s == TSOCK_BAD || tnet_send_all(s, h, k) != 0) {
        bad++;
        continue;
      }
      tnet_sleep_ms(15);
      if (tnet_send_all(s, h + k, n - k) != 0 || tnet_send_all(s, "abc", 3) != 0 ||
          read_line(s, line, sizeof(line)) != 0 ||
          strncmp(line, "peer=192.0.2.77:1000 local=192.0.2.1:2000 ", 42) != 0 ||
          tnet_recv_exact(s, echo, 3) != 0 || memcmp(echo, "abc", 3) != 0) {
        fprintf(stderr, "  v%d split at %u: %s", v, (unsigned)k, line);
        bad++;
      }
      tnet_close(s);
    }
  }
  printf("split headers: %d of %d read right\n", tried - bad, tried);
  CHECK(bad == 0);
  CHECK(wait_count(server, 0));
  CHECK(stats().proxy_errors[IOCPD_PROXY_TRUNCATED] == 0);
  stop();
}

/* Header, payload and FIN all waiting when the connection is accepted,
 * as when a balancer relays a short request, on the echo handler (which
 * writes nothing until it has read): the payload is echoed before the
 * FIN, and the connection ends at once, without another event to wake
 * the loop. max_connections = 1 keeps each client in the backlog, with
 * all it sent, until a holder before it has gone. */
static void test_payload_then_fin(void) {
  char h[IOCPD_PROXY_FORMAT_MAX + 8], echo[8];
  iocpd_addr src = addr_of("192.0.2.8", 8), dst = addr_of("192.0.2.9", 9);
  int i, bad = 0;
  size_t n;

  if (!start_limited(IOCPD_PROXY_V1 | IOCPD_PROXY_V2, "127.0.0.1", NULL, 0, 0, 1,
                     &iocpd_echo_handler)) {
    CHECK(0);
    return;
  }
  for (i = 0; i < 20; i++) {
    tsock holder = tnet_connect(port), s;
    int ok;
    tnet_timeout(holder, 2000);
    n = iocpd_proxy_format(h, 1, &src, &dst);
    memcpy(h + n, "x", 1);
    ok = tnet_send_all(holder, h, n + 1) == 0 && tnet_recv_exact(holder, echo, 1) == 0;
    s = tnet_connect(port);
    n = iocpd_proxy_format(h, 1 + i % 2, &src, &dst);
    memcpy(h + n, "hello", 5);
    tnet_timeout(s, 2000);
    tnet_send_all(s, h, n + 5);
    shutdown(s, TNET_SHUT_WR);
    tnet_sleep_ms(20); /* all of it waits in the backlog */
    tnet_close(holder);
    if (!ok || tnet_recv_exact(s, echo, 5) != 0 || memcmp(echo, "hello", 5) != 0 ||
        !tnet_sees_end(s))
      bad++;
    tnet_close(s);
  }
  printf("header, payload and FIN waiting at accept: %d of 20 echoed and ended\n", 20 - bad);
  CHECK(bad == 0);
  CHECK(wait_count(server, 0));
  stop();
}

/* Refused headers end the connection without a word, each counted. */
static void test_refusals(void) {
  static const char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                  0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
  char h[IOCPD_PROXY_FORMAT_MAX], big[200];
  iocpd_addr src = addr_of("192.0.2.5", 1), dst = addr_of("192.0.2.6", 2);
  iocpd_listener_stats st;
  tsock s;
  size_t n;

  if (!start(IOCPD_PROXY_V2, "127.0.0.1", NULL, 0, 300)) {
    CHECK(0);
    return;
  }
  /* unknown: no signature */
  s = tnet_connect(port);
  tnet_send_all(s, "GET / HTTP/1.1\r\n\r\n", 18);
  CHECK(tnet_sees_end(s));
  tnet_close(s);
  /* version: v1 on a v2-only listener */
  n = iocpd_proxy_format(h, 1, &src, &dst);
  s = tnet_connect(port);
  tnet_send_all(s, h, n);
  CHECK(tnet_sees_end(s));
  tnet_close(s);
  /* malformed: a v2 header with an undefined family */
  n = iocpd_proxy_format(h, 2, &src, &dst);
  h[13] = 0x15;
  s = tnet_connect(port);
  tnet_send_all(s, h, n);
  CHECK(tnet_sees_end(s));
  tnet_close(s);
  /* oversize: a v2 header announcing 60000 bytes */
  memcpy(big, v2_sig, 12);
  big[12] = 0x21, big[13] = 0x11, big[14] = (char)0xea, big[15] = 0x60;
  s = tnet_connect(port);
  tnet_send_all(s, big, 16);
  CHECK(tnet_sees_end(s));
  tnet_close(s);
  /* timeout: half a header, then silence past proxy_timeout */
  n = iocpd_proxy_format(h, 2, &src, &dst);
  s = tnet_connect(port);
  tnet_send_all(s, h, 10);
  CHECK(tnet_sees_end(s));
  tnet_close(s);
  /* truncated: half a header, then FIN */
  s = tnet_connect(port);
  tnet_send_all(s, h, 20);
  shutdown(s, TNET_SHUT_WR);
  CHECK(tnet_sees_end(s));
  tnet_close(s);
  /* nothing at all: a probe, not an error */
  s = tnet_connect(port);
  shutdown(s, TNET_SHUT_WR);
  CHECK(tnet_sees_end(s));
  tnet_close(s);
  CHECK(wait_count(server, 0));
  st = stats();
  CHECK(st.proxy_errors[IOCPD_PROXY_UNKNOWN] == 1);
  CHECK(st.proxy_errors[IOCPD_PROXY_VERSION] == 1);
  CHECK(st.proxy_errors[IOCPD_PROXY_MALFORMED] == 1);
  CHECK(st.proxy_errors[IOCPD_PROXY_OVERSIZE] == 1);
  CHECK(st.proxy_errors[IOCPD_PROXY_TIMEOUT] == 1);
  CHECK(st.proxy_errors[IOCPD_PROXY_TRUNCATED] == 1);
  CHECK(st.proxy_errors[IOCPD_PROXY_UNTRUSTED] == 0);
  CHECK(st.accepted == 0);
  stop();
}

/* Trust, and the rules on the real address. */
static void test_trust_and_rules(void) {
  char h[IOCPD_PROXY_FORMAT_MAX], line[LINE_MAX_LEN];
  iocpd_addr denied = addr_of("10.9.1.1", 5), ok = addr_of("10.8.1.1", 5);
  iocpd_addr dst = addr_of("10.0.0.1", 80);
  iocpd_listener_stats st;
  tsock a, b;
  size_t n;

  /* Only 127.0.0.2 is trusted: a header from 127.0.0.1, however good, is
   * refused at accept, before a byte is read. */
  if (!start(IOCPD_PROXY_V1, "127.0.0.2", NULL, 0, 0)) {
    CHECK(0);
    return;
  }
  n = iocpd_proxy_format(h, 1, &ok, &dst);
  CHECK(ask(h, n, "", line) == -1);
  CHECK(wait_count(server, 0));
  st = stats();
  CHECK(st.proxy_errors[IOCPD_PROXY_UNTRUSTED] == 1 && st.accepted == 0);
  stop();

  /* deny = 10.9.0.0/16 applies to the client in the header; and one
   * connection per client address, counted by the header's address. */
  if (!start(IOCPD_PROXY_V1, "127.0.0.1", "10.9.0.0/16", 1, 0)) {
    CHECK(0);
    return;
  }
  n = iocpd_proxy_format(h, 1, &denied, &dst);
  CHECK(ask(h, n, "", line) == -1);
  n = iocpd_proxy_format(h, 1, &ok, &dst);
  a = tnet_connect(port);
  tnet_send_all(a, h, n);
  CHECK(read_line(a, line, sizeof(line)) == 0 && strncmp(line, "peer=10.8.1.1:5 ", 16) == 0);
  /* A second one from 10.8.1.1 is over the limit... */
  b = tnet_connect(port);
  tnet_send_all(b, h, n);
  CHECK(tnet_sees_end(b));
  tnet_close(b);
  /* ...and one from another client, through the same balancer, is not. */
  denied = addr_of("10.8.1.2", 5);
  n = iocpd_proxy_format(h, 1, &denied, &dst);
  CHECK(ask(h, n, "z", line) == 0 && strncmp(line, "peer=10.8.1.2:5 ", 16) == 0);
  tnet_close(a);
  CHECK(wait_count(server, 0));
  st = stats();
  CHECK(st.rejected_denied == 1);
  CHECK(st.rejected_per_ip == 1);
  CHECK(st.accepted == 2);
  stop();
}

/* ------------------------------------------------------------------------ */
/* Sending: forward with send_proxy, and health checks */

static tsock listen_on(uint16_t *p) {
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  tsock s = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(s, 16) != 0) {
    tnet_close(s);
    return TSOCK_BAD;
  }
  getsockname(s, (struct sockaddr *)&sin, &len);
  *p = ntohs(sin.sin_port);
  return s;
}

static void test_send_proxy(void) {
  iocpd_listener_options l[2];
  iocpd_forward_options f[2];
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_cidr trusted;
  iocpd_addr up, client, dst = addr_of("198.51.100.7", 8443);
  char want[IOCPD_PROXY_FORMAT_MAX], got[IOCPD_PROXY_FORMAT_MAX + 5];
  uint16_t up_port, ports[2], p_plain, p_chain;
  tsock ls = listen_on(&up_port), c, u;
  size_t n;
  int v;

  CHECK(ls != TSOCK_BAD && tnet_free_ports(ports, 2));
  p_plain = ports[0];
  p_chain = ports[1];
  up = loopback(up_port);
  iocpd_cidr_parse("127.0.0.1", &trusted);
  memset(l, 0, sizeof(l));
  memset(f, 0, sizeof(f));
  memset(&o, 0, sizeof(o));
  /* plain: client -> iocpd (send_proxy v2) -> upstream. chain: a
   * balancer's v1 header in, iocpd's v1 header out, with its client. */
  f[0].upstreams = f[1].upstreams = &up;
  f[0].upstream_count = f[1].upstream_count = 1;
  l[0].name = "plain";
  l[0].addr = loopback(p_plain);
  l[0].handler = &iocpd_forward_handler;
  l[0].handler_arg = &f[0];
  l[1].name = "chain";
  l[1].addr = loopback(p_chain);
  l[1].handler = &iocpd_forward_handler;
  l[1].handler_arg = &f[1];
  l[1].accept_proxy = IOCPD_PROXY_V1;
  l[1].proxy_trusted = &trusted;
  l[1].proxy_trusted_count = 1;
  o.workers = 1;
  o.listeners = l;
  o.listener_count = 2;
  for (v = 1; v <= 2; v++) {
    f[0].send_proxy = v;
    f[1].send_proxy = 1;
    if (iocpd_server_create(&o, &server, &err) != 0) {
      fprintf(stderr, "cannot start: %s\n", err.message);
      CHECK(0);
      break;
    }
    c = tnet_connect(p_plain);
    tnet_send_all(c, "ping", 4);
    u = accept(ls, NULL, NULL);
    tnet_timeout(u, 10000);
    client = loopback(tnet_local_port(c));
    {
      iocpd_addr listener = loopback(p_plain);
      n = iocpd_proxy_format(want, v, &client, &listener);
    }
    CHECK(tnet_recv_exact(u, got, n + 4) == 0 && memcmp(got, want, n) == 0 &&
          memcmp(got + n, "ping", 4) == 0);
    tnet_send_all(u, "pong", 4);
    CHECK(tnet_recv_exact(c, got, 4) == 0 && memcmp(got, "pong", 4) == 0);
    tnet_close(c);
    tnet_close(u);

    /* A client that waits for the server to speak first: the header
     * still reaches the upstream (alone, a moment after the connect),
     * and the client's bytes follow it. */
    c = tnet_connect(p_plain);
    u = accept(ls, NULL, NULL);
    tnet_timeout(u, 10000);
    client = loopback(tnet_local_port(c));
    {
      iocpd_addr listener = loopback(p_plain);
      n = iocpd_proxy_format(want, v, &client, &listener);
    }
    CHECK(tnet_recv_exact(u, got, n) == 0 && memcmp(got, want, n) == 0);
    tnet_send_all(u, "220 hello\r\n", 11);
    CHECK(tnet_recv_exact(c, got, 11) == 0 && memcmp(got, "220 hello\r\n", 11) == 0);
    tnet_send_all(c, "HELO", 4);
    CHECK(tnet_recv_exact(u, got, 4) == 0 && memcmp(got, "HELO", 4) == 0);
    tnet_close(c);
    tnet_close(u);

    /* The chain: what the balancer said goes on. */
    client = addr_of("203.0.113.50", 61000);
    n = iocpd_proxy_format(want, 1, &client, &dst);
    c = tnet_connect(p_chain);
    tnet_send_all(c, want, n);
    tnet_send_all(c, "data", 4);
    u = accept(ls, NULL, NULL);
    tnet_timeout(u, 10000);
    CHECK(tnet_recv_exact(u, got, n + 4) == 0 && memcmp(got, want, n) == 0 &&
          memcmp(got + n, "data", 4) == 0);
    tnet_close(c);
    tnet_close(u);
    CHECK(wait_count(server, 0));
    iocpd_server_destroy(server);
    server = NULL;
  }
  tnet_close(ls);
}

static void test_health_check_header(void) {
  iocpd_listener_options l;
  iocpd_forward_options f;
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_addr up;
  uint16_t up_port;
  tsock ls = listen_on(&up_port), u;
  char got[32], want[IOCPD_PROXY_FORMAT_MAX];
  size_t n;
  int v;

  CHECK(ls != TSOCK_BAD);
  up = loopback(up_port);
  for (v = 1; v <= 2; v++) {
    memset(&l, 0, sizeof(l));
    memset(&f, 0, sizeof(f));
    memset(&o, 0, sizeof(o));
    f.upstreams = &up;
    f.upstream_count = 1;
    f.send_proxy = v;
    l.name = "checked";
    l.addr = loopback(tnet_free_port());
    l.handler = &iocpd_forward_handler;
    l.handler_arg = &f;
    l.health_interval_ms = 60000;
    l.health_targets = &up;
    l.health_target_count = 1;
    l.health_send_proxy = v;
    o.workers = 1;
    o.listeners = &l;
    o.listener_count = 1;
    if (iocpd_server_create(&o, &server, &err) != 0) {
      CHECK(0);
      break;
    }
    u = accept(ls, NULL, NULL);
    tnet_timeout(u, 10000);
    n = iocpd_proxy_format(want, v, NULL, NULL);
    /* The header that carries no address, then a clean end. */
    CHECK(tnet_recv_exact(u, got, n) == 0 && memcmp(got, want, n) == 0);
    CHECK(recv(u, got, 1, 0) == 0);
    tnet_close(u);
    iocpd_server_destroy(server);
    server = NULL;
  }
  tnet_close(ls);
}

int main(void) {
  tnet_init();
  test_addresses_and_payload();
  test_split_everywhere();
  test_payload_then_fin();
  test_refusals();
  test_trust_and_rules();
  test_send_proxy();
  test_health_check_header();
  return check_summary();
}
