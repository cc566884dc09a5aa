/*
 * Per-connection timers: each worker keeps a binary min-heap of the
 * connections whose timer is armed, ordered by due time. The loop sleeps
 * until the earliest one and fires what is due.
 *
 * Re-arming later, as an idle timeout does on every chunk, only notes the
 * new time (timer_want) and leaves the heap alone: when the old entry comes
 * due it is pushed back to the wanted time instead of firing. So the data
 * path costs a store, not a heap operation; only arming earlier moves the
 * entry at once. Times come from the worker's clock of the current loop
 * pass, read once per pass.
 */
#include <limits.h>
#include <stdlib.h>

#include "internal.h"

#define HEAP_INITIAL 64

static uint64_t due(iocpd__worker *w, size_t i) { return w->timers[i]->timer_due; }

static void place(iocpd__worker *w, size_t i, iocpd_conn *c) {
  w->timers[i] = c;
  c->timer_slot = i + 1;
}

static void sift_up(iocpd__worker *w, size_t i) {
  iocpd_conn *c = w->timers[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (due(w, parent) <= c->timer_due) break;
    place(w, i, w->timers[parent]);
    i = parent;
  }
  place(w, i, c);
}

static void sift_down(iocpd__worker *w, size_t i) {
  iocpd_conn *c = w->timers[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= w->timer_count) break;
    if (child + 1 < w->timer_count && due(w, child + 1) < due(w, child)) child++;
    if (c->timer_due <= due(w, child)) break;
    place(w, i, w->timers[child]);
    i = child;
  }
  place(w, i, c);
}

void iocpd__timer_remove(iocpd_conn *c) {
  iocpd__worker *w = c->worker;
  size_t i;
  if (c->timer_slot == 0) return;
  i = c->timer_slot - 1;
  c->timer_slot = 0;
  if (--w->timer_count == i) return;
  place(w, i, w->timers[w->timer_count]);
  sift_down(w, i);
  sift_up(w, w->timers[i]->timer_slot - 1);
}

int iocpd_conn_set_timer(iocpd_conn *c, uint32_t ms) {
  iocpd__worker *w = c->worker;
  uint64_t want;

  if (ms == 0) {
    iocpd__timer_remove(c);
    return 0;
  }
  if (c->timer_slot != 0) {
    /* A re-arm (idle timers, on every chunk moved): the pass's cached
     * clock is enough, it can only make a long timeout a pass early. */
    want = (w->now_ms != 0 ? w->now_ms : iocpd_now_ms()) + ms;
    c->timer_want = want;
    if (want < c->timer_due) {
      c->timer_due = want;
      sift_up(w, c->timer_slot - 1);
    }
    return 0;
  }
  /* A new timer: the clock now, not the pass's cached one, which a long
   * pass (many connections, a slow build) leaves behind by its length:
   * a silent client would be closed before its handshake_timeout. */
  want = iocpd_now_ms() + ms;
  c->timer_want = want;
  c->timer_due = want;
  if (w->timer_count == w->timer_cap) {
    size_t cap = w->timer_cap ? w->timer_cap * 2 : HEAP_INITIAL;
    iocpd_conn **grown = realloc(w->timers, cap * sizeof(*grown));
    if (grown == NULL) return IOCPD_ENOMEM;
    w->timers = grown;
    w->timer_cap = cap;
  }
  place(w, w->timer_count, c);
  w->timer_count++;
  sift_up(w, w->timer_count - 1);
  return 0;
}

/* How often a closing connection's writes are looked at, in parts of the
 * linger: a stuck close is reset between 1 and 1 + 1/LINGER_LOOKS lingers
 * after its last progress. */
#define LINGER_LOOKS 4

static uint64_t worker_now(iocpd__worker *w) { return w->now_ms != 0 ? w->now_ms : iocpd_now_ms(); }

/* Arms c's timer for the next look at its writes, `left` ms of linger
 * from now at most. */
static void linger_arm(iocpd_conn *c, uint64_t left) {
  uint32_t linger = c->worker->server->close_linger_ms;
  uint32_t look = linger / LINGER_LOOKS != 0 ? linger / LINGER_LOOKS : 1;
  if (iocpd_conn_set_timer(c, left < look ? (uint32_t)left : look) != 0) iocpd_abort(c);
}

void iocpd__linger_start(iocpd_conn *c) {
  if (c->wq_head == NULL) return;
  c->linger_mark = c->bytes_out;
  c->linger_since = worker_now(c->worker);
  linger_arm(c, c->worker->server->close_linger_ms);
}

