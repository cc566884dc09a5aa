/*
 * The connection state machine, written once for both backends (the
 * libuv uv-common.c model): the public read, write, shutdown, close and
 * abort calls, the write queue, the order of FIN and close after the last
 * queued write, error delivery through on_error, teardown, and the
 * connection's getters. The backends only talk to the OS, through the
 * iocpd__os_* hooks declared in internal.h, and report back through the
 * iocpd__conn_* entry points below, always from their loop, never inside
 * a handler's call. So both backends follow the same rules by
 * construction:
 *
 *   - a socket failure reaches the handler as on_error, then an abort;
 *     iocpd_read and iocpd_write only say whether the call was allowed;
 *   - a FIN (iocpd_shutdown or iocpd_close) goes out after the last queued
 *     write, and on an outbound connection only once it is connected;
 *   - a connection is freed once its socket is closed and the backend has
 *     nothing pending on it, from the loop, with on_closed as the last
 *     callback.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------------ */
/* Life cycle */

iocpd_conn *iocpd__conn_alloc(iocpd__listener *l, const iocpd_conn *like) {
  iocpd_conn *c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->listener = l;
  /* No lock: this runs on a worker thread (l's owner, or like's), and a
   * listener's settings change only while every worker is parked
   * (update.c) or on its owner's own thread (registry.c, close_retired). */
  if (like == NULL) {
    c->handler = l->handler;
    c->handler_arg = l->handler_arg;
    c->buffer_size = l->buffer_size;
    c->generation = l->generation;
  } else {
    c->handler_arg = like->handler_arg;
    c->buffer_size = like->buffer_size;
    c->generation = like->generation;
  }
  iocpd__generation_ref(c->generation);
  iocpd__conn_started(c);
  return c;
}

void iocpd__conn_discard(iocpd_conn *c) {
  iocpd__generation *g = c->generation;
  free(c);
  iocpd__generation_unref(g);
}

void iocpd__conn_adopt(iocpd__worker *w, iocpd_conn *c) {
  int rc;
  c->worker = w;
  iocpd__conn_register(c);
  rc = iocpd__os_attach(c);
  if (rc != 0) {
    iocpd__log(w->server, IOCPD_LOG_WARNING, "listener %s: cannot watch a connection: %s",
               c->listener->name, iocpd_strerror(rc));
    iocpd_abort(c);
    return;
  }
  rc = c->proxy_versions != 0 ? iocpd__proxy_front_start(c) : c->handler->on_accept(c);
  if (rc != 0) iocpd_abort(c);
}

void iocpd__conn_free(iocpd_conn *c) {
  if (c->deferred) {
    iocpd_conn **p = &c->worker->deferred;
    while (*p != c) p = &(*p)->deferred_next;
    *p = c->deferred_next;
  }
  free(c->pending);
  iocpd__os_release(c);
  iocpd__wq_clear(c);
  iocpd__timer_remove(c);
  if (c->handler->on_closed != NULL) c->handler->on_closed(c);
  iocpd_buffer_put(c, c->rbuf, c->buffer_size);
  iocpd__conn_unregister(c);
  iocpd__conn_discard(c);
}

