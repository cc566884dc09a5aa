/*
 * The executable's log: one line per event on stderr, "TIME LEVEL message",
 * with control characters from config or network strings made harmless.
 */
#ifndef IOCPD_SERVICE_LOG_H
#define IOCPD_SERVICE_LOG_H

#include "compat.h"
#include "iocpd.h"

/* Messages above level are dropped. */
void log_set_level(iocpd_log_level level);

void log_msg(iocpd_log_level level, const char *fmt, ...) IOCPD__PRINTF(2, 3);

/* An iocpd_log_fn for the engine: forwards to log_msg. */
void log_from_engine(void *arg, iocpd_log_level level, const char *message);

#endif /* IOCPD_SERVICE_LOG_H */
