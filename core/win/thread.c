/* Threading primitives on Win32 (see core/thread.h). */
#include <windows.h>
#include <process.h>
#include <stdlib.h>

#include "thread.h"

struct iocpd_mutex {
  CRITICAL_SECTION cs;
};

struct iocpd_cond {
  CONDITION_VARIABLE cv;
};

struct iocpd_thread {
  HANDLE h;
  void (*fn)(void *arg);
  void *arg;
};

iocpd_mutex *iocpd_mutex_create(void) {
  iocpd_mutex *m = malloc(sizeof(*m));
  if (m == NULL) return NULL;
  InitializeCriticalSection(&m->cs);
  return m;
}

void iocpd_mutex_destroy(iocpd_mutex *m) {
  if (m == NULL) return;
  DeleteCriticalSection(&m->cs);
  free(m);
}

void iocpd_mutex_lock(iocpd_mutex *m) { EnterCriticalSection(&m->cs); }

void iocpd_mutex_unlock(iocpd_mutex *m) { LeaveCriticalSection(&m->cs); }

iocpd_cond *iocpd_cond_create(void) {
  iocpd_cond *c = malloc(sizeof(*c));
  if (c == NULL) return NULL;
  InitializeConditionVariable(&c->cv);
  return c;
}

void iocpd_cond_destroy(iocpd_cond *c) { free(c); }

void iocpd_cond_wait(iocpd_cond *c, iocpd_mutex *m, uint32_t timeout_ms) {
  SleepConditionVariableCS(&c->cv, &m->cs, timeout_ms);
}

void iocpd_cond_broadcast(iocpd_cond *c) { WakeAllConditionVariable(&c->cv); }

static unsigned __stdcall thread_main(void *p) {
  iocpd_thread *t = p;
  t->fn(t->arg);
  return 0;
}

iocpd_thread *iocpd_thread_start(void (*fn)(void *arg), void *arg) {
  iocpd_thread *t = malloc(sizeof(*t));
  if (t == NULL) return NULL;
  t->fn = fn;
  t->arg = arg;
  /* _beginthreadex rather than CreateThread so that the C runtime's
   * per-thread state is set up for threads that call into it. */
  t->h = (HANDLE)_beginthreadex(NULL, 0, thread_main, t, 0, NULL);
  if (t->h == NULL) {
    free(t);
    return NULL;
  }
  return t;
}

void iocpd_thread_join(iocpd_thread *t) {
  WaitForSingleObject(t->h, INFINITE);
  CloseHandle(t->h);
  free(t);
}

int64_t iocpd__atomic_add(volatile int64_t *p, int64_t delta) {
  return InterlockedExchangeAdd64((volatile LONG64 *)p, delta) + delta;
}

int64_t iocpd__atomic_load(volatile int64_t *p) {
  return InterlockedCompareExchange64((volatile LONG64 *)p, 0, 0);
}

unsigned iocpd__cpu_count(void) {
  SYSTEM_INFO si;
  GetSystemInfo(&si);
  return si.dwNumberOfProcessors > 0 ? (unsigned)si.dwNumberOfProcessors : 1;
}

uint64_t iocpd_now_ms(void) { return (uint64_t)GetTickCount64(); }

uint64_t iocpd_wall_ms(void) {
  FILETIME ft;
  ULARGE_INTEGER t;
  GetSystemTimeAsFileTime(&ft);
  t.LowPart = ft.dwLowDateTime;
  t.HighPart = ft.dwHighDateTime;
  /* 100 ns ticks since 1601 -> ms since 1970. */
  return (t.QuadPart - 116444736000000000ULL) / 10000u;
}
