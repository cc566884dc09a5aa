/*
 * The connection contract that both backends must keep alike, driven
 * in-process (natively, and as a Windows PE under Wine):
 *
 *   - a socket failure of a read or write is never returned by iocpd_read
 *     or iocpd_write: it arrives through on_error, after the handler's call
 *     has returned, and writes queued earlier are not dropped silently;
 *   - iocpd_shutdown while the outbound connect is still pending sends its
 *     FIN once the connect completes;
 *   - a graceful close whose queued writes make no progress for the
 *     server's close_linger_ms is aborted, so no peer that stops reading can
 *     hold a closed connection for ever; one that reads, however slowly
 *     within the linger, gets every byte and a clean end.
 */
#include <stdatomic.h>
#include <stdlib.h>
#ifndef _WIN32
#include <fcntl.h>
#include <sys/select.h>
#endif

#include "testengine.h"

static iocpd_server *start_with(const iocpd_handler *h, uint16_t port, uint32_t linger_ms) {
  iocpd_listener_options l;
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  memset(&l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  l.name = "contract";
  l.addr = loopback(port);
  l.handler = h;
  o.workers = 1;
  o.listeners = &l;
  o.listener_count = 1;
  o.close_linger_ms = linger_ms;
  if (iocpd_server_create(&o, &s, &err) != 0) {
    fprintf(stderr, "cannot start: %s\n", err.message);
    return NULL;
  }
  return s;
}

/* Waits up to ms for *flag to become at least want. */
static int wait_flag(atomic_int *flag, int want, unsigned ms) {
  unsigned waited;
  for (waited = 0; waited < ms; waited += 10) {
    if (atomic_load(flag) >= want) return 1;
    tnet_sleep_ms(10);
  }
  return atomic_load(flag) >= want;
}

/* Closes a client socket with a reset (SO_LINGER 0). */
static void reset_close(tsock c) {
  struct linger lg;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(c, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof(lg));
  tnet_close(c);
}

/* ------------------------------------------------------------------------ */
/* A write that fails reaches on_error, never the caller. */

static atomic_int lw_accepted, lw_errors, lw_error_code, lw_sent, lw_closed;
static int lw_rc[3];
static size_t lw_pending;

static int late_accept(iocpd_conn *c) {
  atomic_fetch_add(&lw_accepted, 1);
  /* No read: the client's reset is noticed only by the writes below. */
  return iocpd_conn_set_timer(c, 400);
}
static void late_timer(iocpd_conn *c) {
  int i;
  /* The client has reset by now: the first send fails in the OS. */
  for (i = 0; i < 3; i++) lw_rc[i] = iocpd_write(c, "abc", 3, NULL);
  lw_pending = iocpd_conn_pending_writes(c);
}
static void late_sent(iocpd_conn *c, size_t len, void *arg) {
  (void)c;
  (void)len;
  (void)arg;
  atomic_fetch_add(&lw_sent, 1);
}
static void late_error(iocpd_conn *c, int err) {
  (void)c;
  atomic_store(&lw_error_code, err);
  atomic_fetch_add(&lw_errors, 1);
}
static void late_closed(iocpd_conn *c) {
  (void)c;
  atomic_fetch_add(&lw_closed, 1);
}
static const iocpd_handler late_writer = {.name = "late-writer",
                                          .on_accept = late_accept,
                                          .on_timer = late_timer,
                                          .on_sent = late_sent,
                                          .on_error = late_error,
                                          .on_closed = late_closed};

static void test_write_failure_reaches_on_error(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_with(&late_writer, port, 0);
  tsock c;

  CHECK(s != NULL);
  if (s == NULL) return;
  c = tnet_connect(port);
  CHECK(c != TSOCK_BAD);
  CHECK(wait_flag(&lw_accepted, 1, 5000));
  reset_close(c);
  CHECK(wait_flag(&lw_closed, 1, 5000));
  printf("write after reset: iocpd_write returned %d, %d, %d (%zu queued); on_error %d time(s) "
         "with %d (%s); on_sent %d time(s)\n",
         lw_rc[0], lw_rc[1], lw_rc[2], lw_pending, atomic_load(&lw_errors),
         atomic_load(&lw_error_code), iocpd_strerror(atomic_load(&lw_error_code)),
         atomic_load(&lw_sent));
  CHECK(lw_rc[0] == 0 && lw_rc[1] == 0 && lw_rc[2] == 0);
  CHECK(lw_pending == 3);
  CHECK(atomic_load(&lw_errors) == 1);
  CHECK(atomic_load(&lw_error_code) == IOCPD_ECONNRESET);
  CHECK(atomic_load(&lw_sent) == 0);
  CHECK(atomic_load(&lw_closed) == 1);
  CHECK(wait_count(s, 0));
  iocpd_server_destroy(s);
}

/* ------------------------------------------------------------------------ */
/* iocpd_shutdown before the outbound connect has completed. */

static uint16_t sc_target_port;
static atomic_int sc_connect_status, sc_connected, sc_shutdown_rc;

static void sc_on_connect(iocpd_conn *c, int status) {
  (void)c;
  atomic_store(&sc_connect_status, status);
  atomic_fetch_add(&sc_connected, 1);
}
static const iocpd_handler sc_upstream = {.name = "sc-upstream", .on_connect = sc_on_connect};

static int sc_accept(iocpd_conn *client) {
  iocpd_addr to = loopback(sc_target_port);
  iocpd_conn *up;
  int rc = iocpd_connect(client, &to, &sc_upstream, NULL, &up);
  if (rc != 0) return rc;
  /* Straight away: the connect cannot have completed yet. */
  atomic_store(&sc_shutdown_rc, iocpd_shutdown(up));
  return 0;
}
static const iocpd_handler sc_client = {.name = "sc-client", .on_accept = sc_accept};

/* Fills target's accept queue (nobody accepts) until a further connect
 * hangs: the kernel then drops new SYNs, so an outbound connect to it stays
 * pending for a second or more (until a SYN retransmission finds room).
 * Returns how many fillers it opened into fill[]. */
static int fill_backlog(uint16_t port, tsock *fill, int max) {
  struct sockaddr_in sin;
  int n;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (n = 0; n < max; n++) {
    fd_set w;
    struct timeval tv;
#ifdef _WIN32
    u_long on = 1;
#endif
    fill[n] = socket(AF_INET, SOCK_STREAM, 0);
#ifdef _WIN32
    ioctlsocket(fill[n], FIONBIO, &on);
#else
    fcntl(fill[n], F_SETFL, O_NONBLOCK);
#endif
    connect(fill[n], (struct sockaddr *)&sin, sizeof(sin));
    FD_ZERO(&w);
    FD_SET(fill[n], &w);
    tv.tv_sec = 0;
    tv.tv_usec = 300000;
    if (select((int)fill[n] + 1, NULL, &w, NULL, &tv) == 0) return n + 1; /* it hangs */
  }
  return n;
}

static void test_shutdown_while_connecting(void) {
  uint16_t port = tnet_free_port();
  struct sockaddr_in sin;
  iocpd_server *s;
  tsock target, client, up = TSOCK_BAD, fill[16];
  int n, i, fillers;
  char byte;

  sc_target_port = tnet_free_port();
  target = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(sc_target_port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(target, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(target, 0) == 0);
  fillers = fill_backlog(sc_target_port, fill, 16);
  atomic_store(&sc_shutdown_rc, 1);
  atomic_store(&sc_connected, 0);
  s = start_with(&sc_client, port, 0);
  CHECK(s != NULL);
  if (s == NULL) goto out;
  client = tnet_connect(port);
  CHECK(client != TSOCK_BAD);
  /* iocpd's connect is now stuck behind the full queue; make room. */
  tnet_sleep_ms(300);
  CHECK(atomic_load(&sc_connected) == 0);
  for (i = 0; i < fillers; i++) {
    tsock a = accept(target, NULL, NULL);
    if (a != TSOCK_BAD) tnet_close(a);
  }
  /* The accept queue may still hold a filler that connected late. */
  for (i = 0; i < fillers + 1 && up == TSOCK_BAD; i++) {
    struct sockaddr_in peer;
    socklen_t len = sizeof(peer);
    tsock a = accept(target, (struct sockaddr *)&peer, &len);
    int filler = 0, k;
    for (k = 0; k < fillers && a != TSOCK_BAD; k++) {
      struct sockaddr_in mine;
      socklen_t ml = sizeof(mine);
      if (getsockname(fill[k], (struct sockaddr *)&mine, &ml) == 0 &&
          mine.sin_port == peer.sin_port)
        filler = 1;
    }
    if (filler) {
      tnet_close(a);
    } else {
      up = a;
    }
  }
  CHECK(up != TSOCK_BAD);
  CHECK(wait_flag(&sc_connected, 1, 5000));
  CHECK(atomic_load(&sc_connect_status) == 0);
  CHECK(atomic_load(&sc_shutdown_rc) == 0);
  if (up != TSOCK_BAD) {
    /* The FIN must arrive: a clean end of stream, no data, no timeout. */
    tnet_timeout(up, 3000);
    n = recv(up, &byte, 1, 0);
    printf("shutdown while connecting (%d fillers): the upstream's recv returned %d%s\n", fillers,
           n,
           n == 0  ? " (FIN)"
           : n < 0 ? " (no FIN: error or timeout)"
                   : "");
    CHECK(n == 0);
    tnet_close(up);
  }
  if (client != TSOCK_BAD) tnet_close(client);
  iocpd_server_destroy(s);
out:
  for (i = 0; i < fillers; i++) tnet_close(fill[i]);
  tnet_close(target);
}

/* ------------------------------------------------------------------------ */
/* A graceful close behind writes that make no progress ends in time. */

#define STUCK_BYTES (16u << 20)
#define SLOW_CHUNK (128u << 10)
#define SLOW_CHUNKS 16
static char payload[STUCK_BYTES];
static atomic_int dump_closed;

static int dump_all_then_close(iocpd_conn *c) {
  int rc = iocpd_write(c, payload, STUCK_BYTES, NULL);
  if (rc != 0) return rc;
  iocpd_close(c);
  return 0;
}
static int dump_chunks_then_close(iocpd_conn *c) {
  int i, rc;
  for (i = 0; i < SLOW_CHUNKS; i++) {
    rc = iocpd_write(c, payload + (size_t)i * SLOW_CHUNK, SLOW_CHUNK, NULL);
    if (rc != 0) return rc;
  }
  iocpd_close(c);
  return 0;
}
static void dump_closed_cb(iocpd_conn *c) {
  (void)c;
  atomic_fetch_add(&dump_closed, 1);
}
static const iocpd_handler dumper = {
    .name = "dumper", .on_accept = dump_all_then_close, .on_closed = dump_closed_cb};
static const iocpd_handler chunk_dumper = {
    .name = "chunk-dumper", .on_accept = dump_chunks_then_close, .on_closed = dump_closed_cb};

/* A client with a small receive window, so that little of the payload fits
 * into kernel buffers on the way. */
static tsock small_window_client(uint16_t port) {
  struct sockaddr_in sin;
  int small = 4096;
  tsock c = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(c, SOL_SOCKET, SO_RCVBUF, (const char *)&small, sizeof(small));
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
    tnet_close(c);
    return TSOCK_BAD;
  }
  tnet_timeout(c, 10000);
  return c;
}

static void test_close_linger_bounds_a_stuck_close(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_with(&dumper, port, 300);
  int ended;
  tsock c;

  CHECK(s != NULL);
  if (s == NULL) return;
  atomic_store(&dump_closed, 0);
  c = small_window_client(port);
  CHECK(c != TSOCK_BAD);
  /* The client reads nothing: the 16 MiB cannot go out. */
  ended = wait_flag(&dump_closed, 1, 5000);
  printf("close behind a client that never reads, linger 300 ms: %s\n",
         ended ? "aborted in time" : "still open after 5 s");
  CHECK(ended);
  CHECK(wait_count(s, 0));
  if (c != TSOCK_BAD) tnet_close(c);
  iocpd_server_destroy(s);
}

static void test_close_linger_spares_a_slow_reader(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_with(&chunk_dumper, port, 300);
  static char in[SLOW_CHUNK * SLOW_CHUNKS];
  size_t got = 0;
  int n = 1;
  tsock c;

  CHECK(s != NULL);
  if (s == NULL) return;
  atomic_store(&dump_closed, 0);
  c = small_window_client(port);
  CHECK(c != TSOCK_BAD);
  /* About 3 MiB/s: slow, but every queued write completes well within the
   * linger, so the close must stay graceful. */
  while (c != TSOCK_BAD && got < sizeof(in) && n > 0) {
    size_t want = sizeof(in) - got < 65536 ? sizeof(in) - got : 65536, part = 0;
    while (part < want && (n = recv(c, in + got + part, (int)(want - part), 0)) > 0)
      part += (size_t)n;
    got += part;
    tnet_sleep_ms(20);
  }
  CHECK(got == sizeof(in));
  CHECK(memcmp(in, payload, sizeof(in)) == 0);
  if (c != TSOCK_BAD) {
    n = recv(c, in, 1, 0);
    printf("slow reader, linger 300 ms: %zu of %zu bytes, then recv returned %d%s\n", got,
           sizeof(in), n, n == 0 ? " (FIN)" : "");
    CHECK(n == 0);
    tnet_close(c);
  }
  CHECK(wait_flag(&dump_closed, 1, 5000));
  CHECK(wait_count(s, 0));
  iocpd_server_destroy(s);
}

#ifndef _WIN32
/* ------------------------------------------------------------------------ */
/* Out of descriptors: a connect says so by name (a relay's "no upstream
 * reachable" then reads "too many open files", not "I/O error"). */
#include <sys/resource.h>
#include <unistd.h>

static atomic_int ed_accepted, ed_rc = 1;

static int ed_accept(iocpd_conn *c) {
  atomic_fetch_add(&ed_accepted, 1);
  return iocpd_conn_set_timer(c, 300);
}
static void ed_timer(iocpd_conn *c) {
  iocpd_addr to = loopback(sc_target_port);
  iocpd_conn *up;
  int rc = iocpd_connect(c, &to, &sc_upstream, NULL, &up);
  atomic_store(&ed_rc, rc);
  if (rc == 0) iocpd_abort(up);
  iocpd_close(c);
}
static const iocpd_handler exhausted = {
    .name = "exhausted", .on_accept = ed_accept, .on_timer = ed_timer};

/* The lowest descriptor number that is free now: a limit at it leaves no
 * number free (a limit counts numbers, not open descriptors). */
static int lowest_free_fd(void) {
  int fd = dup(0), low = fd;
  if (fd >= 0) close(fd);
  return low;
}

static void test_connect_out_of_descriptors(void) {
  uint16_t port = tnet_free_port();
  iocpd_server *s = start_with(&exhausted, port, 0);
  struct rlimit old, none;
  tsock c;
  int fds;

  CHECK(s != NULL);
  if (s == NULL) return;
  sc_target_port = tnet_free_port();
  c = tnet_connect(port);
  CHECK(c != TSOCK_BAD);
  CHECK(wait_flag(&ed_accepted, 1, 5000));
  fds = lowest_free_fd();
  CHECK(fds > 0);
  if (fds <= 0 || getrlimit(RLIMIT_NOFILE, &old) != 0) {
    CHECK(!"cannot find a free descriptor number or the limit");
    iocpd_server_destroy(s);
    return;
  }
  /* Not one descriptor more until the timer has tried its connect. */
  none = old;
  none.rlim_cur = (rlim_t)fds;
  CHECK(setrlimit(RLIMIT_NOFILE, &none) == 0);
  tnet_sleep_ms(600);
  setrlimit(RLIMIT_NOFILE, &old);
  printf("connect without a free descriptor: %d (%s)\n", atomic_load(&ed_rc),
         iocpd_strerror(atomic_load(&ed_rc)));
  CHECK(atomic_load(&ed_rc) == IOCPD_EMFILE);
  if (c != TSOCK_BAD) tnet_close(c);
  CHECK(wait_count(s, 0));
  iocpd_server_destroy(s);
}
#endif

int main(void) {
  size_t i;
  tnet_init();
  for (i = 0; i < sizeof(payload); i++) payload[i] = (char)(i * 31 + (i >> 12));
  test_write_failure_reaches_on_error();
  test_shutdown_while_connecting();
  test_close_linger_bounds_a_stuck_close();
  test_close_linger_spares_a_slow_reader();
#ifndef _WIN32
  test_connect_out_of_descriptors();
#endif
  return check_summary();
}
