/*
 * soak: the upstream side, run in a child process. Accepts what iocpd
 * relays, learns each connection's plan from its header, holds it until
 * the client releases the barrier, then plays the upstream's part of the
 * plan. Connections that end before a whole header arrived (the silent
 * ones, closed by iocpd's handshake_timeout) are counted by how they ended.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

#define BUF_LEN (256 * 1024)
/* Per turn and per pass, as in client.c. */
#define BUDGET (256 * 1024)
#define PASS_NS UINT64_C(10000000)
#define MAX_EVENTS 128
#define NONE UINT32_MAX
/* Connections described one by one when told to quit with some open. */
#define DIAG_SHOWN 10
/* Bad headers reported in detail; the rest are only counted. */
#define BAD_HEADERS_SHOWN 5

enum upstream_state {
  US_HEADER,  /* reading the header */
  US_WAITING, /* identified; no payload before the release */
  US_RUNNING, /* the plan runs */
  US_DONE
};

typedef struct uconn {
  soak_stream s;
  unsigned char hdr[SOAK_HEADER_LEN];
  uint8_t hdr_len;
  uint8_t state;
} uconn;

typedef struct upstream {
  const soak_params *p;
  const soak_plan *plans;
  soak_shared *sh;
  int lfd, epfd;
  uconn **by_index;  /* identified connections, by connection index */
  uconn **anonymous; /* connections still reading their header */
  size_t anon_n, anon_cap;
  soak_timers timers;
  uint32_t ready_head, ready_tail;
  unsigned char *buf;
  int started; /* the release has been acted on */
} upstream;

/* epoll tags for the two descriptors that are not connections. */
static char listener_tag, wake_tag;

static void push_ready(upstream *u, uconn *c) {
  if (c->s.queued) return;
  c->s.queued = 1;
  c->s.next = NONE;
  if (u->ready_tail == NONE)
    u->ready_head = c->s.index;
  else
    u->by_index[u->ready_tail]->s.next = c->s.index;
  u->ready_tail = c->s.index;
}

static uconn *pop_ready(upstream *u) {
  uconn *c;
  if (u->ready_head == NONE) return NULL;
  c = u->by_index[u->ready_head];
  u->ready_head = c->s.next;
  if (u->ready_head == NONE) u->ready_tail = NONE;
  c->s.queued = 0;
  return c;
}

/* ------------------------------------------------------------------------ */
/* Connections before their header */

static int add_anonymous(upstream *u, uconn *c) {
  if (u->anon_n == u->anon_cap) {
    size_t cap = u->anon_cap ? u->anon_cap * 2 : 1024;
    uconn **v = realloc(u->anonymous, cap * sizeof(*v));
    if (v == NULL) return -1;
    u->anonymous = v;
    u->anon_cap = cap;
  }
  u->anonymous[u->anon_n++] = c;
  return 0;
}

/* Forgets an anonymous connection (it ended, or got identified). */
static void drop_anonymous(upstream *u, uconn *c) {
  size_t i;
  for (i = 0; i < u->anon_n; i++) {
    if (u->anonymous[i] == c) {
      u->anonymous[i] = u->anonymous[--u->anon_n];
      return;
    }
  }
}

/* A connection ended before its header was complete. */
static void end_anonymous(upstream *u, uconn *c, atomic_uint *counter) {
  atomic_fetch_add(counter, 1);
  soak_reset_close(c->s.fd);
  drop_anonymous(u, c);
  free(c);
  atomic_fetch_sub(&u->sh->upstream_open, 1);
}

static void accept_all(upstream *u) {
  for (;;) {
    struct epoll_event ev;
    uconn *c;
    int fd = accept4(u->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        fprintf(stderr, "soak: upstream: accept: %s\n", strerror(errno));
      return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL || add_anonymous(u, c) != 0) {
      fprintf(stderr, "soak: upstream: out of memory\n");
      free(c);
      soak_reset_close(fd);
      continue;
    }
    c->s.fd = fd;
    c->state = US_HEADER;
    atomic_fetch_add(&u->sh->upstream_accepted, 1);
    atomic_fetch_add(&u->sh->upstream_open, 1);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      fprintf(stderr, "soak: upstream: epoll_ctl: %s\n", strerror(errno));
      end_anonymous(u, c, &u->sh->anon_other);
    }
  }
}

