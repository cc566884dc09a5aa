/*
 * Admission: who may connect and how many.
 *
 * Connection limits never accept-then-drop. A backend reserves a slot
 * before it accepts (epoll) or before it posts an AcceptEx (IOCP, where the
 * kernel completes posted accepts on its own), so open connections plus
 * accepts under way never exceed a limit. When no slot is left the listener
 * pauses (no accept, no AcceptEx posted) and the kernel's backlog holds new
 * clients; when a connection closes, paused listeners with room are resumed
 * by a message to the worker that owns them. Existing connections are never
 * touched by a limit.
 *
 * On IOCP a posted AcceptEx can wait for a client indefinitely, so there
 * its slot holds only the listener's room (IOCPD__SLOT_HOLDS_SERVER is 0):
 * were it to hold a server-wide slot too, idle accepts of one listener
 * could starve another. The server-wide limit is then checked when the
 * accept completes; a connection beyond it is parked, unserved but never
 * dropped (for the client, like waiting in the backlog), and admitted as
 * soon as a close makes room. Parked connections count as taken, so the
 * listener posts no more accepts meanwhile.
 *
 * Deny/allow rules and the per-address limit apply to each accepted
 * connection before its handler sees it: a rejected one is reset at once.
 * Behind a load balancer (accept_proxy) they apply to the client address
 * its PROXY header carries, once the header is in; at accept, only
 * trusted balancers get that far.
 *
 * All of this state sits under the server lock: it changes once per
 * connection (accept, close), never on the data path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define IP_TABLE_SIZE 256 /* buckets; a power of two */

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* The per-address key: IPv6 as is, IPv4 in its mapped form, so that a
 * client counts once whichever way it arrives. */
static void ip_key(const iocpd_addr *a, uint8_t key[16]) {
  if (a->family == IOCPD_AF_INET) {
    memcpy(key, v4_mapped_prefix, 12);
    memcpy(key + 12, a->ip, 4);
  } else {
    memcpy(key, a->ip, 16);
  }
}

static size_t ip_bucket(const uint8_t key[16]) {
  uint32_t h = 2166136261u; /* FNV-1a */
  int i;
  for (i = 0; i < 16; i++) h = (h ^ key[i]) * 16777619u;
  return h & (IP_TABLE_SIZE - 1);
}

/* The count entry for key, created when create is set (NULL if out of
 * memory or absent). Server lock held. */
static iocpd__ip_count *ip_entry(iocpd__listener *l, const uint8_t key[16], int create) {
  iocpd__ip_count *e;
  size_t b;
  if (l->ip_table == NULL) {
    if (!create) return NULL;
    l->ip_table = calloc(IP_TABLE_SIZE, sizeof(*l->ip_table));
    if (l->ip_table == NULL) return NULL;
    l->ip_table_size = IP_TABLE_SIZE;
  }
  b = ip_bucket(key);
  for (e = l->ip_table[b]; e != NULL; e = e->next) {
    if (memcmp(e->ip, key, 16) == 0) return e;
  }
  if (!create || (e = calloc(1, sizeof(*e))) == NULL) return NULL;
  memcpy(e->ip, key, 16);
  e->next = l->ip_table[b];
  l->ip_table[b] = e;
  return e;
}

static void ip_entry_drop(iocpd__listener *l, const uint8_t key[16]) {
  iocpd__ip_count **p = &l->ip_table[ip_bucket(key)];
  while (*p != NULL && memcmp((*p)->ip, key, 16) != 0) p = &(*p)->next;
  if (*p != NULL && --(*p)->count == 0) {
    iocpd__ip_count *e = *p;
    *p = e->next;
    free(e);
  }
}

/* Room for one more on the server, counting parked connections as taken
 * unless for_parked (then they are the ones asking). Server lock held. */
static int server_room(iocpd_server *s, int for_parked) {
  size_t taken = s->open_accepted + s->slots_reserved + (for_parked ? 0 : s->parked);
  return s->max_conns == 0 || taken < s->max_conns;
}

/* Room for one more on l? Server lock held. */
static int has_room(iocpd__listener *l) {
  if (l->max_conns != 0 && l->conns_open + l->slots_reserved >= l->max_conns) return 0;
  return server_room(l->server, 0);
}

int iocpd__admit_reserve(iocpd__listener *l) {
  iocpd_server *s = l->server;
  int ok;
  iocpd_mutex_lock(s->lock);
  ok = has_room(l);
  if (ok) {
    l->slots_reserved++;
    if (IOCPD__SLOT_HOLDS_SERVER) s->slots_reserved++;
  } else if (!l->paused) {
    l->paused = 1;
    l->stats.paused++;
  }
  iocpd_mutex_unlock(s->lock);
  return ok;
}

