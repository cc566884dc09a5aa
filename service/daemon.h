/*
 * The daemon's life, shared by console mode (iocpd run) and the Windows
 * service host (iocpd service): load the config, start the engine, and on
 * a stop request drain and tear down. Everything it says goes through
 * log.h, so each host decides where it ends up (stderr, Event Log).
 */
#ifndef IOCPD_DAEMON_H
#define IOCPD_DAEMON_H

#include "access_log.h"
#include "config.h"
#include "iocpd.h"
#include "metrics.h"

typedef struct daemon_state {
  iocpd_config *config;
  iocpd_server *server;
  iocpd_echo_options *echo;       /* per listener; the engine points here */
  iocpd_forward_options *forward; /* per listener */
  access_log *access_log;         /* NULL without [service] access_log */
  metrics_server *metrics;        /* NULL without [service] metrics_listen */
} daemon_state;

/* Loads path and starts serving: the access log's writer (if configured),
 * the engine, then the metrics endpoint (if configured). Every config
 * problem is logged as an EV_CONFIG_ERROR event. Returns EXIT_OK (d is
 * running), EXIT_BAD_CONFIG or EXIT_RUNTIME (e.g. an address that cannot be
 * bound or an access log that cannot be opened; nothing is left running
 * either way). */
int daemon_start(daemon_state *d, const char *path);

/* Closes the listeners, drains for up to the config's drain_timeout
 * (progress may be NULL), aborts the rest, and frees everything; the
 * access log gets every connection's line before its file is closed. Logs
 * the stop request and the drain's outcome. */
void daemon_stop(daemon_state *d, iocpd_drain_progress_fn progress, void *progress_arg);

#endif /* IOCPD_DAEMON_H */
