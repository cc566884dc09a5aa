/*
 * The Windows service host's rules, without a service control manager:
 * which control codes stop the service and what the handler answers
 * (scm_state.h), the SERVICE_STATUS reported at each step, the Event Log
 * id and type of every log.h event (eventlog.h), and the message table
 * compiled from messages.mc, rendered the way Event Viewer renders it
 * (FormatMessage with the event's message as insertion string %1), and
 * the names of the Windows Firewall rules (firewall.h).
 *
 * Windows only (a PE; ctest runs it under Wine in the cross build).
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "eventlog.h"
#include "firewall.h"
#include "log.h"
#include "scm_state.h"

static int failures, checks;

/* Counts a check; on failure prints the condition and printf-style details. */
#define CHECKF(cond, ...)                                                                          \
  do {                                                                                             \
    checks++;                                                                                      \
    if (!(cond)) {                                                                                 \
      failures++;                                                                                  \
      fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                                   \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)
#define CHECK(cond) CHECKF(cond, "%s", "failed")

static void test_controls(void) {
  static const DWORD stops[] = {SERVICE_CONTROL_STOP, SERVICE_CONTROL_SHUTDOWN,
                                SERVICE_CONTROL_PRESHUTDOWN};
  static const DWORD others[] = {SERVICE_CONTROL_PAUSE,
                                 SERVICE_CONTROL_CONTINUE,
                                 SERVICE_CONTROL_NETBINDADD,
                                 SERVICE_CONTROL_DEVICEEVENT,
                                 SERVICE_CONTROL_POWEREVENT,
                                 SERVICE_CONTROL_SESSIONCHANGE,
                                 128,
                                 255};
  size_t i;

  for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
    scm_control_action a = scm_control_action_for(stops[i]);
    CHECKF(a == SCM_CONTROL_STOP, "control %lu gives action %d", (unsigned long)stops[i], a);
    CHECKF(scm_control_result(a) == NO_ERROR, "control %lu", (unsigned long)stops[i]);
  }
  CHECK(scm_control_action_for(SERVICE_CONTROL_INTERROGATE) == SCM_CONTROL_INTERROGATE);
  CHECK(scm_control_action_for(SERVICE_CONTROL_PARAMCHANGE) == SCM_CONTROL_RELOAD);
  CHECK(scm_control_result(SCM_CONTROL_RELOAD) == NO_ERROR);
  CHECK(scm_control_result(SCM_CONTROL_INTERROGATE) == NO_ERROR);
  for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
    scm_control_action a = scm_control_action_for(others[i]);
    CHECKF(a == SCM_CONTROL_UNSUPPORTED, "control %lu gives action %d", (unsigned long)others[i],
           a);
    CHECKF(scm_control_result(a) == ERROR_CALL_NOT_IMPLEMENTED, "control %lu",
           (unsigned long)others[i]);
  }
  CHECK(strcmp(scm_control_name(SERVICE_CONTROL_PRESHUTDOWN), "system preshutdown") == 0);
  CHECK(scm_control_name(12345) != NULL);
}

/* Moves s and checks the status that would be reported. */
static void expect_move(scm_state *s, DWORD state, DWORD hint, int exit_code, DWORD checkpoint,
                        DWORD accepted, DWORD win32_exit, DWORD specific_exit, int line) {
  const SERVICE_STATUS *st = &s->status;
  int rc = scm_state_move(s, state, hint, exit_code);
  checks++;
  if (rc != 0 || st->dwServiceType != SERVICE_WIN32_OWN_PROCESS || st->dwCurrentState != state ||
      st->dwCheckPoint != checkpoint || st->dwWaitHint != (checkpoint != 0 ? hint : 0) ||
      st->dwControlsAccepted != accepted || st->dwWin32ExitCode != win32_exit ||
      st->dwServiceSpecificExitCode != specific_exit) {
    failures++;
    fprintf(stderr,
            "line %d: move to %lu: rc %d, state %lu, checkpoint %lu, hint %lu, accepted "
            "%#lx, exit %lu/%lu\n",
            line, (unsigned long)state, rc, (unsigned long)st->dwCurrentState,
            (unsigned long)st->dwCheckPoint, (unsigned long)st->dwWaitHint,
            (unsigned long)st->dwControlsAccepted, (unsigned long)st->dwWin32ExitCode,
            (unsigned long)st->dwServiceSpecificExitCode);
  }
}

/* Checks that a move is refused and changes nothing. */
static void expect_refused(scm_state *s, DWORD state, int line) {
  SERVICE_STATUS before = s->status;
  int rc = scm_state_move(s, state, 1000, 0);
  checks++;
  if (rc != -1 || memcmp(&before, &s->status, sizeof(before)) != 0) {
    failures++;
    fprintf(stderr, "line %d: move from %lu to %lu: rc %d (want -1, status unchanged)\n", line,
            (unsigned long)before.dwCurrentState, (unsigned long)state, rc);
  }
}

