/*
 * upper_echo: embedding the iocpd engine with a handler of your own.
 *
 * Echoes what it receives in upper case. Shows the handler contract: keep
 * per-connection state with iocpd_conn_set_data, keep a write's buffer alive
 * until on_sent, ask for the next read only when the write is out (that is
 * the backpressure), and free state in on_closed.
 *
 *   upper_echo [PORT] [SECONDS]    serve on 127.0.0.1:PORT (default 7100)
 *                                  for SECONDS (default 60), then drain
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "iocpd.h"

#define CHUNK 4096

typedef struct upper_state {
  char out[CHUNK]; /* the upper-cased copy being written */
} upper_state;

static int upper_accept(iocpd_conn *conn) {
  upper_state *st = malloc(sizeof(*st));
  if (st == NULL) return IOCPD_ENOMEM; /* the engine aborts; on_closed follows */
  iocpd_conn_set_data(conn, st);
  return iocpd_read(conn);
}

static void upper_data(iocpd_conn *conn, const char *data, size_t len) {
  upper_state *st = iocpd_conn_get_data(conn);
  size_t i;
  for (i = 0; i < len; i++) st->out[i] = (char)toupper((unsigned char)data[i]);
  if (iocpd_write(conn, st->out, len, NULL) != 0) iocpd_abort(conn);
}

static void upper_sent(iocpd_conn *conn, size_t len, void *arg) {
  (void)len;
  (void)arg;
  if (iocpd_read(conn) != 0) iocpd_abort(conn);
}

static void upper_peer_closed(iocpd_conn *conn) { iocpd_close(conn); }

static void upper_closed(iocpd_conn *conn) { free(iocpd_conn_get_data(conn)); }

static const iocpd_handler upper_handler = {
    .name = "upper",
    .on_accept = upper_accept,
    .on_data = upper_data,
    .on_sent = upper_sent,
    .on_peer_closed = upper_peer_closed,
    .on_closed = upper_closed,
    /* on_error: the engine aborts the connection; nothing to add. */
};

static void print_log(void *arg, iocpd_log_level level, const char *message) {
  (void)arg;
  fprintf(stderr, "%s: %s\n", iocpd_log_level_name(level), message);
}

int main(int argc, char **argv) {
  iocpd_listener_options listener = {0};
  iocpd_server_options options = {0};
  iocpd_error_info err;
  iocpd_drain_stats stats;
  iocpd_server *server;
  time_t end;

  listener.name = "upper";
  iocpd_addr_parse("127.0.0.1:7100", &listener.addr);
  if (argc > 1) listener.addr.port = (uint16_t)atoi(argv[1]);
  listener.handler = &upper_handler;
  listener.buffer_size = CHUNK; /* reads never exceed what `out` holds */
  options.listeners = &listener;
  options.listener_count = 1;
  options.log = print_log;
  options.log_level = IOCPD_LOG_INFO;
  if (iocpd_server_create(&options, &server, &err) != 0) {
    fprintf(stderr, "upper_echo: %s\n", err.message);
    return 1;
  }
  printf("upper_echo: serving on 127.0.0.1:%u\n", listener.addr.port);
  fflush(stdout);

  end = time(NULL) + (argc > 2 ? atoi(argv[2]) : 60);
  while (time(NULL) < end) iocpd_server_wait(server, 0, 1000);

  iocpd_server_drain(server, 1000, NULL, NULL, &stats);
  printf("upper_echo: drained %u, aborted %u\n", (unsigned)stats.drained, (unsigned)stats.aborted);
  iocpd_server_destroy(server);
  return 0;
}
