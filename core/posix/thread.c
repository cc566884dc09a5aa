/* Threading primitives on pthreads and C11 atomics (see core/thread.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "thread.h"

struct iocpd__mutex {
  pthread_mutex_t m;
};

struct iocpd__cond {
  pthread_cond_t c;
};

struct iocpd__thread {
  pthread_t t;
  void (*fn)(void *arg);
  void *arg;
};

iocpd__mutex *iocpd__mutex_create(void) {
  iocpd__mutex *m = malloc(sizeof(*m));
  if (m == NULL) return NULL;
  if (pthread_mutex_init(&m->m, NULL) != 0) {
    free(m);
    return NULL;
  }
  return m;
}

void iocpd__mutex_destroy(iocpd__mutex *m) {
  if (m == NULL) return;
  pthread_mutex_destroy(&m->m);
  free(m);
}

void iocpd__mutex_lock(iocpd__mutex *m) { pthread_mutex_lock(&m->m); }

void iocpd__mutex_unlock(iocpd__mutex *m) { pthread_mutex_unlock(&m->m); }

iocpd__cond *iocpd__cond_create(void) {
  pthread_condattr_t attr;
  iocpd__cond *c = malloc(sizeof(*c));
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

void iocpd__cond_destroy(iocpd__cond *c) {
  if (c == NULL) return;
  pthread_cond_destroy(&c->c);
  free(c);
}

void iocpd__cond_wait(iocpd__cond *c, iocpd__mutex *m, uint32_t timeout_ms) {
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

void iocpd__cond_broadcast(iocpd__cond *c) { pthread_cond_broadcast(&c->c); }

static void *thread_main(void *p) {
  iocpd__thread *t = p;
  t->fn(t->arg);
  return NULL;
}

iocpd__thread *iocpd__thread_start(void (*fn)(void *arg), void *arg) {
  iocpd__thread *t = malloc(sizeof(*t));
  if (t == NULL) return NULL;
  t->fn = fn;
  t->arg = arg;
  if (pthread_create(&t->t, NULL, thread_main, t) != 0) {
    free(t);
    return NULL;
  }
  return t;
}

void iocpd__thread_join(iocpd__thread *t) {
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

uint64_t iocpd__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t iocpd__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
