/*
 * UDP listeners through the engine, on both backends: echo sends every
 * datagram back whole; forward keeps one session (one upstream-side
 * socket) per client, so replies never cross; allow/deny, the session
 * limits and idle expiry hold and are counted; an upstream that answers
 * with ICMP port unreachable is marked down and the session moves on.
 * The test itself plays client and upstream with blocking sockets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testengine.h"

#ifndef _WIN32
#include <sys/select.h>
#endif

/* ------------------------------------------------------------------------ */
/* Datagram sockets for the test */

static tsock udp_socket(const char *ip, uint16_t port) {
  struct sockaddr_in sin;
  int big = 1 << 20;
  tsock s = socket(AF_INET, SOCK_DGRAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  inet_pton(AF_INET, ip, &sin.sin_addr);
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, (const char *)&big, sizeof(big));
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&big, sizeof(big));
  if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
    tnet_close(s);
    return TSOCK_BAD;
  }
  return s;
}

/* A UDP port on 127.0.0.1 that was free a moment ago (tnet_free_port
 * asks TCP, whose free ports say nothing of UDP's). */
static uint16_t free_udp_port(void) {
  tsock s = udp_socket("127.0.0.1", 0);
  uint16_t port = s != TSOCK_BAD ? tnet_local_port(s) : 0;
  if (s != TSOCK_BAD) tnet_close(s);
  return port;
}

static int send_to(tsock s, uint16_t port, const void *data, size_t len) {
  struct sockaddr_in to;
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  return sendto(s, data, (int)len, 0, (struct sockaddr *)&to, sizeof(to)) == (int)len;
}

/* Receives one datagram within ms; returns its length, or -1. *from_port
 * (may be NULL) is its source port. */
static int recv_within(tsock s, char *buf, size_t size, unsigned ms, uint16_t *from_port) {
  fd_set set;
  struct timeval tv;
  struct sockaddr_in from;
  socklen_t len = sizeof(from);
  int n;
  FD_ZERO(&set);
  FD_SET(s, &set);
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (long)(ms % 1000) * 1000;
  if (select((int)s + 1, &set, NULL, NULL, &tv) <= 0) return -1;
  n = recvfrom(s, buf, (int)size, 0, (struct sockaddr *)&from, &len);
  if (n >= 0 && from_port != NULL) *from_port = ntohs(from.sin_port);
  return n;
}

/* Answers one datagram on the upstream socket u with "PORT:" and the
 * datagram, PORT being the source port it came from (the relay's
 * session socket). Returns that port, or 0 if none came. */
static uint16_t answer_one(tsock u, unsigned ms) {
  static char buf[70000], reply[70016];
  struct sockaddr_in from;
  socklen_t len = sizeof(from);
  fd_set set;
  struct timeval tv;
  int n, k;
  FD_ZERO(&set);
  FD_SET(u, &set);
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (long)(ms % 1000) * 1000;
  if (select((int)u + 1, &set, NULL, NULL, &tv) <= 0) return 0;
  n = recvfrom(u, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len);
  if (n < 0) return 0;
  k = snprintf(reply, sizeof(reply), "%u:", (unsigned)ntohs(from.sin_port));
  memcpy(reply + k, buf, (size_t)n);
  sendto(u, reply, k + n, 0, (struct sockaddr *)&from, len);
  return ntohs(from.sin_port);
}

/* ------------------------------------------------------------------------ */
/* Access records */

static iocpd_access_record records[64];
static int record_count;

static void on_access(void *arg, const iocpd_access_record *r) {
  (void)arg;
  /* Called on the worker; the test reads after waiting, so no lock. */
  if (record_count < 64) records[record_count++] = *r;
}

static iocpd_listener_stats stats_of(iocpd_server *s) {
  iocpd_listener_stats st;
  memset(&st, 0, sizeof(st));
  iocpd_server_listener_stats(s, &st, 1);
  return st;
}

