/*
 * iocpd service: the Windows service host, the process the service control
 * manager (SCM) starts. It runs the same daemon as `iocpd run` (daemon.h),
 * reports its life to the SCM, and sends every event to the Event Log.
 *
 * Threads. The main thread becomes the SCM's dispatcher
 * (StartServiceCtrlDispatcherW) and runs the control handler; the SCM runs
 * service_main on a thread of its own, and that thread does everything
 * else: it starts the daemon, waits for a stop request, drains, and is the
 * only thread that reports a status. The handler only records the request
 * and sets an event, so it returns at once, as the SCM requires.
 *
 * Exit codes reported to the SCM when the service stops (sc query shows
 * them as WIN32_EXIT_CODE and SERVICE_EXIT_CODE):
 *   0 / 0       normal stop
 *   1066 / 1    invalid configuration (ERROR_SERVICE_SPECIFIC_ERROR, 1)
 *   1066 / 3    runtime failure, e.g. a listener cannot bind (..., 3)
 * The service-specific codes are the console exit codes of commands.h.
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "daemon.h"
#include "eventlog.h"
#include "log.h"
#include "platform.h"
#include "scm_state.h"

/* While the daemon starts, a START_PENDING report goes out every
 * START_STEP_MS, each allowing START_WAIT_HINT_MS for the next one: the SCM
 * sees the checkpoint rise as long as loading the config (which may
 * resolve upstream names) and binding go on. */
#define START_STEP_MS 1000
#define START_WAIT_HINT_MS 5000

/* The drain reports STOP_PENDING at least once a second; each report
 * allows the whole drain plus this margin (aborting what is left and
 * freeing) before the SCM may consider the service hung. */
#define STOP_MARGIN_MS 10000

/* Draining progress goes to the Event Log at most this often, so that a
 * drain of many connections does not flood it. */
#define PROGRESS_LOG_INTERVAL_MS 5000

typedef struct service_host {
  const char *config_path;
  /* Manual-reset event: set by the control handler, awaited by service_main. */
  HANDLE stop_requested;
  /* Auto-reset event: PARAMCHANGE, one reload per control. */
  HANDLE reload_requested;
  /* The first control that asked for the stop (for the log). */
  DWORD stop_control;
  SERVICE_STATUS_HANDLE status_handle;
  /* The status reported last; touched by service_main's thread only. */
  scm_state state;
  daemon_state daemon;
  /* daemon_start's result, written by the start thread. */
  int start_rc;
  DWORD stop_wait_hint;
  /* GetTickCount64 of the last draining progress event. */
  ULONGLONG last_progress_log;
  /* The process's exit code, once service_main is done. */
  int exit_code;
} service_host;

/* The SCM calls service_main without a context argument: this is how it
 * finds its host. Set by cmd_service before the dispatcher starts. */
static service_host *the_host;

/* Parses "[-c FILE]" after the command name (argv[0]). Returns 0, or -1
 * after printing why. */
static int parse_options(int argc, char **argv, const char **path) {
  int i;
  *path = platform_default_config();
  for (i = 1; i < argc; i++) {
    if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
      *path = argv[++i];
    } else {
      fprintf(stderr, "iocpd: usage: iocpd service [-c FILE]\n");
      return -1;
    }
  }
  return 0;
}

/* The one place that reports a status: the move is checked by scm_state
 * (so STOPPED, for one, goes out only once), then sent to the SCM. */
static void report(service_host *h, DWORD state, DWORD wait_hint_ms, int exit_code) {
  if (scm_state_move(&h->state, state, wait_hint_ms, exit_code) != 0) {
    log_event(EV_ERROR, IOCPD_LOG_ERROR,
              "service host: status %lu not reported: not allowed after %lu", (unsigned long)state,
              (unsigned long)h->state.status.dwCurrentState);
    return;
  }
  if (!SetServiceStatus(h->status_handle, &h->state.status)) {
    log_event(EV_ERROR, IOCPD_LOG_ERROR,
              "service host: SetServiceStatus failed (Windows error %lu)",
              (unsigned long)GetLastError());
  }
}

/* HandlerEx: runs on the dispatcher thread. It must return quickly, so a
 * stop only sets the event that service_main waits on. The SCM calls it on
 * that one thread, one control at a time, so stop_control needs no lock:
 * it is written once, before the event is set, and read after the wait. */
static DWORD WINAPI on_control(DWORD control, DWORD event_type, void *event_data, void *context) {
  service_host *h = context;
  scm_control_action action = scm_control_action_for(control);
  (void)event_type;
  (void)event_data;
  if (action == SCM_CONTROL_STOP) {
    if (h->stop_control == 0) h->stop_control = control;
    SetEvent(h->stop_requested);
  } else if (action == SCM_CONTROL_RELOAD) {
    SetEvent(h->reload_requested);
  }
  return scm_control_result(action);
}

static DWORD WINAPI start_thread(void *arg) {
  service_host *h = arg;
  h->start_rc = daemon_start(&h->daemon, h->config_path);
  return 0;
}

/* Runs daemon_start on a helper thread while this one keeps the SCM
 * informed. Returns daemon_start's result. */
static int start_daemon(service_host *h) {
  HANDLE thread;
  report(h, SERVICE_START_PENDING, START_WAIT_HINT_MS, 0);
  thread = CreateThread(NULL, 0, start_thread, h, 0, NULL);
  if (thread == NULL) {
    /* No thread to spare: start here, with one long wait hint. */
    report(h, SERVICE_START_PENDING, 60000, 0);
    start_thread(h);
    return h->start_rc;
  }
  while (WaitForSingleObject(thread, START_STEP_MS) == WAIT_TIMEOUT) {
    report(h, SERVICE_START_PENDING, START_WAIT_HINT_MS, 0);
  }
  /* The thread has ended: its write of start_rc is visible here. */
  CloseHandle(thread);
  return h->start_rc;
}

