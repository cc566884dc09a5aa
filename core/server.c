/*
 * Server lifecycle, shared by both backends: create (all or nothing),
 * close listeners, drain, abort and destroy.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* A handler for connections nobody serves */

static int silent_accept(iocpd_conn *c) {
  (void)c;
  return IOCPD_ECLOSED;
}

const iocpd_handler iocpd__silent_handler = {.name = "closing", .on_accept = silent_accept};

/* ------------------------------------------------------------------------ */
/* Counting and acknowledgements */

void iocpd__server_outbound_added(iocpd_server *s) {
  iocpd_mutex_lock(s->lock);
  s->open_all++;
  iocpd_mutex_unlock(s->lock);
}

void iocpd__server_ack(iocpd_server *s, size_t result) {
  iocpd_mutex_lock(s->lock);
  assert(s->acks_pending > 0);
  s->acks_pending--;
  s->ack_result += result;
  iocpd_cond_broadcast(s->changed);
  iocpd_mutex_unlock(s->lock);
}

/* Sends a message of `type` to every worker and waits until each has run
 * it; returns the sum of what the workers reported. */
static size_t broadcast(iocpd_server *s, iocpd__msg_type type, iocpd_end_reason reason) {
  unsigned i;
  size_t result;
  iocpd__msg *msgs[IOCPD__MAX_WORKERS];

  for (i = 0; i < s->worker_count; i++) {
    /* A broadcast must not be lost to a failed allocation: retry, since
     * the alternative is a server that cannot stop. */
    while ((msgs[i] = calloc(1, sizeof(iocpd__msg))) == NULL) {
      iocpd_mutex_lock(s->lock);
      iocpd_cond_wait(s->changed, s->lock, 10);
      iocpd_mutex_unlock(s->lock);
    }
    msgs[i]->type = type;
    msgs[i]->reason = reason;
  }
  iocpd_mutex_lock(s->control);
  iocpd_mutex_lock(s->lock);
  s->acks_pending = s->worker_count;
  s->ack_result = 0;
  iocpd_mutex_unlock(s->lock);
  for (i = 0; i < s->worker_count; i++) iocpd__worker_post(&s->workers[i], msgs[i]);
  iocpd_mutex_lock(s->lock);
  while (s->acks_pending > 0) iocpd_cond_wait(s->changed, s->lock, 1000);
  result = s->ack_result;
  iocpd_mutex_unlock(s->lock);
  iocpd_mutex_unlock(s->control);
  return result;
}

size_t iocpd__broadcast(iocpd_server *s, iocpd__msg_type type) {
  return broadcast(s, type, IOCPD_END_UNKNOWN);
}

/* ------------------------------------------------------------------------ */
/* Create and destroy */

void iocpd__worker_main(void *arg) { iocpd__loop_run(arg); }

static void set_error(iocpd_error_info *err, int code, const char *message) {
  if (err == NULL) return;
  err->code = code;
  err->os_error = 0;
  snprintf(err->message, sizeof(err->message), "%s", message);
}

static int validate_options(const iocpd_server_options *o, iocpd_error_info *err) {
  size_t i;
  if (o == NULL || o->listeners == NULL || o->listener_count == 0) {
    set_error(err, IOCPD_EINVAL, "no listeners given");
    return IOCPD_EINVAL;
  }
  for (i = 0; i < o->listener_count; i++) {
    const iocpd_listener_options *l = &o->listeners[i];
    if (l->name == NULL || l->handler == NULL || l->handler->on_accept == NULL ||
        (l->addr.family != IOCPD_AF_INET && l->addr.family != IOCPD_AF_INET6)) {
      set_error(err, IOCPD_EINVAL,
                "a listener lacks a name, a handler with on_accept or an address");
      return IOCPD_EINVAL;
    }
    if (iocpd__udp_options_check(l, err) != 0) return IOCPD_EINVAL;
  }
  return 0;
}

/* Frees what create built, in reverse order. Each step checks what exists,
 * so this serves both a failed create and destroy. Worker threads must
 * already be joined. */
