/* Threading primitives on Win32 (see core/thread.h). */
#include <windows.h>
#include <process.h>
#include <stdlib.h>

#include "thread.h"

struct iocpd__mutex {
  CRITICAL_SECTION cs;
};

struct iocpd__cond {
  CONDITION_VARIABLE cv;
};

struct iocpd__thread {
  HANDLE h;
  void (*fn)(void *arg);
  void *arg;
};

iocpd__mutex *iocpd__mutex_create(void) {
  iocpd__mutex *m = malloc(sizeof(*m));
  if (m == NULL) return NULL;
  InitializeCriticalSection(&m->cs);
  return m;
}

void iocpd__mutex_destroy(iocpd__mutex *m) {
  if (m == NULL) return;
  DeleteCriticalSection(&m->cs);
  free(m);
}

void iocpd__mutex_lock(iocpd__mutex *m) { EnterCriticalSection(&m->cs); }

void iocpd__mutex_unlock(iocpd__mutex *m) { LeaveCriticalSection(&m->cs); }

iocpd__cond *iocpd__cond_create(void) {
  iocpd__cond *c = malloc(sizeof(*c));
  if (c == NULL) return NULL;
  InitializeConditionVariable(&c->cv);
  return c;
}

void iocpd__cond_destroy(iocpd__cond *c) { free(c); }

void iocpd__cond_wait(iocpd__cond *c, iocpd__mutex *m, uint32_t timeout_ms) {
  SleepConditionVariableCS(&c->cv, &m->cs, timeout_ms);
}

void iocpd__cond_broadcast(iocpd__cond *c) { WakeAllConditionVariable(&c->cv); }

static unsigned __stdcall thread_main(void *p) {
  iocpd__thread *t = p;
  t->fn(t->arg);
  return 0;
}

iocpd__thread *iocpd__thread_start(void (*fn)(void *arg), void *arg) {
  iocpd__thread *t = malloc(sizeof(*t));
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

void iocpd__thread_join(iocpd__thread *t) {
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

uint64_t iocpd__now_ms(void) { return (uint64_t)GetTickCount64(); }

uint64_t iocpd__wall_ms(void) {
  FILETIME ft;
  ULARGE_INTEGER t;
  GetSystemTimeAsFileTime(&ft);
  t.LowPart = ft.dwLowDateTime;
  t.HighPart = ft.dwHighDateTime;
  /* 100 ns ticks since 1601 -> ms since 1970. */
  return (t.QuadPart - 116444736000000000ULL) / 10000u;
}
