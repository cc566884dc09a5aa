/*
 * Counters for monitoring and records for access logs.
 *
 * Bytes are counted on every read and write, by the connection's own
 * worker, with one atomic add on the listener's counter: no lock on the
 * data path. Everything counted once per connection (durations, failed
 * connects) is updated under the server lock, which accept and close take
 * anyway.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const double iocpd_duration_bounds[IOCPD_DURATION_BUCKETS] = {0.005, 0.05, 0.25, 1,    5,
                                                              30,    60,   300,  1800, 3600};

static const char *const end_names[] = {"-",
                                        "client_fin",
                                        "upstream_fin",
                                        "client_reset",
                                        "upstream_reset",
                                        "idle_timeout",
                                        "handshake_timeout",
                                        "connect_failed",
                                        "denied",
                                        "limit",
                                        "drain_abort",
                                        "shutdown",
                                        "proxy_error"};

const char *iocpd_end_reason_name(iocpd_end_reason reason) {
  if ((size_t)reason >= sizeof(end_names) / sizeof(end_names[0])) return "-";
  return end_names[reason];
}

void iocpd_conn_set_end_reason(iocpd_conn *c, iocpd_end_reason reason) {
  if (c->end_reason == IOCPD_END_UNKNOWN) c->end_reason = reason;
}

iocpd_end_reason iocpd_conn_end_reason(const iocpd_conn *c) { return c->end_reason; }

uint64_t iocpd_conn_start_time(const iocpd_conn *c) { return c->start_ms; }

void iocpd__conn_started(iocpd_conn *c) {
  c->start_ms = iocpd_wall_ms();
  c->start_mono_ms = iocpd_now_ms();
}

void iocpd__count_bytes(iocpd_conn *c, int incoming, size_t n) {
  int which;
  if (incoming) {
    c->bytes_in += n;
    which = c->outbound ? IOCPD__BYTES_DOWN : IOCPD__BYTES_IN;
  } else {
    c->bytes_out += n;
    which = c->outbound ? IOCPD__BYTES_UP : IOCPD__BYTES_OUT;
  }
  iocpd__atomic_add(&c->listener->bytes[which], (int64_t)n);
}

/* Server lock held. */
static void count_failure(iocpd_server *s, iocpd__listener *l, const iocpd_addr *to) {
  size_t i;
  for (i = 0; i < s->failure_count; i++) {
    iocpd_connect_failures *f = &s->failures[i];
    if (f->listener == l->name && iocpd__addr_equal(&f->upstream, to)) {
      f->count++;
      return;
    }
  }
  if (s->failure_count == s->failure_cap) {
    size_t cap = s->failure_cap ? s->failure_cap * 2 : 16;
    iocpd_connect_failures *grown = realloc(s->failures, cap * sizeof(*grown));
    if (grown == NULL) return; /* a counter lost is better than a failure */
    s->failures = grown;
    s->failure_cap = cap;
  }
  s->failures[s->failure_count].listener = l->name;
  s->failures[s->failure_count].upstream = *to;
  s->failures[s->failure_count].count = 1;
  s->failure_count++;
}

void iocpd__count_fd_exhausted(iocpd__listener *l, int pipe) {
  iocpd_mutex_lock(l->server->lock);
  if (pipe) {
    l->stats.fd_exhausted_pipe++;
  } else {
    l->stats.fd_exhausted_accept++;
  }
  iocpd_mutex_unlock(l->server->lock);
}

void iocpd__count_connect_failure(iocpd__listener *l, const iocpd_addr *to) {
  int down;
  iocpd_mutex_lock(l->server->lock);
  count_failure(l->server, l, to);
  down = iocpd__health_failed(l, to);
  iocpd_mutex_unlock(l->server->lock);
  if (down) iocpd__health_log_down(l, to);
}

int iocpd__count_closed(iocpd_conn *c) {
  iocpd__listener *l = c->listener;
  if (c->check) return 0; /* health checks are not traffic (health.c) */
  if (c->outbound) {
    /* An outbound connection that never got established is a failed
     * attempt, whether refused, unreachable or given up (timeout). */
    if (!c->established) {
      count_failure(l->server, l, &c->peer);
      return iocpd__health_failed(l, &c->peer);
    }
  } else {
    uint64_t ms = iocpd_now_ms() - c->start_mono_ms;
    size_t b = 0;
    while (b < IOCPD_DURATION_BUCKETS && (double)ms / 1000.0 > iocpd_duration_bounds[b]) b++;
    l->stats.duration_buckets[b]++;
    l->stats.duration_sum_ms += ms;
  }
  return 0;
}

void iocpd__stats_free(iocpd_server *s) {
  free(s->failures);
  s->failures = NULL;
  s->failure_count = s->failure_cap = 0;
}

size_t iocpd_server_connect_failures(iocpd_server *s, iocpd_connect_failures *out, size_t max) {
  size_t n;
  iocpd_mutex_lock(s->lock);
  n = s->failure_count;
  if (out != NULL && n > 0) memcpy(out, s->failures, (n < max ? n : max) * sizeof(*out));
  iocpd_mutex_unlock(s->lock);
  return n;
}

void iocpd_conn_access_record(const iocpd_conn *c, iocpd_access_record *r) {
  memset(r, 0, sizeof(*r));
  r->listener = c->listener->name;
  r->client = c->peer;
  r->bytes_in = c->bytes_in;
  r->bytes_out = c->bytes_out;
  r->start_ms = c->start_ms;
  r->duration_ms = iocpd_now_ms() - c->start_mono_ms;
  r->end = c->end_reason;
  r->has_proxy = c->proxied;
  r->proxy = c->proxy_peer;
}

void iocpd_server_report_access(iocpd_server *s, const iocpd_access_record *record) {
  if (s->on_access != NULL) s->on_access(s->access_arg, record);
}
