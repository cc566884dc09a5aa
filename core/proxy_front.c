/*
 * The PROXY header front: on a listener with accept_proxy, a connection
 * first belongs to this built-in handler, which reads the balancer's
 * header before the listener's own handler hears of the connection.
 *
 * Admission has let only trusted balancers this far (iocpd__admit). The
 * header may arrive across several reads, within proxy_timeout; most
 * arrive whole in the first read, which then costs no copy but that of
 * the payload after it. Once the header is in, its client address
 * replaces the peer (the balancer is kept as proxy_peer), allow/deny and
 * the per-address limit are checked on it (iocpd__admit_client), and
 * the connection passes to the listener's handler: its on_accept runs,
 * and the bytes that came after the header are its first read.
 *
 * A refused header ends the connection here: counted by reason, logged
 * at most once a second per listener, and reported to the access log,
 * since no handler has seen the connection.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A header that did not arrive in one read, gathered here. */
typedef struct iocpd__proxy_read {
  size_t len;
  char buf[IOCPD_PROXY_MAX_HEADER];
} iocpd__proxy_read;

static const iocpd_handler front_handler;

/* Ends c for a header error (an IOCPD_PROXY_* reason): counts it, logs
 * it, and closes c (with a reset when unread bytes are left). */
static void refuse(iocpd_conn *c, int reason) {
  static const char *const what[IOCPD_PROXY_ERROR_KINDS] = {
      "",
      "no PROXY header (the first bytes are something else)",
      "a PROXY header version this listener does not accept",
      "a malformed PROXY header",
      "a PROXY header over the size limit",
      "the connection ended inside its PROXY header",
      "no PROXY header within proxy_timeout",
      "",
  };
  iocpd__listener *l = c->listener;
  char addr[IOCPD_ADDR_STRLEN];

  iocpd_mutex_lock(l->server->lock);
  l->stats.proxy_errors[reason]++;
  iocpd_mutex_unlock(l->server->lock);
  iocpd__conn_log_limited_event(c, IOCPD_LOG_WARNING, IOCPD_EVENT_PROXY_REFUSED,
                                "listener %s: closed the connection from %s: %s", l->name,
                                iocpd_addr_format(&c->peer, addr), what[reason]);
  iocpd_conn_set_end_reason(c, IOCPD_END_PROXY_ERROR);
  if (reason == IOCPD_PROXY_TIMEOUT || reason == IOCPD_PROXY_TRUNCATED) {
    iocpd_close(c);
  } else {
    iocpd_abort(c);
  }
}

/* The header h is in; rest (len bytes) came after it. Hands c over to
 * the listener's handler. */
static void hand_over(iocpd_conn *c, const iocpd_proxy_header *h, const char *rest, size_t len) {
  free(c->proxy_read);
  c->proxy_read = NULL;
  c->proxy_versions = 0;
  iocpd_conn_set_timer(c, 0);
  if (h->has_addresses) {
    c->proxy_peer = c->peer;
    c->proxied = 1;
    c->peer = h->src;
    c->local = h->dst;
    c->local_unknown = 0;
  }
  if (iocpd__admit_client(c) != IOCPD__ADMITTED) {
    iocpd_abort(c);
    return;
  }
  if (len > 0) {
    c->pending = malloc(len);
    if (c->pending == NULL) {
      iocpd_abort(c);
      return;
    }
    memcpy(c->pending, rest, len);
    c->pending_len = len;
  }
  /* The engine's buffer held the header; the handler starts afresh. */
  iocpd_buffer_put(c, c->rbuf, c->buffer_size);
  c->rbuf = NULL;
  c->handler = c->proxy_handler;
  if (c->handler->on_accept(c) != 0) iocpd_abort(c);
}

static void front_data(iocpd_conn *c, const char *data, size_t len) {
  iocpd__proxy_read *r = c->proxy_read;
  iocpd_proxy_header h;
  size_t take = 0;
  int rc;

  if (r == NULL) {
    rc = iocpd_proxy_parse(data, len, c->proxy_versions, &h);
    if (rc > 0) {
      hand_over(c, &h, data + rc, len - (size_t)rc);
      return;
    }
    if (rc == 0) {
      /* The parser asks for more only below its size limits, so the
       * part read so far fits. */
      r = c->proxy_read = malloc(sizeof(*r));
      if (r == NULL) {
        iocpd_abort(c);
        return;
      }
      memcpy(r->buf, data, len);
      r->len = len;
    }
  } else {
    take = sizeof(r->buf) - r->len;
    if (take > len) take = len;
    memcpy(r->buf + r->len, data, take);
    r->len += take;
    rc = iocpd_proxy_parse(r->buf, r->len, c->proxy_versions, &h);
    if (rc > 0) {
      /* What follows the header: the end of the gathered part, then
       * the rest of this read. Joined in one piece for the handler. */
      size_t tail = r->len - (size_t)rc, n = tail + (len - take);
      char *rest = malloc(n > 0 ? n : 1);
      if (rest == NULL) {
        iocpd_abort(c);
        return;
      }
      memcpy(rest, r->buf + rc, tail);
      memcpy(rest + tail, data + take, len - take);
      hand_over(c, &h, rest, n);
      free(rest);
      return;
    }
  }
  if (rc < 0) {
    refuse(c, -rc);
  } else if (iocpd_read(c) != 0) {
    iocpd_abort(c);
  }
}

static void front_peer_closed(iocpd_conn *c) {
  /* Nothing at all is a probe (a port scan, a balancer's TCP check), not
   * a broken header. */
  if (c->proxy_read == NULL) {
    iocpd_conn_set_end_reason(c, IOCPD_END_CLIENT_FIN);
    iocpd_close(c);
    return;
  }
  refuse(c, IOCPD_PROXY_TRUNCATED);
}

static void front_timeout(iocpd_conn *c) { refuse(c, IOCPD_PROXY_TIMEOUT); }

static void front_closed(iocpd_conn *c) {
  iocpd_access_record rec;
  free(c->proxy_read);
  c->proxy_read = NULL;
  iocpd_conn_access_record(c, &rec);
  iocpd_server_report_access(c->worker->server, &rec);
}

/* on_error: the engine records the reset and aborts; nothing to add. */
static const iocpd_handler front_handler = {
    .name = "proxy-header",
    .on_data = front_data,
    .on_peer_closed = front_peer_closed,
    .on_timer = front_timeout,
    .on_closed = front_closed,
};

int iocpd__proxy_front_start(iocpd_conn *c) {
  c->proxy_handler = c->handler;
  c->handler = &front_handler;
  if (iocpd_conn_set_timer(c, c->listener->proxy_timeout_ms) != 0) return IOCPD_ENOMEM;
  return iocpd_read(c);
}
