/* log.h events to the Windows Event Log (see eventlog.h). */
#include <string.h>
#include <wchar.h>

#include "eventlog.h"
#include "messages.h" /* generated from messages.mc by cmake/messages.cmake */

/* The open source. The sink has no context argument, so it lives here:
 * written only by eventlog_open and eventlog_close, while no sink is
 * installed, and only read while one is. */
static HANDLE source;

/* Each event id of log.h and its message in the table. */
static const struct {
  log_event_id id;
  DWORD message;
} messages[] = {
    {EV_STARTING, MSG_STARTING},
    {EV_LISTENER_STARTED, MSG_LISTENER_STARTED},
    {EV_RUNNING, MSG_RUNNING},
    {EV_STOP_REQUESTED, MSG_STOP_REQUESTED},
    {EV_DRAIN_PROGRESS, MSG_DRAIN_PROGRESS},
    {EV_DRAIN_FINISHED, MSG_DRAIN_FINISHED},
    {EV_STOPPED, MSG_STOPPED},
    {EV_RELOADED, MSG_RELOADED},
    {EV_UPSTREAM_UP, MSG_UPSTREAM_UP},
    {EV_INFO, MSG_INFO},
    {EV_WARNING, MSG_WARNING},
    {EV_UPSTREAM_DOWN, MSG_UPSTREAM_DOWN},
    {EV_PROXY_REFUSED, MSG_PROXY_REFUSED},
    {EV_CONFIG_ERROR, MSG_CONFIG_ERROR},
    {EV_START_FAILED, MSG_START_FAILED},
    {EV_ERROR, MSG_ERROR},
    {EV_RELOAD_FAILED, MSG_RELOAD_FAILED},
};

DWORD eventlog_message_id(log_event_id id) {
  size_t i;
  for (i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
    if (messages[i].id == id) return messages[i].message;
  }
  return id < 2000 ? MSG_INFO : id < 3000 ? MSG_WARNING : MSG_ERROR;
}

WORD eventlog_type(log_event_id id) {
  /* The top two bits of a message id are its severity (messages.mc). */
  switch (eventlog_message_id(id) >> 30) {
    case IOCPD_SEVERITY_ERROR: return EVENTLOG_ERROR_TYPE;
    case IOCPD_SEVERITY_WARNING: return EVENTLOG_WARNING_TYPE;
    default: return EVENTLOG_INFORMATION_TYPE;
  }
}

int eventlog_open(const wchar_t *name) {
  source = RegisterEventSourceW(NULL, name);
  return source != NULL ? 0 : -1;
}

void eventlog_close(void) {
  if (source != NULL) DeregisterEventSource(source);
  source = NULL;
}

/* Converts UTF-8 text to UTF-16 in out (out_len units, the NUL included),
 * cut to fit. A UTF-8 byte never gives more than one UTF-16 unit, so a
 * prefix of out_len - 1 bytes always fits; the cut is moved back to a
 * character boundary so that no character is split. */
static void to_utf16(const char *in, wchar_t *out, int out_len) {
  size_t len = strlen(in);
  int n = 0;
  if (len > (size_t)out_len - 1) {
    len = (size_t)out_len - 1;
    while (len > 0 && ((unsigned char)in[len] & 0xC0) == 0x80) len--;
  }
  if (len > 0) n = MultiByteToWideChar(CP_UTF8, 0, in, (int)len, out, out_len - 1);
  out[n > 0 ? n : 0] = L'\0';
}

/* Where an event goes when the Event Log cannot take it: a debugger or
 * DebugView (Sysinternals) shows it. */
static void to_debugger(const wchar_t *text) {
  static const wchar_t prefix[] = L"iocpd: ";
  const size_t p = sizeof(prefix) / sizeof(prefix[0]) - 1;
  wchar_t line[EVENTLOG_MAX_CHARS + 16];
  size_t n = wcslen(text);
  if (n > EVENTLOG_MAX_CHARS) n = EVENTLOG_MAX_CHARS;
  memcpy(line, prefix, p * sizeof(wchar_t));
  memcpy(line + p, text, n * sizeof(wchar_t));
  line[p + n] = L'\n';
  line[p + n + 1] = L'\0';
  OutputDebugStringW(line);
}

void eventlog_sink(log_event_id id, iocpd_log_level level, const char *message) {
  wchar_t text[EVENTLOG_MAX_CHARS + 1];
  const wchar_t *strings[1];

  /* The level has already been applied by log.c; the entry's type follows
   * the event id, so that it always matches the message's severity. */
  (void)level;
  to_utf16(message, text, EVENTLOG_MAX_CHARS + 1);
  strings[0] = text;
  if (source == NULL || !ReportEventW(source, eventlog_type(id), 0, eventlog_message_id(id), NULL,
                                      1, 0, strings, NULL)) {
    to_debugger(text);
  }
}
