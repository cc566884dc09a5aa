/*
 * Connection ids and worker inboxes.
 *
 * Each worker keeps a small hash table from connection id to connection.
 * Only the worker itself inserts and removes (under its lock); other
 * threads only look up, under the same lock, when they send by id. The
 * data path never touches the table: a completion leads straight to its
 * connection.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TABLE_INITIAL_SIZE 64

int iocpd__worker_table_init(iocpd__worker *w) {
  w->table = calloc(TABLE_INITIAL_SIZE, sizeof(*w->table));
  if (w->table == NULL) return IOCPD_ENOMEM;
  w->table_size = TABLE_INITIAL_SIZE;
  w->table_count = 0;
  return 0;
}

void iocpd__worker_table_free(iocpd__worker *w) {
  iocpd__msg *m, *next;
  assert(w->table_count == 0);
  iocpd__timers_free(w);
  iocpd__buffers_free(w);
  free(w->table);
  w->table = NULL;
  /* Messages nobody will run any more (e.g. sends to a worker that is
   * quitting) are dropped here. */
  for (m = w->inbox_head; m != NULL; m = next) {
    next = m->next;
    if (m->type == IOCPD__MSG_SEND) free(m);
  }
  w->inbox_head = w->inbox_tail = NULL;
}

static size_t bucket_of(uint64_t id, size_t size) {
  /* Ids are sequential above the worker bits, so the sequence number alone
   * spreads them evenly. */
  return (size_t)(id >> IOCPD__ID_WORKER_BITS) & (size - 1);
}

/* Doubles the table; called with the lock held. Failure to grow only makes
 * chains longer, so it is not an error. */
static void table_grow(iocpd__worker *w) {
  size_t i, size = w->table_size * 2;
  iocpd_conn **table = calloc(size, sizeof(*table));
  if (table == NULL) return;
  for (i = 0; i < w->table_size; i++) {
    iocpd_conn *c = w->table[i], *next;
    for (; c != NULL; c = next) {
      size_t b = bucket_of(c->id, size);
      next = c->table_next;
      c->table_next = table[b];
      table[b] = c;
    }
  }
  free(w->table);
  w->table = table;
  w->table_size = size;
}

/* Looks c up by id; called with the lock held. */
static iocpd_conn *table_find(iocpd__worker *w, uint64_t id) {
  iocpd_conn *c = w->table[bucket_of(id, w->table_size)];
  while (c != NULL && c->id != id) c = c->table_next;
  return c;
}

int iocpd__conn_register(iocpd_conn *c) {
  iocpd__worker *w = c->worker;
  size_t b;

  c->id = (++w->next_seq << IOCPD__ID_WORKER_BITS) | w->index;
  iocpd_mutex_lock(w->lock);
  if (w->table_count >= w->table_size) table_grow(w);
  b = bucket_of(c->id, w->table_size);
  c->table_next = w->table[b];
  w->table[b] = c;
  w->table_count++;
  iocpd_mutex_unlock(w->lock);
  return 0;
}

void iocpd__conn_mark_closing(iocpd_conn *c) {
  iocpd__worker *w = c->worker;
  if (c->closing) return;
  iocpd_mutex_lock(w->lock);
  c->closing = 1;
  iocpd_mutex_unlock(w->lock);
}

void iocpd__conn_unregister(iocpd_conn *c) {
  iocpd__worker *w = c->worker;
  iocpd_conn **p;

  iocpd_mutex_lock(w->lock);
  p = &w->table[bucket_of(c->id, w->table_size)];
  while (*p != NULL && *p != c) p = &(*p)->table_next;
  assert(*p == c);
  if (*p == c) {
    *p = c->table_next;
    w->table_count--;
  }
  iocpd_mutex_unlock(w->lock);
  iocpd__admit_forget(c);
}

/* Appends msg to the inbox; called with the lock held. Returns 1 if the
 * inbox was empty, i.e. the worker needs a wake-up: a non-empty inbox
 * already has one on its way, so there is one wake-up per batch. */
