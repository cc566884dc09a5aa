/*
 * iocpd install: registers this executable with the service control
 * manager (SCM).
 *
 * The service runs `"<this exe>" service -c "<config>"` in its own process,
 * under the virtual account NT SERVICE\<name> by default: an account that
 * Windows creates and manages for the service itself, with no password and
 * only the rights of an ordinary user. Next to the service the command
 * registers the Event Log source of the same name, and with the default
 * config path it prepares %ProgramData%\iocpd\: the example config there if
 * none exists, a logs folder the service may write, and nothing in it that
 * anyone but an administrator could change (install_files.c).
 *
 * Every setting beyond the service itself (description, recovery, the
 * preshutdown timeout, the service SID, delayed start, the event source) is
 * best effort: a service manager that lacks one (Wine answers
 * ERROR_INVALID_LEVEL for several) gets a warning naming it, and the service
 * stays installed without it.
 */
#include <windows.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "commands.h"
#include "config.h"
#include "firewall.h"
#include "install.h"
#include "platform.h"

#define DISPLAY_NAME L"iocpd TCP echo and port-forwarding service"
#define DESCRIPTION                                                                                \
  L"Accepts TCP connections on I/O completion ports and echoes them or forwards "                  \
  L"them to upstream servers, as set in its INI file (the -c argument of its "                     \
  L"command line)."

/* Recovery: restart 5 s after the first failure, 30 s after the second and
 * 60 s after the third and every later one; forget failures after a day
 * without one. */
static const DWORD restart_delays_ms[] = {5000, 30000, 60000};
#define RESET_PERIOD_S (24 * 60 * 60)

typedef enum start_mode { START_AUTO, START_DEMAND, START_DELAYED } start_mode;

/* The command line, as given. */
typedef struct install_options {
  const char *config;  /* -c FILE, NULL for the default */
  const char *name;    /* --name */
  const char *account; /* --account, NULL for the virtual account */
  start_mode start;
  int start_given;
  int existing; /* --existing: configure the service NAME, do not create it */
  int firewall; /* --firewall: an inbound allow rule for the service */
} install_options;

/* One run of the command: everything it allocates, freed in job_free. */
typedef struct install_job {
  wchar_t *name;
  wchar_t *account; /* as passed to CreateServiceW */
  wchar_t *exe;     /* this executable, absolute */
  wchar_t *config;  /* the config path, absolute */
  wchar_t *binpath; /* the service's command line */
  wchar_t *display;
  DWORD drain_ms; /* the config's drain_timeout, or the default */
  SC_HANDLE scm;
  SC_HANDLE svc;
  int warnings; /* settings not applied */
} install_job;

/* ------------------------------------------------------------------------ */
/* Strings and paths */

/* Returns the malloc'ed concatenation of its arguments, a NULL-terminated
 * list of strings, or NULL if out of memory. */
static wchar_t *wjoin(const wchar_t *first, ...) {
  va_list ap;
  const wchar_t *s;
  size_t len = 0;
  wchar_t *out;

  va_start(ap, first);
  for (s = first; s != NULL; s = va_arg(ap, const wchar_t *)) len += wcslen(s);
  va_end(ap);
  out = malloc((len + 1) * sizeof(*out));
  if (out == NULL) return NULL;
  out[0] = L'\0';
  va_start(ap, first);
  for (s = first; s != NULL; s = va_arg(ap, const wchar_t *)) wcscat(out, s);
  va_end(ap);
  return out;
}

/* Prints "  LABEL VALUE\n" to stdout, VALUE being UTF-16. */
static void print_field(const char *label, const wchar_t *value) {
  char *a = iocpd__utf16_to_utf8(value);
  printf("  %-14s%s\n", label, a != NULL ? a : "?");
  free(a);
}

wchar_t *install_module_path(void) {
  DWORD cap = MAX_PATH, n;
  wchar_t *buf = NULL, *grown;
  for (;;) {
    grown = realloc(buf, cap * sizeof(*buf));
    if (grown == NULL) break;
    buf = grown;
    n = GetModuleFileNameW(NULL, buf, cap);
    if (n == 0) {
      install_print_error("cannot find the path of iocpd.exe", GetLastError());
      free(buf);
      return NULL;
    }
    /* A truncated path fills the buffer exactly. */
    if (n < cap) return buf;
    if (cap >= 32768) break;
    cap *= 2;
  }
  free(buf);
  fprintf(stderr, "iocpd: cannot find the path of iocpd.exe: out of memory\n");
  return NULL;
}

