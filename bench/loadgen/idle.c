/*
 * idle: opens CONNS connections (at most IDLE_PARALLEL connecting at
 * once), does one IDLE_PROBE-byte echo on each (so a relay has surely
 * connected its upstream side), touches --ready-file, holds them for SECS
 * and reports how many were established and how many dropped.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>

static void run_idle(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, now;
  unsigned i, up;
  FILE *f;

  t_begin = now_ns();
  up = connect_all(opt.conns, 1);
  now = now_ns();
  t_measure = now;
  ops = up;
  fprintf(stderr, "loadgen: idle: %u of %u connections up in %.2f s\n", up, opt.conns,
          (double)(now - t_begin) / 1e9);
  if (opt.ready_file != NULL) {
    f = fopen(opt.ready_file, "w");
    if (f == NULL) die(opt.ready_file);
    fprintf(f, "%u\n", up);
    fclose(f);
  }
  deadline = now + (uint64_t)(opt.duration * 1e9);
  while (!timed_out(now, deadline)) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (c->state != ST_IDLE) continue;
      /* An idle connection must stay silent; data, EOF or an error all
       * mean the relay dropped or broke it. */
      errors++;
      ops--;
      drop(c, ST_DONE);
    }
    now = now_ns();
  }
  t_end = now;
  /* t_measure..t_end is the hold; the setup time goes out separately. */
}

static int report_idle(double secs) {
  printf(",\"established\":%llu,\"setup_s\":%.3f", (unsigned long long)ops,
         (double)(t_measure - t_begin) / 1e9);
  fprintf(stderr, "loadgen idle %s: %llu of %u connections held for %.1f s, %llu errors\n",
          opt.label, (unsigned long long)ops, opt.conns, secs, (unsigned long long)errors);
  return ops == opt.conns;
}

const loadgen_mode mode_idle = {
    .name = "idle",
    .default_size = 64,
    .scratch_len = 65536,
    .run = run_idle,
    .report = report_idle,
};