static int inbox_append(iocpd__worker *w, iocpd__msg *msg) {
  int was_empty = w->inbox_head == NULL;
  msg->next = NULL;
  if (was_empty) {
    w->inbox_head = msg;
  } else {
    w->inbox_tail->next = msg;
  }
  w->inbox_tail = msg;
  return was_empty;
}

void iocpd__worker_post(iocpd__worker *w, iocpd__msg *msg) {
  int wake;
  iocpd_mutex_lock(w->lock);
  wake = inbox_append(w, msg);
  iocpd_mutex_unlock(w->lock);
  if (wake) iocpd__loop_wakeup(w);
}

int iocpd_server_send(iocpd_server *s, uint64_t id, const void *data, size_t len) {
  unsigned index = IOCPD__ID_WORKER(id);
  iocpd__worker *w;
  iocpd__msg *msg;
  iocpd_conn *c;
  int wake;

  if (s == NULL || (data == NULL && len > 0) || len == 0) return IOCPD_EINVAL;
  if (index >= s->worker_count) return IOCPD_ENOTFOUND;
  w = &s->workers[index];
  msg = malloc(sizeof(*msg) + len);
  if (msg == NULL) return IOCPD_ENOMEM;
  memset(msg, 0, sizeof(*msg));
  msg->type = IOCPD__MSG_SEND;
  msg->id = id;
  msg->len = len;
  msg->data = (char *)(msg + 1);
  memcpy(msg->data, data, len);

  /* Look up and enqueue under one lock hold, so that a connection that is
   * open here is still in the table when its worker runs the message (it
   * may have started closing by then; the worker checks again). */
  iocpd_mutex_lock(w->lock);
  c = w->table != NULL ? table_find(w, id) : NULL;
  if (c == NULL || c->closing) {
    iocpd_mutex_unlock(w->lock);
    free(msg);
    return IOCPD_ENOTFOUND;
  }
  wake = inbox_append(w, msg);
  iocpd_mutex_unlock(w->lock);
  if (wake) iocpd__loop_wakeup(w);
  return 0;
}

/* Aborts every connection of w; returns how many accepted ones were open
 * (a relay's outbound connection is part of its client's). Iterating
 * the table directly is safe because iocpd_abort never frees a connection
 * synchronously: the final teardown always runs later from the loop. Only
 * this thread mutates the table, so no lock is needed to read it. */
static size_t abort_all(iocpd__worker *w, iocpd_end_reason reason) {
  size_t i, count = 0;
  for (i = 0; i < w->table_size; i++) {
    iocpd_conn *c;
    for (c = w->table[i]; c != NULL; c = c->table_next) {
      if (!c->outbound) count++;
      iocpd_conn_set_end_reason(c, reason);
      iocpd_abort(c);
    }
  }
  return count;
}

void iocpd__abort_retired(iocpd__worker *w, uint64_t now) {
  size_t i;
  uint64_t next = 0;
  for (i = 0; i < w->table_size; i++) {
    iocpd_conn *c;
    for (c = w->table[i]; c != NULL; c = c->table_next) {
      iocpd__listener *l = c->listener;
      if (!l->retired) continue;
      if (l->retire_deadline <= now) {
        iocpd_conn_set_end_reason(c, IOCPD_END_DRAIN_ABORT);
        iocpd_abort(c);
      } else if (next == 0 || l->retire_deadline < next) {
        next = l->retire_deadline;
      }
    }
  }
  w->drain_at = next;
}

/* Waits, on a worker's thread, until iocpd_server_update has changed the
 * listeners: no worker looks at them meanwhile. */
static void park(iocpd__worker *w) {
  iocpd_server *s = w->server;
  iocpd_mutex_lock(s->lock);
  s->workers_parked++;
  iocpd_cond_broadcast(s->changed);
  while (s->parking) iocpd_cond_wait(s->changed, s->lock, 1000);
  iocpd_mutex_unlock(s->lock);
}

/* Closes the retired listeners of w and sets when their connections are
 * aborted. */
