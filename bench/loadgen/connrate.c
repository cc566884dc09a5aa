/*
 * connrate: PARALLEL slots each loop connect, send SIZE (1 KiB) bytes,
 * read them back (verified), close. Reports connections/s and the latency
 * of a whole connection, connect to echo.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>

static void run_connrate(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, now;
  unsigned i, active = 0;
  int starting = 1;
  uint32_t next_id = 0;

  t_begin = t_measure = now = now_ns();
  deadline = now + (uint64_t)(opt.duration * 1e9);
  for (i = 0; i < opt.conns; i++) {
    conns[i].id = next_id++;
    if (start_connect(&conns[i]) == 0) active++;
  }
  while (active > 0 || starting) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      int r;
      if (c->state == ST_CONNECTING) {
        if (!(ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
        if (connect_result(c) != 0) goto fail;
        c->state = ST_RUNNING;
        c->off = message_offset(c->id, 0);
        c->sent = c->recvd = 0;
        if (send_rest(c, opt.size) != 0) goto fail;
        continue;
      }
      if (c->state != ST_RUNNING) continue;
      if ((ev[i].events & EPOLLOUT) && send_rest(c, opt.size) != 0) goto fail;
      r = recv_echo(c, opt.size);
      if (r < 0) goto fail;
      if (r == 0) continue;
      now = now_ns();
      hist_add(&hist, now - c->t_start);
      ops++;
      drop(c, ST_FREE);
      goto next;
    fail:
      errors++;
      drop(c, ST_FREE);
    next:
      active--;
      if (!starting) continue;
      if (timed_out(now_ns(), deadline) || (opt.count != 0 && ops >= opt.count)) continue;
      /* A new connection takes the slot; failures do not stop the run,
       * but too many of them mean the target is down. */
      if (errors > 1000 && errors > ops) continue;
      c->id = next_id++;
      if (start_connect(c) == 0) active++;
    }
    now = now_ns();
    if (starting && (timed_out(now, deadline) || (opt.count != 0 && ops >= opt.count) ||
                     (errors > 1000 && errors > ops))) {
      starting = 0;
      t_end = now;
    }
    if (!starting && timed_out(now, deadline + 2000000000u)) break;
    if (starting && active == 0) {
      /* Every slot failed to even start: the target is not there. */
      starting = 0;
      t_end = now;
    }
  }
  /* Slots still running after the grace period are abandoned. */
  for (i = 0; i < opt.conns; i++) {
    if (conns[i].fd >= 0) drop(&conns[i], ST_FREE);
  }
  if (t_end == 0) t_end = now_ns();
}

static int report_connrate(double secs) {
  double rate = secs > 0 ? (double)ops / secs : 0;
  latency l = latency_of(&hist);

  printf(",\"conns\":%llu,\"conns_per_s\":%.1f", (unsigned long long)ops, rate);
  json_latency(&l);
  fprintf(stderr,
          "loadgen connrate %s: %u parallel x %zu B: %.0f conns/s, p50 %.1f us, p99 %.1f us, "
          "%llu errors, %llu corrupt\n",
          opt.label, opt.conns, opt.size, rate, l.p50, l.p99, (unsigned long long)errors,
          (unsigned long long)mismatches);
  return ops > 0;
}

const loadgen_mode mode_connrate = {
    .name = "connrate",
    .default_size = 1024,
    .scratch_len = 65536,
    .run = run_connrate,
    .report = report_connrate,
};
