/*
 * epoll backend: UDP listeners and sessions.
 *
 * Sockets are level-triggered: a batch that leaves datagrams behind is
 * reported again by the next epoll_wait, so no socket is starved and none
 * forgotten. Datagrams come in with recvmmsg, up to UDP_BATCH per call,
 * into the worker's batch room, and leave with sendmmsg, the replies of
 * one read in one call; a datagram is handled whole, never split or
 * merged. Whatever a socket has no room for is copied into a bounded
 * queue and sent when EPOLLOUT says so; beyond the bound it is dropped
 * and counted, as UDP allows and memory requires.
 *
 * Replies from upstreams are gathered over a loop pass and leave together
 * at its end: one sendmmsg for the replies of many sessions.
 *
 * An ended session's socket is closed at once, but its memory is freed
 * only after the loop pass (iocpd__udp_reap): an event for it may still
 * be in the batch epoll_wait returned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "posix.h"
#include "sockaddr.h"

#define UDP_BATCH 32
/* Room for any datagram, IPv6's largest payload included. */
#define UDP_SLOT 65536
/* recvmmsg calls per readiness event before the loop looks at others. */
#define UDP_READS_PER_EVENT 4

typedef struct iocpd__udp_batch {
  struct mmsghdr in[UDP_BATCH];
  struct iovec in_iov[UDP_BATCH];
  struct sockaddr_in6 from[UDP_BATCH];
  struct mmsghdr out[UDP_BATCH];
  iocpd__udp_session *out_session[UDP_BATCH]; /* whose reply out[i] is (NULL: echo) */
  char *room;                                 /* UDP_BATCH slots of UDP_SLOT bytes */
  /* Replies read from sessions' sockets during a loop pass, received
   * straight into slots of their own and sent to their clients together,
   * in one sendmmsg through reply_l's socket, at the end of the pass (or
   * once the slots are full, or another listener's come). */
  iocpd__listener *reply_l;
  unsigned replies;
  struct mmsghdr reply[UDP_BATCH];
  struct iovec reply_iov[UDP_BATCH];
  iocpd__udp_session *reply_session[UDP_BATCH];
  char *reply_room;
} iocpd__udp_batch;

static iocpd__udp_batch *batch_of(iocpd__worker *w) {
  iocpd__udp_batch *b = w->os.udp_batch;
  if (b != NULL) return b;
  b = calloc(1, sizeof(*b));
  if (b == NULL) return NULL;
  /* Pages are touched only as datagrams fill them. */
  b->room = malloc((size_t)UDP_BATCH * UDP_SLOT);
  b->reply_room = malloc((size_t)UDP_BATCH * UDP_SLOT);
  if (b->room == NULL || b->reply_room == NULL) {
    free(b->room);
    free(b->reply_room);
    free(b);
    return NULL;
  }
  w->os.udp_batch = b;
  return b;
}

/* ------------------------------------------------------------------------ */
/* Watching for room */

static int epoll_set(iocpd__worker *w, int op, int fd, void *ptr, int out) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
  ev.data.ptr = ptr;
  return epoll_ctl(w->os.epfd, op, fd, &ev);
}

static void listener_watch_out(iocpd__listener *l, int on) {
  if (l->os.out_watched == on || l->os.fd < 0) return;
  l->os.out_watched = on;
  epoll_set(l->worker, EPOLL_CTL_MOD, l->os.fd, &l->os.kind, on);
}

static void session_watch_out(iocpd__udp_session *s, int on) {
  if (s->os.out_watched == on || s->os.fd < 0) return;
  s->os.out_watched = (unsigned char)on;
  epoll_set(s->listener->worker, EPOLL_CTL_MOD, s->os.fd, &s->os.kind, on);
}

/* ------------------------------------------------------------------------ */
/* Queues */

/* Copies a datagram into q, or drops it (counted) when q is full or
 * memory is short. */
