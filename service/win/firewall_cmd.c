/*
 * iocpd firewall add|remove [--name NAME]: the service's Windows Firewall
 * rules on their own (firewall.h), for the MSI's FIREWALL=1 and its removal,
 * and for an administrator who installed without --firewall.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "firewall.h"
#include "install.h"
#include "utf8_files.h"

static void firewall_usage(FILE *out) {
  fprintf(out,
          "usage: iocpd firewall add|remove [--name NAME]\n"
          "add: Windows Firewall rules 'iocpd (NAME)' and 'iocpd (NAME) UDP' that let\n"
          "inbound TCP and UDP reach the service NAME (default %s), bound to this\n"
          "program and the service, not to ports; remove: takes them away again\n"
          "(iocpd uninstall does too).\n"
          "Run from an elevated prompt.\n"
          "exit codes: 0 done, 2 usage error, 3 failure\n",
          INSTALL_DEFAULT_NAME);
}

int cmd_firewall(int argc, char **argv) {
  const char *name;
  wchar_t *wname, *exe = NULL;
  char why[300];
  int add, rc = EXIT_RUNTIME;
  long r;

  if (argc < 2 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0)) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
      firewall_usage(stdout);
      return EXIT_OK;
    }
    firewall_usage(stderr);
    return EXIT_USAGE;
  }
  add = strcmp(argv[1], "add") == 0;
  switch (install_name_option(argc - 1, argv + 1, firewall_usage, &name)) {
    case 0: break;
    case 1: return EXIT_OK;
    default: return EXIT_USAGE;
  }
  wname = iocpd__utf8_to_utf16(name);
  if (wname == NULL) goto out;
  if (add) {
    exe = install_module_path();
    if (exe == NULL) goto out;
    r = firewall_add(wname, exe, why, sizeof(why));
    if (r == 0) {
      printf("iocpd: added the firewall rules (TCP and UDP) for the service '%s'\n", name);
      rc = EXIT_OK;
    }
  } else {
    r = firewall_remove(wname, why, sizeof(why));
    if (r >= 0) {
      printf(r == 1 ? "iocpd: removed the firewall rules of the service '%s'\n"
                    : "iocpd: no firewall rule of the service '%s' to remove\n",
             name);
      rc = EXIT_OK;
    }
  }
  if (rc != EXIT_OK) fprintf(stderr, "iocpd: %s\n", why);
out:
  free(exe);
  free(wname);
  return rc;
}
