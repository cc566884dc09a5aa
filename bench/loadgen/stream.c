/*
 * stream (bench E4, tests/test_fairness.py): CONNS connections to an echo
 * server each send continuously (WRITE_SIZE-byte writes, default 64 KiB)
 * while at most WINDOW bytes (default 1 MiB) of theirs are not echoed back
 * yet, and read and verify their echo. After the warm-up, for SECS, counts
 * the verified echoed bytes of each connection. Reports the aggregate
 * (echoed payload, one direction) and the fairness between connections:
 * min, median and max per-connection throughput, Jain's index
 * (sum x)^2 / (n * sum x^2), and every connection's byte count.
 * Connections are served in the order epoll reports them, each drained at
 * once, so the generator itself favours none.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>

static void run_stream(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, warm_end, now;
  unsigned i;
  int warm = opt.warmup > 0;

  if (connect_and_start(opt.warmup, &warm_end, &deadline) != 0) return;
  now = t_begin;
  for (i = 0; i < opt.conns; i++) {
    if (stream_send(&conns[i], opt.window, opt.size) != 0) {
      errors++;
      drop(&conns[i], ST_DONE);
    }
  }
  while (!timed_out(now, deadline)) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (c->state != ST_RUNNING) continue;
      /* Reading first opens the window, so the send that follows can
       * go on at once. */
      if (stream_recv(c) != 0 || stream_send(c, c->rx + opt.window, opt.size) != 0) {
        errors++;
        drop(c, ST_DONE);
      }
    }
    now = now_ns();
    if (warm && now >= warm_end) {
      /* The measurement takes its full duration from here. */
      warm = 0;
      t_measure = now;
      deadline = now + (uint64_t)(opt.duration * 1e9);
      for (i = 0; i < opt.conns; i++) conns[i].rx_mark = conns[i].rx;
    }
  }
  t_end = now;
  for (i = 0; i < opt.conns; i++) {
    bytes_in += conns[i].rx - conns[i].rx_mark;
    if (conns[i].fd >= 0) drop(&conns[i], ST_DONE);
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* x as a share of the median, as JSON ("0.7500") and for people ("0.75x");
 * null and "n/a" when the median is 0 (more than half the connections
 * moved nothing, and no ratio says more than that). */
static const char *share_json(char *buf, size_t size, double x, double median) {
  if (median <= 0) return "null";
  snprintf(buf, size, "%.4f", x / median);
  return buf;
}

static const char *share_text(char *buf, size_t size, double x, double median) {
  if (median <= 0) return "n/a";
  snprintf(buf, size, "%.2fx", x / median);
  return buf;
}

/* The aggregate and the fairness between connections. */
static int report_stream(double secs) {
  uint64_t *sorted = malloc(opt.conns * sizeof(*sorted));
  double sum = 0, sum_sq = 0, median, jain, lo, hi, to_mbit = secs > 0 ? 8 / secs / 1e6 : 0;
  char lo_share[32], hi_share[32];
  unsigned i, n = opt.conns;

  if (sorted == NULL) die("malloc");
  for (i = 0; i < n; i++) {
    double x = (double)(conns[i].rx - conns[i].rx_mark);
    sorted[i] = conns[i].rx - conns[i].rx_mark;
    sum += x;
    sum_sq += x * x;
  }
  qsort(sorted, n, sizeof(*sorted), cmp_u64);
  median = n % 2 ? (double)sorted[n / 2] : ((double)sorted[n / 2 - 1] + (double)sorted[n / 2]) / 2;
  lo = (double)sorted[0];
  hi = (double)sorted[n - 1];
  jain = sum_sq > 0 ? sum * sum / ((double)n * sum_sq) : 0;
  free(sorted);

  printf(",\"bytes\":%llu,\"gbit_per_s\":%.3f,\"window\":%zu", (unsigned long long)bytes_in,
         sum * to_mbit / 1e3, opt.window);
  printf(",\"conn_mbit_min\":%.3f,\"conn_mbit_median\":%.3f,\"conn_mbit_max\":%.3f", lo * to_mbit,
         median * to_mbit, hi * to_mbit);
  printf(",\"jain\":%.4f,\"min_over_median\":%s,\"max_over_median\":%s", jain,
         share_json(lo_share, sizeof(lo_share), lo, median),
         share_json(hi_share, sizeof(hi_share), hi, median));
  printf(",\"conn_bytes\":[");
  for (i = 0; i < n; i++)
    printf("%s%llu", i > 0 ? "," : "", (unsigned long long)(conns[i].rx - conns[i].rx_mark));
  printf("]");
  fprintf(stderr,
          "loadgen stream %s: %u conns, window %zu B: %.2f Gbit/s echoed; per connection min "
          "%.1f, median %.1f, max %.1f Mbit/s (min %s, max %s the median), Jain %.4f, "
          "%llu errors, %llu corrupt\n",
          opt.label, n, opt.window, sum * to_mbit / 1e3, lo * to_mbit, median * to_mbit,
          hi * to_mbit, share_text(lo_share, sizeof(lo_share), lo, median),
          share_text(hi_share, sizeof(hi_share), hi, median), jain, (unsigned long long)errors,
          (unsigned long long)mismatches);
  return bytes_in > 0 && errors == 0;
}

/* Reads whatever has been echoed: in large reads, as a fast client would. */
const loadgen_mode mode_stream = {
    .name = "stream",
    .default_size = 65536,
    .scratch_len = 262144,
    .run = run_stream,
    .report = report_stream,
};
