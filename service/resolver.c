/*
 * Upstream host names, resolved again while the daemon runs (see README,
 * "Upstream names"): on a thread of its own, never a worker's, every
 * resolve_interval, and sooner (at most every few seconds) after connect
 * failures. A round loads the text of the current config again from
 * memory (not the file, which may have been edited without a reload): the
 * loader resolves every name as at start. If a listener's addresses
 * changed, the new config is applied as a reload would (listeners kept,
 * new connections get the new addresses) and each change is logged.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "resolver.h"

/* How often the thread looks at the connect failure counters, and the
 * least time between two rounds they trigger. */
#define LOOK_MS 1000
#define FAILURE_ROUND_MS 5000

struct resolver {
  daemon_state *d;
  iocpd_thread *thread;
  iocpd_mutex *lock;
  iocpd_cond *wake;
  int stop; /* under lock */
};

static void quiet(void *arg, const char *message) {
  (void)arg;
  log_event(EV_WARNING, IOCPD_LOG_WARNING, "upstream names: %s", message);
}

static int same_addresses(const iocpd_config_listener *a, const iocpd_config_listener *b) {
  return a->upstream_count == b->upstream_count &&
         (a->upstream_count == 0 ||
          memcmp(a->upstreams, b->upstreams, a->upstream_count * sizeof(*a->upstreams)) == 0);
}

/* "a.b.c.d:p, [::1]:p" (or "none") into buf. */
static const char *list(const iocpd_config_listener *l, char *buf, size_t len) {
  size_t i, used = 0;
  buf[0] = '\0';
  if (l->upstream_count == 0) return "none";
  for (i = 0; i < l->upstream_count && used + IOCPD_ADDR_STRLEN + 3 < len; i++) {
    char addr[IOCPD_ADDR_STRLEN];
    used += (size_t)snprintf(buf + used, len - used, "%s%s", i > 0 ? ", " : "",
                             iocpd_addr_format(&l->upstreams[i], addr));
  }
  return buf;
}

/* One round. Returns 1 if addresses changed and were applied. */
static int resolve_round(daemon_state *d) {
  iocpd_config *next = NULL;
  iocpd_update_report r;
  char *text, *path;
  size_t len, i, changed = 0;
  int rc;

  /* The text and name of the config that runs now; a reload may replace
   * it meanwhile, which apply_lock orders. */
  iocpd_mutex_lock(d->apply_lock);
  iocpd_mutex_lock(d->lock);
  len = d->live.config->text_len;
  text = malloc(len + 1);
  path = malloc(strlen(d->live.config->path) + 1);
  if (text != NULL && path != NULL) {
    memcpy(text, d->live.config->text, len);
    strcpy(path, d->live.config->path);
  }
  iocpd_mutex_unlock(d->lock);
  if (text == NULL || path == NULL ||
      iocpd_config_load_buffer(path, text, len, &next, quiet, NULL) != 0) {
    /* e.g. a name that now leads back to its own listener: keep what runs. */
    if (next == NULL && text != NULL && path != NULL)
      log_event(EV_WARNING, IOCPD_LOG_WARNING,
                "upstream names: resolving again gave the problems above; keeping the current "
                "addresses");
    goto out;
  }
  for (i = 0; i < next->listener_count; i++) {
    const iocpd_config_listener *now = &d->live.config->listeners[i];
    const iocpd_config_listener *fresh = &next->listeners[i];
    char was[512], will[512];
    if (same_addresses(now, fresh)) continue;
    changed++;
    log_event(EV_INFO, IOCPD_LOG_INFO, "listener %s: upstream addresses now %s (were %s)",
              fresh->name, list(fresh, will, sizeof(will)), list(now, was, sizeof(was)));
  }
  if (changed == 0) {
    iocpd_config_free(next);
    goto out;
  }
  rc = daemon_apply(d, next, &r);
  if (rc != 0)
    log_event(EV_WARNING, IOCPD_LOG_WARNING, "upstream names: new addresses not applied: %s",
              iocpd_strerror(rc));
out:
  iocpd_mutex_unlock(d->apply_lock);
  free(text);
  free(path);
  return changed > 0;
}

static uint64_t failures_now(iocpd_server *s) {
  iocpd_connect_failures f[256];
  size_t i, n = iocpd_server_connect_failures(s, f, 256);
  uint64_t sum = 0;
  for (i = 0; i < n && i < 256; i++) sum += f[i].count;
  return sum;
}

static void resolver_main(void *arg) {
  resolver *rs = arg;
  daemon_state *d = rs->d;
  uint64_t last = iocpd_now_ms(), seen = failures_now(d->server);

  iocpd_mutex_lock(rs->lock);
  while (!rs->stop) {
    uint64_t now, interval, failures;
    int names;
    iocpd_cond_wait(rs->wake, rs->lock, LOOK_MS);
    if (rs->stop) break;
    iocpd_mutex_lock(d->lock);
    interval = d->live.config->resolve_interval_ms;
    names = d->live.config->has_names;
    iocpd_mutex_unlock(d->lock);
    now = iocpd_now_ms();
    failures = failures_now(d->server);
    if (!names || interval == 0) {
      last = now;
      seen = failures;
      continue;
    }
    if (now - last < interval && (failures == seen || now - last < FAILURE_ROUND_MS)) continue;
    iocpd_mutex_unlock(rs->lock);
    resolve_round(d);
    iocpd_mutex_lock(rs->lock);
    last = iocpd_now_ms();
    seen = failures_now(d->server);
  }
  iocpd_mutex_unlock(rs->lock);
}

resolver *resolver_start(daemon_state *d) {
  resolver *rs = calloc(1, sizeof(*rs));
  if (rs == NULL) return NULL;
  rs->d = d;
  rs->lock = iocpd_mutex_create();
  rs->wake = iocpd_cond_create();
  if (rs->lock != NULL && rs->wake != NULL) rs->thread = iocpd_thread_start(resolver_main, rs);
  if (rs->thread == NULL) {
    if (rs->lock != NULL) iocpd_mutex_destroy(rs->lock);
    if (rs->wake != NULL) iocpd_cond_destroy(rs->wake);
    free(rs);
    return NULL;
  }
  return rs;
}

void resolver_stop(resolver *rs) {
  if (rs == NULL) return;
  iocpd_mutex_lock(rs->lock);
  rs->stop = 1;
  iocpd_cond_broadcast(rs->wake);
  iocpd_mutex_unlock(rs->lock);
  iocpd_thread_join(rs->thread);
  iocpd_mutex_destroy(rs->lock);
  iocpd_cond_destroy(rs->wake);
  free(rs);
}
