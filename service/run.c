/* iocpd run and iocpd check-config. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "config.h"
#include "log.h"
#include "platform.h"

static void print_problem(void *arg, const char *message) {
  (void)arg;
  fprintf(stderr, "%s\n", message);
}

int cmd_check_config(const char *path) {
  iocpd_config *config = NULL;
  if (iocpd_config_load(path, &config, print_problem, NULL) != 0) return EXIT_BAD_CONFIG;
  printf("%s: OK\n", path);
  iocpd_config_free(config);
  return EXIT_OK;
}

static const iocpd_handler *handler_for(iocpd_handler_kind kind) {
  switch (kind) {
    case IOCPD_HANDLER_ECHO: return &iocpd_echo_handler;
    default: return NULL;
  }
}

static void on_drain_progress(void *arg, size_t open) {
  (void)arg;
  log_msg(IOCPD_LOG_INFO, "draining: %zu open connections", open);
}

/* Starts the engine on a loaded config; returns NULL after logging why. */
static iocpd_server *start_server(const iocpd_config *config) {
  iocpd_listener_options *listeners;
  iocpd_server_options options;
  iocpd_error_info err;
  iocpd_server *server = NULL;
  size_t i;

  listeners = calloc(config->listener_count, sizeof(*listeners));
  if (listeners == NULL) {
    log_msg(IOCPD_LOG_ERROR, "out of memory");
    return NULL;
  }
  for (i = 0; i < config->listener_count; i++) {
    listeners[i].name = config->listeners[i].name;
    listeners[i].addr = config->listeners[i].listen;
    listeners[i].handler = handler_for(config->listeners[i].handler);
  }
  options.workers = config->workers;
  options.listeners = listeners;
  options.listener_count = config->listener_count;
  options.log = log_from_engine;
  options.log_arg = NULL;
  options.log_level = config->log_level;
  if (iocpd_server_create(&options, &server, &err) != 0) {
    log_msg(IOCPD_LOG_ERROR, "%s", err.message);
    server = NULL;
  }
  free(listeners);
  return server;
}

int cmd_run(const char *path) {
  iocpd_config *config = NULL;
  iocpd_server *server;
  iocpd_drain_stats stats;
  size_t i;

  if (iocpd_config_load(path, &config, print_problem, NULL) != 0) return EXIT_BAD_CONFIG;
  log_set_level(config->log_level);
  if (platform_stop_signals_install() != 0) {
    log_msg(IOCPD_LOG_ERROR, "cannot install the stop signal handler");
    iocpd_config_free(config);
    return EXIT_RUNTIME;
  }
  log_msg(IOCPD_LOG_INFO, "iocpd %s starting with %s", IOCPD_VERSION, path);
  server = start_server(config);
  if (server == NULL) {
    iocpd_config_free(config);
    return EXIT_RUNTIME;
  }
  for (i = 0; i < config->listener_count; i++) {
    const iocpd_config_listener *l = &config->listeners[i];
    char addr[IOCPD_ADDR_STRLEN];
    log_msg(IOCPD_LOG_INFO, "listener %s: listening on %s (%s)", l->name,
            iocpd_addr_format(&l->listen, addr), handler_for(l->handler)->name);
  }
  log_msg(IOCPD_LOG_INFO, "running with %u workers", iocpd_server_worker_count(server));

  platform_stop_signals_wait();
  log_msg(IOCPD_LOG_INFO, "stop requested: %zu open connections, draining for up to %llu ms",
          iocpd_server_connection_count(server),
          (unsigned long long)config->drain_timeout_ms);
  iocpd_server_drain(server,
                     config->drain_timeout_ms > UINT32_MAX ? UINT32_MAX
                                                           : (uint32_t)config->drain_timeout_ms,
                     on_drain_progress, NULL, &stats);
  log_msg(IOCPD_LOG_INFO, "drain finished: drained %zu, aborted %zu in %llu ms",
          stats.drained, stats.aborted, (unsigned long long)stats.duration_ms);
  iocpd_server_destroy(server);
  iocpd_config_free(config);
  log_msg(IOCPD_LOG_INFO, "stopped");
  platform_stop_signals_done();
  return EXIT_OK;
}
