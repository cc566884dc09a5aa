/* Starting and stopping the engine from a config file (see daemon.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "daemon.h"
#include "log.h"
#include "resolver.h"
#include "iocpd_sys.h"

static void report_problem(void *arg, const char *message) {
  (void)arg;
  log_event(EV_CONFIG_ERROR, IOCPD_LOG_ERROR, "%s", message);
}

/* Stops what runs and frees everything, in this order: the metrics
 * endpoint reads the main server's counters, so it goes first; destroying
 * the server may still report connections (shutdown) to the access log,
 * which is closed after it, once nothing can add a line. The settings go
 * with the server (the engine releases them). */
static void free_state(daemon_state *d) {
  uint64_t dropped;
  resolver_stop(d->resolver);
  metrics_stop(d->metrics);
  iocpd_server_destroy(d->server);
  /* The metrics thread is gone: the daemon's hold on its config ends. */
  settings_free(d->settings);
  dropped = access_log_close(d->live.access_log);
  if (dropped > 0)
    log_event(EV_WARNING, IOCPD_LOG_WARNING, "access log: %llu lines were lost",
              (unsigned long long)dropped);
  if (d->lock != NULL) iocpd_mutex_destroy(d->lock);
  if (d->apply_lock != NULL) iocpd_mutex_destroy(d->apply_lock);
  memset(d, 0, sizeof(*d));
}

void daemon_access_record(void *arg, const iocpd_access_record *record) {
  daemon_state *d = arg;
  iocpd_mutex_lock(d->lock);
  if (d->live.access_log != NULL) access_log_record(d->live.access_log, record);
  iocpd_mutex_unlock(d->lock);
}

int daemon_open_access_log(const iocpd_config *c, log_event_id fail_event, access_log **out) {
  char why[512];
  *out = NULL;
  if (c->access_log == NULL) return 0;
  if (access_log_open(c->access_log, c->access_log_max_size, c->access_log_keep, out, why,
                      sizeof(why)) != 0) {
    log_event(fail_event, IOCPD_LOG_ERROR, "access log: %s", why);
    return -1;
  }
  log_event(EV_INFO, IOCPD_LOG_INFO, "access log: writing to %s (rotated at %llu bytes, %u kept)",
            c->access_log, (unsigned long long)c->access_log_max_size, c->access_log_keep);
  return 0;
}

int daemon_start_metrics(daemon_state *d, const iocpd_config *c, log_event_id fail_event,
                         metrics_server **out) {
  metrics_source source;
  iocpd_error_info err;
  char addr[IOCPD_ADDR_STRLEN];
  *out = NULL;
  if (!c->metrics_enabled) return 0;
  source.server = d->server;
  source.lock = d->lock;
  source.live = &d->live;
  source.start_ms = d->start_ms;
  if (metrics_start(&c->metrics_listen, &source, c->log_level, out, &err) != 0) {
    log_event(fail_event, IOCPD_LOG_ERROR, "%s", err.message);
    return -1;
  }
  log_event(EV_LISTENER_STARTED, IOCPD_LOG_INFO, "metrics: listening on %s (GET /metrics)",
            iocpd_addr_format(&c->metrics_listen, addr));
  return 0;
}

int daemon_start(daemon_state *d, const char *path) {
  iocpd_server_options options;
  iocpd_config *config = NULL;
  daemon_settings *st;
  iocpd_error_info err;
  size_t i;

  memset(d, 0, sizeof(*d));
  d->start_ms = iocpd_wall_ms();
  log_event(EV_STARTING, IOCPD_LOG_INFO, "iocpd %s starting with %s", IOCPD_VERSION, path);
  if (iocpd_config_load(path, &config, report_problem, NULL) != 0) return EXIT_BAD_CONFIG;
  log_set_level(config->log_level);
  for (i = 0; i < config->warning_count; i++)
    log_event(EV_WARNING, IOCPD_LOG_WARNING, "%s", config->warnings[i]);
  st = settings_new(config);
  d->lock = iocpd_mutex_create();
  d->apply_lock = iocpd_mutex_create();
  if (st == NULL || d->lock == NULL || d->apply_lock == NULL) {
    log_event(EV_START_FAILED, IOCPD_LOG_ERROR, "out of memory");
    if (st == NULL) iocpd_config_free(config);
    settings_free(st); /* the engine's reference; free_state drops the other */
    d->settings = st;
    goto fail;
  }
  d->settings = st;
  d->live.config = config;
  if (daemon_open_access_log(config, EV_START_FAILED, &d->live.access_log) != 0) {
    settings_free(st); /* the engine's reference: it never got it */
    goto fail;
  }
  memset(&options, 0, sizeof(options));
  options.workers = config->workers;
  options.listeners = st->listeners;
  options.listener_count = config->listener_count;
  options.log_event = log_event_from_engine;
  options.log_level = config->log_level;
  options.max_connections = (size_t)config->max_connections;
  /* From here the engine owns the settings: it releases them when
   * nothing uses them any more, also if it fails to start. */
  options.release = settings_free;
  options.release_arg = st;
  /* Always: a reload may open an access log, or move it. */
  options.on_access = daemon_access_record;
  options.access_arg = d;
  if (iocpd_server_create(&options, &d->server, &err) != 0) {
    log_event(EV_START_FAILED, IOCPD_LOG_ERROR, "%s", err.message);
    goto fail;
  }
  for (i = 0; i < config->listener_count; i++) daemon_log_listener(&config->listeners[i]);
  /* On failure nothing was served yet that is worth draining: free_state
   * stops it all. */
  if (daemon_start_metrics(d, config, EV_START_FAILED, &d->metrics) != 0) goto fail;
  d->resolver = resolver_start(d);
  if (d->resolver == NULL) {
    log_event(EV_START_FAILED, IOCPD_LOG_ERROR, "cannot start the name resolver's thread");
    goto fail;
  }
  log_event(EV_RUNNING, IOCPD_LOG_INFO, "running with %u workers",
            iocpd_server_worker_count(d->server));
  return EXIT_OK;

fail:
  free_state(d);
  return EXIT_RUNTIME;
}

void daemon_log_listener(const iocpd_config_listener *l) {
  char addr[IOCPD_ADDR_STRLEN];
  log_event(EV_LISTENER_STARTED, IOCPD_LOG_INFO, "listener %s: listening on %s (%s%s)", l->name,
            iocpd_addr_format(&l->listen, addr), l->protocol == IOCPD_UDP ? "udp " : "",
            daemon_handler_for(l->handler)->name);
}

void daemon_stop(daemon_state *d, iocpd_drain_progress_fn progress, void *progress_arg) {
  iocpd_drain_stats stats;
  /* No address change during the drain. */
  resolver_stop(d->resolver);
  d->resolver = NULL;
  log_event(EV_STOP_REQUESTED, IOCPD_LOG_INFO,
            "stop requested: %zu open connections, draining for up to %llu ms",
            iocpd_server_connection_count(d->server),
            (unsigned long long)clamp_ms(d->live.config->drain_timeout_ms));
  /* The metrics endpoint stays up during the drain, so that a dashboard
   * sees the open connections fall; free_state stops it before the main
   * server goes away. */
  iocpd_server_drain(d->server, clamp_ms(d->live.config->drain_timeout_ms), progress, progress_arg,
                     &stats);
  log_event(EV_DRAIN_FINISHED, IOCPD_LOG_INFO,
            "drain finished: drained %zu, aborted %zu in %llu ms", stats.drained, stats.aborted,
            (unsigned long long)stats.duration_ms);
  free_state(d);
  log_event(EV_STOPPED, IOCPD_LOG_INFO, "stopped");
}