static void queue_push(iocpd__listener *l, iocpd__dgram_queue *q, const void *data, size_t len,
                       const struct sockaddr_in6 *to, socklen_t to_len) {
  iocpd__worker *w = l->worker;
  iocpd__dgram *d;
  /* Full: the queue, or the worker's room for copies of all its
   * sessions' (so that memory stays bounded however many wait). */
  if (q->count >= IOCPD_UDP_QUEUE_MAX || w->os.udp_queued + len > IOCPD__UDP_QUEUED_MAX) {
    iocpd__udp_drop(l, IOCPD_UDP_DROP_QUEUE, 1);
    return;
  }
  d = malloc(sizeof(*d) + len);
  if (d == NULL) {
    iocpd__udp_drop(l, IOCPD_UDP_DROP_NOMEM, 1);
    return;
  }
  d->next = NULL;
  d->len = len;
  memcpy(d->data, data, len);
  if (to != NULL) memcpy(&d->to, to, to_len);
  d->to_len = to_len;
  w->os.udp_queued += len;
  if (q->tail != NULL) {
    q->tail->next = d;
  } else {
    q->head = d;
  }
  q->tail = d;
  q->count++;
}

static void queue_pop(iocpd__worker *w, iocpd__dgram_queue *q) {
  iocpd__dgram *d = q->head;
  w->os.udp_queued -= d->len;
  q->head = d->next;
  if (q->head == NULL) q->tail = NULL;
  q->count--;
  free(d);
}

static void queue_clear(iocpd__worker *w, iocpd__dgram_queue *q) {
  while (q->head != NULL) queue_pop(w, q);
}

static void wait_list_add(iocpd__listener *l, iocpd__udp_session *s) {
  if (s->os.waiting) return;
  s->os.waiting = 1;
  s->os.wait_next = NULL;
  s->os.wait_prev = l->os.wait_tail;
  if (l->os.wait_tail != NULL) {
    l->os.wait_tail->os.wait_next = s;
  } else {
    l->os.wait_head = s;
  }
  l->os.wait_tail = s;
}

static void wait_list_remove(iocpd__listener *l, iocpd__udp_session *s) {
  if (!s->os.waiting) return;
  s->os.waiting = 0;
  if (s->os.wait_prev != NULL) {
    s->os.wait_prev->os.wait_next = s->os.wait_next;
  } else {
    l->os.wait_head = s->os.wait_next;
  }
  if (s->os.wait_next != NULL) {
    s->os.wait_next->os.wait_prev = s->os.wait_prev;
  } else {
    l->os.wait_tail = s->os.wait_prev;
  }
  s->os.wait_prev = s->os.wait_next = NULL;
}

/* ------------------------------------------------------------------------ */
/* Sending */

/* Sends k datagrams on fd from m, in order, and returns how many went;
 * *err is 0, or the errno that stopped the first one that did not. */
static unsigned send_batch(int fd, struct mmsghdr *m, unsigned k, int *err) {
  unsigned done = 0;
  *err = 0;
  while (done < k) {
    int r = sendmmsg(fd, m + done, k - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) {
      done += (unsigned)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      *err = r < 0 ? errno : EAGAIN;
      break;
    }
  }
  return done;
}

static int no_room(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS; }

/* Sends the replies in b->out[0..k) to their clients through l's socket.
 * What finds no room waits in its session's queue (or the echo queue)
 * and the listener watches for room; a reply the OS refuses is dropped. */
static void send_down(iocpd__listener *l, iocpd__udp_batch *b, unsigned k) {
  unsigned i = 0;
  while (i < k) {
    int e;
    unsigned sent = send_batch(l->os.fd, b->out + i, k - i, &e), j;
    uint64_t bytes = 0;
    /* The listener's counters once per call, each session's as it goes. */
    for (j = i; j < i + sent; j++) {
      size_t len = b->out[j].msg_hdr.msg_iov->iov_len;
      bytes += len;
      if (b->out_session[j] != NULL)
        iocpd__udp_count_session(b->out_session[j], IOCPD__BYTES_OUT, len);
    }
    iocpd__udp_count(l, NULL, IOCPD__BYTES_OUT, sent, bytes);
    i += sent;
    if (i == k) break;
    if (no_room(e)) break;
    iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1); /* refused: this one only */
    i++;
  }
  for (; i < k; i++) {
    iocpd__udp_session *s = b->out_session[i];
    struct msghdr *h = &b->out[i].msg_hdr;
    if (s != NULL) {
      queue_push(l, &s->os.down, h->msg_iov->iov_base, h->msg_iov->iov_len, NULL, 0);
      wait_list_add(l, s);
    } else {
      queue_push(l, &l->os.echo_out, h->msg_iov->iov_base, h->msg_iov->iov_len, h->msg_name,
                 h->msg_namelen);
    }
  }
  if (l->os.echo_out.count > 0 || l->os.wait_head != NULL) listener_watch_out(l, 1);
}

/* Whether replies of s (or echo replies, s NULL) wait already: new ones
 * go behind them, so that order is kept. */
