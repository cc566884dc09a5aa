/*
 * bulk: CONNS connections stream WRITE_SIZE-byte writes for SECS, then
 * send FIN and wait for the peer to close: the bytes counted are the bytes
 * delivered, and the time includes draining the queues on the way.
 * Anything the peer sends back is read and dropped.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

static void run_bulk(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, now, eof_deadline = 0;
  unsigned i, open;
  int sending = 1;
  size_t chunk = opt.size;

  if (connect_and_start(0, &now, &deadline) != 0) return;
  for (i = 0; i < opt.conns; i++) watch(&conns[i], EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
  open = opt.conns;
  while (open > 0) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (c->state == ST_DONE) continue;
      if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t n;
        for (;;) {
          n = recv(c->fd, scratch, scratch_len, 0);
          if (n > 0) {
            bytes_in += (uint64_t)n;
            continue;
          }
          break;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          /* EOF (or a reset) after our FIN is the end; before it, a failure. */
          if (c->state != ST_DRAINING || n < 0) errors++;
          drop(c, ST_DONE);
          open--;
          continue;
        }
      }
      if (sending && c->state == ST_RUNNING && (ev[i].events & EPOLLOUT)) {
        for (;;) {
          size_t off = (size_t)(bytes_out % PATTERN_SLACK);
          ssize_t n = send(c->fd, pattern + off, chunk, MSG_NOSIGNAL);
          if (n > 0) {
            bytes_out += (uint64_t)n;
            if (opt.count != 0 && bytes_out >= opt.count) break;
            continue;
          }
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
          errors++;
          drop(c, ST_DONE);
          open--;
          break;
        }
      }
    }
    now = now_ns();
    if (sending && (timed_out(now, deadline) || (opt.count != 0 && bytes_out >= opt.count))) {
      /* Time is up: FIN every connection and wait for the sink to close,
       * which it does once it has read everything. */
      sending = 0;
      eof_deadline = now + 30000000000u;
      for (i = 0; i < opt.conns; i++) {
        conn *c = &conns[i];
        if (c->state != ST_RUNNING) continue;
        shutdown(c->fd, SHUT_WR);
        c->state = ST_DRAINING;
        watch(c, EPOLL_CTL_MOD, EPOLLIN);
      }
    }
    if (!sending && now >= eof_deadline) {
      fprintf(stderr, "loadgen: the peer did not close within 30 s of our FIN\n");
      errors++;
      break;
    }
  }
  t_end = now_ns();
}

static int report_bulk(double secs) {
  double mbs = secs > 0 ? (double)bytes_out / secs / 1e6 : 0;

  printf(",\"bytes\":%llu,\"bytes_in\":%llu,\"mb_per_s\":%.3f,\"gbit_per_s\":%.3f",
         (unsigned long long)bytes_out, (unsigned long long)bytes_in, mbs, mbs * 8 / 1e3);
  fprintf(stderr, "loadgen bulk %s: %u conns: %.1f MB/s (%.2f Gbit/s), %llu errors\n", opt.label,
          opt.conns, mbs, mbs * 8 / 1e3, (unsigned long long)errors);
  return bytes_out > 0 && errors == 0;
}

const loadgen_mode mode_bulk = {
    .name = "bulk",
    .default_size = 65536,
    .scratch_len = 65536,
    .run = run_bulk,
    .report = report_bulk,
};
