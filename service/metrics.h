/*
 * The Prometheus endpoint: `GET /metrics` on [service] metrics_listen
 * answers with the main server's counters in the text exposition format
 * 0.0.4.
 *
 * It runs on the engine itself: a second, small iocpd_server (one worker,
 * one listener) whose handler is a minimal HTTP/1.1 responder. Each
 * connection carries one request: the request head may be at most 8 KiB
 * (431 beyond that) and must arrive within 5 s of connecting (408 after
 * that); the answer is 200 for GET or HEAD /metrics, 404 for another path,
 * 405 (Allow: GET, HEAD) for another method and 400 for anything that is
 * not HTTP/1.x, always with Content-Length and Connection: close. The
 * server then half-closes and waits briefly for the client to close, so
 * that unread request bytes do not turn the close into a reset that could
 * destroy the answer on its way.
 *
 * The counters are read with iocpd_server_listener_stats and
 * iocpd_server_connect_failures, which any thread may call; the metrics
 * worker is the only one that does.
 */
#ifndef IOCPD_METRICS_H
#define IOCPD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "access_log.h"
#include "config.h"
#include "iocpd.h"
#include "iocpd_sys.h"

/* Config reloads, for iocpd_config_reloads_total. */
typedef struct reload_counters {
  uint64_t ok, error;
  uint64_t last_ok_ms; /* UTC ms since 1970 of the last good one; 0 = none */
} reload_counters;

/* What a reload may replace while the metrics thread reads it: the
 * daemon's, under its lock. */
typedef struct daemon_live {
  iocpd_config *config;    /* the current config (upstreams of iocpd_upstream_up) */
  access_log *access_log;  /* NULL when off */
  uint64_t dropped_before; /* access log lines lost by logs a reload closed */
  reload_counters reloads;
} daemon_live;

/* What the metrics describe. Everything must outlive the metrics server. */
typedef struct metrics_source {
  iocpd_server *server;    /* the main server */
  iocpd_mutex *lock;       /* guards *live */
  const daemon_live *live; /* NULL: none of its families */
  uint64_t start_ms;       /* when the daemon started, UTC ms since 1970 */
} metrics_source;

typedef struct metrics_server metrics_server;

/* Binds addr and starts serving. log_level applies to the engine messages
 * of the metrics server (they go to log_from_engine). Returns 0 and sets
 * *out, or the iocpd_server_create code with err filled and nothing left
 * behind. */
int metrics_start(const iocpd_addr *addr, const metrics_source *source, iocpd_log_level log_level,
                  metrics_server **out, iocpd_error_info *err);

/* Closes the endpoint (open requests are cut off) and frees it. NULL is
 * fine. */
void metrics_stop(metrics_server *m);

/* The exposition text of source's counters, NUL-terminated, in a new
 * buffer the caller frees (its length in *len); NULL when out of memory.
 * Any thread. */
char *metrics_render(const metrics_source *source, size_t *len);

/* The same text from counters already read: st (n listeners) and fail (nf
 * entries); source gives the rest (source->server is asked only about the
 * upstreams of source->live's config, so it may be NULL without one). A
 * listener's families are those of its protocol (st->protocol): a UDP
 * listener has iocpd_bytes_total and the iocpd_udp_* families, with every
 * drop reason; a TCP listener the connection families and the duration
 * histogram. metrics_render calls it; tests call it directly. */
char *metrics_format(const metrics_source *source, const iocpd_listener_stats *st, size_t n,
                     const iocpd_connect_failures *fail, size_t nf, size_t *len);

#endif /* IOCPD_METRICS_H */