static iocpd_server *start_udp(iocpd_listener_options *l) {
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  memset(&o, 0, sizeof(o));
  o.workers = 1;
  o.listeners = l;
  o.listener_count = 1;
  o.on_access = on_access;
  if (iocpd_server_create(&o, &s, &err) != 0) {
    fprintf(stderr, "cannot start: %s\n", err.message);
    return NULL;
  }
  return s;
}

static iocpd_listener_options udp_listener(uint16_t port, const iocpd_handler *h, void *arg) {
  iocpd_listener_options l;
  memset(&l, 0, sizeof(l));
  l.name = "udp";
  l.addr = loopback(port);
  l.protocol = IOCPD_UDP;
  l.handler = h;
  l.handler_arg = arg;
  return l;
}

/* ------------------------------------------------------------------------ */
/* Echo */

static void test_echo(void) {
  uint16_t port = free_udp_port();
  iocpd_listener_options l = udp_listener(port, &iocpd_echo_handler, NULL);
  iocpd_server *s = start_udp(&l);
  static char out[IOCPD_UDP_MAX_DATAGRAM], in[IOCPD_UDP_MAX_DATAGRAM + 16];
  tsock c = udp_socket("127.0.0.1", 0);
  int i, good = 0, rounds = 200;
  uint64_t bytes = 0;
  unsigned seed = 12345;
  iocpd_listener_stats st;
  CHECK(s != NULL && c != TSOCK_BAD);
  if (s == NULL) return;
  for (i = 0; i < rounds; i++) {
    /* Both ends of the range, then random sizes in between. */
    size_t len = i == 0 ? 1 : i == 1 ? IOCPD_UDP_MAX_DATAGRAM : 1 + (seed % IOCPD_UDP_MAX_DATAGRAM);
    size_t k;
    int n;
    seed = seed * 1103515245u + 12345u;
    for (k = 0; k < len; k++) out[k] = (char)(i * 31 + k * 7);
    memcpy(out, &i, len < sizeof(i) ? len : sizeof(i));
    if (!send_to(c, port, out, len)) break;
    n = recv_within(c, in, sizeof(in), 2000, NULL);
    if (n == (int)len && memcmp(in, out, len) == 0) good++;
    bytes += len;
  }
  CHECK(good == rounds);
  for (i = 0; i < 100 && stats_of(s).datagrams_out < (uint64_t)rounds; i++) tnet_sleep_ms(10);
  st = stats_of(s);
  CHECK(st.protocol == IOCPD_UDP);
  CHECK(st.datagrams_in == (uint64_t)rounds && st.datagrams_out == (uint64_t)rounds);
  CHECK(st.bytes_in == bytes && st.bytes_out == bytes);
  CHECK(st.sessions == 0 && record_count == 0); /* echo keeps no sessions */
  tnet_close(c);
  iocpd_server_destroy(s);
}

/* ------------------------------------------------------------------------ */
/* Forward */

typedef struct fwd_setup {
  uint16_t port;
  tsock upstream;
  iocpd_addr upstreams[2];
  iocpd_forward_options fwd;
  iocpd_listener_options l;
  iocpd_server *server;
} fwd_setup;

static int fwd_start(fwd_setup *f, uint32_t idle_ms, size_t max_sessions, const iocpd_cidr *deny) {
  memset(f, 0, sizeof(*f));
  f->port = free_udp_port();
  f->upstream = udp_socket("127.0.0.1", 0);
  f->upstreams[0] = loopback(tnet_local_port(f->upstream));
  f->fwd.upstreams = f->upstreams;
  f->fwd.upstream_count = 1;
  f->fwd.idle_timeout_ms = idle_ms;
  f->l = udp_listener(f->port, &iocpd_forward_handler, &f->fwd);
  f->l.max_connections = max_sessions;
  f->l.deny = deny;
  f->l.deny_count = deny != NULL ? 1 : 0;
  record_count = 0;
  f->server = start_udp(&f->l);
  return f->server != NULL && f->upstream != TSOCK_BAD;
}

static void fwd_stop(fwd_setup *f) {
  iocpd_server_destroy(f->server);
  tnet_close(f->upstream);
}

