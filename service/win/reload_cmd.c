/*
 * iocpd reload: asks the running service to read its config file again,
 * by sending it SERVICE_CONTROL_PARAMCHANGE (what `sc control NAME
 * paramchange` sends). The service checks the file first and keeps
 * running its old config if the file has a problem; what happened goes to
 * the Event Log (and /metrics, iocpd_config_reloads_total).
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "install.h"

static void reload_usage(FILE *out) {
  fprintf(out,
          "usage: iocpd reload [--name NAME]\n"
          "Asks the running service NAME (default %s) to reload its config file:\n"
          "listeners whose name and address are unchanged keep their sockets and\n"
          "open connections. The outcome is in the Event Log (source NAME).\n"
          "Run from an elevated prompt.\n"
          "exit codes: 0 sent, 2 usage error, 3 failure (no such service, not\n"
          "running, not elevated...)\n",
          INSTALL_DEFAULT_NAME);
}

int cmd_reload(int argc, char **argv) {
  const char *name;
  SC_HANDLE scm = NULL, svc = NULL;
  SERVICE_STATUS st;
  DWORD err;
  int rc = EXIT_RUNTIME;

  switch (install_name_option(argc, argv, reload_usage, &name)) {
    case 0: break;
    case 1: return EXIT_OK;
    default: return EXIT_USAGE;
  }
  /* PARAMCHANGE needs the pause/continue right. */
  svc = install_open_service(name, SERVICE_PAUSE_CONTINUE, "", &scm);
  if (svc == NULL) goto out;
  if (!ControlService(svc, SERVICE_CONTROL_PARAMCHANGE, &st)) {
    err = GetLastError();
    if (err == ERROR_SERVICE_NOT_ACTIVE) {
      fprintf(stderr, "iocpd: the service '%s' is not running: nothing to reload\n", name);
    } else {
      install_print_error("cannot send the reload", err);
    }
    goto out;
  }
  printf("iocpd: asked the service '%s' to reload its config; the Event Log says how it went\n",
         name);
  rc = EXIT_OK;
out:
  if (svc != NULL) CloseServiceHandle(svc);
  if (scm != NULL) CloseServiceHandle(scm);
  return rc;
}
