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

static void vlog(iocpd_server *server, iocpd_log_level level, iocpd_log_event event,
                 const char *fmt, va_list ap) {
  char buf[512];
  if (!iocpd_server_log_enabled(server, level)) return;
  vsnprintf(buf, sizeof(buf), fmt, ap);
  if (server->log_event != NULL) {
    server->log_event(server->log_arg, level, event, buf);
  } else {
    server->log(server->log_arg, level, buf);
  }
}

void iocpd__log(iocpd_server *server, iocpd_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(server, level, IOCPD_EVENT_GENERIC, fmt, ap);
  va_end(ap);
}

void iocpd__log_event(iocpd_server *server, iocpd_log_level level, iocpd_log_event event,
                      const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(server, level, event, fmt, ap);
  va_end(ap);
}

int iocpd_server_log_enabled(const iocpd_server *server, iocpd_log_level level) {
  return (server->log != NULL || server->log_event != NULL) && level <= server->log_level;
}

void iocpd_server_log(iocpd_server *server, iocpd_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(server, level, IOCPD_EVENT_GENERIC, fmt, ap);
  va_end(ap);
}
