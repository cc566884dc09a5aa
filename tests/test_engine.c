/*
 * The engine's public API, driven in-process: creation is all or nothing,
 * echo and half-close, sends by id from another thread (also to a closing
 * or closed connection), on_closed exactly once, closing listeners,
 * draining and destroying with connections open, forwarding with
 * failover. (Admission is in test_admission.c, the IOCP-only paths in
 * test_iocp.c.) Built natively and as a
 * Windows PE (run under Wine), so both backends pass the same checks.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "testengine.h"

/* ------------------------------------------------------------------------ */

/* Clients that queue in the backlog while the worker is busy are all
 * served, each with its own addresses. (The IOCP backend takes such
 * clients with accept() behind a completed AcceptEx, and looks their local
 * address up only when asked; the epoll backend takes them in its accept
 * loop.) The handler holds the worker in the first connection's on_accept
 * until the others have connected, then tells each client the peer and
 * local addresses the engine gives it. */
static atomic_int queued_holding, queued_release;

static int queued_accept(iocpd_conn *c) {
  int i;
  if (atomic_exchange(&queued_holding, 1) == 0) {
    for (i = 0; i < 1000 && !atomic_load(&queued_release); i++) tnet_sleep_ms(10);
  }
  return iocpd_read(c);
}
static void queued_data(iocpd_conn *c, const char *data, size_t len) {
  char peer[IOCPD_ADDR_STRLEN], local[IOCPD_ADDR_STRLEN], line[2 * IOCPD_ADDR_STRLEN + 2];
  (void)data;
  (void)len;
  snprintf(line, sizeof(line), "%s %s", iocpd_addr_format(iocpd_conn_peer_addr(c), peer),
           iocpd_addr_format(iocpd_conn_local_addr(c), local));
  if (iocpd_write(c, line, strlen(line), NULL) != 0) iocpd_abort(c);
  iocpd_close(c);
}
static const iocpd_handler queued_handler = {
    .name = "queued", .on_accept = queued_accept, .on_data = queued_data};