static int down_waits(iocpd__listener *l, iocpd__udp_session *s) {
  return s != NULL ? s->os.down.count > 0 : l->os.echo_out.count > 0;
}

/* Sends n datagrams (b->in[first..first+n), all of session s) to its
 * upstream; what finds no room waits in its queue. An ICMP error from an
 * earlier datagram moves the session on (the datagram that met it is
 * sent to the next upstream). */
static void send_up(iocpd__udp_session *s, iocpd__udp_batch *b, unsigned first, unsigned n) {
  iocpd__listener *l = s->listener;
  unsigned i = 0, retried = 0;
  struct mmsghdr *m = b->out;
  for (i = 0; i < n; i++) {
    memset(&m[i], 0, sizeof(m[i]));
    m[i].msg_hdr.msg_iov = &b->in_iov[first + i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  i = 0;
  while (i < n && !s->ended) {
    int e;
    unsigned sent, j;
    uint64_t bytes = 0;
    if (s->os.up.count > 0) break;
    sent = send_batch(s->os.fd, m + i, n - i, &e);
    for (j = i; j < i + sent; j++) bytes += m[j].msg_hdr.msg_iov->iov_len;
    iocpd__udp_count(l, s, IOCPD__BYTES_UP, sent, bytes);
    i += sent;
    if (i == n || no_room(e)) break;
    if ((e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH) && retried++ < 1) {
      iocpd__udp_upstream_failed(s);
      continue;
    }
    iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1);
    i++;
  }
  if (s->ended) {
    iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, n - i);
    return;
  }
  for (; i < n; i++) {
    queue_push(l, &s->os.up, m[i].msg_hdr.msg_iov->iov_base, m[i].msg_hdr.msg_iov->iov_len, NULL,
               0);
  }
  if (s->os.up.count > 0) session_watch_out(s, 1);
}

/* ------------------------------------------------------------------------ */
/* Receiving */

/* Reads up to count datagrams from fd into m[0..count), each into its
 * slot of room, with their sources in from[] when from is not NULL.
 * Returns how many, 0 when none is waiting, or -errno. */
