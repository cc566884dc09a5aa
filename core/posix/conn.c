/*
 * epoll backend: connections. Every request from the handler only records
 * what is wanted and schedules the connection; iocpd__conn_process then
 * does the recv/send and calls back. So callbacks never nest inside the
 * handler's own calls, and teardown happens in one place.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "posix.h"
#include "sockaddr.h"

iocpd_conn *iocpd__conn_new(iocpd__listener *l, int fd, const struct sockaddr *peer) {
  int on = 1;
  iocpd_conn *c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->kind = IOCPD__SRC_CONN;
  c->fd = fd;
  c->base.listener = l;
  c->base.handler = l->handler;
  c->base.established = 1;
  iocpd__conn_started(c);
  iocpd__sockaddr_to(peer, &c->base.peer);
  /* The local address is looked up only if someone asks (see
   * iocpd__conn_local): a system call per accept saved. */
  c->base.local_unknown = 1;
  /* Small echoes and relayed request/response traffic must not wait for
   * Nagle's delayed ACK dance. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  return c;
}

/* Registers c with w and its epoll set. Returns 0 or an errno value (c is
 * then registered but not watched). */
static int attach(iocpd__worker *w, iocpd_conn *c) {
  struct epoll_event ev;
  c->base.worker = w;
  iocpd__conn_register(c);
  memset(&ev, 0, sizeof(ev));
  /* Edge-triggered, both directions, registered once for the connection's
   * life: no epoll_ctl per read or write. */
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c->kind;
  return epoll_ctl(w->os.epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0 ? 0 : errno;
}

void iocpd__conn_adopt(iocpd__worker *w, iocpd_conn *c) {
  int e = attach(w, c);
  if (e != 0) {
    iocpd__log(w->server, IOCPD_LOG_WARNING, "listener %s: cannot watch a connection: %s",
               c->base.listener->name, strerror(e));
    iocpd_abort(c);
    return;
  }
  if (c->base.handler->on_accept(c) != 0) iocpd_abort(c);
}

int iocpd_connect(iocpd_conn *from, const iocpd_addr *to, const iocpd_handler *handler,
                  void *data, iocpd_conn **out) {
  struct sockaddr_storage ss;
  socklen_t len;
  iocpd_conn *c;
  int fd, on = 1, e;

  if (from == NULL || to == NULL || handler == NULL || out == NULL) return IOCPD_EINVAL;
  /* A connection on its way out (closed, aborted, or aborted by a drain)
   * starts nothing new. */
  if (from->base.closing) return IOCPD_ECLOSED;
  len = (socklen_t)iocpd__sockaddr_from(to, &ss);
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return iocpd__translate_errno(errno);
  if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
    e = errno;
    close(fd);
    iocpd__count_connect_failure(from->base.listener, to);
    return iocpd__translate_errno(e);
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    close(fd);
    return IOCPD_ENOMEM;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  c->kind = IOCPD__SRC_CONN;
  c->fd = fd;
  c->connecting = 1;
  c->base.listener = from->base.listener;
  c->base.handler = handler;
  c->base.data = data;
  c->base.outbound = 1;
  c->base.peer = *to;
  iocpd__conn_started(c);
  iocpd__server_outbound_added(from->base.worker->server);
  e = attach(from->base.worker, c);
  if (e != 0) {
    /* Registered and counted, so end it the normal way; the caller gets a
     * failure and, by contract, no callbacks: silence the handler. */
    c->base.handler = &iocpd__silent_handler;
    iocpd_abort(c);
    return iocpd__translate_errno(e);
  }
  *out = c;
  return 0;
}

/* Last step of every connection: nothing can be pending on epoll, so the
 * handler hears on_closed and the memory goes. */
static void finish(iocpd_conn *c) {
  iocpd__splice_forget(c);
  iocpd__wq_clear(c);
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  iocpd__timer_remove(c);
  if (c->base.handler->on_closed != NULL) c->base.handler->on_closed(c);
  iocpd_buffer_put(c, c->rbuf, c->base.listener->buffer_size);
  iocpd__conn_unregister(c);
  free(c);
}

/* A read or write failed: tell the handler, then reset. */
void iocpd__conn_fail(iocpd_conn *c, int e) {
  iocpd_conn_set_end_reason(c, c->base.outbound ? IOCPD_END_UPSTREAM_RESET
                                                : IOCPD_END_CLIENT_RESET);
  if (!c->closing && !c->aborting && c->base.handler->on_error != NULL)
    c->base.handler->on_error(c, iocpd__translate_errno(e));
  iocpd_abort(c);
}

/* The buffer a read fills: the handler's (on_alloc) or the engine's. */
static char *read_buffer(iocpd_conn *c, size_t *size) {
  *size = c->base.listener->buffer_size;
  if (c->base.handler->on_alloc != NULL) return c->base.handler->on_alloc(c, size);
  if (c->rbuf == NULL) c->rbuf = iocpd_buffer_get(c, *size);
  return c->rbuf;
}

static void do_read(iocpd_conn *c) {
  size_t size;
  ssize_t n;
  char *buf;

  if (c->splice_to != NULL && iocpd__splice_read(c)) return;
  buf = read_buffer(c, &size);
  if (buf == NULL) {
    iocpd__conn_fail(c, ENOMEM);
    return;
  }
  do {
    n = recv(c->fd, buf, size, 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    c->want_read = 0;
    iocpd__count_bytes(c, 1, (size_t)n);
    if (c->splice_to != NULL) iocpd__splice_note_chunk(c, (size_t)n, size);
    /* A short read drained the socket: with edge-triggered epoll, more
     * data brings a new event, so don't try (and allocate) again before
     * it. Not so once the peer's FIN or an error has been seen: that
     * event has fired already and the next recv must report it. */
    if ((size_t)n < size && !c->hup) c->readable = 0;
    if (c->base.handler->on_data != NULL) c->base.handler->on_data(c, buf, (size_t)n);
  } else if (n == 0) {
    c->want_read = 0;
    c->peer_closed = 1;
    if (c->base.handler->on_peer_closed != NULL) c->base.handler->on_peer_closed(c);
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    c->readable = 0;
  } else {
    iocpd__conn_fail(c, errno);
  }
}

/* Sends queued writes until done or the socket is full. */
static void do_write(iocpd_conn *c) {
  while (c->wq_head != NULL && c->writable && !c->aborting) {
    iocpd__write_req *r = c->wq_head;
    ssize_t n = r->piped ? iocpd__splice_write(c, r)
                         : send(c->fd, r->data + r->done, r->len - r->done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->writable = 0;
      } else {
        iocpd__conn_fail(c, errno);
      }
      return;
    }
    r->done += (size_t)n;
    iocpd__count_bytes(c, 0, (size_t)n);
    if (r->done < r->len) continue;
    if (r->piped) iocpd__splice_done(c, r);
    iocpd__wq_complete_head(c);
  }
}

/* An outbound connect finished (the socket became writable or failed). */
static void connect_done(iocpd_conn *c) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  int err = 0;

  c->connecting = 0;
  /* A failed connect always reports EPOLLERR or EPOLLHUP; without either,
   * writable means connected, and the SO_ERROR look-up is a system call
   * per relayed connection saved. */
  if (c->hup && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    if (c->base.handler->on_connect != NULL)
      c->base.handler->on_connect(c, iocpd__translate_errno(err));
    iocpd_abort(c);
    return;
  }
  c->base.local_unknown = 1;
  c->base.established = 1;
  if (c->base.handler->on_connect != NULL) c->base.handler->on_connect(c, 0);
}