int iocpd_connect(iocpd_conn *from, const iocpd_addr *to, const iocpd_handler *handler, void *data,
                  iocpd_conn **out) {
  iocpd_conn *c;
  int rc;

  if (from == NULL || to == NULL || handler == NULL || out == NULL) return IOCPD_EINVAL;
  /* A connection on its way out (closed, aborted, or aborted by a drain)
   * starts nothing new. */
  if (from->closing) return IOCPD_ECLOSED;
  /* An outbound connection serves its client: its settings, not the
   * listener's newer ones. */
  c = iocpd__conn_alloc(from->listener, from);
  if (c == NULL) return IOCPD_ENOMEM;
  c->handler = handler;
  c->data = data;
  c->outbound = 1;
  c->connecting = 1;
  c->peer = *to;
  c->worker = from->worker;
  rc = iocpd__os_connect(c, to);
  if (rc != 0) {
    iocpd__conn_discard(c);
    iocpd__count_connect_failure(from->listener, to);
    return rc;
  }
  iocpd__server_outbound_added(c->worker->server);
  iocpd__conn_register(c);
  *out = c;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The write queue */

iocpd__write_req *iocpd__wq_push(iocpd_conn *c, const void *data, size_t len, void *arg) {
  iocpd__write_req *r;
  /* Most handlers keep one write in flight: the embedded request serves
   * them without an allocation. */
  if (!c->spare_used) {
    r = &c->spare;
    c->spare_used = 1;
  } else {
    r = malloc(sizeof(*r));
    if (r == NULL) return NULL;
  }
  memset(r, 0, sizeof(*r));
  r->data = data;
  r->len = len;
  r->arg = arg;
  if (c->wq_tail != NULL) {
    c->wq_tail->next = r;
  } else {
    c->wq_head = r;
  }
  c->wq_tail = r;
  c->write_count++;
  return r;
}

static void wq_free(iocpd_conn *c, iocpd__write_req *r) {
  free(r->msg);
  if (r == &c->spare) {
    c->spare_used = 0;
  } else {
    free(r);
  }
}

/* Takes the fully sent head off the queue and calls on_sent, unless the
 * connection is closing (the handler hears nothing but on_closed then) or
 * the write was a send by id (never the handler's). */
static void wq_complete_head(iocpd_conn *c) {
  iocpd__write_req *r = c->wq_head;
  size_t len = r->len;
  void *arg = r->arg;
  int tell = r->msg == NULL && !c->closing && c->handler->on_sent != NULL;
  c->wq_head = r->next;
  if (c->wq_head == NULL) c->wq_tail = NULL;
  c->write_count--;
  wq_free(c, r);
  if (tell) c->handler->on_sent(c, len, arg);
}

void iocpd__wq_clear(iocpd_conn *c) {
  while (c->wq_head != NULL) {
    iocpd__write_req *r = c->wq_head;
    c->wq_head = r->next;
    wq_free(c, r);
  }
  c->wq_tail = NULL;
  c->write_count = 0;
}

size_t iocpd_conn_pending_writes(const iocpd_conn *c) { return c->write_count; }

void iocpd__conn_send_msg(iocpd_conn *c, iocpd__msg *msg) {
  if (iocpd_write(c, msg->data, msg->len, NULL) != 0) {
    free(msg);
    return;
  }
  c->wq_tail->msg = msg;
}

/* Once the last queued write is out: the FIN that was asked for, and the
 * close. A FIN waits for an outbound connect to succeed; a close does not
 * (an unconnected socket has nothing to finish). Closing a socket whose
 * peer has sent its FIN, so that nothing is left unread (which would turn
 * the close into a reset), sends our FIN just as shutdown would: one call
 * fewer. */
static void after_writes(iocpd_conn *c) {
  if (c->aborting || c->socket_closed || c->wq_head != NULL) return;
  if ((c->shut_requested || c->close_requested) && !c->shut_done && !c->connecting) {
    if (!(c->close_requested && c->peer_closed)) iocpd__os_shutdown(c);
    c->shut_done = 1;
  }
  if (c->close_requested) {
    c->socket_closed = 1;
    iocpd__os_close(c, 0);
  }
}

/* ------------------------------------------------------------------------ */
/* The public calls */

int iocpd_read(iocpd_conn *c) {
  if (c->close_requested || c->aborting || c->peer_closed) return IOCPD_ECLOSED;
  if (c->connecting || c->want_read || c->deferred) return IOCPD_EBUSY;
  /* The handler is done with the previous data: give the buffer back so
   * that an idle connection holds none. */
  iocpd_buffer_put(c, c->rbuf, c->buffer_size);
  c->rbuf = NULL;
  if (c->pending != NULL) {
    /* Input read ahead comes first. want_read stays clear meanwhile, so
     * that the backend reads nothing from the socket (a FIN behind it,
     * say) before that input is delivered. */
    iocpd__conn_defer(c);
    return 0;
  }
  c->want_read = 1;
  iocpd__os_read(c);
  return 0;
}

int iocpd_write(iocpd_conn *c, const void *data, size_t len, void *arg) {
  if (data == NULL || len == 0) return IOCPD_EINVAL;
  if (c->close_requested || c->aborting || c->shut_requested) return IOCPD_ECLOSED;
  if (c->connecting) return IOCPD_EBUSY;
  if (iocpd__wq_push(c, data, len, arg) == NULL) return IOCPD_ENOMEM;
  iocpd__os_write(c);
  return 0;
}

int iocpd_shutdown(iocpd_conn *c) {
  if (c->close_requested || c->aborting) return IOCPD_ECLOSED;
  c->shut_requested = 1;
  after_writes(c);
  return 0;
}

void iocpd_close(iocpd_conn *c) {
  if (c->close_requested || c->aborting) return;
  c->close_requested = 1;
  c->want_read = 0;
  iocpd__conn_mark_closing(c);
  after_writes(c);
  iocpd__linger_start(c);
  iocpd__os_schedule(c);
}

void iocpd_abort(iocpd_conn *c) {
  if (c->aborting) return;
  c->aborting = 1;
  iocpd__conn_mark_closing(c);
  if (!c->socket_closed) {
    c->socket_closed = 1;
    iocpd__os_close(c, 1);
  }
  iocpd__os_schedule(c);
}

/* ------------------------------------------------------------------------ */
/* What the backends report */

char *iocpd__conn_read_buffer(iocpd_conn *c, size_t *size) {
  *size = c->buffer_size;
  if (c->handler->on_alloc != NULL) return c->handler->on_alloc(c, size);
  if (c->rbuf == NULL) c->rbuf = iocpd_buffer_get(c, *size);
  return c->rbuf;
}

void iocpd__conn_release_buffer(iocpd_conn *c, char *buf) {
  if (c->handler->on_alloc != NULL) {
    if (c->handler->on_release != NULL) c->handler->on_release(c, buf);
  } else if (buf == c->rbuf) {
    iocpd_buffer_put(c, c->rbuf, c->buffer_size);
    c->rbuf = NULL;
  }
}

void iocpd__conn_read_done(iocpd_conn *c, char *buf, size_t n) {
  c->want_read = 0;
  if (n > 0) {
    /* A PROXY header is not the client's payload: its bytes count for
     * nobody, and a handshake timeout still waits for the first byte
     * after it. */
    if (c->proxy_versions == 0) iocpd__count_bytes(c, 1, n);
    if (c->handler->on_data != NULL) c->handler->on_data(c, buf, n);
  } else {
    c->peer_closed = 1;
    if (c->handler->on_peer_closed != NULL) c->handler->on_peer_closed(c);
  }
}

void iocpd__conn_wrote(iocpd_conn *c, size_t n) {
  iocpd__write_req *r = c->wq_head;
  r->done += n;
  iocpd__count_bytes(c, 0, n);
  if (r->done < r->len) return;
  wq_complete_head(c);
  after_writes(c);
}

void iocpd__conn_connected(iocpd_conn *c, int status) {
  c->connecting = 0;
  if (c->close_requested || c->aborting) return;
  if (status != 0) {
    if (c->handler->on_connect != NULL) c->handler->on_connect(c, status);
    iocpd_abort(c);
    return;
  }
  c->established = 1;
  if (!c->check) iocpd__health_succeeded(c->listener, &c->peer);
  if (c->handler->on_connect != NULL) c->handler->on_connect(c, 0);
  /* A FIN asked for while connecting goes out now. */
  if (!c->close_requested && !c->aborting) after_writes(c);
}

void iocpd__conn_fail(iocpd_conn *c, int err) {
  iocpd_conn_set_end_reason(c, c->outbound ? IOCPD_END_UPSTREAM_RESET : IOCPD_END_CLIENT_RESET);
  if (!c->close_requested && !c->aborting && c->handler->on_error != NULL)
    c->handler->on_error(c, err);
  iocpd_abort(c);
}

/* ------------------------------------------------------------------------ */
/* Input read ahead */

void iocpd__conn_defer(iocpd_conn *c) {
  if (c->deferred) return;
  c->deferred = 1;
  c->deferred_next = c->worker->deferred;
  c->worker->deferred = c;
}

/* Delivers the next piece of c's read-ahead input, as large as a read
 * would be. */
static void deliver_pending(iocpd_conn *c) {
  size_t size, n;
  char *buf;
  if (c->close_requested || c->aborting) return;
  buf = iocpd__conn_read_buffer(c, &size);
  if (buf == NULL) {
    iocpd__conn_fail(c, IOCPD_ENOMEM);
    return;
  }
  n = c->pending_len - c->pending_off;
  if (n > size) n = size;
  memcpy(buf, c->pending + c->pending_off, n);
  c->pending_off += n;
  if (c->pending_off == c->pending_len) {
    free(c->pending);
    c->pending = NULL;
    c->pending_len = c->pending_off = 0;
  }
  iocpd__conn_read_done(c, buf, n);
}

void iocpd__conn_run_deferred(iocpd__worker *w) {
  while (w->deferred != NULL) {
    iocpd_conn *c = w->deferred;
    w->deferred = c->deferred_next;
    c->deferred = 0;
    deliver_pending(c);
  }
}

/* ------------------------------------------------------------------------ */
/* Getters */

uint64_t iocpd_conn_id(const iocpd_conn *c) { return c->id; }
void *iocpd_conn_get_data(const iocpd_conn *c) { return c->data; }
void iocpd_conn_set_data(iocpd_conn *c, void *data) { c->data = data; }
void *iocpd_conn_handler_arg(const iocpd_conn *c) { return c->handler_arg; }
const char *iocpd_conn_listener_name(const iocpd_conn *c) { return c->listener->name; }
const iocpd_addr *iocpd_conn_peer_addr(const iocpd_conn *c) { return &c->peer; }
const iocpd_addr *iocpd_conn_local_addr(const iocpd_conn *c) {
  /* Looked up lazily; the connection is only logically const here. */
  iocpd_conn *m = (iocpd_conn *)c;
  if (!m->local_unknown) return &m->local;
  /* An accepted connection of a listener bound to one address and port
   * arrived there: no system call needed (send_proxy asks for every
   * relayed connection). A wildcard listener's could be any address. */
  if (!m->outbound && !iocpd_addr_is_wildcard(&m->listener->addr) && m->listener->addr.port != 0) {
    m->local = m->listener->addr;
    m->local_unknown = 0;
  } else {
    iocpd__conn_local(m);
  }
  return &m->local;
}
const iocpd_addr *iocpd_conn_proxy_addr(const iocpd_conn *c) {
  return c->proxied ? &c->proxy_peer : NULL;
}
iocpd_server *iocpd_conn_server(const iocpd_conn *c) { return c->worker->server; }
uint64_t iocpd_conn_bytes_in(const iocpd_conn *c) { return c->bytes_in; }
uint64_t iocpd_conn_bytes_out(const iocpd_conn *c) { return c->bytes_out; }
uint64_t iocpd_conn_listener_turn(const iocpd_conn *c) {
  return (uint64_t)(iocpd__atomic_add(&c->listener->turns, 1) - 1);
}