static int receive(int fd, struct mmsghdr *m, struct iovec *iov, char *room, unsigned count,
                   struct sockaddr_in6 *from) {
  unsigned i;
  int n;
  for (i = 0; i < count; i++) {
    iov[i].iov_base = room + (size_t)i * UDP_SLOT;
    iov[i].iov_len = UDP_SLOT;
    memset(&m[i].msg_hdr, 0, sizeof(m[i].msg_hdr));
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
    if (from != NULL) {
      m[i].msg_hdr.msg_name = &from[i];
      m[i].msg_hdr.msg_namelen = sizeof(from[i]);
    }
  }
  do {
    n = recvmmsg(fd, m, count, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return no_room(errno) ? 0 : -errno;
  for (i = 0; i < (unsigned)n; i++) iov[i].iov_len = m[i].msg_len;
  return n;
}

static void echo_batch(iocpd__listener *l, iocpd__udp_batch *b, unsigned n) {
  unsigned i, k = 0;
  uint64_t bytes = 0;
  for (i = 0; i < n; i++) {
    struct msghdr *h = &b->in[i].msg_hdr;
    iocpd_addr src;
    bytes += b->in[i].msg_len;
    if (iocpd__sockaddr_to(h->msg_name, &src) != 0 || !iocpd__admit_datagram(l, &src)) {
      iocpd__udp_drop(l, IOCPD_UDP_DROP_DENIED, 1);
      continue;
    }
    memset(&b->out[k], 0, sizeof(b->out[k]));
    b->out[k].msg_hdr.msg_name = h->msg_name;
    b->out[k].msg_hdr.msg_namelen = h->msg_namelen;
    b->out[k].msg_hdr.msg_iov = &b->in_iov[i];
    b->out[k].msg_hdr.msg_iovlen = 1;
    b->out_session[k] = NULL;
    k++;
  }
  iocpd__udp_count(l, NULL, IOCPD__BYTES_IN, n, bytes);
  if (down_waits(l, NULL)) {
    for (i = 0; i < k; i++) {
      struct msghdr *h = &b->out[i].msg_hdr;
      queue_push(l, &l->os.echo_out, h->msg_iov->iov_base, h->msg_iov->iov_len, h->msg_name,
                 h->msg_namelen);
    }
    return;
  }
  send_down(l, b, k);
}

/* Relays each datagram to its client's session; runs of one session's
 * datagrams go up in one sendmmsg. */
static void forward_batch(iocpd__listener *l, iocpd__udp_batch *b, unsigned n) {
  unsigned i = 0;
  while (i < n) {
    struct msghdr *h = &b->in[i].msg_hdr;
    iocpd__udp_session *s;
    iocpd_addr src;
    unsigned run = 1;
    if (iocpd__sockaddr_to(h->msg_name, &src) != 0 || !iocpd__admit_datagram(l, &src)) {
      iocpd__udp_count(l, NULL, IOCPD__BYTES_IN, 1, b->in[i].msg_len);
      iocpd__udp_drop(l, IOCPD_UDP_DROP_DENIED, 1);
      i++;
      continue;
    }
    s = iocpd__udp_session_get(l, &src, h->msg_name, h->msg_namelen);
    if (s == NULL) {
      iocpd__udp_count(l, NULL, IOCPD__BYTES_IN, 1, b->in[i].msg_len);
      i++;
      continue;
    }
    /* The same client's next datagrams, as long as they follow. */
    while (i + run < n && b->in[i + run].msg_hdr.msg_namelen == h->msg_namelen &&
           memcmp(b->in[i + run].msg_hdr.msg_name, h->msg_name, h->msg_namelen) == 0) {
      run++;
    }
    {
      unsigned j;
      uint64_t bytes = 0;
      for (j = i; j < i + run; j++) bytes += b->in[j].msg_len;
      iocpd__udp_count(l, s, IOCPD__BYTES_IN, run, bytes);
    }
    iocpd__udp_touch(s);
    send_up(s, b, i, run);
    i += run;
  }
}

static void listener_readable(iocpd__listener *l) {
  iocpd__udp_batch *b = batch_of(l->worker);
  int round;
  if (b == NULL) return; /* retried on the next event: the socket stays readable */
  for (round = 0; round < UDP_READS_PER_EVENT && l->open; round++) {
    int n = receive(l->os.fd, b->in, b->in_iov, b->room, UDP_BATCH, b->from);
    if (n < 0) {
      /* An ICMP error for an earlier echo reply, or the like: it
       * concerns one client, never the listener. */
      if (n == -ECONNREFUSED || n == -EHOSTUNREACH || n == -ENETUNREACH) continue;
      iocpd__log(l->server, IOCPD_LOG_WARNING, "listener %s: cannot receive: %s", l->name,
                 strerror(-n));
      return;
    }
    if (n == 0) return;
    if (iocpd__udp_is_echo(l)) {
      echo_batch(l, b, (unsigned)n);
    } else {
      forward_batch(l, b, (unsigned)n);
    }
    if (n < UDP_BATCH) return;
  }
}

/* Sends the replies gathered in this pass (see iocpd__udp_batch) to their
 * clients; those of sessions that have ended since are dropped. */
static void send_replies(iocpd__udp_batch *b) {
  iocpd__listener *l = b->reply_l;
  unsigned i, k = 0, n = b->replies;
  b->replies = 0;
  b->reply_l = NULL;
  if (n == 0) return;
  for (i = 0; i < n; i++) {
    if (b->reply_session[i]->ended || !l->open) continue;
    b->out[k] = b->reply[i];
    b->out_session[k] = b->reply_session[i];
    k++;
  }
  if (k < n && l->open) iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, n - k);
  if (k > 0) send_down(l, b, k);
}

static void session_readable(iocpd__udp_session *s) {
  iocpd__listener *l = s->listener;
  iocpd__udp_batch *b = batch_of(l->worker);
  int round;
  if (b == NULL) return;
  for (round = 0; round < UDP_READS_PER_EVENT && !s->ended && l->open; round++) {
    int queued = down_waits(l, s), n, i;
    unsigned first, room;
    uint64_t bytes = 0;
    if (b->replies == UDP_BATCH || (b->reply_l != NULL && b->reply_l != l)) send_replies(b);
    /* Behind replies that wait for room already: into the queue, in
     * order. Otherwise into the reply slots, to go out with the pass's. */
    first = queued ? 0 : b->replies;
    room = UDP_BATCH - first;
    n = queued ? receive(s->os.fd, b->in, b->in_iov, b->room, UDP_BATCH, NULL)
               : receive(s->os.fd, b->reply + first, b->reply_iov + first,
                         b->reply_room + (size_t)first * UDP_SLOT, room, NULL);
    if (n < 0) {
      if (n == -ECONNREFUSED || n == -EHOSTUNREACH || n == -ENETUNREACH) {
        iocpd__udp_upstream_failed(s);
        continue;
      }
      iocpd__udp_session_end(s, IOCPD_END_UPSTREAM_RESET);
      return;
    }
    if (n == 0) return;
    for (i = 0; i < n; i++) bytes += queued ? b->in[i].msg_len : b->reply[first + i].msg_len;
    iocpd__udp_count(l, s, IOCPD__BYTES_DOWN, (uint64_t)n, bytes);
    iocpd__udp_replied(s);
    iocpd__udp_touch(s);
    if (queued) {
      for (i = 0; i < n; i++) {
        queue_push(l, &s->os.down, b->in_iov[i].iov_base, b->in_iov[i].iov_len, NULL, 0);
      }
    } else {
      for (i = 0; i < n; i++) {
        struct msghdr *h = &b->reply[first + i].msg_hdr;
        h->msg_name = &s->os.client_raw;
        h->msg_namelen = s->os.client_raw_len;
        b->reply_session[first + i] = s;
      }
      b->replies += (unsigned)n;
      b->reply_l = l;
    }
    if ((unsigned)n < (queued ? UDP_BATCH : room)) return;
  }
}

/* ------------------------------------------------------------------------ */
/* Room again */

/* Sends what waits in q through fd (to each one's own address when
 * named). Returns 1 when q is empty, 0 when the socket is full again. */
static int flush_queue(iocpd__listener *l, iocpd__udp_session *s, iocpd__dgram_queue *q, int fd,
                       int which) {
  while (q->head != NULL) {
    iocpd__dgram *d = q->head;
    ssize_t r;
    if (s != NULL && which == IOCPD__BYTES_OUT) {
      r = sendto(fd, d->data, d->len, MSG_DONTWAIT | MSG_NOSIGNAL,
                 (struct sockaddr *)&s->os.client_raw, s->os.client_raw_len);
    } else if (d->to_len > 0) {
      r = sendto(fd, d->data, d->len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&d->to,
                 d->to_len);
    } else {
      r = send(fd, d->data, d->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && no_room(errno)) return 0;
    if (r < 0) {
      iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1);
    } else {
      iocpd__udp_count(l, s, which, 1, d->len);
    }
    queue_pop(l->worker, q);
  }
  return 1;
}

static void listener_writable(iocpd__listener *l) {
  if (!flush_queue(l, NULL, &l->os.echo_out, l->os.fd, IOCPD__BYTES_OUT)) return;
  while (l->os.wait_head != NULL) {
    iocpd__udp_session *s = l->os.wait_head;
    if (!flush_queue(l, s, &s->os.down, l->os.fd, IOCPD__BYTES_OUT)) return;
    wait_list_remove(l, s);
  }
  listener_watch_out(l, 0);
}

static void session_writable(iocpd__udp_session *s) {
  if (flush_queue(s->listener, s, &s->os.up, s->os.fd, IOCPD__BYTES_UP)) session_watch_out(s, 0);
}

void iocpd__udp_on_event(iocpd__source_kind *kind, uint32_t events) {
  if (*kind == IOCPD__SRC_UDP) {
    iocpd__listener *l = container_of(kind, iocpd__listener, os.kind);
    if (!l->open) return;
    if (events & EPOLLOUT) listener_writable(l);
    if (events & (EPOLLIN | EPOLLERR)) listener_readable(l);
  } else {
    iocpd__udp_session *s = container_of(kind, iocpd__udp_session, os.kind);
    /* Ended earlier in this pass: its memory waits for the reap. */
    if (s->ended) return;
    if (events & EPOLLOUT) session_writable(s);
    if (!s->ended && (events & (EPOLLIN | EPOLLERR))) session_readable(s);
  }
}

/* ------------------------------------------------------------------------ */
/* Listener and session sockets */

/* Room for a burst: the kernel drops what arrives while the socket's
 * receive buffer is full, and the default (about 208 KiB) is three of the
 * largest datagrams, a fraction of a millisecond at a high rate. Past
 * net.core.rmem_max only a privileged process may go (SO_RCVBUFFORCE);
 * otherwise the kernel's cap stands, and the log says so once. */
static void receive_room(iocpd__listener *l) {
  int want = IOCPD__UDP_RECEIVE_BUFFER, got = 0;
  socklen_t len = sizeof(got);
  if (setsockopt(l->os.fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) != 0)
    setsockopt(l->os.fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
  /* Linux reports twice what it grants (the rest is its bookkeeping). */
  if (getsockopt(l->os.fd, SOL_SOCKET, SO_RCVBUF, &got, &len) == 0 && got / 2 < want) {
    iocpd__log(l->server, IOCPD_LOG_INFO,
               "listener %s: UDP receive buffer %d KiB (net.core.rmem_max caps it; %d KiB "
               "absorbs longer bursts)",
               l->name, got / 2 / 1024, want / 1024);
  }
}

int iocpd__udp_bind(iocpd__listener *l, iocpd_error_info *err) {
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)iocpd__sockaddr_from(&l->addr, &ss);

  l->os.kind = IOCPD__SRC_UDP;
  l->os.fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->os.fd < 0) return iocpd__listener_fail(l, "cannot create a UDP socket for", errno, err);
  if (ss.ss_family == AF_INET6) {
    int v6only = !l->dual_stack;
    setsockopt(l->os.fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
  }
  receive_room(l);
  if (bind(l->os.fd, (struct sockaddr *)&ss, len) != 0)
    return iocpd__listener_fail(l, "cannot bind UDP", errno, err);
  l->open = 1;
  return 0;
}

int iocpd__udp_start(iocpd__listener *l, iocpd_error_info *err) {
  if (epoll_set(l->worker, EPOLL_CTL_ADD, l->os.fd, &l->os.kind, 0) != 0)
    return iocpd__listener_fail(l, "cannot watch UDP", errno, err);
  l->os.polled = 1;
  return 0;
}

void iocpd__udp_close(iocpd__listener *l) {
  if (l->os.fd < 0 || !l->open) return;
  close(l->os.fd);
  l->os.fd = -1;
  l->os.polled = 0;
  l->os.out_watched = 0;
  l->open = 0;
  queue_clear(l->worker, &l->os.echo_out);
  iocpd__udp_end_all(l, IOCPD_END_SHUTDOWN);
}

int iocpd__udp_os_open(iocpd__udp_session *s) {
  iocpd__listener *l = s->listener;
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)iocpd__sockaddr_from(&s->fwd->upstreams[s->upstream], &ss);
  int e;
  s->os.kind = IOCPD__SRC_UDP_SESSION;
  s->os.fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->os.fd < 0) return iocpd__translate_errno(errno);
  if (connect(s->os.fd, (struct sockaddr *)&ss, len) == 0 &&
      epoll_set(l->worker, EPOLL_CTL_ADD, s->os.fd, &s->os.kind, 0) == 0) {
    return 0;
  }
  e = errno;
  close(s->os.fd);
  s->os.fd = -1;
  return iocpd__translate_errno(e);
}