static void server_free(iocpd_server *s) {
  size_t i;
  if (s->listeners != NULL) {
    for (i = 0; i < s->listener_count; i++) iocpd__listener_free(s->listeners[i]);
    free(s->listeners);
  }
  while (s->retired != NULL) {
    iocpd__listener *l = s->retired;
    s->retired = l->next_retired;
    iocpd__listener_free(l);
  }
  if (s->workers != NULL) {
    for (i = 0; i < s->worker_count; i++) {
      iocpd__worker *w = &s->workers[i];
      if (w->table != NULL) {
        iocpd__loop_free(w);
        iocpd__worker_table_free(w);
      }
      iocpd_mutex_destroy(w->lock);
    }
    free(s->workers);
  }
  iocpd__stats_free(s);
  iocpd_cond_destroy(s->changed);
  iocpd_mutex_destroy(s->lock);
  iocpd_mutex_destroy(s->control);
  free(s);
  iocpd__backend_cleanup();
}

static int create_workers(iocpd_server *s, unsigned count, iocpd_error_info *err) {
  unsigned i;
  s->workers = calloc(count, sizeof(*s->workers));
  if (s->workers == NULL) goto nomem;
  s->worker_count = count;
  for (i = 0; i < count; i++) {
    iocpd__worker *w = &s->workers[i];
    int rc;
    w->server = s;
    w->index = i;
    w->lock = iocpd_mutex_create();
    if (w->lock == NULL) goto nomem;
    if (iocpd__worker_table_init(w) != 0) goto nomem;
    rc = iocpd__loop_init(w);
    if (rc != 0) {
      iocpd__worker_table_free(w);
      set_error(err, rc, "cannot create an event loop");
      return rc;
    }
  }
  return 0;
nomem:
  set_error(err, IOCPD_ENOMEM, "out of memory");
  return IOCPD_ENOMEM;
}

/* ------------------------------------------------------------------------ */
/* Listeners and their settings */

iocpd__generation *iocpd__generation_new(void (*release)(void *), void *arg) {
  iocpd__generation *g = calloc(1, sizeof(*g));
  if (g == NULL) return NULL;
  g->refs = 1;
  g->release = release;
  g->release_arg = arg;
  return g;
}

void iocpd__generation_ref(iocpd__generation *g) {
  if (g != NULL) iocpd__atomic_add(&g->refs, 1);
}

void iocpd__generation_unref(iocpd__generation *g) {
  /* iocpd__atomic_add returns the new value. */
  if (g == NULL || iocpd__atomic_add(&g->refs, -1) != 0) return;
  if (g->release != NULL) g->release(g->release_arg);
  free(g);
}

/* A copy of n items of size bytes at src in *out (NULL when n is 0).
 * Returns 0 or IOCPD_ENOMEM. */
static int dup_items(const void *src, size_t n, size_t size, void *out) {
  void *copy = NULL;
  if (n > 0) {
    copy = malloc(n * size);
    if (copy == NULL) return IOCPD_ENOMEM;
    memcpy(copy, src, n * size);
  }
  memcpy(out, &copy, sizeof(copy));
  return 0;
}

/* Sets what l hands to new connections, and its limits, allow/deny and
 * trusted-proxy lists, from o; the lists are copied, the old ones freed.
 * Returns 0 or IOCPD_ENOMEM with l unchanged. Server lock held once l is
 * in use. */
