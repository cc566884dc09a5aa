/*
 * Health of upstreams. Passive: each listener keeps, for every address its
 * connections connect to, how many attempts failed in a row. At
 * max_fails the address is marked down for fail_timeout_ms; handlers ask
 * iocpd_conn_upstream_down and try it last meanwhile. When the time is up
 * it may be tried again: a success marks it up, a failure keeps it down
 * for another fail_timeout_ms. A failed attempt is counted where the
 * failure counters are (stats.c), under the server lock; the lines that
 * say an address went down or came back are written after it.
 *
 * Active (optional): every health_interval_ms the listener's own worker
 * connects to each target and closes at once (check_handler); `fall`
 * failed checks in a row mark it down, `rise` passed ones up. Checks are
 * ordinary engine connections (ConnectEx / non-blocking connect) with a
 * timer for health_timeout_ms, flagged so that no counter sees them.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The record of `to`, or NULL. Server lock held. */
static iocpd__upstream_health *find(iocpd__listener *l, const iocpd_addr *to) {
  size_t i;
  for (i = 0; i < l->health_count; i++) {
    if (iocpd__addr_equal(&l->health[i].addr, to)) return &l->health[i];
  }
  return NULL;
}

/* The record of `to`, made if new; NULL only when out of memory (the
 * address then just counts as up). Server lock held. */
static iocpd__upstream_health *find_or_add(iocpd__listener *l, const iocpd_addr *to) {
  iocpd__upstream_health *h = find(l, to);
  if (h != NULL) return h;
  if (l->health_count == l->health_cap) {
    size_t cap = l->health_cap ? l->health_cap * 2 : 8;
    iocpd__upstream_health *grown = realloc(l->health, cap * sizeof(*grown));
    if (grown == NULL) return NULL;
    l->health = grown;
    l->health_cap = cap;
  }
  h = &l->health[l->health_count++];
  memset(h, 0, sizeof(*h));
  h->addr = *to;
  return h;
}

int iocpd__health_failed(iocpd__listener *l, const iocpd_addr *to) {
  iocpd__upstream_health *h;
  if (l->max_fails == 0) return 0;
  h = find_or_add(l, to);
  if (h == NULL) return 0;
  if (h->fails_in_row < UINT32_MAX) h->fails_in_row++;
  if (h->down) {
    /* A second chance that failed: skipped for another while, quietly
     * (the address never came back). */
    h->down_until = iocpd_now_ms() + l->fail_timeout_ms;
    return 0;
  }
  if (h->fails_in_row < l->max_fails) return 0;
  h->down = 1;
  h->down_until = iocpd_now_ms() + l->fail_timeout_ms;
  return 1;
}

void iocpd__health_log_down(iocpd__listener *l, const iocpd_addr *to) {
  char addr[IOCPD_ADDR_STRLEN];
  iocpd__log_event(l->server, IOCPD_LOG_WARNING, IOCPD_EVENT_UPSTREAM_DOWN,
                   "listener %s: upstream %s is down after %u failed connects in a row; tried "
                   "last for %u ms",
                   l->name, iocpd_addr_format(to, addr), (unsigned)l->max_fails,
                   (unsigned)l->fail_timeout_ms);
}

void iocpd__health_succeeded(iocpd__listener *l, const iocpd_addr *to) {
  iocpd__upstream_health *h;
  int was_down = 0;
  if (l->max_fails == 0) return;
  iocpd_mutex_lock(l->server->lock);
  h = find(l, to);
  if (h != NULL) {
    was_down = h->down;
    h->down = 0;
    h->fails_in_row = 0;
  }
  iocpd_mutex_unlock(l->server->lock);
  if (was_down) {
    char addr[IOCPD_ADDR_STRLEN];
    iocpd__log_event(l->server, IOCPD_LOG_INFO, IOCPD_EVENT_UPSTREAM_UP,
                     "listener %s: upstream %s is up again", l->name, iocpd_addr_format(to, addr));
  }
}

void iocpd__health_free(iocpd__listener *l) {
  free(l->health);
  free(l->health_targets);
  l->health = NULL;
  l->health_targets = NULL;
  l->health_count = l->health_cap = 0;
}

/* ------------------------------------------------------------------------ */
/* Active checks: a connection to each target, closed once it is made */

