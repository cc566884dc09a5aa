/*
 * UDP listeners: what both backends share.
 *
 * A UDP listener is one datagram socket, owned by one worker like a TCP
 * listener. With the echo handler it keeps no state: each datagram goes
 * back to its source. With the forward handler each client address and
 * port has a session: a socket of its own connected to one upstream, so
 * that a reply read there can only belong to that client. Sessions live
 * in the listener's table and in a list ordered by last activity, both
 * touched by the owner worker only; the oldest are ended once idle past
 * the listener's timeout. The backends (posix/udp.c, win/udp.c) move the
 * datagrams; this file decides who may send, which session a datagram
 * belongs to, where it goes and when a session ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define UDP_FIRST_BUCKETS 64

static const char *const drop_names[IOCPD_UDP_DROP_KINDS] = {"denied",     "sessions", "per_ip",
                                                             "queue_full", "upstream", "no_memory"};

const char *iocpd_udp_drop_name(int reason) {
  if (reason < 0 || reason >= IOCPD_UDP_DROP_KINDS) return "-";
  return drop_names[reason];
}

static int refuse(const iocpd_listener_options *o, iocpd_error_info *err, const char *what) {
  if (err != NULL) {
    err->code = IOCPD_EINVAL;
    err->os_error = 0;
    snprintf(err->message, sizeof(err->message), "listener %s (UDP): %s", o->name, what);
  }
  return IOCPD_EINVAL;
}

int iocpd__udp_options_check(const iocpd_listener_options *o, iocpd_error_info *err) {
  const iocpd_forward_options *f = o->handler_arg;
  if (o->protocol == IOCPD_TCP) return 0;
  if (o->protocol != IOCPD_UDP) return refuse(o, err, "unknown protocol");
  if (o->handler != &iocpd_echo_handler && o->handler != &iocpd_forward_handler)
    return refuse(o, err, "only the echo and forward handlers serve datagrams");
  if (o->handler == &iocpd_forward_handler &&
      (f == NULL || f->upstream_count == 0 || f->upstreams == NULL))
    return refuse(o, err, "forward needs at least one upstream");
  if (o->handler == &iocpd_forward_handler && (f->send_proxy != 0 || f->handshake_timeout_ms != 0))
    return refuse(o, err, "PROXY headers and handshake timeouts are for TCP");
  if (o->accept_proxy != 0 || o->health_interval_ms != 0 || o->buffer_size != 0)
    return refuse(o, err, "accept_proxy, active health checks and buffer_size are for TCP");
  return 0;
}

int iocpd__udp_is_echo(const iocpd__listener *l) { return l->handler == &iocpd_echo_handler; }

void iocpd__udp_count(iocpd__listener *l, iocpd__udp_session *s, int which, uint64_t n,
                      uint64_t bytes) {
  if (n == 0) return;
  iocpd__atomic_add(&l->datagrams[which], (int64_t)n);
  iocpd__atomic_add(&l->bytes[which], (int64_t)bytes);
  if (s != NULL) {
    s->datagrams[which] += n;
    s->bytes[which] += bytes;
  }
}

void iocpd__udp_count_session(iocpd__udp_session *s, int which, uint64_t bytes) {
  s->datagrams[which]++;
  s->bytes[which] += bytes;
}

void iocpd__udp_drop(iocpd__listener *l, int reason, uint64_t n) {
  if (n > 0) iocpd__atomic_add(&l->udp_dropped[reason], (int64_t)n);
}

/* ------------------------------------------------------------------------ */
/* The table, by client address and port */

static size_t bucket_of(const iocpd__listener *l, const iocpd_addr *a) {
  /* FNV-1a over the address and port: clients differ mostly in the port. */
  uint64_t h = 1469598103934665603ull;
  size_t i, n = a->family == IOCPD_AF_INET ? 4 : 16;
  for (i = 0; i < n; i++) h = (h ^ a->ip[i]) * 1099511628211ull;
  h = (h ^ (a->port & 0xff)) * 1099511628211ull;
  h = (h ^ (a->port >> 8)) * 1099511628211ull;
  return (size_t)(h ^ (h >> 29)) & (l->udp_buckets - 1);
}

static iocpd__udp_session *lookup(iocpd__listener *l, const iocpd_addr *client) {
  iocpd__udp_session *s;
  if (l->udp_table == NULL) return NULL;
  for (s = l->udp_table[bucket_of(l, client)]; s != NULL; s = s->hash_next) {
    if (iocpd__addr_equal(&s->client, client)) return s;
  }
  return NULL;
}

/* Doubles the table when it is as full as it is wide. Returns 0 or
 * IOCPD_ENOMEM (the table is then left as it was). */
