/*
 * udp-idle (bench U-idle): sets up SESSIONS UDP sessions (each sends one
 * datagram and gets its echo: udp_setup), touches --ready-file, holds them
 * for SECS and reports how many were set up. Nothing may arrive while they
 * are held: a datagram then counts as an error.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>

static void run_udp_idle(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, now;
  unsigned i;
  FILE *f;

  udp_init();
  t_begin = now_ns();
  ops = udp_setup(opt.conns);
  now = now_ns();
  t_measure = now;
  fprintf(stderr, "loadgen: udp-idle: %llu of %u sessions up in %.2f s\n", (unsigned long long)ops,
          opt.conns, (double)(now - t_begin) / 1e9);
  if (opt.ready_file != NULL) {
    f = fopen(opt.ready_file, "w");
    if (f == NULL) die(opt.ready_file);
    fprintf(f, "%llu\n", (unsigned long long)ops);
    fclose(f);
  }
  deadline = now + (uint64_t)(opt.duration * 1e9);
  while (!timed_out(now, deadline)) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      uint64_t seqs[UDP_BATCH];
      unsigned good;
      /* A second echo of a probe sent twice is no error. */
      while (udp_recv(c, seqs, &good) > 0) {
        if (good != 1 || seqs[0] != 0)
          errors++;
        else
          late++;
      }
    }
    now = now_ns();
  }
  t_end = now;
}

static int report_udp_idle(double secs) {
  printf(",\"established\":%llu,\"setup_s\":%.3f,\"late\":%llu,\"misrouted\":%llu",
         (unsigned long long)ops, (double)(t_measure - t_begin) / 1e9, (unsigned long long)late,
         (unsigned long long)misrouted);
  fprintf(stderr, "loadgen udp-idle %s: %llu of %u sessions held for %.1f s, %llu errors\n",
          opt.label, (unsigned long long)ops, opt.conns, secs, (unsigned long long)errors);
  return ops == opt.conns;
}

const loadgen_mode mode_udp_idle = {
    .name = "udp-idle",
    .default_size = 64,
    .scratch_len = 0,
    .run = run_udp_idle,
    .report = report_udp_idle,
};
