/*
 * echo: CONNS connections, each with one SIZE-byte message in flight;
 * every echoed byte is compared with what was sent. Reports messages/s,
 * MB/s (payload, one direction) and latency percentiles from a
 * log-bucketed histogram. With a warm-up (-w), what happened before it
 * ends is not counted.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

static void reset_stats(uint64_t now) {
  memset(&hist, 0, sizeof(hist));
  ops = 0;
  bytes_out = bytes_in = 0;
  t_measure = now;
}

static void run_echo(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, warm_end, now;
  unsigned i, active;
  int warm = opt.warmup > 0;

  if (connect_and_start(opt.warmup, &warm_end, &deadline) != 0) return;
  now = t_begin;
  for (i = 0; i < opt.conns; i++) {
    conn *c = &conns[i];
    begin_message(c);
    if (send_rest(c, opt.size) != 0) {
      errors++;
      drop(c, ST_DONE);
    }
  }
  active = opt.conns;
  while (active > 0) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    now = now_ns();
    if (warm && now >= warm_end) {
      warm = 0;
      reset_stats(now);
    }
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      int r;
      if (c->state != ST_RUNNING) continue;
      if ((ev[i].events & EPOLLOUT) && send_rest(c, opt.size) != 0) goto fail;
      r = recv_echo(c, opt.size);
      if (r < 0) goto fail;
      if (r == 0) continue;
      now = now_ns();
      hist_add(&hist, now - c->t_start);
      ops++;
      c->seq++;
      if (timed_out(now, deadline) || (opt.count != 0 && ops >= opt.count)) break;
      begin_message(c);
      if (send_rest(c, opt.size) != 0) goto fail;
      continue;
    fail:
      errors++;
      drop(c, ST_DONE);
      active--;
    }
    /* Echoes still out when time is up are abandoned: the run ends at the
     * deadline, not when the slowest connection answers. */
    if (timed_out(now, deadline) || (opt.count != 0 && ops >= opt.count)) break;
  }
  t_end = now_ns();
}

static int report_echo(double secs) {
  double rate = secs > 0 ? (double)ops / secs : 0;
  latency l = latency_of(&hist);

  printf(",\"msgs\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f", (unsigned long long)ops, rate,
         rate * (double)opt.size / 1e6);
  json_latency(&l);
  fprintf(stderr,
          "loadgen echo %s: %u conns x %zu B: %.0f msgs/s, %.2f MB/s, p50 %.1f us, "
          "p99 %.1f us, p99.9 %.1f us, %llu errors, %llu corrupt\n",
          opt.label, opt.conns, opt.size, rate, rate * (double)opt.size / 1e6, l.p50, l.p99, l.p999,
          (unsigned long long)errors, (unsigned long long)mismatches);
  return ops > 0;
}

const loadgen_mode mode_echo = {
    .name = "echo",
    .default_size = 64,
    .scratch_len = 65536,
    .run = run_echo,
    .report = report_echo,
};
