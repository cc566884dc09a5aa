/* iocpd run (console mode) and iocpd check-config. */
#include <stdio.h>

#include "commands.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "platform.h"

static void print_problem(void *arg, const char *message) {
  (void)arg;
  fprintf(stderr, "%s\n", message);
}

int cmd_check_config(const char *path) {
  iocpd_config *config = NULL;
  size_t i;
  if (iocpd_config_load(path, &config, print_problem, NULL) != 0) return EXIT_BAD_CONFIG;
  for (i = 0; i < config->warning_count; i++) fprintf(stderr, "%s\n", config->warnings[i]);
  printf("%s: OK\n", path);
  iocpd_config_free(config);
  return EXIT_OK;
}

static void on_drain_progress(void *arg, size_t open) {
  (void)arg;
  log_event(EV_DRAIN_PROGRESS, IOCPD_LOG_INFO, "draining: %zu open connections", open);
}

int cmd_run(const char *path) {
  daemon_state d;
  int rc;

  /* Before the engine starts its threads, which inherit the signal mask. */
  if (platform_stop_signals_install() != 0) {
    log_event(EV_START_FAILED, IOCPD_LOG_ERROR, "cannot install the stop signal handler");
    return EXIT_RUNTIME;
  }
  rc = daemon_start(&d, path);
  if (rc != EXIT_OK) return rc;
  /* Every listener is bound and accepting: a service manager (systemd,
   * Type=notify) may now start what depends on iocpd. */
  notify_ready();
  /* Reload requests (SIGHUP, Ctrl+Break) until a stop. */
  while (platform_stop_signals_wait() == PLATFORM_RELOAD) {
    notify_reloading();
    daemon_reload(&d);
    /* Applied or refused, a whole config serves again. */
    notify_ready();
  }
  notify_stopping();
  daemon_stop(&d, on_drain_progress, NULL);
  platform_stop_signals_done();
  return EXIT_OK;
}