int iocpd__listener_configure(iocpd__listener *l, const iocpd_listener_options *o,
                              iocpd__generation *g) {
  iocpd_cidr *allow = NULL, *deny = NULL, *trusted = NULL;
  iocpd_addr *targets = NULL;
  if (dup_items(o->health_targets, o->health_target_count, sizeof(*targets), &targets) != 0 ||
      dup_items(o->allow, o->allow_count, sizeof(*allow), &allow) != 0 ||
      dup_items(o->deny, o->deny_count, sizeof(*deny), &deny) != 0 ||
      dup_items(o->proxy_trusted, o->proxy_trusted_count, sizeof(*trusted), &trusted) != 0) {
    free(targets);
    free(allow);
    free(deny);
    return IOCPD_ENOMEM;
  }
  free(l->allow);
  free(l->deny);
  free(l->proxy_trusted);
  free(l->health_targets);
  l->health_targets = targets;
  l->health_target_count = o->health_target_count;
  l->health_interval_ms = o->health_interval_ms;
  l->health_timeout_ms = o->health_timeout_ms != 0 ? o->health_timeout_ms : o->health_interval_ms;
  l->rise = o->rise != 0 ? o->rise : 1;
  l->fall = o->fall != 0 ? o->fall : 1;
  l->health_send_proxy = o->health_send_proxy;
  l->health_next = 0; /* check soon with the new settings */
  l->allow = allow;
  l->allow_count = o->allow_count;
  l->deny = deny;
  l->deny_count = o->deny_count;
  l->accept_proxy = o->accept_proxy & (IOCPD_PROXY_V1 | IOCPD_PROXY_V2);
  l->proxy_trusted = trusted;
  l->proxy_trusted_count = o->proxy_trusted_count;
  l->proxy_timeout_ms =
      o->proxy_timeout_ms != 0 ? o->proxy_timeout_ms : IOCPD_DEFAULT_PROXY_TIMEOUT_MS;
  l->max_conns = o->max_connections;
  l->max_per_ip = o->max_connections_per_ip;
  l->max_fails = o->max_fails;
  l->fail_timeout_ms = o->fail_timeout_ms != 0 ? o->fail_timeout_ms : IOCPD_DEFAULT_FAIL_TIMEOUT_MS;
  l->handler = o->handler;
  l->handler_arg = o->handler_arg;
  l->buffer_size = o->buffer_size != 0 ? o->buffer_size : IOCPD__DEFAULT_BUFFER_SIZE;
  l->udp_idle_ms = IOCPD_DEFAULT_UDP_IDLE_TIMEOUT_MS;
  /* Workers are parked (or not started) now: have the owner look at its
   * sessions' expiry again, under the timeout set below. */
  if (l->udp && l->worker != NULL && l->worker->udp_at != 0) l->worker->udp_at = 1;
  if (o->protocol == IOCPD_UDP && o->handler == &iocpd_forward_handler && o->handler_arg != NULL) {
    const iocpd_forward_options *f = o->handler_arg;
    if (f->idle_timeout_ms != 0) l->udp_idle_ms = f->idle_timeout_ms;
  }
  iocpd__generation_ref(g);
  iocpd__generation_unref(l->generation);
  l->generation = g;
  return 0;
}

iocpd__listener *iocpd__listener_new(iocpd_server *s, const iocpd_listener_options *o,
                                     iocpd__worker *w, iocpd__generation *g) {
  iocpd__listener *l = calloc(1, sizeof(*l));
  size_t n = strlen(o->name) + 1;
  if (l == NULL) return NULL;
  l->server = s;
  l->worker = w;
  l->addr = o->addr;
  l->dual_stack = o->dual_stack != 0;
  l->udp = o->protocol == IOCPD_UDP;
  l->name = malloc(n);
  if (l->name == NULL || iocpd__listener_configure(l, o, g) != 0) {
    iocpd__listener_free(l);
    return NULL;
  }
  memcpy(l->name, o->name, n);
  return l;
}

void iocpd__listener_free(iocpd__listener *l) {
  if (l == NULL) return;
  /* Never bound (its socket fields are still zero) or already closed by
   * a failed bind: nothing to close. */
  if (l->open || l->started) iocpd__listener_close(l);
  iocpd__admit_free(l);
  iocpd__health_free(l);
  iocpd__generation_unref(l->generation);
  free(l->name);
  free(l);
}

