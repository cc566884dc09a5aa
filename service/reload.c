/*
 * Reloading the config of a running daemon (daemon_reload, see daemon.h
 * and README, "Reloading"). The whole file is checked first, as
 * check-config would; a file with any problem changes nothing. Then the
 * engine gets the new listeners (iocpd_server_update): unchanged ones
 * keep their sockets, removed ones drain under the new drain_timeout,
 * new ones start; the access log and the metrics endpoint move if their
 * settings changed. [service] keys that only take effect at start keep
 * their running value, with a warning.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

/* Each problem of a refused file, as at start but under its own event. */
static void report_problem(void *arg, const char *message) {
  (void)arg;
  log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR, "%s", message);
}

static void report_listener_error(void *arg, const iocpd_error_info *err) {
  (void)arg;
  log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR, "%s (not added)", err->message);
}

static int same_addr(const iocpd_addr *a, const iocpd_addr *b) {
  return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}

static int same_text(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* ipv6_only is a property of the bound socket, which a kept listener
 * (same name and address) keeps: a change warns and waits for a restart
 * (or a listener under another name). */
static void keep_bound_settings(const iocpd_config *old, const iocpd_config *next) {
  size_t i, j;
  for (i = 0; i < next->listener_count; i++) {
    const iocpd_config_listener *n = &next->listeners[i];
    for (j = 0; j < old->listener_count; j++) {
      const iocpd_config_listener *o = &old->listeners[j];
      if (strcmp(o->name, n->name) != 0 || !same_addr(&o->listen, &n->listen)) continue;
      if (o->dual_stack != n->dual_stack)
        log_event(EV_WARNING, IOCPD_LOG_WARNING,
                  "reload: [listener:%s] ipv6_only changed: needs a restart; keeping %s", n->name,
                  o->dual_stack ? "no" : "yes");
      break;
    }
  }
}

/* Warns about each [service] key that changed but applies only at start:
 * the running value stays. (drain_timeout applies: the next stop and the
 * drain of removed listeners use the new one.) */
static void keep_start_only_keys(const iocpd_config *old, const iocpd_config *next) {
  if (next->workers != old->workers)
    log_event(EV_WARNING, IOCPD_LOG_WARNING,
              "reload: [service] workers changed (%u to %u): needs a restart; keeping %u",
              old->workers, next->workers, old->workers);
  if (next->max_connections != old->max_connections)
    log_event(EV_WARNING, IOCPD_LOG_WARNING,
              "reload: [service] max_connections changed: needs a restart; keeping %llu",
              (unsigned long long)old->max_connections);
  if (next->log_level != old->log_level)
    log_event(EV_WARNING, IOCPD_LOG_WARNING,
              "reload: [service] log_level changed: needs a restart; keeping %s",
              iocpd_log_level_name(old->log_level));
  keep_bound_settings(old, next);
}

/* access_log changed: the new file is opened first, so a problem keeps
 * the old one (an error, logged); records then go to the new one, and
 * the old one is closed once its queue is written. Lines lost so far are
 * carried over, so the metric never goes back. */
static void move_access_log(daemon_state *d, const iocpd_config *old, const iocpd_config *next) {
  access_log *fresh, *stale;
  uint64_t dropped;
  if (same_text(next->access_log, old->access_log) &&
      next->access_log_max_size == old->access_log_max_size &&
      next->access_log_keep == old->access_log_keep)
    return;
  if (daemon_open_access_log(next, EV_RELOAD_FAILED, &fresh) != 0) {
    log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR, "reload: the access log stays %s",
              old->access_log != NULL ? old->access_log : "off");
    return;
  }
  iocpd_mutex_lock(d->lock);
  stale = d->live.access_log;
  d->live.access_log = fresh;
  iocpd_mutex_unlock(d->lock);
  dropped = access_log_close(stale);
  iocpd_mutex_lock(d->lock);
  d->live.dropped_before += dropped;
  iocpd_mutex_unlock(d->lock);
  if (fresh == NULL) log_event(EV_INFO, IOCPD_LOG_INFO, "access log: off");
}

