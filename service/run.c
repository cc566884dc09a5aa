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
  return kind == IOCPD_HANDLER_FORWARD ? &iocpd_forward_handler : &iocpd_echo_handler;
}

static uint32_t clamp_ms(uint64_t ms) { return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms; }

/* What the engine keeps pointers to while it runs: the listeners' handler
 * options, one of each kind per listener (only the one its handler uses
 * is filled). */
typedef struct handler_args {
  iocpd_echo_options *echo;
  iocpd_forward_options *forward;
} handler_args;

static void handler_args_free(handler_args *args) {
  free(args->echo);
  free(args->forward);
}

static void on_drain_progress(void *arg, size_t open) {
  (void)arg;
  log_msg(IOCPD_LOG_INFO, "draining: %zu open connections", open);
}

/* Starts the engine on a loaded config; returns NULL after logging why.
 * args receives what must outlive the server. */
static iocpd_server *start_server(const iocpd_config *config, handler_args *args) {
  iocpd_listener_options *listeners;
  iocpd_server_options options;
  iocpd_error_info err;
  iocpd_server *server = NULL;
  size_t i, n = config->listener_count;

  listeners = calloc(n, sizeof(*listeners));
  args->echo = calloc(n, sizeof(*args->echo));
  args->forward = calloc(n, sizeof(*args->forward));
  if (listeners == NULL || args->echo == NULL || args->forward == NULL) {
    log_msg(IOCPD_LOG_ERROR, "out of memory");
    free(listeners);
    handler_args_free(args);
    return NULL;
  }
  for (i = 0; i < n; i++) {
    const iocpd_config_listener *l = &config->listeners[i];
    listeners[i].name = l->name;
    listeners[i].addr = l->listen;
    listeners[i].handler = handler_for(l->handler);
    listeners[i].buffer_size = (size_t)l->buffer_size;
    if (l->handler == IOCPD_HANDLER_FORWARD) {
      args->forward[i].upstreams = l->upstreams;
      args->forward[i].upstream_count = l->upstream_count;
      args->forward[i].connect_timeout_ms = clamp_ms(l->connect_timeout_ms);
      args->forward[i].idle_timeout_ms = clamp_ms(l->idle_timeout_ms);
      listeners[i].handler_arg = &args->forward[i];
    } else {
      args->echo[i].idle_timeout_ms = clamp_ms(l->idle_timeout_ms);
      listeners[i].handler_arg = &args->echo[i];
    }
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
    handler_args_free(args);
  }
  free(listeners);
  return server;
}

int cmd_run(const char *path) {
  iocpd_config *config = NULL;
  iocpd_server *server;
  iocpd_drain_stats stats;
  handler_args args;
  size_t i;

  if (iocpd_config_load(path, &config, print_problem, NULL) != 0) return EXIT_BAD_CONFIG;
  log_set_level(config->log_level);
  if (platform_stop_signals_install() != 0) {
    log_msg(IOCPD_LOG_ERROR, "cannot install the stop signal handler");
    iocpd_config_free(config);
    return EXIT_RUNTIME;
  }
  log_msg(IOCPD_LOG_INFO, "iocpd %s starting with %s", IOCPD_VERSION, path);
  server = start_server(config, &args);
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
  iocpd_server_drain(server, clamp_ms(config->drain_timeout_ms), on_drain_progress, NULL,
                     &stats);
  log_msg(IOCPD_LOG_INFO, "drain finished: drained %zu, aborted %zu in %llu ms",
          stats.drained, stats.aborted, (unsigned long long)stats.duration_ms);
  iocpd_server_destroy(server);
  handler_args_free(&args);
  iocpd_config_free(config);
  log_msg(IOCPD_LOG_INFO, "stopped");
  platform_stop_signals_done();
  return EXIT_OK;
}