static int create_listeners(iocpd_server *s, const iocpd_server_options *o, iocpd__generation *g,
                            iocpd_error_info *err) {
  size_t i;
  int rc = 0;
  s->listeners = calloc(o->listener_count, sizeof(*s->listeners));
  if (s->listeners == NULL) goto nomem;
  for (i = 0; i < o->listener_count; i++) {
    iocpd__listener *l =
        iocpd__listener_new(s, &o->listeners[i], &s->workers[i % s->worker_count], g);
    if (l == NULL) goto nomem;
    s->listeners[s->listener_count++] = l;
    rc = iocpd__listener_bind(l, err);
    if (rc != 0) break;
  }
  return rc;
nomem:
  set_error(err, IOCPD_ENOMEM, "out of memory");
  return IOCPD_ENOMEM;
}

/* Stops and joins the first `started` worker threads. */
static void join_workers(iocpd_server *s, unsigned started) {
  unsigned i;
  for (i = 0; i < started; i++) {
    iocpd__msg *m;
    while ((m = calloc(1, sizeof(*m))) == NULL) {
      iocpd_mutex_lock(s->lock);
      iocpd_cond_wait(s->changed, s->lock, 10);
      iocpd_mutex_unlock(s->lock);
    }
    m->type = IOCPD__MSG_QUIT;
    iocpd__worker_post(&s->workers[i], m);
  }
  for (i = 0; i < started; i++) {
    iocpd_thread_join(s->workers[i].thread);
    s->workers[i].thread = NULL;
  }
}

/* Waits until every connection, accepted or outbound, is freed. */
static void wait_all_gone(iocpd_server *s) {
  iocpd_mutex_lock(s->lock);
  while (s->open_all > 0) iocpd_cond_wait(s->changed, s->lock, 1000);
  iocpd_mutex_unlock(s->lock);
}

/* Ends every connection and joins the workers: the common tail of destroy
 * and of a create that failed after its threads started. */
static void stop_everything(iocpd_server *s) {
  iocpd_server_close_listeners(s);
  broadcast(s, IOCPD__MSG_ABORT_ALL, IOCPD_END_SHUTDOWN);
  wait_all_gone(s);
  join_workers(s, s->worker_count);
}

int iocpd_server_create(const iocpd_server_options *o, iocpd_server **out, iocpd_error_info *err) {
  iocpd_server *s;
  iocpd__generation *g;
  unsigned count, i;
  size_t k;
  int rc;

  if (err != NULL) memset(err, 0, sizeof(*err));
  if (out == NULL || o == NULL) return IOCPD_EINVAL;
  rc = validate_options(o, err);
  if (rc == 0) rc = iocpd__backend_init(err);
  if (rc != 0) {
    if (o->release != NULL) o->release(o->release_arg);
    return rc;
  }

  /* The settings' generation: from here on, its last reference calls
   * release, whether create succeeds or not. */
  g = iocpd__generation_new(o->release, o->release_arg);
  s = calloc(1, sizeof(*s));
  if (s == NULL || g == NULL) {
    free(s);
    iocpd__backend_cleanup();
    if (g != NULL) {
      iocpd__generation_unref(g);
    } else if (o->release != NULL) {
      o->release(o->release_arg);
    }
    set_error(err, IOCPD_ENOMEM, "out of memory");
    return IOCPD_ENOMEM;
  }
  s->log = o->log;
  s->log_event = o->log_event;
  s->log_arg = o->log_arg;
  s->log_level = o->log_level;
  s->max_conns = o->max_connections;
  s->on_access = o->on_access;
  s->access_arg = o->access_arg;
  s->close_linger_ms = o->close_linger_ms != 0 ? o->close_linger_ms : IOCPD_DEFAULT_CLOSE_LINGER_MS;
  s->lock = iocpd_mutex_create();
  s->control = iocpd_mutex_create();
  s->changed = iocpd_cond_create();
  if (s->lock == NULL || s->control == NULL || s->changed == NULL) {
    set_error(err, IOCPD_ENOMEM, "out of memory");
    rc = IOCPD_ENOMEM;
    goto fail;
  }

  count = o->workers != 0 ? o->workers : iocpd__cpu_count();
  if (count > IOCPD__MAX_WORKERS) count = IOCPD__MAX_WORKERS;
  rc = create_workers(s, count, err);
  if (rc != 0) goto fail;
  /* Bind every listener before accepting on any, so that a bad address
   * fails the whole start with nothing served. */
  rc = create_listeners(s, o, g, err);
  if (rc != 0) goto fail;

  for (i = 0; i < s->worker_count; i++) {
    s->workers[i].thread = iocpd_thread_start(iocpd__worker_main, &s->workers[i]);
    if (s->workers[i].thread == NULL) {
      join_workers(s, i);
      set_error(err, IOCPD_ENOMEM, "cannot start a worker thread");
      rc = IOCPD_ENOMEM;
      goto fail;
    }
  }

  /* Each worker starts accepting on its own listeners, on its own thread. */
  if (broadcast(s, IOCPD__MSG_START_LISTENERS, IOCPD_END_UNKNOWN) > 0) {
    for (k = 0; k < s->listener_count; k++) {
      if (s->listeners[k]->start_error.code != 0) {
        if (err != NULL) *err = s->listeners[k]->start_error;
        rc = s->listeners[k]->start_error.code;
        break;
      }
    }
    stop_everything(s);
    goto fail;
  }
  iocpd__generation_unref(g);
  *out = s;
  return 0;

fail:
  server_free(s);
  iocpd__generation_unref(g);
  return rc;
}

