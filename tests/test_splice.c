/*
 * iocpd_conn_splice_to, through a minimal relay handler written here
 * against the public API (client -> relay -> the server's own echo
 * listener -> relay -> client):
 *
 * - bulk traffic is handed over as on_data(conn, NULL, n) on the epoll
 *   backend, small messages still arrive as data, and every byte comes
 *   back intact and in order, FIN included;
 * - on IOCP the call says IOCPD_ENOTSUP and nothing changes;
 * - a client reset in the middle of a spliced transfer ends both
 *   connections (under ASan: without touching freed memory);
 * - out of descriptors for pipes, the relay copies instead and the
 *   listener counts the refusals (fd_exhausted_pipe);
 * - misuse is refused with IOCPD_EINVAL.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "testengine.h"

#ifdef _WIN32
#define SPLICE_EXPECTED IOCPD_ENOTSUP
#else
#define SPLICE_EXPECTED 0
#endif

static atomic_int splice_rc = 1, misuse_rc = 1;
static atomic_long spliced_chunks, spliced_bytes, plain_chunks;

static iocpd_addr echo_addr;

/* The two ends of one relayed connection. */
typedef struct pair {
  iocpd_conn *side[2]; /* client, upstream; NULL once closed */
  int eof[2];
} pair;

static const iocpd_handler upstream_side;

static int side_of(pair *p, iocpd_conn *c) { return p->side[1] == c ? 1 : 0; }

static void end_both(pair *p) {
  if (p->side[0] != NULL) iocpd_abort(p->side[0]);
  if (p->side[1] != NULL) iocpd_abort(p->side[1]);
}

static int relay_accept(iocpd_conn *client) {
  pair *p = calloc(1, sizeof(*p));
  if (p == NULL) return IOCPD_ENOMEM;
  p->side[0] = client;
  iocpd_conn_set_data(client, p);
  return iocpd_connect(client, &echo_addr, &upstream_side, p, &p->side[1]);
}

static void relay_connected(iocpd_conn *up, int status) {
  pair *p = iocpd_conn_get_data(up);
  if (status != 0) return; /* the engine aborts it; relay_closed ends the client */
  atomic_store(&misuse_rc, iocpd_conn_splice_to(up, up));
  atomic_store(&splice_rc, iocpd_conn_splice_to(p->side[0], up));
  iocpd_conn_splice_to(up, p->side[0]);
  if (iocpd_read(p->side[0]) != 0 || iocpd_read(up) != 0) end_both(p);
}

static void relay_data(iocpd_conn *c, const char *data, size_t len) {
  pair *p = iocpd_conn_get_data(c);
  iocpd_conn *to = p->side[!side_of(p, c)];
  if (data == NULL) {
    /* Already queued on `to` by the engine; on_sent follows there. */
    atomic_fetch_add(&spliced_chunks, 1);
    atomic_fetch_add(&spliced_bytes, (long)len);
    return;
  }
  atomic_fetch_add(&plain_chunks, 1);
  if (to == NULL || iocpd_write(to, data, len, NULL) != 0) end_both(p);
}

static void relay_sent(iocpd_conn *c, size_t len, void *arg) {
  pair *p = iocpd_conn_get_data(c);
  iocpd_conn *from = p->side[!side_of(p, c)];
  (void)len;
  (void)arg;
  if (from != NULL && !p->eof[!side_of(p, c)] && iocpd_read(from) != 0) end_both(p);
}

static void relay_peer_closed(iocpd_conn *c) {
  pair *p = iocpd_conn_get_data(c);
  int s = side_of(p, c);
  p->eof[s] = 1;
  if (p->side[!s] != NULL) iocpd_shutdown(p->side[!s]);
  if (p->eof[!s]) {
    iocpd_close(p->side[0]);
    iocpd_close(p->side[1]);
  }
}

static void relay_closed(iocpd_conn *c) {
  pair *p = iocpd_conn_get_data(c);
  if (p == NULL) return;
  p->side[side_of(p, c)] = NULL;
  if (p->side[0] != NULL) iocpd_abort(p->side[0]);
  if (p->side[1] != NULL) iocpd_abort(p->side[1]);
  if (p->side[0] == NULL && p->side[1] == NULL) free(p);
}

static const iocpd_handler client_side = {.name = "splice-relay",
                                          .on_accept = relay_accept,
                                          .on_data = relay_data,
                                          .on_sent = relay_sent,
                                          .on_peer_closed = relay_peer_closed,
                                          .on_closed = relay_closed};
static const iocpd_handler upstream_side = {.name = "splice-upstream",
                                            .on_data = relay_data,
                                            .on_sent = relay_sent,
                                            .on_peer_closed = relay_peer_closed,
                                            .on_closed = relay_closed,
                                            .on_connect = relay_connected};