/* A closing connection's timer came due: if its queued writes have moved
 * since the last look, the linger starts over; once they have not moved
 * for a whole linger, the peer has stopped reading, and the close becomes
 * an abort. */
static void linger_expired(iocpd_conn *c) {
  iocpd_server *s = c->worker->server;
  uint64_t now = worker_now(c->worker), still;
  if (c->wq_head == NULL) return; /* flushed: the socket is closing anyway */
  if (c->bytes_out != c->linger_mark) {
    c->linger_mark = c->bytes_out;
    c->linger_since = now;
  }
  still = now - c->linger_since;
  if (still < s->close_linger_ms) {
    linger_arm(c, s->close_linger_ms - still);
    return;
  }
  if (iocpd_server_log_enabled(s, IOCPD_LOG_DEBUG)) {
    char peer[IOCPD_ADDR_STRLEN];
    iocpd__log(s, IOCPD_LOG_DEBUG, "listener %s: %s took no data for %llu ms while closing: reset",
               c->listener->name, iocpd_addr_format(&c->peer, peer), (unsigned long long)still);
  }
  iocpd_abort(c);
}

/* How long a listener that ran out of resources waits before retrying. */
#define LISTENER_RETRY_MS 200

void iocpd__listener_retry_later(iocpd__listener *l, const char *what, long os_error) {
  iocpd__worker *w = l->worker;
  uint64_t now = iocpd_now_ms();
  l->retry = 1;
  if (w->retry_at == 0) w->retry_at = now + LISTENER_RETRY_MS;
  if (now - l->last_retry_log_ms >= 1000 || l->last_retry_log_ms == 0) {
    char text[160];
    iocpd__os_strerror(os_error, text, sizeof(text));
    l->last_retry_log_ms = now;
    iocpd__log(l->server, IOCPD_LOG_WARNING, "listener %s: %s: %s; retrying", l->name, what, text);
  }
}

/* Resumes the listeners waiting for a retry, if it is time. */
static void retry_listeners(iocpd__worker *w, uint64_t now) {
  iocpd_server *s = w->server;
  size_t i;
  if (w->retry_at == 0 || now < w->retry_at) return;
  w->retry_at = 0;
  for (i = 0; i < s->listener_count; i++) {
    iocpd__listener *l = s->listeners[i];
    if (l->worker != w || !l->retry) continue;
    l->retry = 0;
    if (l->open) iocpd__listener_resume(l);
  }
}

int iocpd__timers_timeout(iocpd__worker *w) {
  uint64_t now, first;
  if (w->timer_count == 0 && w->retry_at == 0 && w->drain_at == 0 && w->health_at == 0 &&
      w->udp_at == 0)
    return -1;
  now = iocpd_now_ms();
  first = w->timer_count > 0 ? due(w, 0) : UINT64_MAX;
  if (w->retry_at != 0 && w->retry_at < first) first = w->retry_at;
  if (w->drain_at != 0 && w->drain_at < first) first = w->drain_at;
  if (w->health_at != 0 && w->health_at < first) first = w->health_at;
  if (w->udp_at != 0 && w->udp_at < first) first = w->udp_at;
  if (first <= now) return 0;
  return first - now > INT_MAX ? INT_MAX : (int)(first - now);
}

void iocpd__timers_run(iocpd__worker *w) {
  uint64_t now = iocpd_now_ms();
  w->now_ms = now;
  retry_listeners(w, now);
  if (w->drain_at != 0 && now >= w->drain_at) iocpd__abort_retired(w, now);
  if (w->health_at != 0 && now >= w->health_at) iocpd__health_run_checks(w, now);
  if (w->udp_at != 0 && now >= w->udp_at) iocpd__udp_expire(w, now);
  while (w->timer_count > 0 && due(w, 0) <= now) {
    iocpd_conn *c = w->timers[0];
    if (c->timer_want > now) {
      /* Re-armed since it was placed: move it to the wanted time. */
      c->timer_due = c->timer_want;
      sift_down(w, 0);
      continue;
    }
    iocpd__timer_remove(c);
    /* After close or abort the handler hears nothing but on_closed; the
     * timer then serves the close linger. */
    if (c->closing) {
      linger_expired(c);
    } else if (c->handler->on_timer != NULL) {
      c->handler->on_timer(c);
    }
  }
}

void iocpd__timers_free(iocpd__worker *w) {
  free(w->timers);
  w->timers = NULL;
  w->timer_count = w->timer_cap = 0;
}
