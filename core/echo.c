/*
 * The echo handler: every byte read is written back, in order. One buffer
 * is in flight at a time (read, write it back, read again), so a client
 * that does not read its echo stops being read from: memory per
 * connection stays at one buffer however fast the client sends.
 */
#include "iocpd.h"

/* The idle timeout from the listener's iocpd_echo_options, 0 if none. */
static uint32_t idle_timeout(iocpd_conn *conn) {
  const iocpd_echo_options *opt = iocpd_conn_handler_arg(conn);
  return opt != NULL ? opt->idle_timeout_ms : 0;
}

static void touch(iocpd_conn *conn) {
  uint32_t ms = idle_timeout(conn);
  if (ms != 0 && iocpd_conn_set_timer(conn, ms) != 0) iocpd_abort(conn);
}

static int echo_accept(iocpd_conn *conn) {
  touch(conn);
  return iocpd_read(conn);
}

/* Nothing arrived for idle_timeout_ms. With nothing in flight the client
 * gets a clean FIN; a write stuck behind a client that does not read is
 * cut with a reset instead, as waiting for it could take forever. */
static void echo_idle(iocpd_conn *conn) {
  if (iocpd_conn_pending_writes(conn) > 0) {
    iocpd_abort(conn);
  } else {
    iocpd_close(conn);
  }
}

static void echo_data(iocpd_conn *conn, const char *data, size_t len) {
  touch(conn);
  /* The read buffer stays valid until the next iocpd_read, which only
   * happens once this write has gone out: no copy needed. */
  if (iocpd_write(conn, data, len, NULL) != 0) iocpd_abort(conn);
}

static void echo_sent(iocpd_conn *conn, size_t len, void *arg) {
  (void)len;
  (void)arg;
  if (iocpd_read(conn) != 0) iocpd_abort(conn);
}

static void echo_peer_closed(iocpd_conn *conn) {
  /* Everything received has been written back already (reads wait for
   * the previous write), so a graceful close sends FIN after the last
   * byte and the client sees a clean end of stream. */
  iocpd_close(conn);
}

/* Slots not named are NULL: on_error (the engine aborts; nothing to add),
 * on_closed (no per-connection state), on_alloc (the engine's buffer),
 * on_connect (echo makes no outbound connections). */
const iocpd_handler iocpd_echo_handler = {
    .name = "echo",
    .on_accept = echo_accept,
    .on_data = echo_data,
    .on_sent = echo_sent,
    .on_peer_closed = echo_peer_closed,
    .on_timer = echo_idle,
};
