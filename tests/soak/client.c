/*
 * soak: the client side. Opens every connection, the silent ones mixed in,
 * and sends each relayed one's header; waits until the upstream has read
 * all the headers (every relayed connection is then open end to end at
 * once: the barrier) and iocpd has connected every silent one's upstream
 * side; then lets payload move. The silent ones end on iocpd's
 * handshake_timeout meanwhile.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

#define BUF_LEN (256 * 1024)
#define MS UINT64_C(1000000) /* ns; 64-bit, so that 30000 * MS does not wrap */
/* Bytes one connection may move each way per turn before others get
 * theirs, and how long one pass over the ready connections may take
 * before new events are looked at: a reset is noticed only when its
 * socket's turn comes, so the fault latencies measured include this
 * loop's own; these keep it short even with 10,000 busy connections. */
#define BUDGET (256 * 1024)
#define PASS_NS (10 * MS)
#define MAX_EVENTS 128
#define NONE UINT32_MAX
#define PROGRESS_EVERY_NS (5000 * MS)
/* The watchdog: no byte moved and no connection ended for this long means
 * something hangs; the run stops and says what is still open. */
#define STALL_NS (30000 * MS)
/* Connections described one by one when the run ends with some open. */
#define DIAG_SHOWN 10
/* After the client is done: how long the upstream may take to finish
 * beyond the fault bound (its sides end a moment after the client's). */
#define UPSTREAM_GRACE_MS 2000u

enum client_state {
  CS_IDLE,       /* not started */
  CS_CONNECTING, /* connect() in progress */
  CS_HEADER,     /* sending the header */
  CS_HELD,       /* header sent; no payload before the release */
  CS_RUNNING,    /* the plan runs */
  CS_SILENT,     /* a silent connection waiting to be closed by iocpd */
  CS_DONE
};

static const char *const state_names[] = {
    "not started", "connecting", "sending its header", "held", "running", "silent", "done"};

typedef struct cconn {
  soak_stream s;
  uint8_t state;
  uint8_t hdr_sent;
} cconn;

typedef struct client {
  const soak_params *p;
  const soak_plan *plans;
  soak_shared *sh;
  cconn *conns;
  uint32_t total;
  int epfd;
  soak_timers timers;
  uint32_t ready_head, ready_tail; /* a FIFO through soak_stream.next */
  uint32_t next_relayed, next_silent;
  uint32_t connecting, open, done_relayed, done_silent;
  uint32_t lost_early; /* relayed connections that ended before the release */
  unsigned char *buf;
  uint64_t began, last_progress;
  uint64_t moved;    /* bytes and ends counted at the last look */
  uint64_t moved_at; /* when that count last changed */
  int released;
} client;

/* ------------------------------------------------------------------------ */
/* The ready list: connections with budget-limited work left. */

static void push_ready(client *cl, uint32_t i) {
  soak_stream *s = &cl->conns[i].s;
  if (s->queued) return;
  s->queued = 1;
  s->next = NONE;
  if (cl->ready_tail == NONE)
    cl->ready_head = i;
  else
    cl->conns[cl->ready_tail].s.next = i;
  cl->ready_tail = i;
}

static uint32_t pop_ready(client *cl) {
  uint32_t i = cl->ready_head;
  if (i == NONE) return NONE;
  cl->ready_head = cl->conns[i].s.next;
  if (cl->ready_head == NONE) cl->ready_tail = NONE;
  cl->conns[i].s.queued = 0;
  return i;
}

/* ------------------------------------------------------------------------ */
/* Connections */

static int is_relayed(const client *cl, uint32_t i) { return i < cl->p->relayed; }

/* The connection is over: close what is left and count it. */
static void finish(client *cl, uint32_t i, uint64_t now) {
  cconn *c = &cl->conns[i];
  if (c->state == CS_DONE) return;
  if (c->state == CS_CONNECTING) cl->connecting--;
  soak_stream_close(&c->s, now);
  if (is_relayed(cl, i)) {
    cl->done_relayed++;
    if (!cl->released) cl->lost_early++;
  } else {
    cl->done_silent++;
  }
  if (c->state != CS_IDLE) cl->open--;
  c->state = CS_DONE;
}

