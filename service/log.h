/*
 * The executable's log. Every message is an event with an id; the id is
 * also the Event Log message id on Windows (service/win/messages.mc), and
 * README lists them. By default events go to stderr as one line each,
 * "TIME LEVEL message"; the service host redirects them to the Event Log.
 * Control characters from config or network strings are made harmless.
 */
#ifndef IOCPD_SERVICE_LOG_H
#define IOCPD_SERVICE_LOG_H

#include "iocpd_sys.h"
#include "iocpd.h"

typedef enum log_event_id {
  /* 1000s: information */
  EV_STARTING = 1000,         /* version, config path */
  EV_LISTENER_STARTED = 1001, /* name, address, handler */
  EV_RUNNING = 1002,          /* worker count */
  EV_STOP_REQUESTED = 1003,   /* open connections, drain timeout */
  EV_DRAIN_PROGRESS = 1004,   /* connections still open */
  EV_DRAIN_FINISHED = 1005,   /* drained, aborted, duration */
  EV_STOPPED = 1006,
  EV_RELOADED = 1007,    /* listeners kept, added, removed; connections draining */
  EV_UPSTREAM_UP = 1008, /* a down upstream is in service again */
  EV_INFO = 1100,        /* other information from the engine */
  /* 2000s: warnings */
  EV_WARNING = 2000,       /* from the engine, e.g. no upstream reachable */
  EV_UPSTREAM_DOWN = 2001, /* health marked an upstream down */
  EV_PROXY_REFUSED = 2002, /* accept_proxy: untrusted peer or bad PROXY header */
  /* 3000s: errors */
  EV_CONFIG_ERROR = 3000, /* FILE:LINE: message */
  EV_START_FAILED = 3001, /* e.g. cannot bind: address and OS error text */
  EV_ERROR = 3002,        /* other errors from the engine */
  EV_RELOAD_FAILED = 3003 /* the file was refused: the running config is unchanged */
} log_event_id;

/* Where events go: receives the sanitised, formatted message. */
typedef void (*log_sink_fn)(log_event_id id, iocpd_log_level level, const char *message);

/* Messages above level are dropped (default: info). */
void log_set_level(iocpd_log_level level);

/* Replaces the stderr sink; NULL restores it. */
void log_set_sink(log_sink_fn sink);

void log_event(log_event_id id, iocpd_log_level level, const char *fmt, ...) IOCPD_PRINTF(3, 4);

/* An iocpd_log_fn for the engine: EV_INFO, EV_WARNING or EV_ERROR. */
void log_from_engine(void *arg, iocpd_log_level level, const char *message);
/* The same with the engine's kind of event: upstream health and PROXY
 * refusals get their own ids. */
void log_event_from_engine(void *arg, iocpd_log_level level, iocpd_log_event event,
                           const char *message);

#endif /* IOCPD_SERVICE_LOG_H */