/* Returns path made absolute (against the current directory), malloc'ed,
 * or NULL after printing why. */
static wchar_t *absolute_path(const wchar_t *path) {
  DWORD n = GetFullPathNameW(path, 0, NULL, NULL), m;
  wchar_t *out;
  if (n == 0) {
    install_print_error("invalid config path", GetLastError());
    return NULL;
  }
  out = malloc(n * sizeof(*out));
  if (out == NULL) return NULL;
  m = GetFullPathNameW(path, n, out, NULL);
  if (m == 0 || m >= n) {
    install_print_error("invalid config path", GetLastError());
    free(out);
    return NULL;
  }
  return out;
}

static int file_exists(const wchar_t *path) {
  DWORD attr = GetFileAttributesW(path);
  return attr != INVALID_FILE_ATTRIBUTES && !(attr & FILE_ATTRIBUTE_DIRECTORY);
}

/* ------------------------------------------------------------------------ */
/* Options */

static void install_usage(FILE *out) {
  fprintf(out,
          "usage: iocpd install [-c FILE] [--name NAME] [--account ACCOUNT]\n"
          "                     [--start auto|demand|delayed] [--firewall]\n"
          "Registers iocpd as a Windows service (run from an elevated prompt).\n"
          "  -c FILE            the config the service reads (default %s);\n"
          "                     relative paths are made absolute. For the default, its\n"
          "                     folder is made (or taken over) for administrators only,\n"
          "                     with logs\\ in it for the service, and the example config\n"
          "                     is written there when there is none\n"
          "  --name NAME        service name, also its Event Log source (default %s)\n"
          "  --account ACCOUNT  NT SERVICE\\NAME, a virtual account (the default), or\n"
          "                     LocalService. For another account, install with the\n"
          "                     default and change it with services.msc or\n"
          "                     sc config NAME obj= ACCOUNT password= ...\n"
          "  --start MODE       auto (default): start at boot; delayed: start at boot\n"
          "                     after the other automatic services; demand: start by hand\n"
          "  --existing         finish the setup of the existing service NAME without\n"
          "                     creating it: description, recovery, preshutdown\n"
          "                     timeout, service SID, --start, and the default config\n"
          "                     as above when its command line uses it; the MSI runs this\n"
          "  --firewall         add Windows Firewall rules that let inbound TCP and UDP\n"
          "                     reach the service (bound to its program and service name,\n"
          "                     not to ports); iocpd uninstall removes them\n"
          "exit codes: 0 installed (warnings name settings this system could not apply),\n"
          "2 usage error, 3 failure (not elevated, service exists...)\n",
          platform_default_config(), INSTALL_DEFAULT_NAME);
}

/* The length of the UTF-8 string s in UTF-16 units, as Windows counts the
 * 256 characters a service name may have (0 if s is not UTF-8). */
static size_t utf16_length(const char *s) {
  wchar_t *w = iocpd__utf8_to_utf16(s);
  size_t n = w != NULL ? wcslen(w) : 0;
  free(w);
  return n;
}

/* Whether account (as the SCM stores it) is LocalService. */
static int is_local_service(const wchar_t *account) {
  return account != NULL && (_wcsicmp(account, L"NT AUTHORITY\\LocalService") == 0 ||
                             _wcsicmp(account, L"LocalService") == 0);
}

/* Fills *opt from argv (argv[0] is "install"). Returns 0, 1 after printing
 * the help, or -1 after printing what is wrong. */
