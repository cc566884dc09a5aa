/* stderr logging for console mode. */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "platform.h"

static iocpd_log_level max_level = IOCPD_LOG_INFO;

void log_set_level(iocpd_log_level level) { max_level = level; }

/* Copies src into dst, replacing control characters (CR, LF, ESC...) so that
 * a hostile name or peer string cannot forge log lines. */
static void sanitize(char *dst, size_t size, const char *src) {
  size_t i;
  for (i = 0; i + 1 < size && src[i] != '\0'; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
  }
  dst[i] = '\0';
}

static void emit(iocpd_log_level level, const char *message) {
  char now[40], clean[1024], line[1100];
  if (level > max_level) return;
  platform_format_utc_now(now, sizeof(now));
  sanitize(clean, sizeof(clean), message);
  /* One fputs per line: the C library locks the stream per call, so lines
   * from different threads never interleave. */
  snprintf(line, sizeof(line), "%s %s %s\n", now, iocpd_log_level_name(level), clean);
  fputs(line, stderr);
  fflush(stderr);
}

void log_msg(iocpd_log_level level, const char *fmt, ...) {
  char message[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  emit(level, message);
}

void log_from_engine(void *arg, iocpd_log_level level, const char *message) {
  (void)arg;
  emit(level, message);
}
