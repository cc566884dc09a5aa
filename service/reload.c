/*
 * Reloading the config of a running daemon (daemon_reload, see daemon.h
 * and README, "Reloading"). The whole file is checked first, as
 * check-config would; a file with any problem changes nothing. Then the
 * engine gets the new listeners (iocpd_server_update): unchanged ones
 * keep their sockets, removed ones drain under the new drain_timeout,
 * new ones start. [service] keys that only take effect at start keep
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

/* Warns about each [service] key that changed but applies only at start:
 * the running value stays. (drain_timeout applies: the next stop and the
 * drain of removed listeners use the new one.) */
static void keep_start_only_keys(const iocpd_config *old, const iocpd_config *next) {
  char a[IOCPD_ADDR_STRLEN];
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
  if (!same_text(next->access_log, old->access_log) ||
      next->access_log_max_size != old->access_log_max_size ||
      next->access_log_keep != old->access_log_keep)
    log_event(EV_WARNING, IOCPD_LOG_WARNING,
              "reload: [service] access_log settings changed: needs a restart; keeping %s",
              old->access_log != NULL ? old->access_log : "no access log");
  if (next->metrics_enabled != old->metrics_enabled ||
      (next->metrics_enabled && !same_addr(&next->metrics_listen, &old->metrics_listen)))
    log_event(EV_WARNING, IOCPD_LOG_WARNING,
              "reload: [service] metrics_listen changed: needs a restart; keeping %s",
              old->metrics_enabled ? iocpd_addr_format(&old->metrics_listen, a) : "none");
}

int daemon_reload(daemon_state *d) {
  const char *path = d->config->path;
  iocpd_config *next = NULL;
  daemon_settings *st;
  iocpd_update_options u;
  iocpd_update_report r;
  size_t i;
  int rc;

  log_event(EV_INFO, IOCPD_LOG_INFO, "reload requested: reading %s", path);
  if (iocpd_config_load(path, &next, report_problem, NULL) != 0) {
    iocpd_mutex_lock(d->lock);
    d->reloads.error++;
    iocpd_mutex_unlock(d->lock);
    log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR,
              "configuration not reloaded: %s has problems (above); still running the "
              "configuration loaded before",
              path);
    return -1;
  }
  for (i = 0; i < next->warning_count; i++)
    log_event(EV_WARNING, IOCPD_LOG_WARNING, "%s", next->warnings[i]);
  keep_start_only_keys(d->config, next);
  st = settings_new(next);
  if (st == NULL) {
    iocpd_config_free(next);
    iocpd_mutex_lock(d->lock);
    d->reloads.error++;
    iocpd_mutex_unlock(d->lock);
    log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR, "configuration not reloaded: out of memory");
    return -1;
  }
  memset(&u, 0, sizeof(u));
  u.listeners = st->listeners;
  u.listener_count = next->listener_count;
  u.drain_ms = clamp_ms(next->drain_timeout_ms);
  u.release = settings_free; /* the engine owns st from here */
  u.release_arg = st;
  u.on_error = report_listener_error;
  rc = iocpd_server_update(d->server, &u, &r);
  if (rc != 0) {
    iocpd_mutex_lock(d->lock);
    d->reloads.error++;
    iocpd_mutex_unlock(d->lock);
    log_event(EV_RELOAD_FAILED, IOCPD_LOG_ERROR, "configuration not reloaded: %s",
              iocpd_strerror(rc));
    return -1;
  }
  iocpd_mutex_lock(d->lock);
  d->config = next;
  d->reloads.ok++;
  d->reloads.last_ok_ms = iocpd_wall_ms();
  iocpd_mutex_unlock(d->lock);
  log_event(EV_RELOADED, IOCPD_LOG_INFO,
            "configuration reloaded: %zu listeners kept, %zu added, %zu removed (%zu connections "
            "draining)%s",
            r.kept, r.added, r.removed, r.draining,
            r.failed > 0 ? "; some listeners could not be added (above)" : "");
  return 0;
}
