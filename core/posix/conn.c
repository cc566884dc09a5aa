/*
 * epoll backend: the OS side of connections (see core/conn.c for the
 * state machine). A request from conn.c only records what is wanted and
 * schedules the connection on its worker's ready list; iocpd__conn_process
 * then does the recv/send and reports back to conn.c. So callbacks never
 * nest inside the handler's own calls, and teardown happens in one place.
 */
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
  iocpd_conn *c = iocpd__conn_alloc(l, NULL);
  if (c == NULL) return NULL;
  c->os.kind = IOCPD__SRC_CONN;
  c->os.fd = fd;
  c->established = 1;
  iocpd__sockaddr_to(peer, &c->peer);
  /* The local address is looked up only if someone asks (see
   * iocpd__conn_local): a system call per accept saved. */
  c->local_unknown = 1;
  /* Small echoes and relayed request/response traffic must not wait for
   * Nagle's delayed ACK dance. */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  return c;
}

/* Watches c's socket. Returns 0 or an errno value. */
static int watch(iocpd_conn *c) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  /* Edge-triggered, both directions, registered once for the connection's
   * life: no epoll_ctl per read or write. */
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c->os.kind;
  return epoll_ctl(c->worker->os.epfd, EPOLL_CTL_ADD, c->os.fd, &ev) == 0 ? 0 : errno;
}

int iocpd__os_attach(iocpd_conn *c) { return iocpd__translate_errno(watch(c)); }

int iocpd__os_connect(iocpd_conn *c, const iocpd_addr *to) {
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)iocpd__sockaddr_from(to, &ss);
  int on = 1, e;

  c->os.kind = IOCPD__SRC_CONN;
  c->os.fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->os.fd < 0) return iocpd__translate_errno(errno);
  if (connect(c->os.fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS) {
    e = errno;
    close(c->os.fd);
    return iocpd__translate_errno(e);
  }
  setsockopt(c->os.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  e = watch(c);
  if (e != 0) {
    close(c->os.fd);
    return iocpd__translate_errno(e);
  }
  return 0;
}

void iocpd__os_read(iocpd_conn *c) {
  if (c->os.readable) iocpd__loop_schedule(c);
}

void iocpd__os_write(iocpd_conn *c) {
  if (c->os.writable) iocpd__loop_schedule(c);
}

void iocpd__os_shutdown(iocpd_conn *c) { shutdown(c->os.fd, SHUT_WR); }

void iocpd__os_close(iocpd_conn *c, int reset) {
  if (reset) {
    /* A zero linger time makes close() send RST and drop unsent data. */
    struct linger lg;
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(c->os.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  close(c->os.fd);
  c->os.fd = -1;
}

void iocpd__os_schedule(iocpd_conn *c) {
  /* While c is being processed, the end of iocpd__conn_process looks at
   * its teardown anyway, in the same pass. */
  if (!c->os.processing) iocpd__loop_schedule(c);
}

void iocpd__os_release(iocpd_conn *c) { iocpd__splice_forget(c); }

static void fail(iocpd_conn *c, int e) { iocpd__conn_fail(c, iocpd__translate_errno(e)); }

static void do_read(iocpd_conn *c) {
  size_t size;
  ssize_t n;
  char *buf;

  if (c->os.splice_to != NULL && iocpd__splice_read(c)) return;
  buf = iocpd__conn_read_buffer(c, &size);
  if (buf == NULL) {
    fail(c, ENOMEM);
    return;
  }
  do {
    n = recv(c->os.fd, buf, size, 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    if (c->os.splice_to != NULL) iocpd__splice_note_chunk(c, (size_t)n, size);
    /* A short read drained the socket: with edge-triggered epoll, more
     * data brings a new event, so don't try (and allocate) again before
     * it. Not so once the peer's FIN or an error has been seen: that
     * event has fired already and the next recv must report it. */
    if ((size_t)n < size && !c->os.hup) c->os.readable = 0;
    iocpd__conn_read_done(c, buf, (size_t)n);
  } else if (n == 0) {
    iocpd__conn_read_done(c, buf, 0);
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    c->os.readable = 0;
  } else {
    fail(c, errno);
  }
}

/* Sends queued writes until done or the socket is full. */
static void do_write(iocpd_conn *c) {
  while (c->wq_head != NULL && c->os.writable && !c->aborting) {
    iocpd__write_req *r = c->wq_head;
    ssize_t n = r->os.piped ? iocpd__splice_write(c, r)
                            : send(c->os.fd, r->data + r->done, r->len - r->done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c->os.writable = 0;
      } else {
        fail(c, errno);
      }
      return;
    }
    if (r->os.piped && r->done + (size_t)n == r->len) iocpd__splice_done(c, r);
    iocpd__conn_wrote(c, (size_t)n);
  }
}

/* An outbound connect finished (the socket became writable or failed). */
static void connect_done(iocpd_conn *c) {
  socklen_t len = sizeof(int);
  int err = 0;
  /* A failed connect always reports EPOLLERR or EPOLLHUP; without either,
   * writable means connected, and the SO_ERROR look-up is a system call
   * per relayed connection saved. */
  if (c->os.hup && getsockopt(c->os.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) c->local_unknown = 1;
  iocpd__conn_connected(c, iocpd__translate_errno(err));
}

void iocpd__conn_process(iocpd_conn *c) {
  if (c->connecting && !c->aborting && !c->close_requested) {
    if (!c->os.writable) return;
    c->os.processing = 1;
    connect_done(c);
    c->os.processing = 0;
  }
  c->os.processing = 1;
  if (!c->aborting && !c->close_requested && c->want_read && c->os.readable) do_read(c);
  if (!c->aborting && c->wq_head != NULL && c->os.writable) do_write(c);
  c->os.processing = 0;
  /* If a callback above scheduled c again, leave the rest to that turn:
   * c must not be freed while it is on a ready list. */
  if (c->os.queued) return;
  if (c->socket_closed && (c->aborting || c->close_requested)) iocpd__conn_free(c);
}

void iocpd__conn_local(iocpd_conn *c) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (c->os.fd >= 0 && getsockname(c->os.fd, (struct sockaddr *)&ss, &len) == 0)
    iocpd__sockaddr_to((struct sockaddr *)&ss, &c->local);
  c->local_unknown = 0;
}
