/*
 * epoll backend: listening sockets and accepting.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "posix.h"
#include "sockaddr.h"

/* Connections accepted per readiness event before the loop looks at other
 * sockets again, so one busy listener cannot starve its connections. */
#define ACCEPTS_PER_EVENT 64

int iocpd__listener_fail(iocpd__listener *l, const char *what, int e, iocpd_error_info *err) {
  char addr[IOCPD_ADDR_STRLEN];
  if (err != NULL) {
    err->code = iocpd__translate_errno(e);
    err->os_error = e;
    snprintf(err->message, sizeof(err->message), "listener %s: %s %s: %s", l->name, what,
             iocpd_addr_format(&l->addr, addr), strerror(e));
  }
  if (l->os.fd >= 0) close(l->os.fd);
  l->os.fd = -1;
  return iocpd__translate_errno(e);
}

int iocpd__listener_bind(iocpd__listener *l, iocpd_error_info *err) {
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)iocpd__sockaddr_from(&l->addr, &ss);
  int on = 1;

  if (l->udp) return iocpd__udp_bind(l, err);
  l->os.kind = IOCPD__SRC_LISTENER;
  l->os.fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->os.fd < 0) return iocpd__listener_fail(l, "cannot create a socket for", errno, err);
  /* SO_REUSEADDR on Linux only lets a restart bind over TIME_WAIT
   * leftovers; it never lets two live listeners share a port (that would
   * take SO_REUSEPORT, which iocpd does not use). */
  setsockopt(l->os.fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (ss.ss_family == AF_INET6) {
    /* An [ipv6]:port listener serves IPv6 only, as written, unless it is
     * dual_stack (IPv4 clients arrive IPv4-mapped; see sockaddr.c). */
    int v6only = !l->dual_stack;
    setsockopt(l->os.fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  }
  if (bind(l->os.fd, (struct sockaddr *)&ss, len) != 0)
    return iocpd__listener_fail(l, "cannot bind", errno, err);
  if (listen(l->os.fd, SOMAXCONN) != 0)
    return iocpd__listener_fail(l, "cannot listen on", errno, err);
  l->open = 1;
  return 0;
}

/* Adds l to its worker's epoll set. Returns 0 or an errno value. */
static int watch(iocpd__listener *l) {
  struct epoll_event ev;
  if (l->os.polled) return 0;
  memset(&ev, 0, sizeof(ev));
  /* Level-triggered: whatever is left in the backlog after a batch of
   * accepts reports again on the next wait. */
  ev.events = EPOLLIN;
  ev.data.ptr = &l->os.kind;
  if (epoll_ctl(l->worker->os.epfd, EPOLL_CTL_ADD, l->os.fd, &ev) != 0) return errno;
  l->os.polled = 1;
  return 0;
}

int iocpd__listener_start(iocpd__listener *l, iocpd_error_info *err) {
  int e;
  if (l->udp) return iocpd__udp_start(l, err);
  e = watch(l);
  return e == 0 ? 0 : iocpd__listener_fail(l, "cannot watch", e, err);
}

void iocpd__listener_resume(iocpd__listener *l) {
  int e;
  if (l->udp) return; /* never paused: datagrams over a limit are dropped */
  e = watch(l);
  if (e != 0)
    iocpd__log(l->server, IOCPD_LOG_ERROR, "listener %s: cannot resume accepting: %s", l->name,
               strerror(e));
}

void iocpd__listener_close(iocpd__listener *l) {
  if (l->udp) {
    iocpd__udp_close(l);
    return;
  }
  if (l->os.fd < 0 || !l->open) return;
  /* Closing the descriptor also removes it from the epoll set. */
  close(l->os.fd);
  l->os.fd = -1;
  l->os.polled = 0;
  l->open = 0;
}

/* Resets a connection at once: a zero linger time makes close() send RST. */
static void reset(int fd) {
  struct linger lg;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
}

void iocpd__listener_on_ready(iocpd__listener *l) {
  iocpd__worker *w = l->worker;
  int i;

  for (i = 0; i < ACCEPTS_PER_EVENT && l->open; i++) {
    struct sockaddr_storage peer;
    socklen_t peer_len;
    iocpd__worker *target;
    iocpd_conn *c;
    int fd;

    if (!iocpd__admit_reserve(l)) {
      /* At a connection limit: stop polling, so new clients wait in the
       * kernel's backlog, until a close brings a RESUME message. */
      epoll_ctl(w->os.epfd, EPOLL_CTL_DEL, l->os.fd, NULL);
      l->os.polled = 0;
      return;
    }
    peer_len = sizeof(peer);
    fd = accept4(l->os.fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      iocpd__admit_release(l);
      if (e == EINTR || e == ECONNABORTED) continue;
      if (e != EAGAIN && e != EWOULDBLOCK) {
        /* Out of descriptors or memory: the listener stays readable, so
         * stop polling it for a moment rather than spin. */
        epoll_ctl(w->os.epfd, EPOLL_CTL_DEL, l->os.fd, NULL);
        l->os.polled = 0;
        if (e == EMFILE || e == ENFILE) iocpd__count_fd_exhausted(l, 0);
        iocpd__listener_retry_later(l, "cannot accept", e);
      }
      return;
    }
    c = iocpd__conn_new(l, fd, (struct sockaddr *)&peer);
    if (c == NULL) {
      iocpd__admit_release(l);
      iocpd__log(l->server, IOCPD_LOG_WARNING, "listener %s: out of memory, connection dropped",
                 l->name);
      reset(fd);
      continue;
    }
    if (iocpd__admit(c) != IOCPD__ADMITTED) {
      reset(fd);
      iocpd__conn_discard(c);
      continue;
    }
    target = iocpd__next_worker(l->server);
    if (target == w) {
      iocpd__conn_adopt(w, c);
    } else {
      c->adopt_msg.type = IOCPD__MSG_ADOPT;
      c->adopt_msg.conn = c;
      iocpd__worker_post(target, &c->adopt_msg);
    }
  }
}