/* Sends msg from c through the relay, answers it as the upstream and
 * checks that c gets exactly the answer. Returns the upstream-side port
 * its session used (0 on failure). */
static uint16_t round_trip(fwd_setup *f, tsock c, const char *msg) {
  char buf[256], want[256];
  uint16_t seen;
  int n;
  if (!send_to(c, f->port, msg, strlen(msg))) return 0;
  seen = answer_one(f->upstream, 2000);
  if (seen == 0) return 0;
  snprintf(want, sizeof(want), "%u:%s", (unsigned)seen, msg);
  n = recv_within(c, buf, sizeof(buf) - 1, 2000, NULL);
  if (n != (int)strlen(want) || memcmp(buf, want, (size_t)n) != 0) return 0;
  return seen;
}

static void test_forward_sessions(void) {
  fwd_setup f;
  tsock a, b;
  uint16_t pa, pb, pa2;
  iocpd_listener_stats st;
  int i;
  CHECK(fwd_start(&f, 0, 0, NULL));
  if (f.server == NULL) return;
  a = udp_socket("127.0.0.1", 0);
  b = udp_socket("127.0.0.1", 0);
  pa = round_trip(&f, a, "from a, 1");
  pb = round_trip(&f, b, "from b, 1");
  pa2 = round_trip(&f, a, "from a, 2");
  CHECK(pa != 0 && pb != 0 && pa2 != 0);
  CHECK(pa != pb);  /* a session each */
  CHECK(pa == pa2); /* the same session again */
  /* The relay counts a reply just after the OS took it: the client may
   * have it a moment before. */
  for (i = 0; i < 100 && stats_of(f.server).datagrams_out < 3; i++) tnet_sleep_ms(10);
  st = stats_of(f.server);
  CHECK(st.sessions == 2 && st.sessions_open == 2);
  CHECK(st.datagrams_in == 3 && st.datagrams_up == 3 && st.datagrams_down == 3 &&
        st.datagrams_out == 3);
  tnet_close(a);
  tnet_close(b);
  fwd_stop(&f);
  /* Destroying the server ends both sessions, each reported once. */
  CHECK(record_count == 2);
  CHECK(record_count >= 1 && records[0].udp == 1 && records[0].end == IOCPD_END_SHUTDOWN);
}

static void test_forward_idle(void) {
  fwd_setup f;
  tsock a;
  uint16_t p1, p2;
  int i;
  CHECK(fwd_start(&f, 300, 0, NULL));
  if (f.server == NULL) return;
  a = udp_socket("127.0.0.1", 0);
  p1 = round_trip(&f, a, "first");
  CHECK(p1 != 0);
  for (i = 0; i < 300 && stats_of(f.server).sessions_open != 0; i++) tnet_sleep_ms(10);
  CHECK(stats_of(f.server).sessions_open == 0);
  CHECK(record_count == 1);
  if (record_count == 1) {
    const iocpd_access_record *r = &records[0];
    CHECK(r->udp && r->end == IOCPD_END_IDLE_TIMEOUT);
    CHECK(r->datagrams_in == 1 && r->datagrams_up == 1 && r->datagrams_down == 1 &&
          r->datagrams_out == 1);
    CHECK(r->bytes_in == 5 && r->bytes_out == r->bytes_down && r->bytes_down > 5);
    CHECK(r->has_upstream && r->upstream.port == tnet_local_port(f.upstream));
    CHECK(r->client.port == tnet_local_port(a));
  }
  /* A new session, through a new socket. */
  p2 = round_trip(&f, a, "second");
  CHECK(p2 != 0);
  CHECK(stats_of(f.server).sessions == 2);
  tnet_close(a);
  fwd_stop(&f);
}