/* Server lock held. */
static void release_slot(iocpd__listener *l) {
  l->slots_reserved--;
  if (IOCPD__SLOT_HOLDS_SERVER) l->server->slots_reserved--;
}

/* Posts RESUME to the owners of paused listeners that have room again.
 * Server lock held; the posts happen after it is released, by the caller,
 * through the returned mask of workers. */
static uint64_t listeners_to_resume(iocpd_server *s) {
  uint64_t mask = 0;
  size_t i;
  for (i = 0; i < s->listener_count; i++) {
    iocpd__listener *l = s->listeners[i];
    if (!l->resume_posted && ((l->paused && has_room(l)) || (l->parked > 0 && server_room(s, 1)))) {
      l->resume_posted = 1;
      mask |= (uint64_t)1 << l->worker->index;
    }
  }
  return mask;
}

static void post_resumes(iocpd_server *s, uint64_t mask) {
  unsigned i;
  for (i = 0; i < s->worker_count; i++) {
    iocpd__msg *m;
    if (!(mask & ((uint64_t)1 << i))) continue;
    /* If this allocation fails the listener stays paused until the next
     * close tries again: degraded, never wrong. */
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
      size_t k;
      iocpd_mutex_lock(s->lock);
      for (k = 0; k < s->listener_count; k++) {
        if (s->listeners[k]->worker == &s->workers[i]) s->listeners[k]->resume_posted = 0;
      }
      iocpd_mutex_unlock(s->lock);
      continue;
    }
    m->type = IOCPD__MSG_RESUME_LISTENERS;
    iocpd__worker_post(&s->workers[i], m);
  }
}

void iocpd__admit_recheck(iocpd_server *s) {
  uint64_t mask;
  iocpd_mutex_lock(s->lock);
  mask = listeners_to_resume(s);
  iocpd_mutex_unlock(s->lock);
  post_resumes(s, mask);
}

void iocpd__admit_unpark(iocpd_conn *c) {
  iocpd__listener *l = c->listener;
  iocpd_server *s = l->server;
  iocpd_mutex_lock(s->lock);
  if (c->parked) {
    c->parked = 0;
    l->parked--;
    s->parked--;
    release_slot(l);
  }
  iocpd_mutex_unlock(s->lock);
}

void iocpd__admit_release(iocpd__listener *l) {
  iocpd_server *s = l->server;
  uint64_t mask;
  iocpd_mutex_lock(s->lock);
  release_slot(l);
  mask = listeners_to_resume(s);
  iocpd_mutex_unlock(s->lock);
  post_resumes(s, mask);
}

static int on_list(const iocpd_cidr *list, size_t n, const iocpd_addr *a) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (iocpd_cidr_match(&list[i], a)) return 1;
  }
  return 0;
}

/* The allow/deny verdict on peer. */
static int address_verdict(iocpd__listener *l, const iocpd_addr *peer) {
  if (on_list(l->deny, l->deny_count, peer) ||
      (l->allow_count > 0 && !on_list(l->allow, l->allow_count, peer)))
    return IOCPD__REJECT_DENIED;
  return IOCPD__ADMITTED;
}

/* Counts c under its peer's address, within max_connections_per_ip.
 * Server lock held. */
static int count_per_ip(iocpd__listener *l, iocpd_conn *c) {
  uint8_t key[16];
  iocpd__ip_count *e;
  if (l->max_per_ip == 0) return IOCPD__ADMITTED;
  ip_key(&c->peer, key);
  e = ip_entry(l, key, 1);
  if (e == NULL || e->count >= l->max_per_ip) return IOCPD__REJECT_PER_IP;
  e->count++;
  c->ip_counted = 1;
  return IOCPD__ADMITTED;
}

/* Counts a rejection and returns whether to log it (and *suppressed, the
 * lines held back since the last one). Server lock held. */
static int count_rejection(iocpd__listener *l, int verdict, uint64_t *suppressed) {
  if (verdict == IOCPD__REJECT_DENIED) {
    l->stats.rejected_denied++;
  } else if (verdict == IOCPD__REJECT_PER_IP) {
    l->stats.rejected_per_ip++;
  } else {
    l->stats.proxy_errors[IOCPD_PROXY_UNTRUSTED]++;
  }
  return iocpd__log_limit_pass(&l->reject_log, iocpd_now_ms(), suppressed);
}

/* Records why c is rejected, logs it if told, and reports it to the
 * access log if told (else its handler does, from on_closed). */
