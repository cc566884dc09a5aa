/* Threading primitives on pthreads and C11 atomics (see core/thread.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "thread.h"

struct iocpd_mutex {
  pthread_mutex_t m;
};

struct iocpd_cond {
  pthread_cond_t c;
};

struct iocpd_thread {
  pthread_t t;
  void (*fn)(void *arg);
  void *arg;
};

iocpd_mutex *iocpd_mutex_create(void) {
  iocpd_mutex *m = malloc(sizeof(*m));
  if (m == NULL) return NULL;
  if (pthread_mutex_init(&m->m, NULL) != 0) {
    free(m);
    return NULL;
  }
  return m;
}

void iocpd_mutex_destroy(iocpd_mutex *m) {
  if (m == NULL) return;
  pthread_mutex_destroy(&m->m);
  free(m);
}

void iocpd_mutex_lock(iocpd_mutex *m) { pthread_mutex_lock(&m->m); }

void iocpd_mutex_unlock(iocpd_mutex *m) { pthread_mutex_unlock(&m->m); }

iocpd_cond *iocpd_cond_create(void) {
  pthread_condattr_t attr;
  iocpd_cond *c = malloc(sizeof(*c));
  if (c == NULL) return NULL;
  /* Timed waits use the monotonic clock so that a wall-clock change cannot
   * stretch or cut short a drain. */
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (pthread_cond_init(&c->c, &attr) != 0) {
    pthread_condattr_destroy(&attr);
    free(c);
    return NULL;
  }
  pthread_condattr_destroy(&attr);
  return c;
}

void iocpd_cond_destroy(iocpd_cond *c) {
  if (c == NULL) return;
  pthread_cond_destroy(&c->c);
  free(c);
}

void iocpd_cond_wait(iocpd_cond *c, iocpd_mutex *m, uint32_t timeout_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_cond_timedwait(&c->c, &m->m, &ts);
}

void iocpd_cond_broadcast(iocpd_cond *c) { pthread_cond_broadcast(&c->c); }

static void *thread_main(void *p) {
  iocpd_thread *t = p;
  t->fn(t->arg);
  return NULL;
}

iocpd_thread *iocpd_thread_start(void (*fn)(void *arg), void *arg) {
  iocpd_thread *t = malloc(sizeof(*t));
  if (t == NULL) return NULL;
  t->fn = fn;
  t->arg = arg;
  if (pthread_create(&t->t, NULL, thread_main, t) != 0) {
    free(t);
    return NULL;
  }
  return t;
}

void iocpd_thread_join(iocpd_thread *t) {
  pthread_join(t->t, NULL);
  free(t);
}

int64_t iocpd__atomic_add(volatile int64_t *p, int64_t delta) {
  return atomic_fetch_add((volatile _Atomic int64_t *)p, delta) + delta;
}

int64_t iocpd__atomic_load(volatile int64_t *p) {
  return atomic_load((volatile _Atomic int64_t *)p);
}

unsigned iocpd__cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

uint64_t iocpd_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t iocpd_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