static int parse_options(int argc, char **argv, install_options *opt) {
  int i;
  memset(opt, 0, sizeof(*opt));
  opt->name = INSTALL_DEFAULT_NAME;
  opt->start = START_AUTO;
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char **value = NULL;
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      install_usage(stdout);
      return 1;
    } else if (strcmp(arg, "--existing") == 0) {
      opt->existing = 1;
      continue;
    } else if (strcmp(arg, "--firewall") == 0) {
      opt->firewall = 1;
      continue;
    } else if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
      value = &opt->config;
    } else if (strcmp(arg, "--name") == 0) {
      value = &opt->name;
    } else if (strcmp(arg, "--account") == 0) {
      value = &opt->account;
    } else if (strcmp(arg, "--start") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "iocpd: --start needs a value: auto, demand or delayed\n");
        return -1;
      }
      arg = argv[++i];
      if (strcmp(arg, "auto") == 0) {
        opt->start = START_AUTO;
      } else if (strcmp(arg, "demand") == 0) {
        opt->start = START_DEMAND;
      } else if (strcmp(arg, "delayed") == 0) {
        opt->start = START_DELAYED;
      } else {
        fprintf(stderr, "iocpd: invalid --start '%s' (expected auto, demand or delayed)\n", arg);
        return -1;
      }
      opt->start_given = 1;
      continue;
    } else {
      fprintf(stderr, "iocpd: unknown option '%s' for 'install' (see iocpd install --help)\n", arg);
      return -1;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "iocpd: %s needs a value\n", arg);
      return -1;
    }
    *value = argv[++i];
  }
  if (opt->name[0] == '\0' || utf16_length(opt->name) > 256 || strpbrk(opt->name, "/\\") != NULL) {
    fprintf(stderr, "iocpd: invalid service name '%s' (1 to 256 characters, no '/' or '\\')\n",
            opt->name);
    return -1;
  }
  if (opt->existing && (opt->config != NULL || opt->account != NULL)) {
    fprintf(stderr, "iocpd: --existing keeps the service's command line and account: "
                    "-c and --account do not apply\n");
    return -1;
  }
  return 0;
}

/* Sets job->account from --account. Only accounts without a password are
 * offered: a virtual account, or LocalService. Returns EXIT_OK, EXIT_USAGE
 * (after printing why) or EXIT_RUNTIME (out of memory). */