static void reject(iocpd_conn *c, int verdict, int log_it, uint64_t suppressed, int report) {
  static const iocpd_end_reason reasons[] = {IOCPD_END_UNKNOWN, IOCPD_END_DENIED, IOCPD_END_LIMIT,
                                             IOCPD_END_UNKNOWN, IOCPD_END_PROXY_ERROR};
  static const char *const why[] = {"", "not allowed by allow/deny",
                                    "max_connections_per_ip reached", "",
                                    "not a trusted proxy (proxy_trusted)"};
  iocpd__listener *l = c->listener;
  iocpd_access_record rec;

  iocpd_conn_set_end_reason(c, reasons[verdict]);
  if (report) {
    iocpd_conn_access_record(c, &rec);
    iocpd_server_report_access(l->server, &rec);
  }
  if (log_it) {
    char addr[IOCPD_ADDR_STRLEN];
    char more[64] = "";
    if (suppressed > 0)
      snprintf(more, sizeof(more), "; %llu more since the last report",
               (unsigned long long)suppressed);
    iocpd__log_event(l->server, IOCPD_LOG_WARNING,
                     verdict == IOCPD__REJECT_UNTRUSTED ? IOCPD_EVENT_PROXY_REFUSED
                                                        : IOCPD_EVENT_GENERIC,
                     "listener %s: rejected %s (%s)%s", l->name, iocpd_addr_format(&c->peer, addr),
                     why[verdict], more);
  }
}

int iocpd__admit(iocpd_conn *c) {
  iocpd__listener *l = c->listener;
  iocpd_server *s = l->server;
  uint64_t suppressed = 0, mask;
  int verdict, log_it = 0, was_parked;
  /* Behind a balancer (accept_proxy) the socket's peer must be a trusted
   * one, and allow/deny and the per-address limit wait for the client's
   * real address, in the header (iocpd__admit_client). */
  unsigned header = l->accept_proxy;

  if (header != 0) {
    verdict = on_list(l->proxy_trusted, l->proxy_trusted_count, &c->peer) ? IOCPD__ADMITTED
                                                                          : IOCPD__REJECT_UNTRUSTED;
  } else {
    verdict = address_verdict(l, &c->peer);
  }

  iocpd_mutex_lock(s->lock);
  was_parked = c->parked;
  if (was_parked) {
    c->parked = 0;
    l->parked--;
    s->parked--;
  }
  /* A parked connection asks with the others' parked ones not counted, so
   * whichever asks first gets the room; a new one waits behind them all. */
  if (verdict == IOCPD__ADMITTED && !IOCPD__SLOT_HOLDS_SERVER && !server_room(s, was_parked)) {
    /* Full: keep the listener slot, hold the connection unserved. */
    c->parked = 1;
    l->parked++;
    s->parked++;
    iocpd_mutex_unlock(s->lock);
    return IOCPD__ADMIT_LATER;
  }
  release_slot(l);
  if (verdict == IOCPD__ADMITTED && header == 0) verdict = count_per_ip(l, c);
  if (verdict == IOCPD__ADMITTED) {
    l->conns_open++;
    if (header == 0) l->stats.accepted++;
    s->open_accepted++;
    s->open_all++;
    c->proxy_versions = (unsigned char)header;
  } else {
    log_it = count_rejection(l, verdict, &suppressed);
  }
  mask = listeners_to_resume(s);
  iocpd_mutex_unlock(s->lock);
  post_resumes(s, mask);

  if (verdict != IOCPD__ADMITTED) reject(c, verdict, log_it, suppressed, 1);
  return verdict;
}

int iocpd__admit_client(iocpd_conn *c) {
  iocpd__listener *l = c->listener;
  iocpd_server *s = l->server;
  uint64_t suppressed = 0;
  int verdict = address_verdict(l, &c->peer), log_it = 0;

  iocpd_mutex_lock(s->lock);
  if (verdict == IOCPD__ADMITTED) verdict = count_per_ip(l, c);
  if (verdict == IOCPD__ADMITTED) {
    l->stats.accepted++;
  } else {
    log_it = count_rejection(l, verdict, &suppressed);
  }
  iocpd_mutex_unlock(s->lock);
  if (verdict != IOCPD__ADMITTED) reject(c, verdict, log_it, suppressed, 0);
  return verdict;
}