static void test_forward_limits(void) {
  fwd_setup f;
  tsock a, b;
  char buf[64];
  iocpd_listener_stats st;
  CHECK(fwd_start(&f, 0, 1, NULL));
  if (f.server == NULL) return;
  a = udp_socket("127.0.0.1", 0);
  b = udp_socket("127.0.0.1", 0);
  CHECK(round_trip(&f, a, "a") != 0);
  /* b would be a second session: over max_sessions (1), dropped. */
  CHECK(send_to(b, f.port, "b", 1));
  CHECK(answer_one(f.upstream, 300) == 0);
  CHECK(recv_within(b, buf, sizeof(buf), 100, NULL) < 0);
  /* a goes on. */
  CHECK(round_trip(&f, a, "a again") != 0);
  st = stats_of(f.server);
  CHECK(st.udp_dropped[IOCPD_UDP_DROP_SESSIONS] == 1);
  CHECK(st.sessions == 1 && st.datagrams_in == 3 && st.datagrams_up == 2);
  tnet_close(a);
  tnet_close(b);
  fwd_stop(&f);
}

/* deny covers the client: its datagrams never reach the upstream. */
static void test_forward_deny(void) {
  fwd_setup f;
  iocpd_cidr deny;
  tsock a;
  iocpd_listener_stats st;
  iocpd_cidr_parse("127.0.0.0/8", &deny);
  CHECK(fwd_start(&f, 0, 0, &deny));
  if (f.server == NULL) return;
  a = udp_socket("127.0.0.1", 0);
  CHECK(send_to(a, f.port, "denied", 6));
  CHECK(send_to(a, f.port, "denied", 6));
  CHECK(answer_one(f.upstream, 300) == 0);
  st = stats_of(f.server);
  CHECK(st.udp_dropped[IOCPD_UDP_DROP_DENIED] == 2);
  CHECK(st.sessions == 0 && st.datagrams_up == 0);
  tnet_close(a);
  fwd_stop(&f);
}

/* The first upstream is a closed port: ICMP port unreachable marks it
 * down and moves the session to the second, which answers the client's
 * next try. */
static void test_forward_failover(void) {
  fwd_setup f;
  tsock a, gone;
  char buf[128];
  int tries, answered = 0;
  CHECK(fwd_start(&f, 0, 0, NULL));
  if (f.server == NULL) return;
  iocpd_server_destroy(f.server);
  gone = udp_socket("127.0.0.1", 0);
  f.upstreams[1] = f.upstreams[0];
  f.upstreams[0] = loopback(tnet_local_port(gone));
  tnet_close(gone);
  f.fwd.upstream_count = 2;
  f.l.max_fails = 1;
  f.server = start_udp(&f.l);
  CHECK(f.server != NULL);
  if (f.server == NULL) return;
  a = udp_socket("127.0.0.1", 0);
  for (tries = 0; tries < 10 && !answered; tries++) {
    uint16_t seen;
    CHECK(send_to(a, f.port, "query", 5));
    seen = answer_one(f.upstream, 200);
    if (seen != 0 && recv_within(a, buf, sizeof(buf), 1000, NULL) > 0) answered = 1;
  }
  CHECK(answered);
  CHECK(tries >= 2); /* the first went to the closed port */
  CHECK(iocpd_server_upstream_up(f.server, "udp", &f.upstreams[0]) == 0);
  CHECK(stats_of(f.server).sessions == 1); /* the same session moved on */
  tnet_close(a);
  fwd_stop(&f);
}

static void test_bad_options(void) {
  iocpd_listener_options l = udp_listener(free_udp_port(), &iocpd_forward_handler, NULL);
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  memset(&o, 0, sizeof(o));
  o.listeners = &l;
  o.listener_count = 1;
  /* forward without upstreams */
  CHECK(iocpd_server_create(&o, &s, &err) == IOCPD_EINVAL);
  CHECK(strstr(err.message, "upstream") != NULL);
  l.handler = &iocpd_echo_handler;
  l.accept_proxy = IOCPD_PROXY_V2;
  CHECK(iocpd_server_create(&o, &s, &err) == IOCPD_EINVAL);
  CHECK(strstr(err.message, "UDP") != NULL);
}

int main(void) {
  tnet_init();
  test_echo();
  test_forward_sessions();
  test_forward_idle();
  test_forward_limits();
  test_forward_deny();
  test_forward_failover();
  test_bad_options();
  return check_summary();
}