void iocpd__conn_process(iocpd_conn *c) {
  if (c->connecting && !c->aborting && !c->closing) {
    if (!c->writable) return;
    connect_done(c);
  }
  if (!c->aborting && !c->closing && c->want_read && c->readable) do_read(c);
  if (!c->aborting && c->wq_head != NULL && c->writable) do_write(c);
  /* If a callback above scheduled c again, leave the rest to that pass:
   * c must not be freed while it is on the ready list. */
  if (c->queued) return;
  if (c->aborting) {
    finish(c);
    return;
  }
  if (c->wq_head == NULL && (c->shut_requested || c->closing) && !c->shut_done) {
    /* Closing a socket whose peer has sent its FIN (so nothing is left
     * unread, which would turn close into a reset) sends our FIN just as
     * shutdown would: one system call fewer per relayed connection. */
    if (!(c->closing && c->peer_closed)) shutdown(c->fd, SHUT_WR);
    c->shut_done = 1;
  }
  if (c->closing && c->wq_head == NULL) {
    finish(c);
    return;
  }
}

int iocpd_read(iocpd_conn *c) {
  if (c->closing || c->aborting || c->peer_closed) return IOCPD_ECLOSED;
  if (c->connecting) return IOCPD_EBUSY;
  if (c->want_read) return IOCPD_EBUSY;
  /* The handler is done with the previous data. Give the buffer back, so
   * that an idle connection holds none. */
  iocpd_buffer_put(c, c->rbuf, c->base.listener->buffer_size);
  c->rbuf = NULL;
  c->want_read = 1;
  if (c->readable) iocpd__loop_schedule(c);
  return 0;
}

int iocpd_write(iocpd_conn *c, const void *data, size_t len, void *arg) {
  if (data == NULL || len == 0) return IOCPD_EINVAL;
  if (c->closing || c->aborting || c->shut_requested) return IOCPD_ECLOSED;
  if (c->connecting) return IOCPD_EBUSY;
  if (iocpd__wq_push(c, data, len, arg) == NULL) return IOCPD_ENOMEM;
  if (c->writable) iocpd__loop_schedule(c);
  return 0;
}

int iocpd_shutdown(iocpd_conn *c) {
  if (c->closing || c->aborting) return IOCPD_ECLOSED;
  c->shut_requested = 1;
  iocpd__loop_schedule(c);
  return 0;
}

void iocpd_close(iocpd_conn *c) {
  if (c->closing || c->aborting) return;
  c->closing = 1;
  c->want_read = 0;
  iocpd__conn_mark_closing(c);
  iocpd__linger_start(c);
  iocpd__loop_schedule(c);
}

void iocpd_abort(iocpd_conn *c) {
  struct linger lg;
  if (c->aborting) return;
  c->aborting = 1;
  iocpd__conn_mark_closing(c);
  if (c->fd >= 0) {
    /* A zero linger time makes close() send RST and drop unsent data. */
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(c->fd);
    c->fd = -1;
  }
  iocpd__loop_schedule(c);
}

void iocpd__conn_local(iocpd_conn *c) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (c->fd >= 0 && getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0)
    iocpd__sockaddr_to((struct sockaddr *)&ss, &c->base.local);
  c->base.local_unknown = 0;
}
