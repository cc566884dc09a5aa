/*
 * The engine's own use of its threading layer: the public part
 * (iocpd_sys.h: locks, threads, clocks) plus what only the engine needs.
 * Implemented by core/win/thread.c (Win32 critical sections, condition
 * variables, Interlocked*) and core/posix/thread.c (pthreads, C11
 * atomics).
 */
#ifndef IOCPD_THREAD_H
#define IOCPD_THREAD_H

#include <stdint.h>

#include "iocpd_sys.h"

/* Atomic add on a shared counter; returns the new value. */
int64_t iocpd__atomic_add(volatile int64_t *p, int64_t delta);
int64_t iocpd__atomic_load(volatile int64_t *p);

/* Number of logical CPUs, at least 1. */
unsigned iocpd__cpu_count(void);

#endif /* IOCPD_THREAD_H */
