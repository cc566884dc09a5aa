/* Platform pieces for Windows. */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

#include "platform.h"

static HANDLE stop_requested;
static HANDLE stop_finished;

const char *platform_default_config(void) {
  static char path[MAX_PATH];
  const char *base = getenv("ProgramData");
  snprintf(path, sizeof(path), "%s\\iocpd\\iocpd.ini",
           base != NULL ? base : "C:\\ProgramData");
  return path;
}

void platform_format_utc_now(char *buf, size_t size) {
  SYSTEMTIME st;
  GetSystemTime(&st);
  snprintf(buf, size, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", st.wYear, st.wMonth,
           st.wDay, st.wHour, st.wMinute, st.wSecond, st.wMilliseconds);
}

static BOOL WINAPI on_console_ctrl(DWORD type) {
  SetEvent(stop_requested);
  /* For a console close, log-off or shutdown, Windows ends the process as
   * soon as this handler returns, so wait here (the system allows about
   * 5 s) for the drain to finish. Ctrl+C and Ctrl+Break return at once. */
  if (type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT ||
      type == CTRL_SHUTDOWN_EVENT) {
    WaitForSingleObject(stop_finished, 5000);
  }
  return TRUE;
}

int platform_stop_signals_install(void) {
  stop_requested = CreateEventW(NULL, TRUE, FALSE, NULL);
  stop_finished = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (stop_requested == NULL || stop_finished == NULL) return -1;
  return SetConsoleCtrlHandler(on_console_ctrl, TRUE) ? 0 : -1;
}

void platform_stop_signals_wait(void) {
  WaitForSingleObject(stop_requested, INFINITE);
}

void platform_stop_signals_done(void) { SetEvent(stop_finished); }
