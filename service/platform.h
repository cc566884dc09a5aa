/*
 * What the executable needs from the platform, beyond the engine: one file
 * per platform (service/posix, service/win), chosen in CMake.
 */
#ifndef IOCPD_PLATFORM_H
#define IOCPD_PLATFORM_H

#include <stddef.h>

/* Makes the command line and the console speak UTF-8, the one encoding of
 * every string in iocpd. Call first thing in main with its argc and argv.
 * On Windows it replaces them with the UTF-16 command line converted to
 * UTF-8 (the C runtime's argv is in the ANSI code page, which cannot name
 * every file), the same for `iocpd service` as the SCM starts it, and
 * sets the console, if there is one, to show UTF-8 output until the
 * process exits (redirected output gets the UTF-8 bytes as they are).
 * Elsewhere argv already holds the bytes that were typed and nothing
 * changes. Returns 0, or -1 if out of memory (argc, argv unchanged). */
int platform_utf8_init(int *argc, char ***argv);

/* The config file used when -c is not given (UTF-8). */
const char *platform_default_config(void);

/* Writes the current UTC time as "2026-11-24T23:10:57.123Z". */
void platform_format_utc_now(char *buf, size_t size);

/* Arranges for Ctrl+C / SIGINT / SIGTERM to request a stop instead of
 * killing the process, and for SIGHUP (Linux) or Ctrl+Break (a Windows
 * console) to request a reload. Call before the engine starts its
 * threads. Returns 0 or -1. */
int platform_stop_signals_install(void);

typedef enum platform_request { PLATFORM_STOP, PLATFORM_RELOAD } platform_request;

/* Blocks until a stop or a reload is requested, and says which. */
platform_request platform_stop_signals_wait(void);

/* Tells the stop machinery that the drain is over and the process is about
 * to exit (on Windows a console close waits for this). */
void platform_stop_signals_done(void);

#endif /* IOCPD_PLATFORM_H */
