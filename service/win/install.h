/*
 * What `iocpd install` (install.c) and `iocpd uninstall` (uninstall.c)
 * share: the service's fixed names, string conversion, error messages, the
 * service's command line and the Event Log source (install_util.c).
 * Windows only.
 */
#ifndef IOCPD_INSTALL_H
#define IOCPD_INSTALL_H

#include <windows.h>
#include <stdio.h>
#include <stddef.h>

#include "utf8_files.h" /* every string is UTF-8; these convert for the W calls */

/* The service name used when --name is not given; the MSI uses it too. */
#define INSTALL_DEFAULT_NAME "iocpd"

/* Where the Application log's event sources live, below HKLM. */
#define INSTALL_EVENTLOG_KEY L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\"

/* How long the service may take to stop beyond its drain_timeout: the
 * preshutdown timeout is drain_timeout + this, and `iocpd uninstall` waits
 * as long for a stop (ms). */
#define INSTALL_STOP_MARGIN_MS 15000

/* The default [service] drain_timeout (config/config.c), for when the
 * config cannot be read (ms). */
#define INSTALL_DEFAULT_DRAIN_MS 30000

/* iocpd.ini.example as it was at build time, byte for byte; the generated
 * file that defines these comes from cmake/installer.cmake. Size 0 when the
 * repository had no example to embed. */
extern const unsigned char install_example_config[];
extern const size_t install_example_config_size;

/* Prints "iocpd: WHAT: <system text> (error N)" to stderr. */
void install_print_error(const char *what, DWORD err);

/* Sends what install_report_error reports to the Event Log too, under the
 * source name: for runs whose output nobody reads, such as the MSI's
 * custom action (`install --existing`), where Windows Installer shows a
 * generic error only. NULL stops it. name must outlive the calls. */
void install_errors_to_eventlog(const wchar_t *name);

/* Prints "iocpd: MESSAGE" to stderr and, after install_errors_to_eventlog,
 * writes MESSAGE to the Event Log as an error (event 3002). */
void install_report_error(const char *message);

/* Opens the service control manager with access. On failure prints why
 * (with the advice to use an elevated prompt on ERROR_ACCESS_DENIED) and
 * returns NULL. */
SC_HANDLE install_open_scm(DWORD access);

/* Opens the service `name` (UTF-8) with `access`, and the SCM it is
 * opened through (*scm; close it after the service). On failure prints
 * why: "the service 'NAME' does not exist" followed by `missing` (e.g.
 * ": nothing to uninstall"), or the Windows error and, for access denied,
 * a hint to elevate; then returns NULL with *scm closed and NULL. */
SC_HANDLE install_open_service(const char *name, DWORD access, const char *missing, SC_HANDLE *scm);

/* Parses "[--name NAME] [--help]" after a command (argv[0]) that takes
 * only that: *name is NAME or INSTALL_DEFAULT_NAME. Returns 0, EXIT_OK
 * + 1 after printing usage for --help (the caller returns EXIT_OK), or -1
 * after printing a usage error (the caller returns EXIT_USAGE). */
int install_name_option(int argc, char **argv, void (*usage)(FILE *out), const char **name);

/* The full path of this executable, malloc'ed, or NULL after printing why. */
wchar_t *install_module_path(void);

/* Prepares the default config's location (install_files.c) for the
 * service name: the folder of config, made or taken over (owner
 * Administrators, who alone may change it; users and services may read
 * it); config in it, the built-in example when there is none (sets
 * *wrote), an existing one checked and given the same owner and DACL; and
 * the folder logs next to config, which the service may write: its
 * service SID, and LocalService when local_service. Links are refused.
 * Returns 0, or -1 after printing why; that includes an existing config
 * that someone other than SYSTEM, Administrators, TrustedInstaller or
 * the installing user owned or could change: it is locked down all the
 * same, and accepted by the next run, once an administrator has reviewed
 * it. */
int install_prepare_default_config(const wchar_t *config, const wchar_t *name, int local_service,
                                   int *wrote);

/* Prints the summary's "logs:" field: the logs folder next to config and
 * who may write it (install_prepare_default_config). */
void install_print_logs_field(const wchar_t *config, const wchar_t *name, int local_service);

/* Returns the service's configuration (QueryServiceConfigW), malloc'ed,
 * or NULL. svc needs SERVICE_QUERY_CONFIG. */
QUERY_SERVICE_CONFIGW *install_query_config(SC_HANDLE svc);

/* Returns the config path in the service's command line (the quoted
 * argument after " -c "), malloc'ed, or NULL if there is none. svc needs
 * SERVICE_QUERY_CONFIG. */
wchar_t *install_config_of(SC_HANDLE svc);

/* Creates or updates the Event Log source name in the Application log:
 * EventMessageFile (REG_EXPAND_SZ) = message_file, TypesSupported
 * (REG_DWORD) = error | warning | information. Returns 0 or a Win32 error
 * code. */
DWORD install_eventsource_register(const wchar_t *name, const wchar_t *message_file);

/* Deletes the Event Log source name. Returns 0, ERROR_FILE_NOT_FOUND if
 * there was none, or another Win32 error code. */
DWORD install_eventsource_remove(const wchar_t *name);

#endif /* IOCPD_INSTALL_H */
