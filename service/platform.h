/*
 * What the executable needs from the platform, beyond the engine: one file
 * per platform (service/posix, service/win), chosen in CMake.
 */
#ifndef IOCPD_PLATFORM_H
#define IOCPD_PLATFORM_H

#include <stddef.h>

/* The config file used when -c is not given. */
const char *platform_default_config(void);

/* Writes the current UTC time as "2026-11-24T23:10:57.123Z". */
void platform_format_utc_now(char *buf, size_t size);

/* Arranges for Ctrl+C / SIGINT / SIGTERM to request a stop instead of
 * killing the process. Call before the engine starts its threads. Returns 0
 * or -1. */
int platform_stop_signals_install(void);

/* Blocks until a stop is requested. */
void platform_stop_signals_wait(void);

/* Tells the stop machinery that the drain is over and the process is about
 * to exit (on Windows a console close waits for this). */
void platform_stop_signals_done(void);

#endif /* IOCPD_PLATFORM_H */
