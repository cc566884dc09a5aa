/*
 * udp-stream (bench U2): SESSIONS UDP sessions each keep up to WINDOW
 * (-W, default UDP_WINDOW) SIZE-byte datagrams out, sending the next as
 * soon as an echo comes back or one is given up on (no echo within
 * UDP_LOSS_MS: lost), and check every echo. A session never has a datagram
 * out more than WINDOW numbers ahead of its oldest one. After the warm-up,
 * for SECS: the datagrams echoed per second and their payload in MB/s (one
 * direction), and of the datagrams sent in that time the share that never
 * came back (loss); after the measurement the generator stops sending and
 * waits UDP_LOSS_MS for the last echoes. Latency is each datagram's round
 * trip under that load.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

/* A datagram out: slot seq % window of its session. */
typedef struct slot {
  uint64_t seq;
  uint64_t t_sent; /* ns; 0: the slot is free */
  int measured;    /* sent during the measurement */
} slot;

static slot *slots; /* opt.conns * opt.window */
static uint64_t sent_measured;
static int measuring, sending;

static slot *slot_of(conn *c, uint64_t seq) {
  return &slots[(size_t)c->id * opt.window + (size_t)(seq % opt.window)];
}

/* Sends what session c's window allows: from c->seq, while its slot is
 * free. Waits for EPOLLOUT when the socket is full. */
static void fill(conn *c, uint64_t now) {
  while (sending) {
    unsigned count = 0, i;
    int k;
    while (count < UDP_BATCH && slot_of(c, c->seq + count)->t_sent == 0 &&
           c->sent + count < opt.window)
      count++;
    if (count == 0) break;
    k = udp_send(c, c->seq, count);
    if (k <= 0) {
      /* Full (or an error, counted): try again when it can take more. */
      set_out(c, 1);
      return;
    }
    for (i = 0; i < (unsigned)k; i++) {
      slot *s = slot_of(c, c->seq + i);
      s->seq = c->seq + i;
      s->t_sent = now;
      s->measured = measuring;
    }
    if (measuring) sent_measured += (uint64_t)k;
    c->seq += (uint64_t)k;
    c->sent += (size_t)k;
    if ((unsigned)k < count) {
      set_out(c, 1);
      return;
    }
  }
  set_out(c, 0);
}

/* Takes c's echoes in; returns 1 if any slot was freed. */
static int take(conn *c) {
  uint64_t seqs[UDP_BATCH], now;
  unsigned good, j;
  int n, freed = 0;
  do {
    n = udp_recv(c, seqs, &good);
    now = now_ns();
    for (j = 0; j < good; j++) {
      slot *s = slot_of(c, seqs[j]);
      if (s->t_sent == 0 || s->seq != seqs[j]) {
        late++;
        continue;
      }
      if (measuring) {
        ops++;
        hist_add(&hist, now - s->t_sent);
      }
      s->t_sent = 0;
      c->sent--;
      freed = 1;
    }
  } while (n == UDP_BATCH);
  return freed;
}

/* Gives up on the datagrams out longer than UDP_LOSS_MS (all of them with
 * all set); returns how many of them were sent while measuring. */
static uint64_t expire(uint64_t now, int all) {
  uint64_t loss = (uint64_t)UDP_LOSS_MS * 1000000u, n = 0;
  size_t i;
  for (i = 0; i < (size_t)opt.conns * opt.window; i++) {
    slot *s = &slots[i];
    if (s->t_sent == 0 || (!all && now - s->t_sent < loss)) continue;
    if (s->measured) n++;
    s->t_sent = 0;
    conns[i / opt.window].sent--;
  }
  return n;
}

static void run_udp_stream(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, warm_end, now, sweep, drain_end = 0;
  unsigned i;

  slots = calloc((size_t)opt.conns * opt.window, sizeof(*slots));
  if (slots == NULL) die("calloc");
  if (udp_setup_and_start(opt.warmup, &warm_end, &deadline) != 0) return;
  now = sweep = t_begin;
  measuring = opt.warmup <= 0;
  sending = 1;
  for (i = 0; i < opt.conns; i++) {
    conns[i].state = ST_RUNNING;
    conns[i].sent = 0;
    fill(&conns[i], now);
  }
  for (;;) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 5);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (ev[i].events & EPOLLIN) take(c);
      fill(c, now_ns());
    }
    now = now_ns();
    if (!measuring && sending && now >= warm_end) {
      measuring = 1;
      t_measure = now;
      deadline = now + (uint64_t)(opt.duration * 1e9);
    }
    if (measuring && sending && timed_out(now, deadline)) {
      /* The end of the measurement: what is out gets UDP_LOSS_MS more. */
      t_end = now;
      measuring = sending = 0;
      drain_end = now + (uint64_t)UDP_LOSS_MS * 1000000u;
    }
    if (!sending && (now >= drain_end || interrupted)) break;
    if (now - sweep >= 5000000u) {
      sweep = now;
      lost += expire(now, 0);
      for (i = 0; i < opt.conns; i++) fill(&conns[i], now);
    }
  }
  lost += expire(now, 1);
}

static int report_udp_stream(double secs) {
  double rate = secs > 0 ? (double)ops / secs : 0;
  double loss_pct = sent_measured > 0 ? 100.0 * (double)lost / (double)sent_measured : 0;
  latency l = latency_of(&hist);

  printf(",\"datagrams\":%llu,\"dgrams_per_s\":%.1f,\"mb_per_s\":%.3f,\"window\":%zu,"
         "\"sent\":%llu,\"lost\":%llu,\"loss_pct\":%.3f,\"late\":%llu,\"misrouted\":%llu",
         (unsigned long long)ops, rate, rate * (double)opt.size / 1e6, opt.window,
         (unsigned long long)sent_measured, (unsigned long long)lost, loss_pct,
         (unsigned long long)late, (unsigned long long)misrouted);
  json_latency(&l);
  fprintf(stderr,
          "loadgen udp-stream %s: %u sessions x %zu datagrams of %zu B: %.0f datagrams/s, "
          "%.2f MB/s echoed, %llu of %llu lost (%.3f%%), %llu late, %llu misrouted, p50 %.1f us, "
          "p99 %.1f us, %llu errors, %llu corrupt\n",
          opt.label, opt.conns, opt.window, opt.size, rate, rate * (double)opt.size / 1e6,
          (unsigned long long)lost, (unsigned long long)sent_measured, loss_pct,
          (unsigned long long)late, (unsigned long long)misrouted, l.p50, l.p99,
          (unsigned long long)errors, (unsigned long long)mismatches);
  return ops > 0;
}

const loadgen_mode mode_udp_stream = {
    .name = "udp-stream",
    .default_size = 1400,
    .scratch_len = 0,
    .run = run_udp_stream,
    .report = report_udp_stream,
};
