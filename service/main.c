/* iocpd's command line: parses it and runs one command. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "config.h"
#include "iocpd.h"
#include "platform.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: iocpd COMMAND [options]\n"
          "\n"
          "commands:\n"
          "  run [-c FILE]            run in the foreground (console mode);\n"
          "                           Ctrl+C drains open connections and exits;\n"
          "                           SIGHUP (Linux) or Ctrl+Break reloads the config\n"
          "  check-config [-c FILE]   validate FILE and print every problem;\n"
          "                           exit 0 if valid, 1 if not\n"
          "  help-config              list every config key with its default\n"
          "  service [-c FILE]        (Windows) run as a service; started by the SCM\n"
          "  install [-c FILE] [--name NAME] [--account ACCOUNT]\n"
          "          [--start auto|demand|delayed] [--firewall]\n"
          "                           (Windows) register the service; run elevated\n"
          "  uninstall [--name NAME]  (Windows) stop and remove the service\n"
          "  reload [--name NAME]     (Windows) make the running service reload its config\n"
          "                           (on Linux: SIGHUP; in a console: Ctrl+Break)\n"
          "  firewall add|remove [--name NAME]\n"
          "                           (Windows) the service's inbound firewall rules\n"
          "  import-portproxy [-o FILE]\n"
          "                           (Windows) write a config that relays like the\n"
          "                           netsh interface portproxy rules (stdout by default)\n"
          "  --help                   show this help\n"
          "  --version                show the version\n"
          "\n"
          "FILE defaults to %s\n"
          "exit codes: 0 ok, 1 invalid config, 2 usage error, 3 runtime failure\n",
          platform_default_config());
}

/* Parses "[-c FILE]" after the command. Returns 0, or -1 after printing why. */
static int parse_config_option(int argc, char **argv, const char **path) {
  int i;
  *path = platform_default_config();
  for (i = 2; i < argc; i++) {
    if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "iocpd: %s needs a file name\n", argv[i]);
        return -1;
      }
      *path = argv[++i];
    } else {
      fprintf(stderr, "iocpd: unknown option '%s' for '%s'\n", argv[i], argv[1]);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *path;

  if (platform_utf8_init(&argc, &argv) != 0) {
    fprintf(stderr, "iocpd: out of memory\n");
    return EXIT_RUNTIME;
  }
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("iocpd %s\n", IOCPD_VERSION);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "run") == 0) {
    if (parse_config_option(argc, argv, &path) != 0) return EXIT_USAGE;
    return cmd_run(path);
  }
  if (strcmp(argv[1], "check-config") == 0) {
    if (parse_config_option(argc, argv, &path) != 0) return EXIT_USAGE;
    return cmd_check_config(path);
  }
  if (strcmp(argv[1], "help-config") == 0) {
    if (argc > 2) {
      fprintf(stderr, "iocpd: help-config takes no options\n");
      return EXIT_USAGE;
    }
    iocpd_config_help(stdout);
    return EXIT_OK;
  }
  if (strcmp(argv[1], "service") == 0) return cmd_service(argc - 1, argv + 1);
  if (strcmp(argv[1], "install") == 0) return cmd_install(argc - 1, argv + 1);
  if (strcmp(argv[1], "uninstall") == 0) return cmd_uninstall(argc - 1, argv + 1);
  if (strcmp(argv[1], "reload") == 0) return cmd_reload(argc - 1, argv + 1);
  if (strcmp(argv[1], "import-portproxy") == 0) return cmd_import_portproxy(argc - 1, argv + 1);
  if (strcmp(argv[1], "firewall") == 0) return cmd_firewall(argc - 1, argv + 1);
  fprintf(stderr, "iocpd: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return EXIT_USAGE;
}
