/*
 * The echo handler: every byte read is written back, in order. One buffer
 * is in flight at a time (read, write it back, read again), so a client
 * that does not read its echo stops being read from: memory per
 * connection stays at one buffer however fast the client sends.
 */
#include "iocpd.h"

static const iocpd_echo_options no_options = {0, 0};

static const iocpd_echo_options *options(iocpd_conn *conn) {
  const iocpd_echo_options *opt = iocpd_conn_handler_arg(conn);
  return opt != NULL ? opt : &no_options;
}

/* Arms the idle timeout after traffic. The client's first byte also ends
 * the handshake deadline, even when no idle timeout follows it
 * (idle_timeout = 0): the timer is then disarmed (ms = 0). */
static void touch(iocpd_conn *conn) {
  const iocpd_echo_options *o = options(conn);
  if (o->idle_timeout_ms == 0 && o->handshake_timeout_ms == 0) return;
  if (iocpd_conn_set_timer(conn, o->idle_timeout_ms) != 0) iocpd_abort(conn);
}

static int echo_accept(iocpd_conn *conn) {
  /* Until the client's first byte the handshake timeout applies, if set;
   * then the idle timeout. */
  uint32_t handshake = options(conn)->handshake_timeout_ms;
  if (handshake != 0) {
    if (iocpd_conn_set_timer(conn, handshake) != 0) return IOCPD_ENOMEM;
  } else {
    touch(conn);
  }
  return iocpd_read(conn);
}

/* The handshake or idle timeout expired. With nothing in flight the client
 * gets a clean FIN; a write stuck behind a client that does not read is
 * cut with a reset instead, as waiting for it could take forever. */
static void echo_timeout(iocpd_conn *conn) {
  iocpd_conn_set_end_reason(conn, iocpd_conn_bytes_in(conn) == 0 &&
                                          options(conn)->handshake_timeout_ms != 0
                                      ? IOCPD_END_HANDSHAKE_TIMEOUT
                                      : IOCPD_END_IDLE_TIMEOUT);
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
  iocpd_conn_set_end_reason(conn, IOCPD_END_CLIENT_FIN);
  /* Everything received has been written back already (reads wait for
   * the previous write), so a graceful close sends FIN after the last
   * byte and the client sees a clean end of stream. */
  iocpd_close(conn);
}

static void echo_closed(iocpd_conn *conn) {
  iocpd_access_record rec;
  iocpd_conn_access_record(conn, &rec);
  iocpd_server_report_access(iocpd_conn_server(conn), &rec);
}

/* Slots not named are NULL: on_error (the engine aborts and records the
 * reset; nothing to add), on_alloc (the engine's buffer), on_connect (echo
 * makes no outbound connections). */
const iocpd_handler iocpd_echo_handler = {
    .name = "echo",
    .on_accept = echo_accept,
    .on_data = echo_data,
    .on_sent = echo_sent,
    .on_peer_closed = echo_peer_closed,
    .on_timer = echo_timeout,
    .on_closed = echo_closed,
};
