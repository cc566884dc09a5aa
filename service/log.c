/* Events to stderr or to a host's sink (see log.h). */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "platform.h"

/* The longest message kept; longer ones are cut (the Event Log caps
 * insertion strings at 31,839 characters, far above this). */
#define MAX_MESSAGE 1024

static iocpd_log_level max_level = IOCPD_LOG_INFO;
static log_sink_fn sink;

void log_set_level(iocpd_log_level level) { max_level = level; }

void log_set_sink(log_sink_fn fn) { sink = fn; }

/* Replaces control characters (CR, LF, ESC...) so that a hostile name or
 * peer string cannot forge log lines or events. */
static void sanitize(char *s) {
  for (; *s != '\0'; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch < 0x20 || ch == 0x7f) *s = '?';
  }
}

static void to_stderr(log_event_id id, iocpd_log_level level, const char *message) {
  char now[40], line[MAX_MESSAGE + 64];
  /* Config problems print as bare "FILE:LINE: message" lines, exactly as
   * check-config prints them, so editors and scripts can parse both. */
  if (id == EV_CONFIG_ERROR) {
    snprintf(line, sizeof(line), "%s\n", message);
    fputs(line, stderr);
    fflush(stderr);
    return;
  }
  platform_format_utc_now(now, sizeof(now));
  /* One fputs per line: the C library locks the stream per call, so lines
   * from different threads never interleave. */
  snprintf(line, sizeof(line), "%s %s %s\n", now, iocpd_log_level_name(level), message);
  fputs(line, stderr);
  fflush(stderr);
}

static void emit(log_event_id id, iocpd_log_level level, char *message) {
  if (level > max_level) return;
  sanitize(message);
  (sink != NULL ? sink : to_stderr)(id, level, message);
}

void log_event(log_event_id id, iocpd_log_level level, const char *fmt, ...) {
  char message[MAX_MESSAGE];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  emit(id, level, message);
}

void log_from_engine(void *arg, iocpd_log_level level, const char *message) {
  log_event_from_engine(arg, level, IOCPD_EVENT_GENERIC, message);
}

void log_event_from_engine(void *arg, iocpd_log_level level, iocpd_log_event event,
                           const char *message) {
  log_event_id id = level == IOCPD_LOG_ERROR     ? EV_ERROR
                    : level == IOCPD_LOG_WARNING ? EV_WARNING
                                                 : EV_INFO;
  (void)arg;
  if (event == IOCPD_EVENT_UPSTREAM_DOWN) id = EV_UPSTREAM_DOWN;
  if (event == IOCPD_EVENT_UPSTREAM_UP) id = EV_UPSTREAM_UP;
  if (event == IOCPD_EVENT_PROXY_REFUSED) id = EV_PROXY_REFUSED;
  log_event(id, level, "%s", message);
}
