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

void iocpd__log(iocpd_server *server, iocpd_log_level level, const char *fmt,
                ...) {
  char buf[512];
  va_list ap;

  if (server->log == NULL || level > server->log_level) return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  server->log(server->log_arg, level, buf);
}
