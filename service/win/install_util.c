/*
 * The helpers that `iocpd install` (install.c) and `iocpd uninstall`
 * (uninstall.c) share: see install.h.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "eventlog.h"
#include "install.h"

void install_print_error(const char *what, DWORD err) {
  wchar_t text[512];
  char *utf8 = NULL;
  /* The W form: the system's text is in the language of the system, which
   * the ANSI code page may not hold, and what is printed is UTF-8. */
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err, 0,
                           text, sizeof(text) / sizeof(text[0]), NULL);
  /* System messages end with ".\r\n": keep the period, drop the line end. */
  while (n > 0 && (text[n - 1] == L'\n' || text[n - 1] == L'\r' || text[n - 1] == L' ')) n--;
  text[n] = L'\0';
  if (n > 0) utf8 = iocpd__utf16_to_utf8(text);
  fprintf(stderr, "iocpd: %s: %s (error %lu)\n", what, utf8 != NULL ? utf8 : "unknown error",
          (unsigned long)err);
  free(utf8);
}

static const wchar_t *errors_source;

void install_errors_to_eventlog(const wchar_t *name) { errors_source = name; }

void install_report_error(const char *message) {
  fprintf(stderr, "iocpd: %s\n", message);
  if (errors_source != NULL && eventlog_open(errors_source) == 0) {
    eventlog_sink(EV_ERROR, IOCPD_LOG_ERROR, message);
    eventlog_close();
  }
}

SC_HANDLE install_open_scm(DWORD access) {
  SC_HANDLE scm = OpenSCManagerW(NULL, NULL, access);
  if (scm == NULL) {
    DWORD err = GetLastError();
    install_print_error("cannot open the service control manager", err);
    if (err == ERROR_ACCESS_DENIED) {
      fprintf(stderr, "iocpd: installing and removing services needs administrator rights: "
                      "run this from an elevated prompt (Run as administrator)\n");
    }
  }
  return scm;
}

SC_HANDLE install_open_service(const char *name, DWORD access, const char *missing,
                               SC_HANDLE *scm) {
  wchar_t *wname = iocpd__utf8_to_utf16(name);
  SC_HANDLE svc = NULL;
  DWORD err;
  *scm = NULL;
  if (wname == NULL) return NULL;
  *scm = install_open_scm(SC_MANAGER_CONNECT);
  if (*scm != NULL) svc = OpenServiceW(*scm, wname, access);
  err = GetLastError();
  free(wname);
  if (svc != NULL || *scm == NULL) return svc;
  if (err == ERROR_SERVICE_DOES_NOT_EXIST) {
    fprintf(stderr, "iocpd: the service '%s' does not exist%s\n", name, missing);
  } else {
    install_print_error("cannot open the service", err);
    if (err == ERROR_ACCESS_DENIED)
      fprintf(stderr, "iocpd: run this from an elevated prompt (Run as administrator)\n");
  }
  CloseServiceHandle(*scm);
  *scm = NULL;
  return NULL;
}

int install_name_option(int argc, char **argv, void (*usage)(FILE *out), const char **name) {
  int i;
  *name = INSTALL_DEFAULT_NAME;
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 1;
    } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
      *name = argv[++i];
    } else if (strcmp(argv[i], "--name") == 0) {
      fprintf(stderr, "iocpd: --name needs a value\n");
      return -1;
    } else {
      fprintf(stderr, "iocpd: unknown option '%s' for '%s' (see iocpd %s --help)\n", argv[i],
              argv[0], argv[0]);
      return -1;
    }
  }
  if ((*name)[0] == '\0' || strpbrk(*name, "/\\") != NULL) {
    fprintf(stderr, "iocpd: invalid service name '%s'\n", *name);
    return -1;
  }
  return 0;
}

/* The registry path of event source name under HKLM (malloc'ed), or NULL
 * when out of memory. */
static wchar_t *eventsource_key_path(const wchar_t *name) {
  size_t len = wcslen(INSTALL_EVENTLOG_KEY) + wcslen(name) + 1;
  wchar_t *path = malloc(len * sizeof(*path));
  if (path == NULL) return NULL;
  wcscpy(path, INSTALL_EVENTLOG_KEY);
  wcscat(path, name);
  return path;
}

DWORD install_eventsource_register(const wchar_t *name, const wchar_t *message_file) {
  wchar_t *path;
  HKEY key;
  DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
  LSTATUS st;

  path = eventsource_key_path(name);
  if (path == NULL) return ERROR_NOT_ENOUGH_MEMORY;
  st = RegCreateKeyExW(HKEY_LOCAL_MACHINE, path, 0, NULL, REG_OPTION_NON_VOLATILE, KEY_SET_VALUE,
                       NULL, &key, NULL);
  free(path);
  if (st != ERROR_SUCCESS) return (DWORD)st;
  /* REG_EXPAND_SZ is what the Event Viewer expects here (paths may use
   * %SystemRoot% and the like); the size counts the terminating NUL. */
  st = RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ, (const BYTE *)message_file,
                      (DWORD)((wcslen(message_file) + 1) * sizeof(wchar_t)));
  if (st == ERROR_SUCCESS) {
    st = RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD, (const BYTE *)&types, sizeof(types));
  }
  RegCloseKey(key);
  return (DWORD)st;
}

DWORD install_eventsource_remove(const wchar_t *name) {
  wchar_t *path;
  LSTATUS st;

  path = eventsource_key_path(name);
  if (path == NULL) return ERROR_NOT_ENOUGH_MEMORY;
  /* The source's key has values only, no subkeys: RegDeleteKeyW does. */
  st = RegDeleteKeyW(HKEY_LOCAL_MACHINE, path);
  free(path);
  return (DWORD)st;
}

QUERY_SERVICE_CONFIGW *install_query_config(SC_HANDLE svc) {
  QUERY_SERVICE_CONFIGW *qc;
  DWORD need = 0;
  if (QueryServiceConfigW(svc, NULL, 0, &need) || GetLastError() != ERROR_INSUFFICIENT_BUFFER) {
    return NULL;
  }
  qc = malloc(need);
  if (qc != NULL && (!QueryServiceConfigW(svc, qc, need, &need) || qc->lpBinaryPathName == NULL)) {
    free(qc);
    qc = NULL;
  }
  return qc;
}

wchar_t *install_config_of(SC_HANDLE svc) {
  QUERY_SERVICE_CONFIGW *qc = install_query_config(svc);
  const wchar_t *start, *end;
  wchar_t *out = NULL;

  if (qc == NULL) return NULL;
  start = wcsstr(qc->lpBinaryPathName, L" -c \"");
  if (start != NULL) {
    start += 5;
    end = wcschr(start, L'"');
    if (end != NULL && (out = malloc((size_t)(end - start + 1) * sizeof(*out))) != NULL) {
      memcpy(out, start, (size_t)(end - start) * sizeof(*out));
      out[end - start] = L'\0';
    }
  }
  free(qc);
  return out;
}