static int pick_account(const install_options *opt, install_job *job) {
  wchar_t *virtual_account = wjoin(L"NT SERVICE\\", job->name, (const wchar_t *)NULL);
  wchar_t *given = NULL;
  int rc = EXIT_RUNTIME;

  if (virtual_account == NULL) goto out;
  if (opt->account == NULL) {
    job->account = virtual_account;
    return EXIT_OK;
  }
  given = iocpd__utf8_to_utf16(opt->account);
  if (given == NULL) goto out;
  if (_wcsicmp(given, virtual_account) == 0) {
    job->account = virtual_account;
    virtual_account = NULL;
    rc = EXIT_OK;
  } else if (_wcsicmp(given, L"LocalService") == 0 ||
             _wcsicmp(given, L"NT AUTHORITY\\LocalService") == 0) {
    job->account = wjoin(L"NT AUTHORITY\\LocalService", (const wchar_t *)NULL);
    rc = job->account != NULL ? EXIT_OK : EXIT_RUNTIME;
  } else {
    char *va = iocpd__utf16_to_utf8(virtual_account);
    rc = EXIT_USAGE;
    fprintf(stderr,
            "iocpd: unsupported account '%s': use %s (the default, a virtual account) or "
            "LocalService. iocpd install handles no passwords; to run as another account, "
            "install with the default, then change the account in services.msc or with "
            "sc config %s obj= ACCOUNT password= PASSWORD\n",
            opt->account, va != NULL ? va : "NT SERVICE\\NAME", opt->name);
    free(va);
  }
out:
  free(virtual_account);
  free(given);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The config file */

static void print_config_problem(void *arg, const char *message) {
  (void)arg;
  fprintf(stderr, "iocpd: warning: %s\n", message);
}

/* Reads the config's drain_timeout into job->drain_ms (the default if the
 * file is missing or invalid, which is reported: the service would not
 * start). */
static void read_drain_timeout(install_job *job) {
  char *path = iocpd__utf16_to_utf8(job->config);
  iocpd_config *config = NULL;

  job->drain_ms = INSTALL_DEFAULT_DRAIN_MS;
  if (path == NULL) return;
  if (!file_exists(job->config)) {
    fprintf(stderr,
            "iocpd: warning: %s does not exist (yet): the service will not start until "
            "it does\n",
            path);
  } else if (iocpd_config_load(path, &config, print_config_problem, NULL) != 0) {
    fprintf(stderr,
            "iocpd: warning: %s has the problems above: the service will not start until "
            "they are fixed (check with: iocpd check-config -c \"%s\")\n",
            path, path);
  } else {
    size_t i;
    for (i = 0; i < config->warning_count; i++) fprintf(stderr, "%s\n", config->warnings[i]);
    if (config->drain_timeout_ms + INSTALL_STOP_MARGIN_MS < 0xFFFFFFFFu)
      job->drain_ms = (DWORD)config->drain_timeout_ms;
  }
  iocpd_config_free(config);
  free(path);
}

/* ------------------------------------------------------------------------ */
/* Service settings */

/* Prints a warning that what could not be applied, and counts it. */
static void warn_not_applied(install_job *job, const char *what, DWORD err) {
  char text[160];
  snprintf(text, sizeof(text), "warning: %s was not applied", what);
  install_print_error(text, err);
  if (err == ERROR_INVALID_LEVEL) {
    fprintf(stderr, "iocpd: (this service control manager does not support that setting; "
                    "Wine's does not. The service is installed without it.)\n");
  }
  job->warnings++;
}

/* ChangeServiceConfig2W(level, info); on failure a warning naming what.
 * Returns 1 if applied. */
static int set_config2(install_job *job, DWORD level, void *info, const char *what) {
  if (ChangeServiceConfig2W(job->svc, level, info)) return 1;
  warn_not_applied(job, what, GetLastError());
  return 0;
}

/* Everything beyond CreateServiceW, in the order a reader of `sc qc` and
 * `sc qfailure` would look for it. Prints one line per setting. */
static void apply_settings(install_job *job, const install_options *opt) {
  SERVICE_DESCRIPTIONW description;
  SERVICE_FAILURE_ACTIONSW failure;
  SERVICE_FAILURE_ACTIONS_FLAG failure_flag;
  SERVICE_PRESHUTDOWN_INFO preshutdown;
  SERVICE_SID_INFO sid;
  SERVICE_DELAYED_AUTO_START_INFO delayed;
  SC_ACTION actions[sizeof(restart_delays_ms) / sizeof(restart_delays_ms[0])];
  wchar_t description_text[] = DESCRIPTION;
  char line[160];
  size_t i;

  description.lpDescription = description_text;
  if (set_config2(job, SERVICE_CONFIG_DESCRIPTION, &description, "the description")) {
    printf("  %-14s%s\n", "description:", "set");
  }

  for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
    actions[i].Type = SC_ACTION_RESTART;
    actions[i].Delay = restart_delays_ms[i];
  }
  failure.dwResetPeriod = RESET_PERIOD_S;
  failure.lpRebootMsg = NULL; /* NULL: unchanged (none) */
  failure.lpCommand = NULL;
  failure.cActions = (DWORD)(sizeof(actions) / sizeof(actions[0]));
  failure.lpsaActions = actions;
  /* Restart actions need SERVICE_START on the handle: SERVICE_ALL_ACCESS
   * (create) and the access asked for with --existing both include it. */
  if (set_config2(job, SERVICE_CONFIG_FAILURE_ACTIONS, &failure, "the recovery actions")) {
    printf("  %-14s%s\n",
           "recovery:", "restart after 5 s, 30 s, 60 s; failure count reset after 1 day");
  }
  /* Without the flag, recovery runs only when the process dies without
   * reporting SERVICE_STOPPED; with it, also when iocpd stops itself with
   * a non-zero exit code (e.g. a listener it could not open). */
  failure_flag.fFailureActionsOnNonCrashFailures = TRUE;
  if (set_config2(job, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &failure_flag,
                  "recovery on error exits (failure actions flag)")) {
    printf("  %-14s%s\n", "", "also after a stop with an error exit code");
  }

  /* Windows 10 1703 and later give a service 10 s after the preshutdown
   * notification by default, far less than the default 30 s drain. */
  preshutdown.dwPreshutdownTimeout = job->drain_ms + INSTALL_STOP_MARGIN_MS;
  if (set_config2(job, SERVICE_CONFIG_PRESHUTDOWN_INFO, &preshutdown, "the preshutdown timeout")) {
    snprintf(line, sizeof(line), "%lu ms (drain_timeout %lu ms + %d ms)",
             (unsigned long)preshutdown.dwPreshutdownTimeout, (unsigned long)job->drain_ms,
             INSTALL_STOP_MARGIN_MS);
    printf("  %-14s%s\n", "preshutdown:", line);
  }

  /* An unrestricted service SID (NT SERVICE\<name>) lets an administrator
   * grant this service, and only it, rights on files or URLs, whatever
   * account it runs as. */
  sid.dwServiceSidType = SERVICE_SID_TYPE_UNRESTRICTED;
  if (set_config2(job, SERVICE_CONFIG_SERVICE_SID_INFO, &sid, "the service SID type")) {
    printf("  %-14s%s\n", "service SID:", "unrestricted");
  }

  if (opt->start == START_DELAYED) {
    delayed.fDelayedAutostart = TRUE;
    if (set_config2(job, SERVICE_CONFIG_DELAYED_AUTO_START_INFO, &delayed,
                    "delayed automatic start (the service starts at boot, not delayed)")) {
      printf("  %-14s%s\n", "", "delayed after the other automatic services");
    }
  }
}

