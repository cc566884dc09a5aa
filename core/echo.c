/*
 * The echo handler: every byte read is written back, in order. One buffer
 * is in flight at a time (read, write it back, read again), so a client
 * that does not read its echo stops being read from: memory per
 * connection stays at one buffer however fast the client sends.
 */
#include "iocpd.h"

static int echo_accept(iocpd_conn *conn) { return iocpd_read(conn); }

static void echo_data(iocpd_conn *conn, const char *data, size_t len) {
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

const iocpd_handler iocpd_echo_handler = {
    "echo",           /* name */
    echo_accept,      /* on_accept */
    echo_data,        /* on_data */
    echo_sent,        /* on_sent */
    echo_peer_closed, /* on_peer_closed */
    NULL,             /* on_error: the engine aborts; nothing to add */
    NULL,             /* on_closed: no per-connection state to free */
};