/* Records one check's result; logs a change of state (after the lock). */
static void check_done(iocpd_conn *c, int ok) {
  iocpd__listener *l = c->listener;
  iocpd__upstream_health *h;
  int went_down = 0, came_up = 0;
  uint32_t row = 0;
  char addr[IOCPD_ADDR_STRLEN];

  if (c->data == NULL) return; /* already counted (a timeout, then the abort) */
  c->data = NULL;
  iocpd_mutex_lock(l->server->lock);
  h = find_or_add(l, &c->peer);
  if (h != NULL && ok) {
    h->checks_failed = 0;
    if (h->checks_ok < UINT32_MAX) h->checks_ok++;
    if (h->check_down && h->checks_ok >= l->rise) {
      h->check_down = 0;
      came_up = 1;
      row = h->checks_ok;
    }
  } else if (h != NULL) {
    h->checks_ok = 0;
    if (h->checks_failed < UINT32_MAX) h->checks_failed++;
    if (!h->check_down && h->checks_failed >= l->fall) {
      h->check_down = 1;
      went_down = 1;
      row = h->checks_failed;
    }
  }
  iocpd_mutex_unlock(l->server->lock);
  if (went_down)
    iocpd__log_event(l->server, IOCPD_LOG_WARNING, IOCPD_EVENT_UPSTREAM_DOWN,
                     "listener %s: upstream %s is down: %u health checks failed in a row", l->name,
                     iocpd_addr_format(&c->peer, addr), (unsigned)row);
  if (came_up)
    iocpd__log_event(l->server, IOCPD_LOG_INFO, IOCPD_EVENT_UPSTREAM_UP,
                     "listener %s: upstream %s is up again: %u health checks passed in a row",
                     l->name, iocpd_addr_format(&c->peer, addr), (unsigned)row);
}

static void check_connected(iocpd_conn *c, int status) {
  int version = c->listener->health_send_proxy;
  size_t len = 0;
  /* For upstreams that expect a header on every connection
   * (health_send_proxy): the one that carries no address, as a check
   * relays no client. Constant bytes: they outlive the write. */
  const void *header = version != 0 ? iocpd__proxy_no_address(version, &len) : NULL;
  check_done(c, status == 0);
  if (status != 0) return;
  /* The answer is all a check wants. With a header to send, the check
   * ends cleanly after it, so that the upstream sees a well-formed
   * connection; otherwise a reset costs the upstream nothing. */
  if (header != NULL && iocpd_write(c, header, len, NULL) == 0) {
    iocpd_close(c);
  } else {
    iocpd_abort(c);
  }
}

static void check_timeout(iocpd_conn *c) {
  check_done(c, 0);
  iocpd_abort(c);
}

static const iocpd_handler check_handler = {
    .name = "health-check",
    .on_connect = check_connected,
    .on_timer = check_timeout,
};

/* Starts one check of l's target `to` on worker w. */
static void start_check(iocpd__worker *w, iocpd__listener *l, const iocpd_addr *to) {
  iocpd_conn *c = iocpd__conn_alloc(l, NULL);
  if (c == NULL) return;
  c->handler = &check_handler;
  c->data = c; /* not NULL until its result is counted */
  c->outbound = 1;
  c->check = 1;
  c->connecting = 1;
  c->peer = *to;
  c->worker = w;
  if (iocpd__os_connect(c, to) != 0) {
    iocpd__conn_discard(c);
    /* Refused at once (say, out of descriptors): a failed check. */
    {
      iocpd_conn probe;
      memset(&probe, 0, sizeof(probe));
      probe.listener = l;
      probe.peer = *to;
      probe.data = &probe;
      check_done(&probe, 0);
    }
    return;
  }
  iocpd__server_outbound_added(w->server);
  iocpd__conn_register(c);
  iocpd_conn_set_timer(c, l->health_timeout_ms);
}

void iocpd__health_run_checks(iocpd__worker *w, uint64_t now) {
  iocpd_server *s = w->server;
  uint64_t next = 0;
  size_t i, k;
  int closed;

  iocpd_mutex_lock(s->lock);
  closed = s->listeners_closed;
  iocpd_mutex_unlock(s->lock);
  for (i = 0; !closed && i < s->listener_count; i++) {
    iocpd__listener *l = s->listeners[i];
    if (l->worker != w || l->health_interval_ms == 0 || l->health_target_count == 0) continue;
    if (l->health_next <= now) {
      for (k = 0; k < l->health_target_count; k++) start_check(w, l, &l->health_targets[k]);
      l->health_next = now + l->health_interval_ms;
    }
    if (next == 0 || l->health_next < next) next = l->health_next;
  }
  w->health_at = next;
}

int iocpd_conn_upstream_down(const iocpd_conn *conn, const iocpd_addr *upstream) {
  if (conn == NULL || upstream == NULL) return 0;
  return iocpd__upstream_down(conn->listener, upstream);
}

int iocpd__upstream_down(iocpd__listener *l, const iocpd_addr *upstream) {
  iocpd__upstream_health *h;
  int down = 0;
  if (l->max_fails == 0 && l->health_interval_ms == 0) return 0;
  iocpd_mutex_lock(l->server->lock);
  h = find(l, upstream);
  if (h != NULL && ((h->down && iocpd_now_ms() < h->down_until) || h->check_down)) down = 1;
  iocpd_mutex_unlock(l->server->lock);
  return down;
}

int iocpd_server_upstream_up(iocpd_server *s, const char *listener, const iocpd_addr *upstream) {
  size_t i;
  int up = 1;
  if (s == NULL || listener == NULL || upstream == NULL) return 1;
  iocpd_mutex_lock(s->lock);
  for (i = 0; i < s->listener_count; i++) {
    iocpd__listener *l = s->listeners[i];
    if (strcmp(l->name, listener) == 0) {
      iocpd__upstream_health *h = find(l, upstream);
      if (h != NULL && (h->down || h->check_down)) up = 0;
      break;
    }
  }
  iocpd_mutex_unlock(s->lock);
  return up;
}