/* daemon_stop's progress callback, on this thread: each call is a
 * checkpoint. */
static void on_drain_progress(void *arg, size_t open) {
  service_host *h = arg;
  ULONGLONG now = GetTickCount64();
  report(h, SERVICE_STOP_PENDING, h->stop_wait_hint, 0);
  if (open > 0 && now - h->last_progress_log >= PROGRESS_LOG_INTERVAL_MS) {
    h->last_progress_log = now;
    log_event(EV_DRAIN_PROGRESS, IOCPD_LOG_INFO, "draining: %zu open connections", open);
  }
}

static void stop_daemon(service_host *h) {
  uint64_t wait = h->daemon.live.config->drain_timeout_ms + STOP_MARGIN_MS;
  h->stop_wait_hint = wait > MAXDWORD ? MAXDWORD : (DWORD)wait;
  report(h, SERVICE_STOP_PENDING, h->stop_wait_hint, 0);
  log_event(EV_INFO, IOCPD_LOG_INFO, "service control: %s", scm_control_name(h->stop_control));
  h->last_progress_log = GetTickCount64();
  daemon_stop(&h->daemon, on_drain_progress, h);
}

/* argv: the service name, then the start parameters of StartServiceW, in
 * UTF-16. Only the name is used, as it is (a W name for the W calls); the
 * config path came with the process's command line (platform_utf8_init). */
static void WINAPI service_main(DWORD argc, wchar_t **argv) {
  service_host *h = the_host;
  static wchar_t fallback_name[] = L"iocpd";
  wchar_t *name = argc > 0 && argv[0][0] != L'\0' ? argv[0] : fallback_name;
  int rc;

  /* First of all, so that the SCM can be told anything at all. */
  h->status_handle = RegisterServiceCtrlHandlerExW(name, on_control, h);
  if (h->status_handle == 0) {
    /* Nobody to report to; the SCM gives up on the start by itself. */
    h->exit_code = EXIT_RUNTIME;
    return;
  }
  scm_state_init(&h->state);
  report(h, SERVICE_START_PENDING, START_WAIT_HINT_MS, 0);
  /* `iocpd install` registers the service's name as its Event Log source,
   * with iocpd.exe as the message file. Failing to open it is not fatal:
   * events then go to OutputDebugString (see eventlog.h). */
  if (eventlog_open(name) != 0) {
    OutputDebugStringW(L"iocpd: cannot open the Event Log source\n");
  }
  log_set_sink(eventlog_sink);

  rc = start_daemon(h);
  if (rc == EXIT_OK) {
    HANDLE events[2];
    report(h, SERVICE_RUNNING, 0, 0);
    events[0] = h->stop_requested; /* first: a stop wins over a reload */
    events[1] = h->reload_requested;
    /* A reload runs here, on service_main's thread, while the service
     * stays RUNNING: its status does not change either way. */
    while (WaitForMultipleObjects(2, events, FALSE, INFINITE) == WAIT_OBJECT_0 + 1)
      daemon_reload(&h->daemon);
    stop_daemon(h);
  } else {
    /* daemon_start has logged each problem (FILE:LINE, or the address
     * that could not be bound) and left nothing running. */
    log_event(EV_START_FAILED, IOCPD_LOG_ERROR,
              "service not started: %s (service-specific exit code %d)",
              rc == EXIT_BAD_CONFIG ? "invalid configuration" : "runtime failure", rc);
  }

  /* Before STOPPED: once the SCM has it, the process may end any time. */
  log_set_sink(NULL);
  eventlog_close();
  h->exit_code = rc;
  report(h, SERVICE_STOPPED, 0, rc);
}

int cmd_service(int argc, char **argv) {
  static wchar_t name[] = L"iocpd"; /* ignored for an own-process service */
  SERVICE_TABLE_ENTRYW table[2];
  service_host host;
  int rc;

  memset(&host, 0, sizeof(host));
  if (parse_options(argc, argv, &host.config_path) != 0) return EXIT_USAGE;
  host.stop_requested = CreateEventW(NULL, TRUE, FALSE, NULL);
  host.reload_requested = CreateEventW(NULL, FALSE, FALSE, NULL);
  if (host.stop_requested == NULL || host.reload_requested == NULL) {
    fprintf(stderr, "iocpd: cannot create an event (Windows error %lu)\n",
            (unsigned long)GetLastError());
    return EXIT_RUNTIME;
  }
  host.exit_code = EXIT_RUNTIME; /* unless service_main runs and says otherwise */
  the_host = &host;

  memset(table, 0, sizeof(table));
  table[0].lpServiceName = name;
  table[0].lpServiceProc = service_main;
  /* Returns once the service has stopped, or at once if the SCM did not
   * start this process. */
  if (StartServiceCtrlDispatcherW(table)) {
    rc = host.exit_code;
  } else if (GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
    fprintf(stderr, "iocpd: 'iocpd service' is what the Windows service manager runs; it\n"
                    "cannot be started by hand. To serve from this console, use\n"
                    "'iocpd run -c FILE'; to set up the service, 'iocpd install -c FILE'.\n");
    rc = EXIT_USAGE;
  } else {
    fprintf(stderr, "iocpd: cannot connect to the service manager (Windows error %lu)\n",
            (unsigned long)GetLastError());
    rc = EXIT_RUNTIME;
  }
  the_host = NULL;
  CloseHandle(host.stop_requested);
  if (host.reload_requested != NULL) CloseHandle(host.reload_requested);
  return rc;
}