void iocpd_server_close_listeners(iocpd_server *s) {
  int closed;
  iocpd_mutex_lock(s->lock);
  closed = s->listeners_closed;
  s->listeners_closed = 1;
  iocpd_mutex_unlock(s->lock);
  if (!closed) broadcast(s, IOCPD__MSG_CLOSE_LISTENERS, IOCPD_END_UNKNOWN);
}

unsigned iocpd_server_worker_count(const iocpd_server *s) { return s->worker_count; }

size_t iocpd_server_connection_count(iocpd_server *s) {
  size_t n;
  iocpd_mutex_lock(s->lock);
  n = s->open_accepted;
  iocpd_mutex_unlock(s->lock);
  return n;
}

size_t iocpd_server_wait(iocpd_server *s, size_t below, uint32_t timeout_ms) {
  size_t n;
  iocpd_mutex_lock(s->lock);
  if (s->open_accepted >= below) iocpd_cond_wait(s->changed, s->lock, timeout_ms);
  n = s->open_accepted;
  iocpd_mutex_unlock(s->lock);
  return n;
}

size_t iocpd_server_abort_all(iocpd_server *s) {
  return broadcast(s, IOCPD__MSG_ABORT_ALL, IOCPD_END_SHUTDOWN);
}

void iocpd_server_drain(iocpd_server *s, uint32_t drain_ms, iocpd_drain_progress_fn progress,
                        void *progress_arg, iocpd_drain_stats *stats) {
  uint64_t start = iocpd_now_ms(), deadline = start + drain_ms, now;
  size_t open_at_stop, open, aborted = 0;

  iocpd_server_close_listeners(s);
  open_at_stop = open = iocpd_server_connection_count(s);
  while (open > 0 && (now = iocpd_now_ms()) < deadline) {
    uint64_t left = deadline - now;
    size_t before = open;
    open = iocpd_server_wait(s, open, (uint32_t)(left < 1000 ? left : 1000));
    if (progress != NULL && (open < before || open > 0)) progress(progress_arg, open);
  }
  if (open > 0) aborted = broadcast(s, IOCPD__MSG_ABORT_ALL, IOCPD_END_DRAIN_ABORT);
  /* Aborted connections go quickly, but each must still see its last
   * completion before it is freed; relays' outbound connections may still
   * be finishing their own close. */
  wait_all_gone(s);
  if (stats != NULL) {
    stats->open_at_stop = open_at_stop;
    stats->aborted = aborted < open_at_stop ? aborted : open_at_stop;
    stats->drained = open_at_stop - stats->aborted;
    stats->duration_ms = iocpd_now_ms() - start;
  }
}

void iocpd_server_destroy(iocpd_server *s) {
  if (s == NULL) return;
  stop_everything(s);
  server_free(s);
}