static void test_status(void) {
  /* PARAMCHANGE: `iocpd reload` (and `sc control NAME paramchange`). */
  const DWORD accepted = SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN |
                         SERVICE_ACCEPT_PRESHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE;
  scm_state s;

  /* A whole life: checkpoints rise while pending and restart at 1. */
  scm_state_init(&s);
  expect_refused(&s, SERVICE_RUNNING, __LINE__);
  expect_refused(&s, SERVICE_STOP_PENDING, __LINE__);
  expect_move(&s, SERVICE_START_PENDING, 5000, 0, 1, 0, NO_ERROR, 0, __LINE__);
  expect_move(&s, SERVICE_START_PENDING, 5000, 0, 2, 0, NO_ERROR, 0, __LINE__);
  expect_move(&s, SERVICE_START_PENDING, 7000, 0, 3, 0, NO_ERROR, 0, __LINE__);
  expect_refused(&s, SERVICE_STOP_PENDING, __LINE__);
  expect_move(&s, SERVICE_RUNNING, 0, 0, 0, accepted, NO_ERROR, 0, __LINE__);
  expect_refused(&s, SERVICE_START_PENDING, __LINE__);
  expect_refused(&s, SERVICE_RUNNING, __LINE__);
  expect_move(&s, SERVICE_STOP_PENDING, 40000, 0, 1, 0, NO_ERROR, 0, __LINE__);
  expect_move(&s, SERVICE_STOP_PENDING, 40000, 0, 2, 0, NO_ERROR, 0, __LINE__);
  expect_move(&s, SERVICE_STOP_PENDING, 40000, 0, 3, 0, NO_ERROR, 0, __LINE__);
  expect_refused(&s, SERVICE_RUNNING, __LINE__);
  expect_move(&s, SERVICE_STOPPED, 0, 0, 0, 0, NO_ERROR, 0, __LINE__);
  /* STOPPED is final: never reported twice, nothing after it. */
  expect_refused(&s, SERVICE_STOPPED, __LINE__);
  expect_refused(&s, SERVICE_STOP_PENDING, __LINE__);
  expect_refused(&s, SERVICE_START_PENDING, __LINE__);
  expect_refused(&s, SERVICE_RUNNING, __LINE__);
  expect_refused(&s, SERVICE_PAUSED, __LINE__);

  /* Failed starts: straight to STOPPED with a service-specific code. */
  scm_state_init(&s);
  expect_move(&s, SERVICE_START_PENDING, 5000, 0, 1, 0, NO_ERROR, 0, __LINE__);
  expect_move(&s, SERVICE_STOPPED, 0, 1, 0, 0, ERROR_SERVICE_SPECIFIC_ERROR, 1, __LINE__);
  expect_refused(&s, SERVICE_STOPPED, __LINE__);
  scm_state_init(&s);
  expect_move(&s, SERVICE_START_PENDING, 5000, 0, 1, 0, NO_ERROR, 0, __LINE__);
  expect_move(&s, SERVICE_STOPPED, 0, 3, 0, 0, ERROR_SERVICE_SPECIFIC_ERROR, 3, __LINE__);
  CHECK(ERROR_SERVICE_SPECIFIC_ERROR == 1066);
}

/* Every event id of log.h, with the severity its range stands for. */
static const struct {
  log_event_id id;
  WORD type;
} events[] = {
    {EV_STARTING, EVENTLOG_INFORMATION_TYPE},
    {EV_LISTENER_STARTED, EVENTLOG_INFORMATION_TYPE},
    {EV_RUNNING, EVENTLOG_INFORMATION_TYPE},
    {EV_STOP_REQUESTED, EVENTLOG_INFORMATION_TYPE},
    {EV_DRAIN_PROGRESS, EVENTLOG_INFORMATION_TYPE},
    {EV_DRAIN_FINISHED, EVENTLOG_INFORMATION_TYPE},
    {EV_STOPPED, EVENTLOG_INFORMATION_TYPE},
    {EV_RELOADED, EVENTLOG_INFORMATION_TYPE},
    {EV_UPSTREAM_UP, EVENTLOG_INFORMATION_TYPE},
    {EV_INFO, EVENTLOG_INFORMATION_TYPE},
    {EV_WARNING, EVENTLOG_WARNING_TYPE},
    {EV_UPSTREAM_DOWN, EVENTLOG_WARNING_TYPE},
    {EV_PROXY_REFUSED, EVENTLOG_WARNING_TYPE},
    {EV_CONFIG_ERROR, EVENTLOG_ERROR_TYPE},
    {EV_START_FAILED, EVENTLOG_ERROR_TYPE},
    {EV_ERROR, EVENTLOG_ERROR_TYPE},
    {EV_RELOAD_FAILED, EVENTLOG_ERROR_TYPE},
};

/* Renders message `id` of this executable's message table (linked in from
 * messages.mc) with `arg` as %1, as Event Viewer would. Returns the number
 * of characters, 0 if there is no such message. */