int iocpd__udp_os_reconnect(iocpd__udp_session *s) {
  struct sockaddr_storage ss;
  socklen_t len = (socklen_t)iocpd__sockaddr_from(&s->fwd->upstreams[s->upstream], &ss);
  /* A datagram socket may be connected again: the new peer replaces the
   * old one, and the error that reported the old one is already taken. */
  if (connect(s->os.fd, (struct sockaddr *)&ss, len) != 0) return iocpd__translate_errno(errno);
  queue_clear(s->listener->worker, &s->os.up);
  session_watch_out(s, 0);
  return 0;
}

void iocpd__udp_os_close(iocpd__udp_session *s) {
  iocpd__listener *l = s->listener;
  iocpd__worker *w = l->worker;
  if (s->os.fd >= 0) close(s->os.fd); /* also out of the epoll set */
  s->os.fd = -1;
  queue_clear(s->listener->worker, &s->os.up);
  queue_clear(s->listener->worker, &s->os.down);
  wait_list_remove(l, s);
  s->hash_next = w->os.udp_ended;
  w->os.udp_ended = s;
}

void iocpd__udp_reap(iocpd__worker *w) {
  /* The pass's replies first: their sessions may be among those freed. */
  if (w->os.udp_batch != NULL) send_replies(w->os.udp_batch);
  while (w->os.udp_ended != NULL) {
    iocpd__udp_session *s = w->os.udp_ended;
    w->os.udp_ended = s->hash_next;
    iocpd__udp_session_free(s);
  }
}

void iocpd__udp_free_batch(iocpd__worker *w) {
  if (w->os.udp_batch == NULL) return;
  free(w->os.udp_batch->room);
  free(w->os.udp_batch->reply_room);
  free(w->os.udp_batch);
  w->os.udp_batch = NULL;
}
