/*
 * epoll backend: the worker loop, its wake-up and error translation.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "posix.h"

#define EVENTS_PER_WAIT 256

int iocpd__backend_init(iocpd_error_info *err) {
  (void)err;
  return 0;
}

void iocpd__backend_cleanup(void) {}

int iocpd__translate_errno(int e) {
  switch (e) {
    case 0: return 0;
    case ENOMEM:
    case ENOBUFS: return IOCPD_ENOMEM;
    case EINVAL: return IOCPD_EINVAL;
    case EADDRINUSE: return IOCPD_EADDRINUSE;
    case EADDRNOTAVAIL: return IOCPD_EADDRNOTAVAIL;
    case EACCES:
    case EPERM: return IOCPD_EACCES;
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED: return IOCPD_ECONNRESET;
    case ECONNREFUSED: return IOCPD_ECONNREFUSED;
    case ETIMEDOUT: return IOCPD_ETIMEDOUT;
    case ENETUNREACH:
    case EHOSTUNREACH: return IOCPD_ENETUNREACH;
    case ECANCELED: return IOCPD_ECANCELED;
    case EMFILE:
    case ENFILE: return IOCPD_EMFILE;
    default: return IOCPD_EIO;
  }
}

void iocpd__os_strerror(long os_error, char *buf, size_t len) {
  snprintf(buf, len, "%s", strerror((int)os_error));
}

int iocpd__loop_init(iocpd__worker *w) {
  struct epoll_event ev;
  w->os.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (w->os.epfd < 0) return iocpd__translate_errno(errno);
  w->os.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->os.wakefd < 0) {
    int rc = iocpd__translate_errno(errno);
    close(w->os.epfd);
    return rc;
  }
  w->os.wake_kind = IOCPD__SRC_WAKE;
  memset(&ev, 0, sizeof(ev));
  ev.events = EPOLLIN;
  ev.data.ptr = &w->os.wake_kind;
  if (epoll_ctl(w->os.epfd, EPOLL_CTL_ADD, w->os.wakefd, &ev) != 0) {
    int rc = iocpd__translate_errno(errno);
    close(w->os.wakefd);
    close(w->os.epfd);
    return rc;
  }
  return 0;
}

void iocpd__loop_free(iocpd__worker *w) {
  iocpd__splice_free_pipes(w);
  iocpd__udp_reap(w); /* sessions of listeners closed after the loop ended */
  iocpd__udp_free_batch(w);
  close(w->os.wakefd);
  close(w->os.epfd);
}

void iocpd__loop_wakeup(iocpd__worker *w) {
  uint64_t one = 1;
  /* A full counter (EAGAIN) still means "readable", so nothing is lost. */
  while (write(w->os.wakefd, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

static void list_append(iocpd_conn **head, iocpd_conn **tail, iocpd_conn *c) {
  c->os.ready_next = NULL;
  if (*tail != NULL) {
    (*tail)->os.ready_next = c;
  } else {
    *head = c;
  }
  *tail = c;
}

void iocpd__loop_schedule(iocpd_conn *c) {
  iocpd__worker_os *os = &c->worker->os;
  if (c->os.queued) return;
  c->os.queued = 1;
  /* One turn per connection per pass: a connection that has had its turn
   * in this pass (say, a bulk reader whose buffer came back) waits for the
   * next one, behind the others. Served again at once, a connection that
   * always has input could take most of a worker while the others wait
   * for the next epoll_wait. Others scheduled meanwhile (a relay's other
   * side) still run in this pass. */
  if (c->os.served_pass == os->pass) {
    list_append(&os->later_head, &os->later_tail, c);
  } else {
    list_append(&os->ready_head, &os->ready_tail, c);
  }
}

static void on_conn_event(iocpd_conn *c, uint32_t events) {
  /* Errors and hang-ups are surfaced by the next recv/send, which report
   * them with the precise errno. */
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->os.readable = 1;
  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->os.hup = 1;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) c->os.writable = 1;
  iocpd__loop_schedule(c);
}

/* Connections processed per pass before the loop looks at epoll and the
 * inbox again. */
#define PROCESS_BUDGET 1024

/* Processes ready connections, including those scheduled meanwhile (a
 * relay's write to its other side, say) so that a chunk usually crosses
 * the relay within one pass, with no extra epoll_wait. Each connection
 * gets one turn per pass; one that wants another waits on the later list,
 * which becomes the ready list of the next pass. The budget keeps a pass
 * from starving epoll and the inbox. */
static void run_ready(iocpd__worker *w) {
  int budget = PROCESS_BUDGET;
  w->os.pass++;
  while (w->os.ready_head != NULL && budget-- > 0) {
    iocpd_conn *c = w->os.ready_head;
    w->os.ready_head = c->os.ready_next;
    if (w->os.ready_head == NULL) w->os.ready_tail = NULL;
    c->os.queued = 0;
    c->os.served_pass = w->os.pass;
    iocpd__conn_process(c);
  }
  /* Input read ahead (after a PROXY header) is delivered in the same
   * pass, before the later list is merged below: a connection that its
   * delivery schedules must never be left there while the loop waits. */
  iocpd__conn_run_deferred(w);
  /* Whatever waits for a later turn goes after what is left of this
   * pass (the budget may have run out). */
  if (w->os.later_head != NULL) {
    if (w->os.ready_tail != NULL) {
      w->os.ready_tail->os.ready_next = w->os.later_head;
    } else {
      w->os.ready_head = w->os.later_head;
    }
    w->os.ready_tail = w->os.later_tail;
    w->os.later_head = w->os.later_tail = NULL;
  }
}

void iocpd__loop_run(iocpd__worker *w) {
  struct epoll_event events[EVENTS_PER_WAIT];
  sigset_t pipe_signal;

  /* send() is told MSG_NOSIGNAL, but splice() to a socket has no such
   * flag: a peer gone away must come back as EPIPE, not kill the process.
   * Blocked in this thread only, so the embedding program's own handling
   * of SIGPIPE is left alone. */
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, NULL);

  while (!w->quit) {
    int i, n;
    int timeout = w->os.ready_head != NULL || w->deferred != NULL ? 0 : iocpd__timers_timeout(w);
    timeout = iocpd__splice_timeout(w, timeout);
    n = epoll_wait(w->os.epfd, events, EVENTS_PER_WAIT, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      iocpd__log(w->server, IOCPD_LOG_ERROR, "epoll_wait failed: %s", strerror(errno));
      n = 0;
    }
    /* First, so that the pass's clock is fresh for the callbacks below. */
    iocpd__timers_run(w);
    for (i = 0; i < n; i++) {
      iocpd__source_kind *kind = events[i].data.ptr;
      switch (*kind) {
        case IOCPD__SRC_WAKE: {
          uint64_t count;
          while (read(w->os.wakefd, &count, sizeof(count)) < 0 && errno == EINTR) {
          }
          iocpd__worker_run_inbox(w);
          break;
        }
        case IOCPD__SRC_LISTENER:
          iocpd__listener_on_ready(container_of(kind, iocpd__listener, os.kind));
          break;
        case IOCPD__SRC_CONN:
          on_conn_event(container_of(kind, iocpd_conn, os.kind), events[i].events);
          break;
        case IOCPD__SRC_UDP:
        case IOCPD__SRC_UDP_SESSION: iocpd__udp_on_event(kind, events[i].events); break;
      }
    }
    run_ready(w);
    iocpd__udp_reap(w);
    iocpd__splice_trim(w);
  }
}