void iocpd__admit_forget(iocpd_conn *c) {
  iocpd__listener *l = c->listener;
  iocpd_server *s = c->worker->server;
  uint64_t mask = 0;
  int marked_down;

  iocpd_mutex_lock(s->lock);
  marked_down = iocpd__count_closed(c);
  s->open_all--;
  if (!c->outbound) {
    s->open_accepted--;
    l->conns_open--;
    if (c->ip_counted) {
      uint8_t key[16];
      ip_key(&c->peer, key);
      ip_entry_drop(l, key);
    }
    mask = listeners_to_resume(s);
  }
  iocpd_cond_broadcast(s->changed);
  iocpd_mutex_unlock(s->lock);
  if (marked_down) iocpd__health_log_down(l, &c->peer);
  post_resumes(s, mask);
}

void iocpd__admit_free(iocpd__listener *l) {
  size_t i;
  for (i = 0; i < l->ip_table_size; i++) {
    while (l->ip_table[i] != NULL) {
      iocpd__ip_count *e = l->ip_table[i];
      l->ip_table[i] = e->next;
      free(e);
    }
  }
  free(l->ip_table);
  free(l->allow);
  free(l->deny);
  free(l->proxy_trusted);
  l->ip_table = NULL;
  l->allow = l->deny = l->proxy_trusted = NULL;
}

/* ------------------------------------------------------------------------ */
/* UDP: datagrams and sessions (udp.c) */

int iocpd__admit_datagram(iocpd__listener *l, const iocpd_addr *src) {
  return address_verdict(l, src) == IOCPD__ADMITTED;
}

int iocpd__admit_session(iocpd__listener *l, const iocpd_addr *client, unsigned char *ip_counted) {
  int rc = 0;
  *ip_counted = 0;
  iocpd_mutex_lock(l->server->lock);
  if (l->max_conns != 0 && l->stats.sessions_open >= l->max_conns) {
    rc = IOCPD_UDP_DROP_SESSIONS;
  } else if (l->max_per_ip != 0) {
    uint8_t key[16];
    iocpd__ip_count *e;
    ip_key(client, key);
    e = ip_entry(l, key, 1);
    if (e == NULL) {
      rc = IOCPD_UDP_DROP_NOMEM;
    } else if (e->count >= l->max_per_ip) {
      rc = IOCPD_UDP_DROP_PER_IP;
    } else {
      e->count++;
      *ip_counted = 1;
    }
  }
  if (rc == 0) {
    l->stats.sessions_open++;
    l->stats.sessions++;
  }
  iocpd_mutex_unlock(l->server->lock);
  return rc;
}

void iocpd__admit_session_forget(iocpd__listener *l, const iocpd_addr *client, int ip_counted) {
  iocpd_mutex_lock(l->server->lock);
  l->stats.sessions_open--;
  if (ip_counted) {
    uint8_t key[16];
    ip_key(client, key);
    ip_entry_drop(l, key);
  }
  iocpd_mutex_unlock(l->server->lock);
}

size_t iocpd_server_listener_stats(iocpd_server *s, iocpd_listener_stats *out, size_t max) {
  size_t i;
  iocpd_mutex_lock(s->lock);
  for (i = 0; i < s->listener_count && i < max; i++) {
    iocpd__listener *l = s->listeners[i];
    out[i] = l->stats;
    out[i].name = l->name;
    out[i].active = l->conns_open;
    out[i].bytes_in = (uint64_t)iocpd__atomic_load(&l->bytes[IOCPD__BYTES_IN]);
    out[i].bytes_out = (uint64_t)iocpd__atomic_load(&l->bytes[IOCPD__BYTES_OUT]);
    out[i].bytes_up = (uint64_t)iocpd__atomic_load(&l->bytes[IOCPD__BYTES_UP]);
    out[i].bytes_down = (uint64_t)iocpd__atomic_load(&l->bytes[IOCPD__BYTES_DOWN]);
    out[i].protocol = l->udp ? IOCPD_UDP : IOCPD_TCP;
    if (l->udp) {
      int k;
      out[i].active = 0;
      out[i].datagrams_in = (uint64_t)iocpd__atomic_load(&l->datagrams[IOCPD__BYTES_IN]);
      out[i].datagrams_out = (uint64_t)iocpd__atomic_load(&l->datagrams[IOCPD__BYTES_OUT]);
      out[i].datagrams_up = (uint64_t)iocpd__atomic_load(&l->datagrams[IOCPD__BYTES_UP]);
      out[i].datagrams_down = (uint64_t)iocpd__atomic_load(&l->datagrams[IOCPD__BYTES_DOWN]);
      for (k = 0; k < IOCPD_UDP_DROP_KINDS; k++)
        out[i].udp_dropped[k] = (uint64_t)iocpd__atomic_load(&l->udp_dropped[k]);
    }
  }
  iocpd_mutex_unlock(s->lock);
  return s->listener_count;
}
