/*
 * Rate-limited logging: a warning that one event per client could repeat
 * (an upstream down, a flood of rejected clients) goes out at most once a
 * second per listener and message, and the next line that goes out counts
 * the ones left out. Kept apart from log.c, which formats only, so that
 * the config fuzzer can link log.c without threads.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

int iocpd__log_limit_pass(iocpd__log_limit *limit, uint64_t now, uint64_t *suppressed) {
  if (limit->last_ms != 0 && now - limit->last_ms < IOCPD__LOG_LIMIT_MS) {
    limit->suppressed++;
    return 0;
  }
  *suppressed = limit->suppressed;
  limit->suppressed = 0;
  limit->last_ms = now;
  return 1;
}

/* The limit of listener l for messages of format fmt: the slot holding
 * fmt, else a free one, else the last one (shared by the overflow). Server
 * lock held. */
static iocpd__log_limit *handler_limit(iocpd__listener *l, const char *fmt) {
  size_t i;
  for (i = 0; i < IOCPD__HANDLER_LOG_FORMATS; i++) {
    if (l->handler_log_format[i] == NULL) l->handler_log_format[i] = fmt;
    if (l->handler_log_format[i] == fmt) return &l->handler_log[i];
  }
  return &l->handler_log[IOCPD__HANDLER_LOG_FORMATS - 1];
}

/* Formats and logs a handler's line, unless its format's limit holds it
 * back. */
static void log_limited(const iocpd_conn *conn, iocpd_log_level level, iocpd_log_event event,
                        const char *fmt, va_list ap) {
  iocpd__listener *l = conn->listener;
  iocpd_server *s = l->server;
  uint64_t suppressed = 0;
  char line[512];
  int pass, n;

  if (!iocpd_server_log_enabled(s, level)) return;
  iocpd_mutex_lock(s->lock);
  pass = iocpd__log_limit_pass(handler_limit(l, fmt), iocpd_now_ms(), &suppressed);
  iocpd_mutex_unlock(s->lock);
  if (!pass) return;
  n = vsnprintf(line, sizeof(line), fmt, ap);
  if (n < 0) return;
  if (suppressed > 0) {
    iocpd__log_event(s, level, event, "%s; %llu more since the last report", line,
                     (unsigned long long)suppressed);
  } else {
    iocpd__log_event(s, level, event, "%s", line);
  }
}

void iocpd_conn_log_limited(const iocpd_conn *conn, iocpd_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_limited(conn, level, IOCPD_EVENT_GENERIC, fmt, ap);
  va_end(ap);
}

void iocpd__conn_log_limited_event(const iocpd_conn *conn, iocpd_log_level level,
                                   iocpd_log_event event, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  log_limited(conn, level, event, fmt, ap);
  va_end(ap);
}
