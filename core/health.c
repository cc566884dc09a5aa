/*
 * Passive health of upstreams: each listener keeps, for every address its
 * connections connect to, how many attempts failed in a row. At
 * max_fails the address is marked down for fail_timeout_ms; handlers ask
 * iocpd_conn_upstream_down and try it last meanwhile. When the time is up
 * it may be tried again: a success marks it up, a failure keeps it down
 * for another fail_timeout_ms. A failed attempt is counted where the
 * failure counters are (stats.c), under the server lock; the lines that
 * say an address went down or came back are written after it.
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
  iocpd__log(l->server, IOCPD_LOG_WARNING,
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
    iocpd__log(l->server, IOCPD_LOG_INFO, "listener %s: upstream %s is up again", l->name,
               iocpd_addr_format(to, addr));
  }
}

void iocpd__health_free(iocpd__listener *l) {
  free(l->health);
  l->health = NULL;
  l->health_count = l->health_cap = 0;
}

int iocpd_conn_upstream_down(const iocpd_conn *conn, const iocpd_addr *upstream) {
  iocpd__listener *l;
  iocpd__upstream_health *h;
  int down = 0;
  if (conn == NULL || upstream == NULL) return 0;
  l = conn->listener;
  if (l->max_fails == 0) return 0;
  iocpd_mutex_lock(l->server->lock);
  h = find(l, upstream);
  if (h != NULL && h->down && iocpd_now_ms() < h->down_until) down = 1;
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
      if (h != NULL && h->down) up = 0;
      break;
    }
  }
  iocpd_mutex_unlock(s->lock);
  return up;
}
