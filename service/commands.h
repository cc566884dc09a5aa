/* The executable's commands. Each returns the process exit code. */
#ifndef IOCPD_COMMANDS_H
#define IOCPD_COMMANDS_H

enum { EXIT_OK = 0, EXIT_BAD_CONFIG = 1, EXIT_USAGE = 2, EXIT_RUNTIME = 3 };

/* iocpd run: serve in the foreground until Ctrl+C / SIGINT / SIGTERM. */
int cmd_run(const char *config_path);

/* iocpd check-config: print every problem; 0 if valid, 1 if not. */
int cmd_check_config(const char *config_path);

/* Windows only (service/win); elsewhere they explain that and return
 * EXIT_USAGE. Each parses its own options: argv[0] is the command name.
 *   iocpd service [-c FILE]             what the SCM runs
 *   iocpd install [-c FILE] [--name NAME] [--account ACCOUNT]
 *                 [--start auto|demand|delayed]
 *   iocpd uninstall [--name NAME] */
int cmd_service(int argc, char **argv);
int cmd_install(int argc, char **argv);
int cmd_uninstall(int argc, char **argv);
/* iocpd reload [--name NAME]: Windows; on Linux, SIGHUP reloads. */
int cmd_reload(int argc, char **argv);
/* iocpd import-portproxy [-o FILE]: Windows; writes an iocpd config for
 * the netsh interface portproxy rules in the registry. */
int cmd_import_portproxy(int argc, char **argv);
/* iocpd firewall add|remove [--name NAME]: Windows; the service's inbound
 * firewall rule. */
int cmd_firewall(int argc, char **argv);

#endif /* IOCPD_COMMANDS_H */
