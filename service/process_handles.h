/*
 * How many descriptors or handles the iocpd process holds: open file
 * descriptors on Linux (/proc/self/fd), kernel object handles on Windows.
 * Exported as the gauge iocpd_process_open_handles, so that a leak (a
 * socket never closed) shows as a count that does not come back down.
 * One implementation per platform (service/posix, service/win), chosen in
 * CMake.
 */
#ifndef IOCPD_PROCESS_HANDLES_H
#define IOCPD_PROCESS_HANDLES_H

#include <stdint.h>

/* Counts this process's open descriptors (POSIX) or handles (Windows),
 * the count's own look-up excluded. Returns 0 and sets *count, or -1 if
 * the platform cannot say. Any thread. */
int process_open_handles(uint64_t *count);

#endif /* IOCPD_PROCESS_HANDLES_H */