/* A connection that could not even start: socket() or connect() failed. */
static void fail_start(client *cl, uint32_t i, int e, uint64_t now) {
  soak_side *rec = cl->conns[i].s.rec;
  rec->rx = RX_ERROR;
  rec->tx = TX_ERROR;
  rec->err = e;
  finish(cl, i, now);
}

static uint16_t port_for(const client *cl, uint32_t i) {
  switch ((soak_kind)cl->plans[i].kind) {
    case KIND_SILENT: return cl->p->silent_port;
    case KIND_FAILOVER: return cl->p->failover_port;
    default: return cl->p->main_port;
  }
}

static void start_connect(client *cl, uint32_t i, uint64_t now) {
  cconn *c = &cl->conns[i];
  soak_side *rec = &cl->sh->client[i];
  struct sockaddr_in to;
  struct epoll_event ev;
  int fd;

  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons(port_for(cl, i));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  memset(rec, 0, sizeof(*rec));
  soak_stream_init(&c->s, -1, i, &cl->plans[i], 0, rec);
  if (cl->p->corrupt == (int64_t)i) c->s.corrupt_at = c->s.tx_stop / 2;
  fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail_start(cl, i, errno, now);
    return;
  }
  c->s.fd = fd;
  /* Taken right before the call, not from the loop's clock (a batch of
   * connects takes milliseconds), and not when the loop notices it
   * completed (later): iocpd cannot accept it, and start a handshake
   * timer, before this moment. */
  rec->start_ns = soak_now_ns();
  if (connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 && errno != EINPROGRESS) {
    fail_start(cl, i, errno, now);
    return;
  }
  memset(&ev, 0, sizeof(ev));
  /* Edge-triggered, registered once: readiness is remembered in the
   * stream (readable, writable) until a call says EAGAIN. */
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u32 = i;
  if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    fail_start(cl, i, errno, now);
    return;
  }
  c->state = CS_CONNECTING;
  cl->connecting++;
  cl->open++;
}

/* The connect finished; on success a relayed connection goes on to send
 * its header, a silent one starts waiting. */