/* The relay listener (buffer_size 16 KiB) and the echo it relays to. */
static iocpd_server *start(uint16_t relay_port, uint16_t echo_port) {
  iocpd_listener_options l[2];
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  memset(l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  echo_addr = loopback(echo_port);
  l[0].name = "relay";
  l[0].addr = loopback(relay_port);
  l[0].handler = &client_side;
  l[0].buffer_size = 16384;
  l[1].name = "echo";
  l[1].addr = echo_addr;
  l[1].handler = &iocpd_echo_handler;
  o.workers = 1;
  o.listeners = l;
  o.listener_count = 2;
  if (iocpd_server_create(&o, &s, &err) != 0) fprintf(stderr, "cannot start: %s\n", err.message);
  return s;
}

#define BULK (1024 * 1024)
#define STEP (64 * 1024)

static void test_bulk_and_small(iocpd_server *s, uint16_t port) {
  static char out[BULK], in[BULK];
  size_t i;
  tsock c = tnet_connect(port);

  CHECK(c != TSOCK_BAD);
  if (c == TSOCK_BAD) return;
  /* A small message first: it goes the plain way. */
  CHECK(tnet_echoes(c, "hello through the relay"));
  CHECK(atomic_load(&plain_chunks) >= 2);
  CHECK(atomic_load(&splice_rc) == SPLICE_EXPECTED);
  CHECK(atomic_load(&misuse_rc) == IOCPD_EINVAL);
  /* Then bulk, in 64 KiB steps so that the client never waits on a full
   * window of its own unread echo, and FIN. */
  for (i = 0; i < sizeof(out); i++) out[i] = (char)(i * 31 + (i >> 12));
  for (i = 0; i < sizeof(out); i += STEP) {
    CHECK(tnet_send_all(c, out + i, STEP) == 0);
    CHECK(tnet_recv_exact(c, in + i, STEP) == 0);
  }
  CHECK(shutdown(c, TNET_SHUT_WR) == 0);
  CHECK(memcmp(in, out, sizeof(in)) == 0);
  CHECK(tnet_sees_end(c));
  tnet_close(c);
  CHECK(wait_count(s, 0));
#ifdef _WIN32
  CHECK(atomic_load(&spliced_chunks) == 0);
#else
  /* Bulk went through the kernel: most of 2 x 1 MiB (both directions). */
  CHECK(atomic_load(&spliced_chunks) > 0);
  CHECK(atomic_load(&spliced_bytes) > BULK);
#endif
  printf("spliced %ld chunks (%ld bytes), %ld plain\n", (long)atomic_load(&spliced_chunks),
         (long)atomic_load(&spliced_bytes), (long)atomic_load(&plain_chunks));
}

/* The client resets while bulk is in flight both ways: both connections
 * and their pipes go; the server is left with nothing open. */
static void test_reset_mid_transfer(iocpd_server *s, uint16_t port) {
  static char out[128 * 1024]; /* fits in the kernel's buffers unread */
  tsock c = tnet_connect(port);
  struct linger lg;

  CHECK(c != TSOCK_BAD);
  if (c == TSOCK_BAD) return;
  memset(out, 'x', sizeof(out));
  CHECK(tnet_send_all(c, out, sizeof(out)) == 0);
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(c, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof(lg));
  tnet_close(c);
  CHECK(wait_count(s, 0));
}

#ifndef _WIN32
#include <dirent.h>
#include <sys/resource.h>

/* Descriptors this process has open now. */
static int open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  while (readdir(d) != NULL) n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own descriptor */
}

/* Out of descriptors for pipes: the relay copies instead, every byte still
 * arrives, and the listener counts each pipe it could not make. */
static void test_no_descriptors_for_pipes(iocpd_server *s, uint16_t port) {
  static char out[BULK / 4], in[BULK / 4];
  struct rlimit old, tight;
  iocpd_listener_stats st;
  long spliced_before = atomic_load(&spliced_chunks);
  size_t i;
  int fds;
  tsock c;

  /* Let the worker's idle pipes go (closed after a second unused). */
  tnet_sleep_ms(1500);
  fds = open_fds();
  CHECK(fds > 0);
  if (fds <= 0 || getrlimit(RLIMIT_NOFILE, &old) != 0) {
    CHECK(!"cannot count or limit descriptors");
    return;
  }
  /* Room for this client, its relayed connection, the upstream side and
   * the echo's end of it, and nothing more: no pipe fits. */
  tight = old;
  tight.rlim_cur = (rlim_t)fds + 4;
  CHECK(setrlimit(RLIMIT_NOFILE, &tight) == 0);
  c = tnet_connect(port);
  CHECK(c != TSOCK_BAD);
  if (c != TSOCK_BAD) {
    for (i = 0; i < sizeof(out); i++) out[i] = (char)(i * 7 + (i >> 10));
    for (i = 0; i < sizeof(out); i += STEP) {
      CHECK(tnet_send_all(c, out + i, STEP) == 0);
      CHECK(tnet_recv_exact(c, in + i, STEP) == 0);
    }
    CHECK(memcmp(in, out, sizeof(in)) == 0);
    CHECK(shutdown(c, TNET_SHUT_WR) == 0);
    CHECK(tnet_sees_end(c));
    tnet_close(c);
  }
  CHECK(wait_count(s, 0));
  setrlimit(RLIMIT_NOFILE, &old);
  iocpd_server_listener_stats(s, &st, 1);
  printf("out of descriptors: %llu pipes refused, %ld chunks spliced meanwhile\n",
         (unsigned long long)st.fd_exhausted_pipe, atomic_load(&spliced_chunks) - spliced_before);
  CHECK(st.fd_exhausted_pipe > 0);
}
#endif

int main(void) {
  uint16_t relay_port, echo_port;
  iocpd_server *s;

  tnet_init();
  relay_port = tnet_free_port();
  echo_port = tnet_free_port();
  s = start(relay_port, echo_port);
  CHECK(s != NULL);
  if (s != NULL) {
    test_bulk_and_small(s, relay_port);
    test_reset_mid_transfer(s, relay_port);
#ifndef _WIN32
    test_no_descriptors_for_pipes(s, relay_port);
#endif
    iocpd_server_destroy(s);
  }
  return check_summary();
}