static uint64_t get_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  while (n-- > 0) v = v << 8 | p[n];
  return v;
}

static void start(upstream *u, uconn *c) {
  c->state = US_RUNNING;
  push_ready(u, c);
}

/* The header is complete: find the plan it names. A header that names no
 * plan, or one already taken, is counted as bad and the connection reset. */
static void identify(upstream *u, uconn *c, uint64_t now) {
  uint64_t index = get_le(c->hdr + 4, 4), seed = get_le(c->hdr + 8, 8);
  soak_side *rec;

  if (memcmp(c->hdr, SOAK_MAGIC, 4) != 0 || index >= u->p->relayed ||
      u->plans[index].seed != seed || u->by_index[index] != NULL) {
    if (atomic_fetch_add(&u->sh->bad_headers, 1) < BAD_HEADERS_SHOWN)
      fprintf(stderr, "soak: upstream: bad header (index %llu, seed %016llx)\n",
              (unsigned long long)index, (unsigned long long)seed);
    soak_reset_close(c->s.fd);
    drop_anonymous(u, c);
    free(c);
    atomic_fetch_sub(&u->sh->upstream_open, 1);
    return;
  }
  drop_anonymous(u, c);
  rec = &u->sh->upstream[index];
  memset(rec, 0, sizeof(*rec));
  rec->start_ns = now;
  soak_stream_init(&c->s, c->s.fd, (uint32_t)index, &u->plans[index], 1, rec);
  u->by_index[index] = c;
  c->state = US_WAITING;
  atomic_fetch_add(&u->sh->identified, 1);
  if (atomic_load(&u->sh->released)) start(u, c);
}

static void read_header(upstream *u, uconn *c, uint64_t now) {
  while (c->hdr_len < SOAK_HEADER_LEN && c->s.readable) {
    ssize_t n = recv(c->s.fd, c->hdr + c->hdr_len, SOAK_HEADER_LEN - c->hdr_len, 0);
    if (n > 0) {
      c->hdr_len += (uint8_t)n;
    } else if (n == 0) {
      end_anonymous(u, c, c->hdr_len == 0 ? &u->sh->anon_eof : &u->sh->anon_other);
      return;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      c->s.readable = 0;
    } else if (errno != EINTR) {
      end_anonymous(u, c, errno == ECONNRESET ? &u->sh->anon_reset : &u->sh->anon_other);
      return;
    }
  }
  if (c->hdr_len == SOAK_HEADER_LEN) identify(u, c, now);
}

/* ------------------------------------------------------------------------ */
/* Identified connections */

static void finish(upstream *u, uconn *c, uint64_t now) {
  soak_stream_close(&c->s, now);
  c->state = US_DONE;
  atomic_fetch_sub(&u->sh->upstream_open, 1);
}

static void run_plan(upstream *u, uconn *c, uint64_t now) {
  uint64_t before = c->s.rec->received;
  int more = soak_stream_pump(&c->s, u->buf, BUF_LEN, BUDGET, &u->timers, now);
  atomic_fetch_add(&u->sh->upstream_verified, c->s.rec->received - before);
  if (soak_stream_done(&c->s))
    finish(u, c, now);
  else if (more)
    push_ready(u, c);
}

static void step_identified(upstream *u, uconn *c, uint64_t now) {
  /* The client may send as soon as it released, before the wake-up is
   * read here: the shared flag decides. */
  if (c->state == US_WAITING && atomic_load(&u->sh->released)) start(u, c);
  if (c->state == US_RUNNING) run_plan(u, c, now);
}

