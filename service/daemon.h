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
#include "metrics.h"

/* One loaded config and what the engine was given from it (the handlers'
 * options point into the config). The engine releases it (settings_free)
 * once a reload has replaced it and its last connection is gone, or when
 * the server is destroyed. */
typedef struct daemon_settings {
  iocpd_config *config;
  iocpd_listener_options *listeners; /* one per configured listener */
  iocpd_echo_options *echo;          /* per listener; the engine points here */
  iocpd_forward_options *forward;    /* per listener */
} daemon_settings;

typedef struct daemon_state {
  iocpd_config *config; /* the current settings' config; changed under lock */
  iocpd_server *server;
  access_log *access_log;  /* NULL without [service] access_log */
  metrics_server *metrics; /* NULL without [service] metrics_listen */
  iocpd_mutex *lock;       /* guards config and reloads for the metrics thread */
  reload_counters reloads; /* under lock */
} daemon_state;

/* Loads path and starts serving: the access log's writer (if configured),
 * the engine, then the metrics endpoint (if configured). Every config
 * problem is logged as an EV_CONFIG_ERROR event. Returns EXIT_OK (d is
 * running), EXIT_BAD_CONFIG or EXIT_RUNTIME (e.g. an address that cannot be
 * bound or an access log that cannot be opened; nothing is left running
 * either way). */
int daemon_start(daemon_state *d, const char *path);

/* The shared parts of start and reload (daemon.c). settings_new makes
 * the engine's options from config (NULL when out of memory, config
 * still the caller's); settings_free, an engine release callback, frees
 * them with their config. */
daemon_settings *settings_new(iocpd_config *config);
void settings_free(void *arg);
const iocpd_handler *daemon_handler_for(iocpd_handler_kind kind);
uint32_t clamp_ms(uint64_t ms);
/* Logs "listener NAME: listening on ADDRESS (HANDLER)". */
void daemon_log_listener(const iocpd_config_listener *l);

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
