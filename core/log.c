/* Formatting log messages for the server's log callback. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

const char *iocpd_log_level_name(iocpd_log_level level) {
  switch (level) {
    case IOCPD_LOG_ERROR: return "error";
    case IOCPD_LOG_WARNING: return "warning";
    case IOCPD_LOG_INFO: return "info";
    default: return "debug";
  }
}

static void vlog(iocpd_server *server, iocpd_log_level level, const char *fmt,
                 va_list ap) {
  char buf[512];
  if (server->log == NULL || level > server->log_level) return;
  vsnprintf(buf, sizeof(buf), fmt, ap);
  server->log(server->log_arg, level, buf);
}

void iocpd__log(iocpd_server *server, iocpd_log_level level, const char *fmt,
                ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(server, level, fmt, ap);
  va_end(ap);
}

int iocpd_server_log_enabled(const iocpd_server *server, iocpd_log_level level) {
  return server->log != NULL && level <= server->log_level;
}

void iocpd_server_log(iocpd_server *server, iocpd_log_level level,
                      const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(server, level, fmt, ap);
  va_end(ap);
}

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

void iocpd_conn_log_limited(const iocpd_conn *conn, iocpd_log_level level, const char *fmt,
                            ...) {
  iocpd__listener *l = conn->base.listener;
  iocpd_server *s = l->server;
  uint64_t suppressed = 0;
  char line[512];
  va_list ap;
  int pass, n;

  if (!iocpd_server_log_enabled(s, level)) return;
  iocpd__mutex_lock(s->lock);
  pass = iocpd__log_limit_pass(handler_limit(l, fmt), iocpd__now_ms(), &suppressed);
  iocpd__mutex_unlock(s->lock);
  if (!pass) return;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (suppressed > 0) {
    iocpd__log(s, level, "%s; %llu more since the last report", line,
               (unsigned long long)suppressed);
  } else {
    iocpd__log(s, level, "%s", line);
  }
}