/* metrics_listen changed: the new endpoint starts first (a problem keeps
 * the old one), then the old one stops. */
static void move_metrics(daemon_state *d, const iocpd_config *old, const iocpd_config *next) {
  metrics_server *fresh;
  if (next->metrics_enabled == old->metrics_enabled &&
      (!next->metrics_enabled || same_addr(&next->metrics_listen, &old->metrics_listen)))
    return;
  if (daemon_start_metrics(d, next, EV_RELOAD_FAILED, &fresh) != 0) {
    log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR, "reload: the metrics endpoint stays where it was");
    return;
  }
  metrics_stop(d->metrics);
  d->metrics = fresh;
  if (fresh == NULL) log_event(EV_INFO, IOCPD_LOG_INFO, "metrics: off");
}

static void count_error(daemon_state *d) {
  iocpd_mutex_lock(d->lock);
  d->live.reloads.error++;
  iocpd_mutex_unlock(d->lock);
}

int daemon_apply(daemon_state *d, iocpd_config *next, iocpd_update_report *r) {
  const iocpd_config *old;
  daemon_settings *old_st, *st = settings_new(next);
  iocpd_update_options u;
  int rc;

  if (st == NULL) {
    iocpd_config_free(next);
    return IOCPD_ENOMEM;
  }
  memset(&u, 0, sizeof(u));
  u.listeners = st->listeners;
  u.listener_count = next->listener_count;
  u.drain_ms = clamp_ms(next->drain_timeout_ms);
  u.release = settings_free; /* the engine's reference on st from here */
  u.release_arg = st;
  u.on_error = report_listener_error;
  rc = iocpd_server_update(d->server, &u, r);
  if (rc != 0) {
    settings_free(st); /* the daemon's reference; the engine dropped its own */
    return rc;
  }
  iocpd_mutex_lock(d->lock);
  old_st = d->settings;
  old = d->live.config;
  d->settings = st;
  d->live.config = next;
  iocpd_mutex_unlock(d->lock);
  /* old is held by the daemon's reference until the end: moving the
   * access log and the metrics compares with it. */
  move_access_log(d, old, next);
  move_metrics(d, old, next);
  settings_free(old_st);
  return 0;
}

int daemon_reload(daemon_state *d) {
  iocpd_config *next = NULL;
  iocpd_update_report r;
  const char *path;
  size_t i;
  int rc;

  /* One change at a time: the name resolver applies changes too, and
   * the current config is only read under this lock. */
  iocpd_mutex_lock(d->apply_lock);
  path = d->live.config->path;
  log_event(EV_INFO, IOCPD_LOG_INFO, "reload requested: reading %s", path);
  if (iocpd_config_load(path, &next, report_problem, NULL) != 0) {
    iocpd_mutex_unlock(d->apply_lock);
    count_error(d);
    log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR,
              "configuration not reloaded: %s has problems (above); still running the "
              "configuration loaded before",
              path);
    return -1;
  }
  for (i = 0; i < next->warning_count; i++)
    log_event(EV_WARNING, IOCPD_LOG_WARNING, "%s", next->warnings[i]);
  keep_start_only_keys(d->live.config, next);
  rc = daemon_apply(d, next, &r);
  iocpd_mutex_unlock(d->apply_lock);
  if (rc != 0) {
    count_error(d);
    log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR, "configuration not reloaded: %s",
              iocpd_strerror(rc));
    return -1;
  }
  iocpd_mutex_lock(d->lock);
  d->live.reloads.ok++;
  d->live.reloads.last_ok_ms = iocpd_wall_ms();
  iocpd_mutex_unlock(d->lock);
  log_event(EV_RELOADED, IOCPD_LOG_INFO,
            "configuration reloaded: %zu listeners kept, %zu added, %zu removed (%zu connections "
            "draining)%s",
            r.kept, r.added, r.removed, r.draining,
            r.failed > 0 ? "; some listeners could not be added (above)" : "");
  return 0;
}
