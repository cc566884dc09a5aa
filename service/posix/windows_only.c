/* The Windows service commands, on a platform without the SCM: each says
 * so and fails as a usage error. systemd and friends run `iocpd run`. */
#include <stdio.h>

#include "commands.h"

static int windows_only(const char *command) {
  fprintf(stderr,
          "iocpd: '%s' is for the Windows service manager; on this system run "
          "'iocpd run -c FILE' under your service manager instead\n",
          command);
  return EXIT_USAGE;
}

int cmd_service(int argc, char **argv) {
  (void)argc;
  return windows_only(argv[0]);
}

int cmd_install(int argc, char **argv) {
  (void)argc;
  return windows_only(argv[0]);
}

int cmd_uninstall(int argc, char **argv) {
  (void)argc;
  return windows_only(argv[0]);
}

int cmd_reload(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "iocpd: 'reload' is for the Windows service manager; on this system send "
                  "SIGHUP to the running iocpd (e.g. systemctl reload iocpd)\n");
  return EXIT_USAGE;
}

int cmd_import_portproxy(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "iocpd: 'import-portproxy' reads the netsh portproxy rules of a Windows "
                  "machine's registry; run it there\n");
  return EXIT_USAGE;
}

int cmd_firewall(int argc, char **argv) {
  (void)argc;
  return windows_only(argv[0]);
}