static void connected(client *cl, uint32_t i, uint64_t now) {
  cconn *c = &cl->conns[i];
  int err = 0;
  socklen_t len = sizeof(err);
  if (!c->s.writable) return;
  if (getsockopt(c->s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    fail_start(cl, i, err, now);
    return;
  }
  cl->connecting--;
  if (cl->plans[i].kind == KIND_SILENT) {
    c->s.rec->tx = TX_DONE; /* it has nothing to send, by plan */
    c->state = CS_SILENT;
  } else {
    c->state = CS_HEADER;
  }
}

static void send_header(client *cl, uint32_t i, uint64_t now) {
  cconn *c = &cl->conns[i];
  unsigned char h[SOAK_HEADER_LEN];
  soak_header_make(&cl->plans[i], i, h);
  while (c->hdr_sent < SOAK_HEADER_LEN && c->s.writable) {
    ssize_t n = send(c->s.fd, h + c->hdr_sent, SOAK_HEADER_LEN - c->hdr_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c->hdr_sent += (uint8_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c->s.writable = 0;
    } else if (n < 0 && errno != EINTR) {
      c->s.rec->tx = errno == EPIPE || errno == ECONNRESET ? TX_RESET : TX_ERROR;
      c->s.rec->rx = RX_STOPPED;
      c->s.rec->err = errno;
      finish(cl, i, now);
      return;
    }
  }
  if (c->hdr_sent == SOAK_HEADER_LEN) c->state = CS_HELD;
}

/* Before the release nothing may arrive: the upstream sends no payload
 * yet. An EOF or an error here means the connection was lost. */
static void watch_held(client *cl, uint32_t i, uint64_t now) {
  cconn *c = &cl->conns[i];
  char b;
  ssize_t n;
  if (!c->s.readable) return;
  n = recv(c->s.fd, &b, 1, MSG_PEEK);
  if (n > 0) return; /* read as payload after the release */
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    if (errno != EINTR) c->s.readable = 0;
    return;
  }
  c->s.rec->rx = n == 0 ? RX_EOF : errno == ECONNRESET ? RX_RESET : RX_ERROR;
  c->s.rec->err = n == 0 ? 0 : errno;
  c->s.rec->tx = TX_STOPPED;
  finish(cl, i, now);
}

/* A silent connection: the only thing to see is how iocpd ends it. */
static void watch_silent(client *cl, uint32_t i, uint64_t now) {
  cconn *c = &cl->conns[i];
  soak_side *rec = c->s.rec;
  while (c->s.readable && rec->rx == RX_OPEN) {
    ssize_t n = recv(c->s.fd, cl->buf, BUF_LEN, 0);
    if (n > 0) {
      rec->received += (uint64_t)n;
      rec->rx = RX_EXCESS;
    } else if (n == 0) {
      rec->rx = RX_EOF;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->s.readable = 0;
    } else if (errno != EINTR) {
      rec->rx = errno == ECONNRESET ? RX_RESET : RX_ERROR;
      rec->err = errno;
    }
  }
  if (rec->rx != RX_OPEN) finish(cl, i, now);
}

static void run_plan(client *cl, uint32_t i, uint64_t now) {
  cconn *c = &cl->conns[i];
  int more = soak_stream_pump(&c->s, cl->buf, BUF_LEN, BUDGET, &cl->timers, now);
  if (soak_stream_done(&c->s))
    finish(cl, i, now);
  else if (more)
    push_ready(cl, i);
}

/* Moves connection i as far as it can go now, through as many states as
 * that takes. */
static void step(client *cl, uint32_t i, uint64_t now) {
  cconn *c = &cl->conns[i];
  if (c->state == CS_CONNECTING) connected(cl, i, now);
  if (c->state == CS_HEADER) send_header(cl, i, now);
  if (c->state == CS_HELD) watch_held(cl, i, now);
  if (c->state == CS_RUNNING) run_plan(cl, i, now);
  if (c->state == CS_SILENT) watch_silent(cl, i, now);
}

/* ------------------------------------------------------------------------ */
/* The phases */

/* Starts connections while the budgets allow, silent ones mixed in among
 * the relayed ones in their proportion. Every connection starts before
 * the release, while iocpd holds exactly two descriptors per connection:
 * later, it retires a finished relay a moment after this side sees it end
 * and its splice pipes take spare descriptors, so at its descriptor limit
 * a connection opened then could find none for its upstream side (seen
 * at 10,000 connections: reset, "no upstream reachable"). */
static void launch(client *cl, uint64_t now) {
  const soak_params *p = cl->p;
  while (cl->connecting < p->connecting_max && cl->open < p->max_open) {
    int silent_turn = cl->next_silent < p->silent && (uint64_t)cl->next_silent * p->relayed <=
                                                         (uint64_t)cl->next_relayed * p->silent;
    if (silent_turn || cl->next_relayed == p->relayed) {
      if (cl->next_silent == p->silent) break;
      start_connect(cl, p->relayed + cl->next_silent++, now);
    } else {
      start_connect(cl, cl->next_relayed++, now);
    }
  }
}

/* Driver mode: says `held N` and waits for the driver's `release` line,
 * at most until deadline. Returns 0 to go on, -1 to stop. */
static int ask_driver(client *cl, uint64_t deadline) {
  char line[64];
  struct pollfd pfd;
  int left = (int)((deadline - soak_now_ns()) / MS);
  printf("held %u\n", cl->p->relayed);
  fflush(stdout);
  pfd.fd = 0;
  pfd.events = POLLIN;
  if (left <= 0 || poll(&pfd, 1, left) != 1) return -1;
  if (fgets(line, sizeof(line), stdin) == NULL) return -1;
  return strncmp(line, "release", 7) == 0 ? 0 : -1;
}

/* Every relayed connection is open end to end: let payload move. */
static void release(client *cl, uint64_t now) {
  uint64_t one = 1;
  uint32_t i;
  cl->released = 1;
  cl->sh->released_ns = now;
  atomic_store(&cl->sh->released, 1);
  if (write(cl->sh->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
    fprintf(stderr, "soak: cannot wake the upstream: %s\n", strerror(errno));
  for (i = 0; i < cl->p->relayed; i++) {
    if (cl->conns[i].state != CS_HELD) continue;
    cl->conns[i].state = CS_RUNNING;
    push_ready(cl, i);
  }
}

/* Before the release: checks whether the barrier is reached and then
 * releases. Returns NULL to go on, or why the run must stop. */
static const char *barrier(client *cl, uint64_t deadline) {
  const soak_params *p = cl->p;
  uint64_t now = soak_now_ns();
  if (cl->lost_early > 0) return "a relayed connection ended before all of them were open";
  /* Every relayed connection identified by the upstream, and iocpd has
   * connected the upstream side of every silent one. */
  if (atomic_load(&cl->sh->identified) < p->relayed ||
      atomic_load(&cl->sh->upstream_accepted) < cl->total) {
    if (now - cl->began > (uint64_t)p->ramp_ms * MS)
      return "not every relayed connection was open within the ramp-up time";
    return NULL;
  }
  cl->sh->held_ns = now;
  cl->sh->held = p->relayed;
  fprintf(stderr, "soak: %u relayed connections open at once after %.2f s\n", p->relayed,
          (double)(now - cl->began) / 1e9);
  if (p->driver && ask_driver(cl, deadline) != 0) return "the driver did not release the barrier";
  release(cl, soak_now_ns());
  return NULL;
}

/* Bytes received on both sides, plus ends: what the watchdog watches. */
static uint64_t moved(const client *cl, uint64_t *bytes) {
  uint32_t i;
  *bytes = atomic_load(&cl->sh->upstream_verified);
  for (i = 0; i < cl->total; i++) *bytes += cl->sh->client[i].received;
  return *bytes + cl->done_relayed + cl->done_silent + atomic_load(&cl->sh->identified);
}

/* Once a second: the watchdog; every PROGRESS_EVERY_NS: a progress line.
 * Returns NULL, or why the run must stop. */
static const char *progress(client *cl, uint64_t now) {
  uint64_t bytes, m;
  if (now - cl->moved_at < 1000 * MS && now - cl->last_progress < PROGRESS_EVERY_NS) return NULL;
  m = moved(cl, &bytes);
  if (m != cl->moved) {
    cl->moved = m;
    cl->moved_at = now;
  } else if (now - cl->moved_at > STALL_NS) {
    return "no connection moved a byte or ended for 30 s";
  }
  if (now - cl->last_progress < PROGRESS_EVERY_NS) return NULL;
  cl->last_progress = now;
  fprintf(stderr,
          "soak: %5.1f s: relayed %u/%u done (%u connecting, %u held), silent %u/%u done, "
          "%.1f MiB verified\n",
          (double)(now - cl->began) / 1e9, cl->done_relayed, cl->p->relayed, cl->connecting,
          atomic_load(&cl->sh->identified), cl->done_silent, cl->p->silent,
          (double)bytes / (1 << 20));
  return NULL;
}

static void on_events(client *cl, const struct epoll_event *ev, int n, uint64_t now) {
  int k;
  for (k = 0; k < n; k++) {
    cconn *c = &cl->conns[ev[k].data.u32];
    if (ev[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) c->s.readable = 1;
    if (ev[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) c->s.writable = 1;
    if (c->state != CS_DONE) step(cl, ev[k].data.u32, now);
  }
}

/* Runs the connections that were left with work, each once: those that
 * still have more go to the back of the list. */
static void run_ready(client *cl, uint64_t now) {
  uint32_t tail = cl->ready_tail, i;
  if (tail == NONE) return;
  do {
    i = pop_ready(cl);
    if (cl->conns[i].state == CS_RUNNING) step(cl, i, now);
  } while (i != tail && cl->ready_head != NONE && soak_now_ns() - now < PASS_NS);
}

static void run_timers(client *cl, uint64_t now) {
  soak_timer t;
  while (soak_timers_pop_due(&cl->timers, now, &t)) {
    cconn *c = &cl->conns[t.index];
    if (c->state != CS_RUNNING || c->s.timer_at != t.when) continue; /* stale */
    soak_stream_timer(&c->s, now);
    step(cl, t.index, now);
  }
}

/* The end, or an early stop: closes whatever is still open (a reset; the
 * records keep saying how far each got). */
static void abandon(client *cl) {
  uint32_t i, shown = 0;
  for (i = 0; i < cl->total; i++) {
    cconn *c = &cl->conns[i];
    if (c->state == CS_IDLE || c->state == CS_DONE || shown == DIAG_SHOWN) continue;
    if (shown++ == 0) fprintf(stderr, "soak: connections still open at the end:\n");
    fprintf(stderr, "soak:   conn %u (%s): client %s\n", i, soak_kind_names[cl->plans[i].kind],
            state_names[c->state]);
    soak_diag_socket("client", i, c->s.rec, c->s.fd);
  }
  for (i = 0; i < cl->total; i++) {
    if (cl->conns[i].s.fd >= 0 && cl->conns[i].state != CS_IDLE)
      soak_reset_close(cl->conns[i].s.fd);
    cl->conns[i].s.fd = -1;
  }
}

/* Gives the upstream time to finish its sides: every connection accepted
 * and closed again, or until the grace time is up. */
static void wait_upstream(client *cl) {
  uint64_t until = soak_now_ns() + ((uint64_t)cl->p->end_bound_ms + UPSTREAM_GRACE_MS) * MS;
  while (soak_now_ns() < until) {
    if (atomic_load(&cl->sh->upstream_open) == 0 &&
        atomic_load(&cl->sh->upstream_accepted) >= cl->total)
      return;
    usleep(10000);
  }
}

static const char *loop(client *cl) {
  struct epoll_event ev[MAX_EVENTS];
  const soak_params *p = cl->p;
  uint64_t deadline = cl->began + (uint64_t)p->time_limit_ms * MS;

  for (;;) {
    uint64_t now = soak_now_ns();
    const char *why;
    int n, wait;
    if (now >= deadline) return "the time limit was reached";
    launch(cl, now);
    if (!cl->released) {
      if ((why = barrier(cl, deadline)) != NULL) return why;
    } else if (cl->done_relayed == p->relayed && cl->done_silent == p->silent) {
      return NULL;
    }
    wait = cl->ready_head != NONE ? 0 : soak_timers_wait_ms(&cl->timers, now, 50);
    n = epoll_wait(cl->epfd, ev, MAX_EVENTS, wait);
    if (n < 0 && errno != EINTR) return "epoll_wait failed";
    now = soak_now_ns();
    on_events(cl, ev, n > 0 ? n : 0, now);
    run_ready(cl, now);
    run_timers(cl, now);
    if ((why = progress(cl, now)) != NULL) return why;
  }
}

const char *soak_client_run(const soak_params *p, const soak_plan *plans, soak_shared *sh,
                            uint64_t began_ns) {
  client cl;
  const char *why;
  uint32_t i;

  memset(&cl, 0, sizeof(cl));
  cl.p = p;
  cl.plans = plans;
  cl.sh = sh;
  cl.total = p->relayed + p->silent;
  cl.began = cl.last_progress = cl.moved_at = began_ns;
  cl.ready_head = cl.ready_tail = NONE;
  cl.conns = calloc(cl.total > 0 ? cl.total : 1, sizeof(*cl.conns));
  cl.buf = malloc(BUF_LEN);
  cl.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (cl.conns == NULL || cl.buf == NULL || cl.epfd < 0) {
    why = "out of memory or descriptors at start";
    goto out;
  }
  for (i = 0; i < cl.total; i++) {
    cl.conns[i].s.fd = -1;
    cl.conns[i].s.rec = &sh->client[i];
  }
  why = loop(&cl);
  abandon(&cl);
  wait_upstream(&cl);
out:
  if (cl.epfd >= 0) close(cl.epfd);
  soak_timers_free(&cl.timers);
  free(cl.buf);
  free(cl.conns);
  return why;
}
