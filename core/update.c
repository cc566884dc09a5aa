/*
 * iocpd_server_update: a new set of listeners for a running server.
 *
 * Every new listener is bound first, on the calling thread, so that a
 * failure changes nothing else. Then every worker is parked (each waits in
 * its inbox until told to go on): the listener array and the settings of
 * kept listeners change while no worker can look at them, in a few
 * microseconds during which the kernel queues new connections in the
 * kept sockets' backlogs. Then the workers start the new listeners, close
 * the removed ones and set the drain deadline of their connections.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int valid(const iocpd_update_options *u) {
  size_t i, j;
  if (u == NULL || (u->listener_count > 0 && u->listeners == NULL)) return 0;
  for (i = 0; i < u->listener_count; i++) {
    const iocpd_listener_options *o = &u->listeners[i];
    if (o->name == NULL || o->handler == NULL || o->handler->on_accept == NULL ||
        (o->addr.family != IOCPD_AF_INET && o->addr.family != IOCPD_AF_INET6) ||
        iocpd__udp_options_check(o, NULL) != 0)
      return 0;
    for (j = 0; j < i; j++) {
      if (strcmp(u->listeners[j].name, o->name) == 0) return 0;
    }
  }
  return 1;
}

/* The current listener that o keeps (same name and address), or NULL. */
static iocpd__listener *kept_by(iocpd_server *s, const iocpd_listener_options *o) {
  size_t i;
  for (i = 0; i < s->listener_count; i++) {
    iocpd__listener *l = s->listeners[i];
    if (strcmp(l->name, o->name) == 0 && iocpd__addr_equal(&l->addr, &o->addr) &&
        l->udp == (o->protocol == IOCPD_UDP))
      return l;
  }
  return NULL;
}

static int in_list(iocpd__listener *const *list, size_t n, const iocpd__listener *l) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (list[i] == l) return 1;
  }
  return 0;
}

/* Parks every worker (see the file comment); returns with the server
 * lock held. */
static void park_workers(iocpd_server *s) {
  unsigned i;
  iocpd_mutex_lock(s->lock);
  s->parking = 1;
  s->workers_parked = 0;
  iocpd_mutex_unlock(s->lock);
  for (i = 0; i < s->worker_count; i++) {
    iocpd__msg *m;
    while ((m = calloc(1, sizeof(*m))) == NULL) {
      /* A park must not be lost: the caller would wait for ever. */
      iocpd_mutex_lock(s->lock);
      iocpd_cond_wait(s->changed, s->lock, 10);
      iocpd_mutex_unlock(s->lock);
    }
    m->type = IOCPD__MSG_PARK;
    iocpd__worker_post(&s->workers[i], m);
  }
  iocpd_mutex_lock(s->lock);
  while (s->workers_parked < s->worker_count) iocpd_cond_wait(s->changed, s->lock, 1000);
}

static void unpark_workers(iocpd_server *s) {
  s->parking = 0;
  iocpd_cond_broadcast(s->changed);
  iocpd_mutex_unlock(s->lock);
}

/* Swaps in the new array (kept and added, in options order) and retires
 * the listeners left out; kept[i] is the listener that u->listeners[i]
 * keeps, if any. Workers parked, server lock held. */
static void apply(iocpd_server *s, const iocpd_update_options *u, iocpd__listener *const *kept,
                  iocpd__listener **next, size_t count, iocpd__generation *g,
                  iocpd_update_report *r) {
  uint64_t deadline = iocpd_now_ms() + u->drain_ms;
  size_t i;
  for (i = 0; i < u->listener_count; i++) {
    /* Out of memory for a copy of its lists: it keeps its old settings. */
    if (kept[i] != NULL && iocpd__listener_configure(kept[i], &u->listeners[i], g) != 0)
      r->failed++;
  }
  for (i = 0; i < s->listener_count; i++) {
    iocpd__listener *l = s->listeners[i];
    if (in_list(next, count, l)) continue;
    l->retired = 1;
    l->retire_deadline = deadline;
    l->next_retired = s->retired;
    s->retired = l;
    r->removed++;
    r->draining += l->conns_open;
  }
  free(s->listeners);
  s->listeners = next;
  s->listener_count = count;
}

/* Nothing changed: the options are released at once. */
static int refused(const iocpd_update_options *u, int rc) {
  if (u->release != NULL) u->release(u->release_arg);
  return rc;
}

static void report_error(const iocpd_update_options *u, const iocpd_error_info *err) {
  if (u->on_error != NULL) u->on_error(u->error_arg, err);
}

int iocpd_server_update(iocpd_server *s, const iocpd_update_options *u,
                        iocpd_update_report *report) {
  iocpd_update_report r;
  iocpd__generation *g;
  iocpd__listener **next, **kept;
  size_t i, count = 0;
  int closed;

  memset(&r, 0, sizeof(r));
  if (u == NULL) return IOCPD_EINVAL;
  if (s == NULL || !valid(u)) return refused(u, IOCPD_EINVAL);
  iocpd_mutex_lock(s->lock);
  closed = s->listeners_closed;
  iocpd_mutex_unlock(s->lock);
  if (closed) return refused(u, IOCPD_ECLOSED);
  g = iocpd__generation_new(u->release, u->release_arg);
  next = calloc(u->listener_count + 1, sizeof(*next));
  kept = calloc(u->listener_count + 1, sizeof(*kept));
  if (g == NULL || next == NULL || kept == NULL) {
    free(g);
    free(next);
    free(kept);
    return refused(u, IOCPD_ENOMEM);
  }

  /* Kept listeners in place; new ones made and bound now. */
  for (i = 0; i < u->listener_count; i++) {
    const iocpd_listener_options *o = &u->listeners[i];
    iocpd__listener *l = kept[i] = kept_by(s, o);
    iocpd_error_info err;
    if (l != NULL) {
      next[count++] = l;
      r.kept++;
      continue;
    }
    memset(&err, 0, sizeof(err));
    l = iocpd__listener_new(s, o, &s->workers[(s->listener_count + i) % s->worker_count], g);
    if (l == NULL) {
      err.code = IOCPD_ENOMEM;
      snprintf(err.message, sizeof(err.message), "listener %s: out of memory", o->name);
    } else if (iocpd__listener_bind(l, &err) != 0) {
      iocpd__listener_free(l);
      l = NULL;
    }
    if (l == NULL) {
      report_error(u, &err);
      r.failed++;
      continue;
    }
    next[count++] = l;
    r.added++;
  }

  park_workers(s);
  apply(s, u, kept, next, count, g, &r);
  unpark_workers(s);
  free(kept);

  /* The owners start what is new and close what was removed. */
  /* Also when nothing was added: kept listeners' health checks restart
   * with their new settings there. */
  if (iocpd__broadcast(s, IOCPD__MSG_START_LISTENERS) > 0) {
    for (i = 0; i < s->listener_count; i++) {
      iocpd__listener *l = s->listeners[i];
      if (l->start_error.code != 0) {
        report_error(u, &l->start_error);
        memset(&l->start_error, 0, sizeof(l->start_error));
      }
    }
  }
  if (r.removed > 0) iocpd__broadcast(s, IOCPD__MSG_CLOSE_RETIRED);
  /* Limits may have grown: listeners paused at one look again. */
  if (r.kept > 0) iocpd__admit_recheck(s);
  iocpd__generation_unref(g);
  if (report != NULL) *report = r;
  return 0;
}