/* ------------------------------------------------------------------------ */
/* The command */

static void job_free(install_job *job) {
  if (job->svc != NULL) CloseServiceHandle(job->svc);
  if (job->scm != NULL) CloseServiceHandle(job->scm);
  free(job->name);
  free(job->account);
  free(job->exe);
  free(job->config);
  free(job->binpath);
  free(job->display);
}

static const char *start_text(start_mode start) {
  switch (start) {
    case START_DEMAND: return "demand (start it by hand)";
    case START_DELAYED: return "automatic (delayed)";
    case START_AUTO: break;
  }
  return "automatic";
}

static void print_exists(const char *name) {
  fprintf(stderr,
          "iocpd: the service '%s' already exists: remove it first with "
          "iocpd uninstall --name %s\n",
          name, name);
}

/* Creates the service. Returns EXIT_OK or EXIT_RUNTIME (after printing). */
static int create_service(install_job *job, const install_options *opt) {
  DWORD start_type = opt->start == START_DEMAND ? SERVICE_DEMAND_START : SERVICE_AUTO_START;
  DWORD err;

  job->svc = CreateServiceW(job->scm, job->name, job->display, SERVICE_ALL_ACCESS,
                            SERVICE_WIN32_OWN_PROCESS, start_type, SERVICE_ERROR_NORMAL,
                            job->binpath, NULL, NULL, NULL, job->account, NULL);
  if (job->svc != NULL) return EXIT_OK;
  err = GetLastError();
  switch (err) {
    case ERROR_SERVICE_EXISTS: print_exists(opt->name); break;
    case ERROR_DUPLICATE_SERVICE_NAME:
      fprintf(stderr,
              "iocpd: another service already uses the name or display name of '%s': "
              "choose another --name\n",
              opt->name);
      break;
    case ERROR_SERVICE_MARKED_FOR_DELETE:
      fprintf(stderr,
              "iocpd: the service '%s' is being deleted: close the programs that still "
              "hold it open (services.msc, Event Viewer...) and try again\n",
              opt->name);
      break;
    case ERROR_INVALID_SERVICE_ACCOUNT:
      install_print_error("the service account was refused", err);
      break;
    case ERROR_ACCESS_DENIED:
      install_print_error("cannot create the service", err);
      fprintf(stderr, "iocpd: run this from an elevated prompt (Run as administrator)\n");
      break;
    default: install_print_error("cannot create the service", err); break;
  }
  return EXIT_RUNTIME;
}

/* Quotes the program path in the command line of an existing service
 * when it is not: Wine's Windows Installer writes a ServiceInstall's
 * command line as `C:\Program Files\iocpd\iocpd.exe service -c ...`, and
 * an unquoted path with spaces is ambiguous (Windows tries
 * C:\Program.exe first). Only a command line that starts with this very
 * executable is rewritten. */
static void quote_command_line(install_job *job) {
  QUERY_SERVICE_CONFIGW *qc = install_query_config(job->svc);
  size_t n;

  if (qc == NULL || qc->lpBinaryPathName[0] == L'"') goto out;
  job->exe = install_module_path();
  if (job->exe == NULL) goto out;
  n = wcslen(job->exe);
  if (_wcsnicmp(qc->lpBinaryPathName, job->exe, n) != 0 ||
      (qc->lpBinaryPathName[n] != L' ' && qc->lpBinaryPathName[n] != L'\0')) {
    goto out;
  }
  job->binpath = wjoin(L"\"", job->exe, L"\"", qc->lpBinaryPathName + n, (const wchar_t *)NULL);
  if (job->binpath == NULL) goto out;
  if (ChangeServiceConfigW(job->svc, SERVICE_NO_CHANGE, SERVICE_NO_CHANGE, SERVICE_NO_CHANGE,
                           job->binpath, NULL, NULL, NULL, NULL, NULL, NULL)) {
    print_field("command line:", job->binpath);
  } else {
    warn_not_applied(job, "quoting the program path in the command line", GetLastError());
  }
out:
  free(qc);
}

