/* Platform pieces for Windows. */
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>

#include "platform.h"
#include "utf8_files.h"

static HANDLE stop_requested;
static HANDLE stop_finished;
static HANDLE reload_requested;

/* The console's output code page before platform_utf8_init set UTF-8. */
static UINT console_output_cp;

static void restore_console_output_cp(void) { SetConsoleOutputCP(console_output_cp); }

/* When stdout or stderr is a console, has it show the UTF-8 that iocpd
 * writes. The code page belongs to the console, not to this process (the
 * cmd.exe that started iocpd shares it), so it is given back at exit. When
 * both are redirected, the bytes go out as they are: UTF-8. */
static void use_utf8_console(void) {
  DWORD mode;
  if (!GetConsoleMode(GetStdHandle(STD_OUTPUT_HANDLE), &mode) &&
      !GetConsoleMode(GetStdHandle(STD_ERROR_HANDLE), &mode))
    return;
  console_output_cp = GetConsoleOutputCP();
  if (console_output_cp == CP_UTF8 || !SetConsoleOutputCP(CP_UTF8)) return;
  atexit(restore_console_output_cp);
}

static void free_args(char **args, int n) {
  while (n > 0) free(args[--n]);
  free(args);
}

int platform_utf8_init(int *argc, char ***argv) {
  int n = 0, i;
  /* The command line as the process got it, in UTF-16; for a service,
   * the binPath that the SCM started. */
  wchar_t **wide = CommandLineToArgvW(GetCommandLineW(), &n);
  char **utf8;

  if (wide == NULL) return -1;
  utf8 = calloc((size_t)n + 1, sizeof(*utf8));
  for (i = 0; utf8 != NULL && i < n; i++) {
    utf8[i] = iocpd__utf16_to_utf8(wide[i]);
    if (utf8[i] == NULL) {
      free_args(utf8, i);
      utf8 = NULL;
    }
  }
  LocalFree(wide);
  if (utf8 == NULL) return -1;
  /* Like the C runtime's own argv, these live as long as the process. */
  *argc = n;
  *argv = utf8;
  use_utf8_console();
  return 0;
}

const char *platform_default_config(void) {
  /* UTF-8 takes at most 3 bytes for each UTF-16 unit of MAX_PATH. */
  static char path[3 * MAX_PATH + 32];
  wchar_t base[MAX_PATH];
  DWORD n = GetEnvironmentVariableW(L"ProgramData", base, MAX_PATH);
  char *utf8 = n > 0 && n < MAX_PATH ? iocpd__utf16_to_utf8(base) : NULL;
  snprintf(path, sizeof(path), "%s\\iocpd\\iocpd.ini", utf8 != NULL ? utf8 : "C:\\ProgramData");
  free(utf8);
  return path;
}

void platform_format_utc_now(char *buf, size_t size) {
  SYSTEMTIME st;
  GetSystemTime(&st);
  snprintf(buf, size, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", st.wYear, st.wMonth, st.wDay, st.wHour,
           st.wMinute, st.wSecond, st.wMilliseconds);
}

static BOOL WINAPI on_console_ctrl(DWORD type) {
  /* Ctrl+Break is the console's other key: it reloads the config. */
  if (type == CTRL_BREAK_EVENT) {
    SetEvent(reload_requested);
    return TRUE;
  }
  SetEvent(stop_requested);
  /* For a console close, log-off or shutdown, Windows ends the process as
   * soon as this handler returns, so wait here (the system allows about
   * 5 s) for the drain to finish. Ctrl+C and Ctrl+Break return at once. */
  if (type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT || type == CTRL_SHUTDOWN_EVENT) {
    WaitForSingleObject(stop_finished, 5000);
  }
  return TRUE;
}

int platform_stop_signals_install(void) {
  stop_requested = CreateEventW(NULL, TRUE, FALSE, NULL);
  stop_finished = CreateEventW(NULL, TRUE, FALSE, NULL);
  reload_requested = CreateEventW(NULL, FALSE, FALSE, NULL); /* auto-reset: one per press */
  if (stop_requested == NULL || stop_finished == NULL || reload_requested == NULL) return -1;
  return SetConsoleCtrlHandler(on_console_ctrl, TRUE) ? 0 : -1;
}

platform_request platform_stop_signals_wait(void) {
  HANDLE events[2];
  events[0] = stop_requested; /* first: a stop wins over a reload */
  events[1] = reload_requested;
  return WaitForMultipleObjects(2, events, FALSE, INFINITE) == WAIT_OBJECT_0 + 1 ? PLATFORM_RELOAD
                                                                                 : PLATFORM_STOP;
}

void platform_stop_signals_done(void) { SetEvent(stop_finished); }
