/*
 * iocpd uninstall: stops the service, deletes it and its Event Log source.
 * The config file is kept: it is the administrator's, and a later install
 * picks it up again.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "firewall.h"
#include "install.h"

/* How often the service's state is polled while it stops, at most and at
 * least (ms); in between, a tenth of the wait hint it reports, as Microsoft
 * recommends for SERVICE_STOP_PENDING. */
#define POLL_MIN_MS 100
#define POLL_MAX_MS 1000

static void uninstall_usage(FILE *out) {
  fprintf(out,
          "usage: iocpd uninstall [--name NAME]\n"
          "Stops the service NAME (default %s), waits for its drain to finish, and\n"
          "removes the service and its Event Log source. Its config file is kept.\n"
          "Run from an elevated prompt.\n"
          "exit codes: 0 removed, 2 usage error, 3 failure (no such service, not\n"
          "elevated, did not stop in time...)\n",
          INSTALL_DEFAULT_NAME);
}

/* How long to wait for a stop: the preshutdown timeout that `iocpd install`
 * set to the config's drain_timeout plus a margin, or that default. */
static DWORD stop_budget_ms(SC_HANDLE svc) {
  union {
    SERVICE_PRESHUTDOWN_INFO info;
    BYTE bytes[64];
  } buf;
  DWORD need = 0;
  DWORD fallback = INSTALL_DEFAULT_DRAIN_MS + INSTALL_STOP_MARGIN_MS;
  if (!QueryServiceConfig2W(svc, SERVICE_CONFIG_PRESHUTDOWN_INFO, buf.bytes, sizeof(buf.bytes),
                            &need)) {
    return fallback;
  }
  /* Never shorter than the default: a service installed by other means
   * has Windows' own preshutdown default, 10 s on current versions. */
  return buf.info.dwPreshutdownTimeout > fallback ? buf.info.dwPreshutdownTimeout : fallback;
}

static int query(SC_HANDLE svc, SERVICE_STATUS_PROCESS *st) {
  DWORD need;
  if (QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)st, sizeof(*st), &need)) return 0;
  install_print_error("cannot query the service", GetLastError());
  return -1;
}

/* Stops the service and waits until it reports SERVICE_STOPPED, for at
 * most budget_ms. Returns 0 once stopped, 1 on timeout, -1 on an error
 * (printed). */
static int stop_and_wait(SC_HANDLE svc, const char *name, DWORD budget_ms) {
  SERVICE_STATUS_PROCESS st;
  SERVICE_STATUS ss;
  ULONGLONG deadline = GetTickCount64() + budget_ms;
  int asked = 0;

  for (;;) {
    DWORD wait, err;
    if (query(svc, &st) != 0) return -1;
    if (st.dwCurrentState == SERVICE_STOPPED) {
      if (asked) printf("iocpd: the service '%s' stopped\n", name);
      return 0;
    }
    /* A service still starting cannot take a stop yet
     * (ERROR_SERVICE_CANNOT_ACCEPT_CTRL): wait until it runs. */
    if (!asked && st.dwCurrentState != SERVICE_START_PENDING &&
        st.dwCurrentState != SERVICE_STOP_PENDING) {
      if (ControlService(svc, SERVICE_CONTROL_STOP, &ss)) {
        printf("iocpd: stopping the service '%s' (waiting up to %lu s for its drain)\n", name,
               (unsigned long)((budget_ms + 999) / 1000));
        asked = 1;
        continue;
      }
      err = GetLastError();
      /* Not active: it stopped meanwhile. Cannot accept: it is between
       * states; both are looked at again after the pause below. */
      if (err != ERROR_SERVICE_NOT_ACTIVE && err != ERROR_SERVICE_CANNOT_ACCEPT_CTRL) {
        install_print_error("cannot stop the service", err);
        return -1;
      }
    }
    if (st.dwCurrentState == SERVICE_STOP_PENDING) asked = 1;
    if (GetTickCount64() >= deadline) return 1;
    wait = st.dwWaitHint / 10;
    if (wait < POLL_MIN_MS) wait = POLL_MIN_MS;
    if (wait > POLL_MAX_MS) wait = POLL_MAX_MS;
    Sleep(wait);
  }
}

int cmd_uninstall(int argc, char **argv) {
  const char *name;
  wchar_t *wname = NULL, *config = NULL;
  SC_HANDLE scm = NULL, svc = NULL;
  DWORD err, budget;
  int rc = EXIT_RUNTIME, stopped;
  char *config_a = NULL;

  switch (install_name_option(argc, argv, uninstall_usage, &name)) {
    case 0: break;
    case 1: return EXIT_OK;
    default: return EXIT_USAGE;
  }
  wname = iocpd__utf8_to_utf16(name);
  if (wname == NULL) goto out;

  svc = install_open_service(name,
                             SERVICE_STOP | SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG | DELETE,
                             ": nothing to uninstall", &scm);
  if (svc == NULL) goto out;
  config = install_config_of(svc);
  budget = stop_budget_ms(svc);

  stopped = stop_and_wait(svc, name, budget);
  if (stopped < 0) goto out;
  if (stopped > 0) {
    fprintf(stderr,
            "iocpd: the service '%s' did not stop within %lu s; it is deleted anyway and "
            "disappears once its process ends\n",
            name, (unsigned long)(budget / 1000));
  }
  if (!DeleteService(svc)) {
    err = GetLastError();
    if (err == ERROR_SERVICE_MARKED_FOR_DELETE) {
      fprintf(stderr,
              "iocpd: the service '%s' was already being deleted: it disappears once every "
              "program holding it open (services.msc...) closes it\n",
              name);
    } else {
      install_print_error("cannot delete the service", err);
    }
    goto out;
  }
  printf("iocpd: deleted the service '%s'\n", name);

  err = install_eventsource_remove(wname);
  if (err == ERROR_SUCCESS) {
    printf("iocpd: removed the Event Log source '%s'\n", name);
  } else if (err != ERROR_FILE_NOT_FOUND) {
    install_print_error("warning: cannot remove the Event Log source", err);
  }
  {
    char why[300];
    long fw = firewall_remove(wname, why, sizeof(why));
    if (fw == 1) {
      printf("iocpd: removed the firewall rules of '%s'\n", name);
    } else if (fw != 0) {
      fprintf(stderr, "iocpd: warning: %s\n", why);
    }
  }
  if (config != NULL) config_a = iocpd__utf16_to_utf8(config);
  printf("iocpd: kept the config file %s (delete it by hand if it is no longer needed)\n",
         config_a != NULL ? config_a : "(none in the service's command line)");
  rc = stopped == 0 ? EXIT_OK : EXIT_RUNTIME;
out:
  free(config_a);
  free(config);
  free(wname);
  if (svc != NULL) CloseServiceHandle(svc);
  if (scm != NULL) CloseServiceHandle(scm);
  return rc;
}
