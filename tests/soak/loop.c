/* soak: time, descriptors and the timer heap both sides use. */
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "soak.h"

uint64_t soak_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void soak_reset_close(int fd) {
  struct linger lg;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
}

uint64_t soak_raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  return (uint64_t)rl.rlim_cur;
}

static void swap(soak_timer *a, soak_timer *b) {
  soak_timer t = *a;
  *a = *b;
  *b = t;
}

int soak_timers_add(soak_timers *t, uint64_t when, uint32_t index) {
  size_t i;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    soak_timer *v = realloc(t->v, cap * sizeof(*v));
    if (v == NULL) return -1;
    t->v = v;
    t->cap = cap;
  }
  i = t->n++;
  t->v[i].when = when;
  t->v[i].index = index;
  while (i > 0 && t->v[(i - 1) / 2].when > t->v[i].when) {
    swap(&t->v[(i - 1) / 2], &t->v[i]);
    i = (i - 1) / 2;
  }
  return 0;
}

int soak_timers_pop_due(soak_timers *t, uint64_t now, soak_timer *out) {
  size_t i = 0;
  if (t->n == 0 || t->v[0].when > now) return 0;
  *out = t->v[0];
  t->v[0] = t->v[--t->n];
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < t->n && t->v[l].when < t->v[m].when) m = l;
    if (r < t->n && t->v[r].when < t->v[m].when) m = r;
    if (m == i) break;
    swap(&t->v[m], &t->v[i]);
    i = m;
  }
  return 1;
}

int soak_timers_wait_ms(const soak_timers *t, uint64_t now, int cap_ms) {
  uint64_t ms;
  if (t->n == 0) return cap_ms;
  if (t->v[0].when <= now) return 0;
  ms = (t->v[0].when - now + 999999) / 1000000;
  return ms < (uint64_t)cap_ms ? (int)ms : cap_ms;
}

void soak_timers_free(soak_timers *t) {
  free(t->v);
  t->v = NULL;
  t->n = t->cap = 0;
}
