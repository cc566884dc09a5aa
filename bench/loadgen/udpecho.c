/*
 * udp-echo (bench U1): SESSIONS UDP sessions, each with one SIZE-byte
 * datagram out at a time: it sends, waits for the echo, checks it and
 * sends the next. A datagram whose echo has not come within UDP_LOSS_MS
 * counts as lost and the session goes on with the next one (an echo that
 * comes later counts as late, and is not a round trip). Reports round
 * trips per second and latency percentiles, as echo does.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

/* Sends session c's datagram c->seq; its clock starts now. A datagram the
 * socket did not take is lost like one the relay dropped. */
static void send_next(conn *c, uint64_t now) {
  c->t_start = now;
  udp_send(c, c->seq, 1);
}

static void run_udp_echo(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, warm_end, now, sweep, loss = (uint64_t)UDP_LOSS_MS * 1000000u;
  unsigned i, j;
  int warm = opt.warmup > 0;

  if (udp_setup_and_start(opt.warmup, &warm_end, &deadline) != 0) return;
  now = sweep = t_begin;
  for (i = 0; i < opt.conns; i++) {
    conns[i].state = ST_RUNNING;
    send_next(&conns[i], now);
  }
  while (!timed_out(now, deadline) && (opt.count == 0 || ops < opt.count)) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 10);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    now = now_ns();
    if (warm && now >= warm_end) {
      warm = 0;
      memset(&hist, 0, sizeof(hist));
      ops = lost = late = 0;
      t_measure = now;
    }
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      uint64_t seqs[UDP_BATCH];
      unsigned good;
      int n;
      do {
        n = udp_recv(c, seqs, &good);
        for (j = 0; j < good; j++) {
          if (seqs[j] != c->seq) {
            late++; /* an echo given up on, or the probe's second echo */
            continue;
          }
          now = now_ns();
          hist_add(&hist, now - c->t_start);
          ops++;
          c->seq++;
          send_next(c, now);
        }
      } while (n == UDP_BATCH);
    }
    /* Every 10 ms, the datagrams given up on: the session moves on. */
    if (now - sweep >= 10000000u) {
      sweep = now;
      for (i = 0; i < opt.conns; i++) {
        if (now - conns[i].t_start < loss) continue;
        lost++;
        conns[i].seq++;
        send_next(&conns[i], now);
      }
    }
  }
  t_end = now_ns();
}

static int report_udp_echo(double secs) {
  double rate = secs > 0 ? (double)ops / secs : 0;
  double loss_pct = ops + lost > 0 ? 100.0 * (double)lost / (double)(ops + lost) : 0;
  latency l = latency_of(&hist);

  printf(",\"msgs\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,\"lost\":%llu,\"loss_pct\":%.3f,"
         "\"late\":%llu,\"misrouted\":%llu",
         (unsigned long long)ops, rate, rate * (double)opt.size / 1e6, (unsigned long long)lost,
         loss_pct, (unsigned long long)late, (unsigned long long)misrouted);
  json_latency(&l);
  fprintf(stderr,
          "loadgen udp-echo %s: %u sessions x %zu B: %.0f round trips/s, p50 %.1f us, "
          "p99 %.1f us, p99.9 %.1f us, %llu lost (%.3f%%), %llu late, %llu misrouted, "
          "%llu errors, %llu corrupt\n",
          opt.label, opt.conns, opt.size, rate, l.p50, l.p99, l.p999, (unsigned long long)lost,
          loss_pct, (unsigned long long)late, (unsigned long long)misrouted,
          (unsigned long long)errors, (unsigned long long)mismatches);
  return ops > 0;
}

const loadgen_mode mode_udp_echo = {
    .name = "udp-echo",
    .default_size = 64,
    .scratch_len = 0,
    .run = run_udp_echo,
    .report = report_udp_echo,
};
