/*
 * iocpd system helpers: the threads, locks and clocks the engine runs on,
 * public so that a program embedding the engine (iocpd's own service, for
 * one) can use the same ones on every platform without touching pthreads
 * or Win32 itself. Implemented by the engine's backend (core/win/thread.c,
 * core/posix/thread.c).
 */
#ifndef IOCPD_SYS_H
#define IOCPD_SYS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Lets GCC and Clang check printf-style format strings of a function
 * declared with it. MinGW builds use its C99-conforming printf
 * (__USE_MINGW_ANSI_STDIO), whose format flavour MinGW names
 * __MINGW_PRINTF_FORMAT. */
#if defined(__MINGW32__)
#include <stdio.h> /* defines __MINGW_PRINTF_FORMAT */
#define IOCPD_PRINTF(fmt_index, first_arg)                                                         \
  __attribute__((format(__MINGW_PRINTF_FORMAT, fmt_index, first_arg)))
#elif defined(__GNUC__)
#define IOCPD_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define IOCPD_PRINTF(fmt_index, first_arg)
#endif

typedef struct iocpd_mutex iocpd_mutex;
typedef struct iocpd_cond iocpd_cond;
typedef struct iocpd_thread iocpd_thread;

/* A mutex (not recursive). create returns NULL when out of memory or
 * resources; destroy takes NULL. */
iocpd_mutex *iocpd_mutex_create(void);
void iocpd_mutex_destroy(iocpd_mutex *m);
void iocpd_mutex_lock(iocpd_mutex *m);
void iocpd_mutex_unlock(iocpd_mutex *m);

/* A condition variable. wait releases m (held by the caller), waits at
 * most timeout_ms for a broadcast and takes m again; spurious wake-ups
 * are possible, so callers re-check their condition. */
iocpd_cond *iocpd_cond_create(void);
void iocpd_cond_destroy(iocpd_cond *c);
void iocpd_cond_wait(iocpd_cond *c, iocpd_mutex *m, uint32_t timeout_ms);
void iocpd_cond_broadcast(iocpd_cond *c);

/* Starts fn(arg) on a new thread; NULL on failure. join waits for the
 * thread to end and frees it. */
iocpd_thread *iocpd_thread_start(void (*fn)(void *arg), void *arg);
void iocpd_thread_join(iocpd_thread *t);

/* Monotonic milliseconds, for deadlines and durations. */
uint64_t iocpd_now_ms(void);
/* Wall-clock milliseconds since 1970 (UTC), for records. */
uint64_t iocpd_wall_ms(void);

#ifdef __cplusplus
}
#endif

#endif /* IOCPD_SYS_H */
