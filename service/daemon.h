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
#include "iocpd_sys.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"

typedef struct daemon_state {
  iocpd_server *server;
  daemon_settings *settings; /* the current ones: the daemon's reference */
  metrics_server *metrics;   /* NULL without [service] metrics_listen */
  iocpd_mutex *lock;         /* guards live: read by the metrics and worker threads */
  iocpd_mutex *apply_lock;   /* one change of settings at a time (reload, resolver) */
  struct resolver *resolver; /* re-resolves upstream host names (resolver.c) */
  daemon_live live;          /* config, access log, reload counters */
  uint64_t start_ms;         /* when it started, UTC ms since 1970 */
} daemon_state;

/* Loads path and starts serving: the access log's writer (if configured),
 * the engine, then the metrics endpoint (if configured). Every config
 * problem is logged as an EV_CONFIG_ERROR event. Returns EXIT_OK (d is
 * running), EXIT_BAD_CONFIG or EXIT_RUNTIME (e.g. an address that cannot be
 * bound or an access log that cannot be opened; nothing is left running
 * either way). */
int daemon_start(daemon_state *d, const char *path);

/* Open the access log / start the metrics endpoint the config c asks
 * for (*out NULL if none); a failure is logged as fail_event. 0 or -1. */
int daemon_open_access_log(const iocpd_config *c, log_event_id fail_event, access_log **out);
int daemon_start_metrics(daemon_state *d, const iocpd_config *c, log_event_id fail_event,
                         metrics_server **out);
/* The engine's on_access: hands the record to the current access log,
 * if any (a reload may replace it). Worker threads. */
void daemon_access_record(void *arg, const iocpd_access_record *record);
/* Logs "listener NAME: listening on ADDRESS (HANDLER)". */
void daemon_log_listener(const iocpd_config_listener *l);

/* Gives the engine the settings of next (which the daemon then owns),
 * makes it the current config, and moves the access log and the metrics
 * endpoint if their settings changed. Hold apply_lock. Returns 0, or the
 * iocpd_server_update error (next freed, nothing changed). */
int daemon_apply(daemon_state *d, iocpd_config *next, iocpd_update_report *r);

/* Reads the config file again and applies it to the running daemon (see
 * README, "Reloading"): an invalid file changes nothing; listeners whose
 * name and address are unchanged keep their sockets. Logs what it did.
 * Returns 0, or -1 if the file was refused. */
int daemon_reload(daemon_state *d);

/* Closes the listeners, drains for up to the config's drain_timeout
 * (progress may be NULL), aborts the rest, and frees everything; the
 * access log gets every connection's line before its file is closed. Logs
 * the stop request and the drain's outcome. */
void daemon_stop(daemon_state *d, iocpd_drain_progress_fn progress, void *progress_arg);

#endif /* IOCPD_DAEMON_H */