/* The client wrote to the eventfd: the release, or the end. */
static int on_wake(upstream *u) {
  uint64_t v;
  uint32_t i;
  if (read(u->sh->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
    fprintf(stderr, "soak: upstream: eventfd: %s\n", strerror(errno));
  if (atomic_load(&u->sh->quit)) return 1;
  if (!u->started && atomic_load(&u->sh->released)) {
    u->started = 1;
    for (i = 0; i < u->p->relayed; i++)
      if (u->by_index[i] != NULL && u->by_index[i]->state == US_WAITING) start(u, u->by_index[i]);
  }
  return 0;
}

static int on_events(upstream *u, const struct epoll_event *ev, int n, uint64_t now) {
  int k;
  for (k = 0; k < n; k++) {
    uconn *c = ev[k].data.ptr;
    if (ev[k].data.ptr == &listener_tag) {
      accept_all(u);
      continue;
    }
    if (ev[k].data.ptr == &wake_tag) {
      if (on_wake(u)) return 1;
      continue;
    }
    if (ev[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) c->s.readable = 1;
    if (ev[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) c->s.writable = 1;
    /* An anonymous connection may be freed by read_header; identified
     * ones live until the end. */
    if (c->state == US_HEADER)
      read_header(u, c, now);
    else if (c->state != US_DONE)
      step_identified(u, c, now);
  }
  return 0;
}

static void run_ready(upstream *u, uint64_t now) {
  uint32_t tail = u->ready_tail;
  uconn *c;
  if (tail == NONE) return;
  do {
    c = pop_ready(u);
    step_identified(u, c, now);
  } while (c->s.index != tail && u->ready_head != NONE && soak_now_ns() - now < PASS_NS);
}

static void run_timers(upstream *u, uint64_t now) {
  soak_timer t;
  while (soak_timers_pop_due(&u->timers, now, &t)) {
    uconn *c = u->by_index[t.index];
    if (c == NULL || c->state != US_RUNNING || c->s.timer_at != t.when) continue;
    soak_stream_timer(&c->s, now);
    step_identified(u, c, now);
  }
}

static int watch(upstream *u, int fd, void *tag) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = EPOLLIN; /* level-triggered: a backlog left over reports again */
  ev.data.ptr = tag;
  return epoll_ctl(u->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Told to quit: says which identified connections are still open. */
static void report_open(upstream *u) {
  uint32_t i, shown = 0;
  for (i = 0; i < u->p->relayed && shown < DIAG_SHOWN; i++) {
    uconn *c = u->by_index[i];
    if (c == NULL || c->state == US_DONE) continue;
    shown++;
    soak_diag_socket("upstream", i, c->s.rec, c->s.fd);
  }
  if (u->anon_n > 0)
    fprintf(stderr, "soak:   upstream: %zu connections still without a header\n", u->anon_n);
}

static void free_all(upstream *u) {
  size_t i;
  for (i = 0; i < u->anon_n; i++) {
    soak_reset_close(u->anonymous[i]->s.fd);
    free(u->anonymous[i]);
  }
  for (i = 0; i < u->p->relayed; i++) {
    uconn *c = u->by_index[i];
    if (c == NULL) continue;
    if (c->s.fd >= 0) soak_reset_close(c->s.fd);
    free(c);
  }
  free(u->anonymous);
  free(u->by_index);
  free(u->buf);
  soak_timers_free(&u->timers);
}

int soak_upstream_run(const soak_params *p, const soak_plan *plans, soak_shared *sh, int lfd) {
  struct epoll_event ev[MAX_EVENTS];
  upstream u;
  int rc = 1;

  memset(&u, 0, sizeof(u));
  u.p = p;
  u.plans = plans;
  u.sh = sh;
  u.lfd = lfd;
  u.ready_head = u.ready_tail = NONE;
  u.by_index = calloc(p->relayed > 0 ? p->relayed : 1, sizeof(*u.by_index));
  u.buf = malloc(BUF_LEN);
  u.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (u.by_index == NULL || u.buf == NULL || u.epfd < 0 || watch(&u, lfd, &listener_tag) != 0 ||
      watch(&u, sh->wake_fd, &wake_tag) != 0) {
    fprintf(stderr, "soak: upstream: cannot start: %s\n", strerror(errno));
    goto out;
  }
  for (;;) {
    uint64_t now = soak_now_ns();
    int wait = u.ready_head != NONE ? 0 : soak_timers_wait_ms(&u.timers, now, 100);
    int n = epoll_wait(u.epfd, ev, MAX_EVENTS, wait);
    if (n < 0 && errno != EINTR) {
      fprintf(stderr, "soak: upstream: epoll_wait: %s\n", strerror(errno));
      goto out;
    }
    now = soak_now_ns();
    if (on_events(&u, ev, n > 0 ? n : 0, now) || atomic_load(&sh->quit)) break;
    run_ready(&u, now);
    run_timers(&u, now);
  }
  rc = 0;
  report_open(&u);
out:
  free_all(&u);
  if (u.epfd >= 0) close(u.epfd);
  return rc;
}