static void close_retired(iocpd__worker *w) {
  iocpd__listener *l;
  for (l = w->server->retired; l != NULL; l = l->next_retired) {
    iocpd__generation *g;
    if (l->worker != w || l->generation == NULL) continue;
    if (l->open || l->started) iocpd__listener_close(l);
    /* A connection accepted in the meantime (an accept that completed as
     * the socket closed) is turned away, and the listener's settings are
     * no longer held by it: their release waits for its connections only. */
    iocpd_mutex_lock(w->server->lock);
    g = l->generation;
    l->generation = NULL;
    l->handler = &iocpd__silent_handler;
    l->handler_arg = NULL;
    iocpd_mutex_unlock(w->server->lock);
    iocpd__generation_unref(g);
  }
  /* Every worker may hold connections of a retired listener. */
  for (l = w->server->retired; l != NULL; l = l->next_retired) {
    if (w->drain_at == 0 || l->retire_deadline < w->drain_at) w->drain_at = l->retire_deadline;
  }
}

void iocpd__worker_run_inbox(iocpd__worker *w) {
  iocpd__msg *m, *next;

  iocpd_mutex_lock(w->lock);
  m = w->inbox_head;
  w->inbox_head = w->inbox_tail = NULL;
  iocpd_mutex_unlock(w->lock);

  for (; m != NULL; m = next) {
    next = m->next;
    switch (m->type) {
      case IOCPD__MSG_SEND: {
        iocpd_conn *c;
        iocpd_mutex_lock(w->lock);
        c = table_find(w, m->id);
        iocpd_mutex_unlock(w->lock);
        if (c != NULL && !c->closing) {
          iocpd__conn_send_msg(c, m);
        } else {
          free(m);
        }
        break;
      }
      case IOCPD__MSG_ADOPT: iocpd__conn_adopt(w, m->conn); break;
      case IOCPD__MSG_START_LISTENERS: {
        iocpd_server *s = w->server;
        size_t i, failed = 0;
        for (i = 0; i < s->listener_count; i++) {
          iocpd__listener *l = s->listeners[i];
          if (l->worker != w || l->started) continue;
          l->started = 1;
          if (iocpd__listener_start(l, &l->start_error) != 0) failed++;
        }
        /* New or changed listeners are due a health check now. */
        iocpd__health_run_checks(w, iocpd_now_ms());
        free(m);
        iocpd__server_ack(s, failed);
        break;
      }
      case IOCPD__MSG_CLOSE_LISTENERS: {
        iocpd_server *s = w->server;
        size_t i;
        for (i = 0; i < s->listener_count; i++) {
          if (s->listeners[i]->worker == w) iocpd__listener_close(s->listeners[i]);
        }
        free(m);
        iocpd__server_ack(s, 0);
        break;
      }
      case IOCPD__MSG_PARK:
        free(m);
        park(w);
        break;
      case IOCPD__MSG_CLOSE_RETIRED:
        close_retired(w);
        free(m);
        iocpd__server_ack(w->server, 0);
        break;
      case IOCPD__MSG_ABORT_ALL: {
        size_t n = abort_all(w, m->reason);
        free(m);
        iocpd__server_ack(w->server, n);
        break;
      }
      case IOCPD__MSG_RESUME_LISTENERS: {
        iocpd_server *s = w->server;
        size_t i;
        for (i = 0; i < s->listener_count; i++) {
          iocpd__listener *l = s->listeners[i];
          int resume;
          if (l->worker != w) continue;
          iocpd_mutex_lock(s->lock);
          resume = l->paused;
          l->paused = 0;
          l->resume_posted = 0;
          iocpd_mutex_unlock(s->lock);
          if (resume && l->open) iocpd__listener_resume(l);
        }
        free(m);
        break;
      }
      case IOCPD__MSG_QUIT:
        w->quit = 1;
        free(m);
        break;
    }
  }
}

iocpd__worker *iocpd__next_worker(iocpd_server *s) {
  int64_t n = iocpd__atomic_add(&s->next_worker, 1);
  return &s->workers[(uint64_t)n % s->worker_count];
}