static DWORD render(DWORD id, const wchar_t *arg, wchar_t *out, DWORD size) {
  DWORD_PTR args[1];
  args[0] = (DWORD_PTR)arg;
  return FormatMessageW(FORMAT_MESSAGE_FROM_HMODULE | FORMAT_MESSAGE_ARGUMENT_ARRAY, NULL, id,
                        MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), out, size, (va_list *)args);
}

static void test_messages(void) {
  size_t i;
  wchar_t text[512];

  for (i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
    log_event_id id = events[i].id;
    DWORD msg = eventlog_message_id(id);
    DWORD severity = events[i].type == EVENTLOG_ERROR_TYPE     ? 3
                     : events[i].type == EVENTLOG_WARNING_TYPE ? 2
                                                               : 1;
    DWORD n;
    /* Event Viewer shows the low 16 bits as the event id. */
    CHECKF((msg & 0xFFFF) == (DWORD)id, "event %d has message id %#lx", id, (unsigned long)msg);
    CHECKF(msg >> 30 == severity, "event %d has message id %#lx", id, (unsigned long)msg);
    CHECKF(eventlog_type(id) == events[i].type, "event %d has type %u", id, eventlog_type(id));
    n = render(msg, L"<the message>", text, sizeof(text) / sizeof(text[0]));
    CHECKF(n > 0, "event %d: no message %#lx in the table (error %lu)", id, (unsigned long)msg,
           (unsigned long)GetLastError());
    if (n > 0) {
      CHECKF(wcsstr(text, L"<the message>") != NULL && wcsstr(text, L"%1") == NULL,
             "event %d renders as '%ls'", id, text);
    }
  }
  /* Two samples in full. */
  CHECKF(render(eventlog_message_id(EV_LISTENER_STARTED), L"listener echo: listening on X", text,
                512) > 0 &&
             wcscmp(text, L"A listener has started.\r\nlistener echo: listening on X\r\n") == 0,
         "EV_LISTENER_STARTED renders as '%ls'", text);
  CHECKF(render(eventlog_message_id(EV_CONFIG_ERROR), L"C:\\x.ini:3: bad", text, 512) > 0 &&
             wcscmp(text, L"The configuration is invalid.\r\nC:\\x.ini:3: bad\r\n") == 0,
         "EV_CONFIG_ERROR renders as '%ls'", text);
  /* Ids missing from the table fall back to the generic one of their range. */
  CHECK(eventlog_message_id((log_event_id)1500) == eventlog_message_id(EV_INFO));
  CHECK(eventlog_message_id((log_event_id)2500) == eventlog_message_id(EV_WARNING));
  CHECK(eventlog_message_id((log_event_id)3500) == eventlog_message_id(EV_ERROR));
  CHECK(eventlog_type((log_event_id)2500) == EVENTLOG_WARNING_TYPE);
}

/* Writing through the sink: with a source (registering one is not needed
 * for that: Windows then uses the Application log), and with none open,
 * as when the source cannot be opened, where it falls back to
 * OutputDebugString. Neither may fail, also with a message longer than
 * EVENTLOG_MAX_CHARS made of 3-byte UTF-8 characters, which is cut. */
static void test_sink(void) {
  static char longer[EVENTLOG_MAX_CHARS * 3 + 1];
  size_t i;
  for (i = 0; i + 3 < sizeof(longer); i += 3) memcpy(longer + i, "\xE2\x82\xAC", 3);
  longer[i] = '\0';
  CHECKF(eventlog_open(L"iocpd-unit-test") == 0, "RegisterEventSourceW failed: %lu",
         (unsigned long)GetLastError());
  eventlog_sink(EV_INFO, IOCPD_LOG_INFO, "test_service_units: a source is open");
  eventlog_sink(EV_ERROR, IOCPD_LOG_ERROR, longer);
  eventlog_close();
  eventlog_sink(EV_INFO, IOCPD_LOG_INFO, "test_service_units: no source open");
  eventlog_sink(EV_ERROR, IOCPD_LOG_ERROR, longer);
}

/* The firewall rules' names: the TCP one as it has always been (a service
 * installed before the UDP rule keeps it, and removal finds it), the UDP
 * one beside it. */
static void test_firewall_names(void) {
  wchar_t *tcp = firewall_rule_name(L"iocpd", 0), *udp = firewall_rule_name(L"my svc", 1);
  CHECK(tcp != NULL && wcscmp(tcp, L"iocpd (iocpd)") == 0);
  CHECK(udp != NULL && wcscmp(udp, L"iocpd (my svc) UDP") == 0);
  free(tcp);
  free(udp);
}

int main(void) {
  test_controls();
  test_firewall_names();
  test_status();
  test_messages();
  test_sink();
  if (failures != 0) {
    fprintf(stderr, "%d of %d checks failed\n", failures, checks);
    return 1;
  }
  printf("%d checks passed\n", checks);
  return 0;
}
