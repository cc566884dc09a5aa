/*
 * loadgen's figures: the clock, the counters of the run, the log-bucketed
 * latency histogram and its percentiles, and the JSON output helpers the
 * modes share.
 */
#include "loadgen.h"

#include <stdio.h>
#include <time.h>

histogram hist;
uint64_t ops;
uint64_t bytes_out;
uint64_t bytes_in;
uint64_t errors;
uint64_t mismatches;
uint64_t lost;
uint64_t late;
uint64_t misrouted;
uint64_t t_begin, t_end, t_measure;

uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int timed_out(uint64_t now, uint64_t deadline) { return now >= deadline || interrupted; }

static unsigned top_bit(uint64_t v) {
  unsigned e = 0;
  while (v >>= 1) e++;
  return e;
}

static unsigned bucket_of(uint64_t v) {
  unsigned e;
  if (v < SUB_COUNT) return (unsigned)v;
  e = top_bit(v);
  return ((e - SUB_BITS + 1) << SUB_BITS) + (unsigned)((v >> (e - SUB_BITS)) & (SUB_COUNT - 1));
}

/* The smallest value that falls into bucket b, and the bucket's width. */
static uint64_t bucket_low(unsigned b, uint64_t *width) {
  unsigned e;
  if (b < SUB_COUNT) {
    *width = 1;
    return b;
  }
  e = (b >> SUB_BITS) + SUB_BITS - 1;
  *width = (uint64_t)1 << (e - SUB_BITS);
  return (uint64_t)(SUB_COUNT + (b & (SUB_COUNT - 1))) << (e - SUB_BITS);
}

void hist_add(histogram *h, uint64_t v) {
  h->bucket[bucket_of(v)]++;
  h->count++;
  if (v > h->max) h->max = v;
}

uint64_t hist_quantile(const histogram *h, double q) {
  uint64_t want, seen = 0, width;
  unsigned b;
  if (h->count == 0) return 0;
  want = (uint64_t)(q * (double)h->count + 0.999999);
  if (want < 1) want = 1;
  for (b = 0; b < NBUCKETS; b++) {
    seen += h->bucket[b];
    if (seen >= want) {
      uint64_t low = bucket_low(b, &width);
      uint64_t mid = low + width / 2;
      return mid > h->max ? h->max : mid;
    }
  }
  return h->max;
}

latency latency_of(const histogram *h) {
  latency l;
  l.p50 = (double)hist_quantile(h, 0.50) / 1e3;
  l.p99 = (double)hist_quantile(h, 0.99) / 1e3;
  l.p999 = (double)hist_quantile(h, 0.999) / 1e3;
  l.max = (double)h->max / 1e3;
  return l;
}

void json_latency(const latency *l) {
  printf(",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f", l->p50, l->p99,
         l->p999, l->max);
}

void json_string(const char *s) {
  putchar('"');
  for (; *s != '\0'; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      printf("\\%c", ch);
    } else if (ch < 0x20) {
      printf("\\u%04x", ch);
    } else {
      putchar(ch);
    }
  }
  putchar('"');
}