static void test_queued_clients_addresses(void) {
  enum { N = 24 };
  static const char *const srcs[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
  static const char *const dsts[] = {"127.0.0.1", "127.0.0.5"};
  uint16_t port = tnet_free_port();
  iocpd_listener_options l;
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  tsock c[N];
  char want[N][2 * IOCPD_ADDR_STRLEN + 2], got[2 * IOCPD_ADDR_STRLEN + 2];
  int i, n, served = 0;

  atomic_store(&queued_holding, 0);
  atomic_store(&queued_release, 0);
  memset(&l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  l.name = "queued";
  iocpd_addr_parse_ip("0.0.0.0", &l.addr); /* a wildcard: local addresses differ */
  l.addr.port = port;
  l.handler = &queued_handler;
  o.workers = 1;
  o.listeners = &l;
  o.listener_count = 1;
  CHECK(iocpd_server_create(&o, &s, &err) == 0);
  if (s == NULL) return;
  for (i = 0; i < N; i++) {
    struct sockaddr_in me;
    socklen_t me_len = sizeof(me);
    char ip[INET_ADDRSTRLEN];
    c[i] = tnet_connect_between(srcs[i % 3], dsts[i % 2], port);
    CHECK(c[i] != TSOCK_BAD);
    want[i][0] = '\0';
    if (c[i] != TSOCK_BAD && getsockname(c[i], (struct sockaddr *)&me, &me_len) == 0) {
      inet_ntop(AF_INET, &me.sin_addr, ip, sizeof(ip));
      snprintf(want[i], sizeof(want[i]), "%s:%u %s:%u", ip, (unsigned)ntohs(me.sin_port),
               dsts[i % 2], (unsigned)port);
    }
    /* The first holds the worker: the others queue behind it. */
    for (n = 0; i == 0 && n < 500 && !atomic_load(&queued_holding); n++) tnet_sleep_ms(10);
  }
  atomic_store(&queued_release, 1);
  for (i = 0; i < N; i++) {
    if (c[i] == TSOCK_BAD) continue;
    memset(got, 0, sizeof(got));
    CHECK(tnet_send_all(c[i], "?", 1) == 0);
    n = 0;
    for (;;) {
      int r = recv(c[i], got + n, (int)(sizeof(got) - 1 - (size_t)n), 0);
      if (r <= 0) break;
      n += r;
    }
    if (strcmp(got, want[i]) == 0) {
      served++;
    } else {
      printf("client %d: engine said \"%s\", want \"%s\"\n", i, got, want[i]);
    }
    tnet_close(c[i]);
  }
  CHECK(served == N);
  CHECK(wait_count(s, 0));
  iocpd_server_destroy(s);
}

/* ------------------------------------------------------------------------ */

static void test_create_is_all_or_nothing(void) {
  uint16_t p1 = tnet_free_port(), p2 = tnet_free_port();
  iocpd_listener_options l[2];
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  struct sockaddr_in sin;
  tsock blocker, probe;
  int rc;

  /* Hold the second port so that its bind must fail. */
  blocker = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(p2);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(blocker, (struct sockaddr *)&sin, sizeof(sin)) == 0);
  CHECK(listen(blocker, 1) == 0);

  memset(l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  l[0].name = "first";
  l[0].addr = loopback(p1);
  l[0].handler = &iocpd_echo_handler;
  l[1].name = "second";
  l[1].addr = loopback(p2);
  l[1].handler = &iocpd_echo_handler;
  o.listeners = l;
  o.listener_count = 2;
  rc = iocpd_server_create(&o, &s, &err);
  CHECK(rc == IOCPD_EADDRINUSE);
  CHECK(err.code == IOCPD_EADDRINUSE);
  CHECK(err.os_error != 0);
  CHECK(s == NULL);
  CHECK(strstr(err.message, "listener second: cannot bind 127.0.0.1:") != NULL);
  /* Nothing half-started: the first listener's port is closed again. */
  probe = tnet_connect(p1);
  CHECK(probe == TSOCK_BAD);
  if (probe != TSOCK_BAD) tnet_close(probe);
  tnet_close(blocker);

  /* Bad options fail the same way. */
  o.listener_count = 0;
  CHECK(iocpd_server_create(&o, &s, &err) == IOCPD_EINVAL);
  CHECK(s == NULL);
}

static void test_echo_and_half_close(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_server(&iocpd_echo_handler, port, 2);
  char out[100000], in[100000];
  size_t i;
  tsock c;

  CHECK(s != NULL);
  if (s == NULL) return;
  for (i = 0; i < sizeof(out); i++) out[i] = (char)(i * 7 + 3);
  c = tnet_connect(port);
  CHECK(c != TSOCK_BAD);
  CHECK(tnet_send_all(c, out, sizeof(out)) == 0);
  CHECK(shutdown(c, TNET_SHUT_WR) == 0);
  CHECK(tnet_recv_exact(c, in, sizeof(in)) == 0);
  CHECK(memcmp(in, out, sizeof(in)) == 0);
  CHECK(tnet_sees_end(c));
  tnet_close(c);
  CHECK(wait_count(s, 0));
  iocpd_server_destroy(s);
}

/* A handler that remembers its connection's id and counts callbacks. */
static _Atomic uint64_t last_id;
static atomic_int accepted, closed, local_port;

static int rec_accept(iocpd_conn *c) {
  atomic_store(&local_port, iocpd_conn_local_addr(c)->port);
  atomic_store(&last_id, iocpd_conn_id(c));
  atomic_fetch_add(&accepted, 1);
  return iocpd_read(c);
}
static void rec_data(iocpd_conn *c, const char *data, size_t len) {
  (void)data;
  (void)len;
  if (iocpd_read(c) != 0) iocpd_abort(c);
}
static void rec_peer_closed(iocpd_conn *c) { iocpd_close(c); }
static void rec_closed(iocpd_conn *c) {
  (void)c;
  atomic_fetch_add(&closed, 1);
}
static const iocpd_handler recorder = {.name = "recorder",
                                       .on_accept = rec_accept,
                                       .on_data = rec_data,
                                       .on_peer_closed = rec_peer_closed,
                                       .on_closed = rec_closed};

static void test_send_by_id(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_server(&recorder, port, 2);
  char buf[16];
  uint64_t id;
  int i;
  tsock c;

  CHECK(s != NULL);
  if (s == NULL) return;
  atomic_store(&last_id, 0);
  c = tnet_connect(port);
  CHECK(c != TSOCK_BAD);
  for (i = 0; i < 500 && atomic_load(&last_id) == 0; i++) tnet_sleep_ms(10);
  id = atomic_load(&last_id);
  CHECK(id != 0);
  CHECK(atomic_load(&local_port) == port); /* the local address, looked up lazily */
  /* From this (non-worker) thread. */
  CHECK(iocpd_server_send(s, id, "hello", 5) == 0);
  CHECK(iocpd_server_send(s, id, " world", 6) == 0);
  CHECK(tnet_recv_exact(c, buf, 11) == 0);
  CHECK(memcmp(buf, "hello world", 11) == 0);
  /* An id nobody has, and bad arguments. */
  CHECK(iocpd_server_send(s, id + (1000u << 8), "x", 1) == IOCPD_ENOTFOUND);
  CHECK(iocpd_server_send(s, id, "x", 0) == IOCPD_EINVAL);
  /* Once the connection is gone the same id fails cleanly. */
  CHECK(shutdown(c, TNET_SHUT_WR) == 0);
  CHECK(tnet_sees_end(c));
  tnet_close(c);
  CHECK(wait_count(s, 0));
  CHECK(iocpd_server_send(s, id, "late", 4) == IOCPD_ENOTFOUND);
  iocpd_server_destroy(s);
}

static void test_closed_once_per_connection(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_server(&recorder, port, 2);
  int i, n = 50;

  CHECK(s != NULL);
  if (s == NULL) return;
  atomic_store(&accepted, 0);
  atomic_store(&closed, 0);
  for (i = 0; i < n; i++) {
    tsock c = tnet_connect(port);
    CHECK(c != TSOCK_BAD);
    if (c == TSOCK_BAD) continue;
    if (i % 2 == 0) {
      /* A clean end... */
      CHECK(tnet_send_all(c, "abc", 3) == 0);
      shutdown(c, TNET_SHUT_WR);
      CHECK(tnet_sees_end(c));
    } else {
      /* ...or an abrupt one (RST). */
      struct linger lg;
      lg.l_onoff = 1;
      lg.l_linger = 0;
      setsockopt(c, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof(lg));
    }
    tnet_close(c);
  }
  CHECK(wait_count(s, 0));
  /* A client that resets before the server accepts it may never be
   * accepted (AcceptEx fails for it on Windows), so count the clean ones
   * as a floor; every accepted connection must be closed exactly once. */
  CHECK(atomic_load(&accepted) >= n / 2);
  CHECK(atomic_load(&accepted) <= n);
  CHECK(atomic_load(&closed) == atomic_load(&accepted));
  iocpd_server_destroy(s);
}

/* A busy connection that goes quiet and then talks again: on IOCP its
 * real-buffer read is cancelled after about a second of silence and it
 * goes back to zero-byte reads; nothing may be lost on the way. */
static void test_busy_then_idle_then_busy(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_server(&iocpd_echo_handler, port, 1);
  tsock c;
  int i;

  CHECK(s != NULL);
  if (s == NULL) return;
  c = tnet_connect(port);
  for (i = 0; i < 20; i++) CHECK(tnet_echoes(c, "busy"));
  tnet_sleep_ms(1700);
  CHECK(tnet_echoes(c, "awake again"));
  for (i = 0; i < 20; i++) CHECK(tnet_echoes(c, "busy"));
  tnet_close(c);
  CHECK(wait_count(s, 0));
  iocpd_server_destroy(s);
}

static void test_close_listeners_keeps_connections(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_server(&iocpd_echo_handler, port, 1);
  char buf[4];
  tsock c, late;

  CHECK(s != NULL);
  if (s == NULL) return;
  c = tnet_connect(port);
  CHECK(c != TSOCK_BAD);
  CHECK(wait_count(s, 1));
  iocpd_server_close_listeners(s);
  late = tnet_connect(port);
  CHECK(late == TSOCK_BAD);
  if (late != TSOCK_BAD) tnet_close(late);
  CHECK(tnet_send_all(c, "ping", 4) == 0);
  CHECK(tnet_recv_exact(c, buf, 4) == 0);
  CHECK(memcmp(buf, "ping", 4) == 0);
  tnet_close(c);
  iocpd_server_destroy(s);
}

static void test_drain_aborts_at_deadline(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_server(&iocpd_echo_handler, port, 2);
  iocpd_drain_stats st;
  tsock idle;

  CHECK(s != NULL);
  if (s == NULL) return;
  idle = tnet_connect(port);
  CHECK(idle != TSOCK_BAD);
  CHECK(wait_count(s, 1));
  iocpd_server_drain(s, 300, NULL, NULL, &st);
  CHECK(st.open_at_stop == 1);
  CHECK(st.aborted == 1);
  CHECK(st.drained == 0);
  CHECK(st.duration_ms >= 290);
  CHECK(iocpd_server_connection_count(s) == 0);
  CHECK(tnet_sees_end(idle));
  tnet_close(idle);
  iocpd_server_destroy(s);
}

static void test_destroy_with_open_connections(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_server(&iocpd_echo_handler, port, 2);
  tsock c[3];
  int i;

  CHECK(s != NULL);
  if (s == NULL) return;
  for (i = 0; i < 3; i++) c[i] = tnet_connect(port);
  CHECK(wait_count(s, 3));
  iocpd_server_destroy(s);
  for (i = 0; i < 3; i++) {
    CHECK(tnet_sees_end(c[i]));
    tnet_close(c[i]);
  }
}

/* A forward listener relaying to an echo listener of the same server: the
 * first upstream refuses, so every client must land on the second. */
static void test_forward_through_engine(void) {
  uint16_t echo_port = tnet_free_port(), fwd_port = tnet_free_port(), dead_port = tnet_free_port();
  iocpd_addr upstreams[2];
  iocpd_forward_options fwd;
  iocpd_listener_options l[2];
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  char out[200000], in[200000];
  size_t i;
  int k;

  upstreams[0] = loopback(dead_port);
  upstreams[1] = loopback(echo_port);
  memset(&fwd, 0, sizeof(fwd));
  fwd.upstreams = upstreams;
  fwd.upstream_count = 2;
  fwd.connect_timeout_ms = 2000;
  memset(l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  l[0].name = "echo";
  l[0].addr = loopback(echo_port);
  l[0].handler = &iocpd_echo_handler;
  l[1].name = "fwd";
  l[1].addr = loopback(fwd_port);
  l[1].handler = &iocpd_forward_handler;
  l[1].handler_arg = &fwd;
  l[1].buffer_size = 4096; /* many small chunks through the relay */
  o.workers = 2;
  o.listeners = l;
  o.listener_count = 2;
  CHECK(iocpd_server_create(&o, &s, &err) == 0);
  if (s == NULL) return;
  for (i = 0; i < sizeof(out); i++) out[i] = (char)(i * 13 + 5);
  for (k = 0; k < 4; k++) {
    tsock c = tnet_connect(fwd_port);
    CHECK(c != TSOCK_BAD);
    if (c == TSOCK_BAD) continue;
    CHECK(tnet_send_all(c, out, sizeof(out)) == 0);
    CHECK(shutdown(c, TNET_SHUT_WR) == 0);
    memset(in, 0, sizeof(in));
    CHECK(tnet_recv_exact(c, in, sizeof(in)) == 0);
    CHECK(memcmp(in, out, sizeof(in)) == 0);
    CHECK(tnet_sees_end(c));
    tnet_close(c);
  }
  /* Every relay and its upstream connection are gone afterwards. */
  CHECK(wait_count(s, 0));
  iocpd_server_destroy(s);
}

int main(void) {
  tnet_init();
  test_create_is_all_or_nothing();
  test_echo_and_half_close();
  test_send_by_id();
  test_closed_once_per_connection();
  test_close_listeners_keeps_connections();
  test_queued_clients_addresses();
  test_busy_then_idle_then_busy();
  test_drain_aborts_at_deadline();
  test_destroy_with_open_connections();
  test_forward_through_engine();
  return check_summary();
}