static int table_grow(iocpd__listener *l) {
  size_t n = l->udp_buckets != 0 ? l->udp_buckets * 2 : UDP_FIRST_BUCKETS, i;
  iocpd__udp_session **old = l->udp_table, **table = calloc(n, sizeof(*table));
  size_t old_n = l->udp_buckets;
  if (table == NULL) return IOCPD_ENOMEM;
  l->udp_table = table;
  l->udp_buckets = n;
  for (i = 0; i < old_n; i++) {
    iocpd__udp_session *s = old[i];
    while (s != NULL) {
      iocpd__udp_session *next = s->hash_next;
      size_t b = bucket_of(l, &s->client);
      s->hash_next = table[b];
      table[b] = s;
      s = next;
    }
  }
  free(old);
  return 0;
}

static void table_remove(iocpd__listener *l, iocpd__udp_session *s) {
  iocpd__udp_session **p = &l->udp_table[bucket_of(l, &s->client)];
  while (*p != s) p = &(*p)->hash_next;
  *p = s->hash_next;
  l->udp_count--;
}

/* The list by last activity: oldest first, so expiry looks at its head. */
static void age_unlink(iocpd__listener *l, iocpd__udp_session *s) {
  if (s->older != NULL) {
    s->older->newer = s->newer;
  } else {
    l->udp_oldest = s->newer;
  }
  if (s->newer != NULL) {
    s->newer->older = s->older;
  } else {
    l->udp_newest = s->older;
  }
  s->older = s->newer = NULL;
}

static void age_append(iocpd__listener *l, iocpd__udp_session *s) {
  s->older = l->udp_newest;
  s->newer = NULL;
  if (l->udp_newest != NULL) {
    l->udp_newest->newer = s;
  } else {
    l->udp_oldest = s;
  }
  l->udp_newest = s;
}

void iocpd__udp_touch(iocpd__udp_session *s) {
  iocpd__listener *l = s->listener;
  s->last_ms = l->worker->now_ms;
  if (l->udp_newest != s) {
    age_unlink(l, s);
    age_append(l, s);
  }
}

/* ------------------------------------------------------------------------ */
/* Upstreams */

/* The next upstream of s's list after index `from` (itself last) that is
 * not marked down, or the one after `from` when every one is. */
static size_t next_upstream(iocpd__udp_session *s, size_t from) {
  size_t n = s->fwd->upstream_count, i;
  for (i = 1; i <= n; i++) {
    size_t k = (from + i) % n;
    if (!iocpd__upstream_down(s->listener, &s->fwd->upstreams[k])) return k;
  }
  return (from + 1) % n;
}

/* ------------------------------------------------------------------------ */
/* Sessions */

iocpd__udp_session *iocpd__udp_session_get(iocpd__listener *l, const iocpd_addr *client,
                                           const void *raw, size_t raw_len) {
  iocpd__udp_session *s = lookup(l, client);
  const iocpd_forward_options *fwd = l->handler_arg;
  unsigned char ip_counted;
  uint64_t turn;
  int rc;
  size_t b;
  if (s != NULL) return s;
  if (fwd == NULL || fwd->upstream_count == 0) {
    iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1);
    return NULL;
  }
  if (l->udp_count >= l->udp_buckets && table_grow(l) != 0) {
    iocpd__udp_drop(l, IOCPD_UDP_DROP_NOMEM, 1);
    return NULL;
  }
  rc = iocpd__admit_session(l, client, &ip_counted);
  if (rc != 0) {
    iocpd__udp_drop(l, rc, 1);
    return NULL;
  }
  s = calloc(1, sizeof(*s));
  if (s == NULL) {
    iocpd__admit_session_forget(l, client, ip_counted);
    iocpd__udp_drop(l, IOCPD_UDP_DROP_NOMEM, 1);
    return NULL;
  }
  s->listener = l;
  s->ip_counted = ip_counted;
  s->client = *client;
  s->fwd = fwd;
  s->generation = l->generation;
  iocpd__generation_ref(s->generation);
  s->start_ms = iocpd_wall_ms();
  s->start_mono_ms = iocpd_now_ms();
  s->last_ms = l->worker->now_ms;
  /* Round robin (the counter's turn numbers start at 0), passing over
   * those marked down: next_upstream looks from the one after `from`. */
  turn = (uint64_t)(iocpd__atomic_add(&l->turns, 1) - 1);
  s->upstream = next_upstream(s, (size_t)((turn + fwd->upstream_count - 1) % fwd->upstream_count));
  if (raw_len > sizeof(s->os.client_raw)) raw_len = sizeof(s->os.client_raw);
  memcpy(&s->os.client_raw, raw, raw_len);
  s->os.client_raw_len = (int)raw_len; /* at most a sockaddr_in6 */
  rc = iocpd__udp_os_open(s);
  if (rc != 0) {
    if (rc == IOCPD_EMFILE) iocpd__count_fd_exhausted(l, 0);
    iocpd__count_connect_failure(l, &fwd->upstreams[s->upstream]);
    iocpd__admit_session_forget(l, client, ip_counted);
    iocpd__generation_unref(s->generation);
    free(s);
    iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1);
    return NULL;
  }
  b = bucket_of(l, client);
  s->hash_next = l->udp_table[b];
  l->udp_table[b] = s;
  l->udp_count++;
  age_append(l, s);
  /* The first session may need the worker to start looking at expiry. */
  if (l->worker->udp_at == 0 || l->worker->udp_at > s->last_ms + l->udp_idle_ms) {
    l->worker->udp_at = s->last_ms + l->udp_idle_ms;
  }
  return s;
}