/* iocpd install --existing: applies the settings to a service that exists
 * already, e.g. one the MSI created with ServiceInstall (WiX and wixl have
 * no portable element for recovery or preshutdown settings). */
/* --firewall: the service's inbound rules; a failure is a warning, like
 * any setting this system could not apply. */
static void apply_firewall(install_job *job, const install_options *opt) {
  char why[300];
  if (!opt->firewall) return;
  if (job->exe == NULL && (job->exe = install_module_path()) == NULL) {
    job->warnings++;
    return;
  }
  if (firewall_add(job->name, job->exe, why, sizeof(why)) == 0) {
    printf("  %-14s%s\n", "firewall:", "inbound TCP and UDP allowed for the service");
  } else {
    fprintf(stderr, "iocpd: warning: the firewall rules were not applied: %s\n", why);
    job->warnings++;
  }
}

static int configure_existing(install_job *job, const install_options *opt) {
  DWORD err;

  job->svc = OpenServiceW(job->scm, job->name,
                          SERVICE_CHANGE_CONFIG | SERVICE_QUERY_CONFIG | SERVICE_START);
  if (job->svc == NULL) {
    err = GetLastError();
    if (err == ERROR_SERVICE_DOES_NOT_EXIST) {
      fprintf(stderr, "iocpd: the service '%s' does not exist (install it without --existing)\n",
              opt->name);
    } else {
      install_print_error("cannot open the service", err);
      if (err == ERROR_ACCESS_DENIED) {
        fprintf(stderr, "iocpd: run this from an elevated prompt (Run as administrator)\n");
      }
    }
    return EXIT_RUNTIME;
  }
  printf("iocpd: configuring the existing service '%s'\n", opt->name);
  /* The MSI runs this with no one to read its output: what stops it goes
   * to the Event Log too. */
  install_errors_to_eventlog(job->name);
  job->config = install_config_of(job->svc);
  if (job->config == NULL) {
    job->drain_ms = INSTALL_DEFAULT_DRAIN_MS;
  } else {
    /* As for a new service, the default location is prepared (this is how
     * the MSI gets its config: a file the MSI owned would be replaced or
     * removed with the product, and wixl cannot mark it permanent). */
    wchar_t *default_config = iocpd__utf8_to_utf16(platform_default_config());
    int is_default = default_config != NULL && _wcsicmp(default_config, job->config) == 0;
    QUERY_SERVICE_CONFIGW *qc = is_default ? install_query_config(job->svc) : NULL;
    int local_service = qc != NULL && is_local_service(qc->lpServiceStartName);
    int wrote = 0, failed;
    free(default_config);
    free(qc);
    failed = is_default &&
             install_prepare_default_config(job->config, job->name, local_service, &wrote) != 0;
    install_errors_to_eventlog(NULL);
    if (failed) return EXIT_RUNTIME;
    read_drain_timeout(job);
    print_field("config:", job->config);
    if (wrote) printf("  %-14s%s\n", "", "written from the example");
    if (is_default) install_print_logs_field(job->config, job->name, local_service);
  }
  quote_command_line(job);
  if (opt->start_given) {
    DWORD type = opt->start == START_DEMAND ? SERVICE_DEMAND_START : SERVICE_AUTO_START;
    if (ChangeServiceConfigW(job->svc, SERVICE_NO_CHANGE, type, SERVICE_NO_CHANGE, NULL, NULL, NULL,
                             NULL, NULL, NULL, NULL)) {
      printf("  %-14s%s\n", "start:", start_text(opt->start));
    } else {
      warn_not_applied(job, "the start type", GetLastError());
    }
  }
  apply_settings(job, opt);
  apply_firewall(job, opt);
  if (job->warnings > 0) {
    fprintf(stderr, "iocpd: %d setting(s) could not be applied (see the warnings above)\n",
            job->warnings);
  }
  return EXIT_OK;
}

