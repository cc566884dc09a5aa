/*
 * The few threading primitives the engine needs, behind one wrapper so that
 * no core file touches pthreads or Win32 directly. Implemented by
 * core/win/thread.c (Win32 critical sections, condition variables,
 * Interlocked*) and core/posix/thread.c (pthreads, C11 atomics).
 */
#ifndef IOCPD_THREAD_H
#define IOCPD_THREAD_H

#include <stdint.h>

typedef struct iocpd__mutex iocpd__mutex;
typedef struct iocpd__cond iocpd__cond;
typedef struct iocpd__thread iocpd__thread;

/* Each returns NULL when out of memory or resources. */
iocpd__mutex *iocpd__mutex_create(void);
void iocpd__mutex_destroy(iocpd__mutex *m);
void iocpd__mutex_lock(iocpd__mutex *m);
void iocpd__mutex_unlock(iocpd__mutex *m);

iocpd__cond *iocpd__cond_create(void);
void iocpd__cond_destroy(iocpd__cond *c);
/* Waits at most timeout_ms; spurious wake-ups are possible, so callers
 * re-check their condition. */
void iocpd__cond_wait(iocpd__cond *c, iocpd__mutex *m, uint32_t timeout_ms);
void iocpd__cond_broadcast(iocpd__cond *c);

/* Starts fn(arg) on a new thread. Returns NULL on failure. */
iocpd__thread *iocpd__thread_start(void (*fn)(void *arg), void *arg);
/* Waits for the thread to end and frees it. */
void iocpd__thread_join(iocpd__thread *t);

/* Atomic add on a shared counter; returns the new value. */
int64_t iocpd__atomic_add(volatile int64_t *p, int64_t delta);
int64_t iocpd__atomic_load(volatile int64_t *p);

/* Number of logical CPUs, at least 1. */
unsigned iocpd__cpu_count(void);
/* Monotonic milliseconds, for deadlines. */
uint64_t iocpd__now_ms(void);
/* Wall-clock milliseconds since 1970 (UTC), for records. */
uint64_t iocpd__wall_ms(void);

#endif /* IOCPD_THREAD_H */