static void report(iocpd__udp_session *s) {
  iocpd__listener *l = s->listener;
  iocpd_access_record r;
  memset(&r, 0, sizeof(r));
  r.listener = l->name;
  r.client = s->client;
  r.has_upstream = 1;
  r.upstream = s->fwd->upstreams[s->upstream];
  r.bytes_in = s->bytes[IOCPD__BYTES_IN];
  r.bytes_out = s->bytes[IOCPD__BYTES_OUT];
  r.bytes_up = s->bytes[IOCPD__BYTES_UP];
  r.bytes_down = s->bytes[IOCPD__BYTES_DOWN];
  r.start_ms = s->start_ms;
  r.duration_ms = iocpd_now_ms() - s->start_mono_ms;
  r.end = s->end_reason;
  r.udp = 1;
  r.datagrams_in = s->datagrams[IOCPD__BYTES_IN];
  r.datagrams_out = s->datagrams[IOCPD__BYTES_OUT];
  r.datagrams_up = s->datagrams[IOCPD__BYTES_UP];
  r.datagrams_down = s->datagrams[IOCPD__BYTES_DOWN];
  iocpd_server_report_access(l->server, &r);
}

void iocpd__udp_session_end(iocpd__udp_session *s, iocpd_end_reason reason) {
  iocpd__listener *l = s->listener;
  if (s->ended) return;
  s->ended = 1;
  s->end_reason = reason;
  table_remove(l, s);
  age_unlink(l, s);
  iocpd__admit_session_forget(l, &s->client, s->ip_counted);
  report(s);
  iocpd__udp_os_close(s);
}

void iocpd__udp_session_free(iocpd__udp_session *s) {
  iocpd__generation_unref(s->generation);
  free(s);
}

void iocpd__udp_end_all(iocpd__listener *l, iocpd_end_reason reason) {
  while (l->udp_oldest != NULL) iocpd__udp_session_end(l->udp_oldest, reason);
  free(l->udp_table);
  l->udp_table = NULL;
  l->udp_buckets = 0;
}

void iocpd__udp_replied(iocpd__udp_session *s) {
  if (s->replied) return;
  /* The first reply since the session began or moved: the upstream is
   * good again (a lock and maybe a log line, once, not per datagram). */
  s->replied = 1;
  s->upstreams_tried = 0;
  iocpd__health_succeeded(s->listener, &s->fwd->upstreams[s->upstream]);
}

void iocpd__udp_upstream_failed(iocpd__udp_session *s) {
  iocpd__listener *l = s->listener;
  const iocpd_addr *failed = &s->fwd->upstreams[s->upstream];
  size_t next;
  if (s->ended) return;
  iocpd__count_connect_failure(l, failed);
  next = next_upstream(s, s->upstream);
  /* Every upstream has refused since the last reply: nothing is left to
   * move to. The session ends; the client's next datagram starts anew. */
  if (++s->upstreams_tried >= s->fwd->upstream_count ||
      s->fwd->upstreams[next].family != failed->family) {
    iocpd__udp_session_end(s, IOCPD_END_CONNECT_FAILED);
    return;
  }
  s->upstream = next;
  s->replied = 0;
  if (iocpd__udp_os_reconnect(s) != 0) iocpd__udp_session_end(s, IOCPD_END_CONNECT_FAILED);
}

/* ------------------------------------------------------------------------ */
/* Expiry */

void iocpd__udp_expire(iocpd__worker *w, uint64_t now) {
  iocpd_server *srv = w->server;
  uint64_t next = 0;
  size_t i;
  for (i = 0; i < srv->listener_count; i++) {
    iocpd__listener *l = srv->listeners[i];
    if (l->worker != w || !l->udp) continue;
    while (l->udp_oldest != NULL && l->udp_oldest->last_ms + l->udp_idle_ms <= now) {
      iocpd__udp_session_end(l->udp_oldest, IOCPD_END_IDLE_TIMEOUT);
    }
    if (l->udp_oldest != NULL) {
      uint64_t at = l->udp_oldest->last_ms + l->udp_idle_ms;
      if (next == 0 || at < next) next = at;
    }
  }
  w->udp_at = next;
}