int cmd_install(int argc, char **argv) {
  install_options opt;
  install_job job;
  int rc, wrote = 0, is_default;
  DWORD err;
  char *name_a = NULL;

  memset(&job, 0, sizeof(job));
  rc = parse_options(argc, argv, &opt);
  if (rc != 0) return rc > 0 ? EXIT_OK : EXIT_USAGE;
  rc = EXIT_RUNTIME;

  job.name = iocpd__utf8_to_utf16(opt.name);
  if (job.name == NULL) goto out;
  /* Every usage error is reported before anything else, elevated or not. */
  if (!opt.existing) {
    rc = pick_account(&opt, &job);
    if (rc != EXIT_OK) goto out;
    rc = EXIT_RUNTIME;
  }

  /* Then the SCM: without administrator rights this fails with
   * ERROR_ACCESS_DENIED before anything is written. */
  job.scm = install_open_scm(opt.existing ? SC_MANAGER_CONNECT
                                          : SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
  if (job.scm == NULL) goto out;
  if (opt.existing) {
    rc = configure_existing(&job, &opt);
    goto out;
  }
  /* A service of that name: say so before writing anything. (One created
   * between this check and CreateServiceW fails there, the same way.) */
  job.svc = OpenServiceW(job.scm, job.name, SERVICE_QUERY_STATUS);
  if (job.svc != NULL) {
    print_exists(opt.name);
    goto out;
  }

  job.exe = install_module_path();
  if (job.exe == NULL) goto out;
  is_default = opt.config == NULL;
  {
    wchar_t *given = iocpd__utf8_to_utf16(is_default ? platform_default_config() : opt.config);
    if (given == NULL) goto out;
    job.config = absolute_path(given);
    free(given);
    if (job.config == NULL) goto out;
  }
  /* Only the default location is prepared: a path given with -c is the
   * administrator's to create. */
  if (is_default && install_prepare_default_config(job.config, job.name,
                                                   is_local_service(job.account), &wrote) != 0) {
    goto out;
  }
  read_drain_timeout(&job);

  /* Both paths quoted: either may contain spaces ("C:\Program Files\..."),
   * and an unquoted path with spaces is both ambiguous and a known way to
   * run the wrong program. */
  job.binpath =
      wjoin(L"\"", job.exe, L"\" service -c \"", job.config, L"\"", (const wchar_t *)NULL);
  if (strcmp(opt.name, INSTALL_DEFAULT_NAME) == 0) {
    job.display = wjoin(DISPLAY_NAME, (const wchar_t *)NULL);
  } else {
    /* Display names must be unique too. */
    job.display = wjoin(DISPLAY_NAME, L" (", job.name, L")", (const wchar_t *)NULL);
  }
  if (job.binpath == NULL || job.display == NULL) goto out;

  rc = create_service(&job, &opt);
  if (rc != EXIT_OK) goto out;

  printf("iocpd: installed the service '%s'\n", opt.name);
  print_field("display name:", job.display);
  print_field("command line:", job.binpath);
  print_field("account:", job.account);
  printf("  %-14s%s\n", "start:", start_text(opt.start));
  apply_settings(&job, &opt);

  err = install_eventsource_register(job.name, job.exe);
  if (err == ERROR_SUCCESS) {
    printf("  %-14s'%s' in the Application log\n", "event source:", opt.name);
  } else {
    warn_not_applied(&job, "the Event Log source", err);
  }
  apply_firewall(&job, &opt);
  print_field("config:", job.config);
  if (wrote) printf("  %-14s%s\n", "", "written from the example: edit it, then start");
  if (is_default) install_print_logs_field(job.config, job.name, is_local_service(job.account));

  if (job.warnings > 0) {
    fprintf(stderr,
            "iocpd: the service is installed, but %d setting(s) could not be applied "
            "(see the warnings above)\n",
            job.warnings);
  }
  name_a = iocpd__utf16_to_utf8(job.name);
  printf("iocpd: start it with: sc start %s\n", name_a != NULL ? name_a : opt.name);
  rc = EXIT_OK;
out:
  free(name_a);
  job_free(&job);
  return rc;
}
