/*
 * libFuzzer harness for the config loader: every input is an INI file in
 * memory, loaded with iocpd_config_load_buffer and freed again.
 *
 * Build and run it with scripts/fuzz.sh, which links it with the config
 * sources, core/addr.c, core/cidr.c, core/error.c and resolve_stub.c (no
 * engine, no sockets, no DNS) under AddressSanitizer and
 * UndefinedBehaviorSanitizer.
 *
 * Besides crashes, leaks and undefined behaviour, the harness checks the
 * loader's contract and aborts when it is broken: the return value is the
 * number of messages reported, a config comes back exactly when there was
 * no problem, and what a valid config holds is within the documented
 * limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Counts the messages and reads each one whole, so that a message that is
 * not a proper C string shows up under AddressSanitizer. */
static void count_message(void *arg, const char *message) {
  size_t *count = arg;
  if (strlen(message) == 0 || strchr(message, '\n') != NULL) abort();
  (*count)++;
}

static int is_block_ok(const iocpd_cidr *c) {
  return (c->addr.family == IOCPD_AF_INET && c->prefix <= 32) ||
         (c->addr.family == IOCPD_AF_INET6 && c->prefix <= 128);
}

/* Aborts unless config is what config.h promises. */
static void check_config(const iocpd_config *config) {
  size_t i, k;

  if (config->listener_count == 0 || config->listeners == NULL) abort();
  if (config->workers > 64 || config->max_connections > 1000000) abort();
  /* The text is kept for resolving names again: it must load the same. */
  if (config->text == NULL || config->resolve_interval_ms > 86400000) abort();
  for (i = 0; i < config->warning_count; i++) {
    if (strstr(config->warnings[i], ": warning: ") == NULL) abort();
  }
  for (i = 0; i < config->listener_count; i++) {
    const iocpd_config_listener *l = &config->listeners[i];
    if (l->name == NULL || l->listen_text == NULL || l->listen.port == 0) abort();
    if (l->handler == IOCPD_HANDLER_FORWARD) {
      /* None only when its host names do not resolve (a warning says so). */
      if (l->upstream_count == 0 && (!config->has_names || config->warning_count == 0)) abort();
      if (l->upstream_count > 64 || (l->upstream_count == 0) != (l->upstreams == NULL)) abort();
      if (l->rise < 1 || l->rise > 100 || l->fall < 1 || l->fall > 100) abort();
      if (l->health_interval_ms == 0 || l->health_timeout_ms == 0 || l->max_fails > 1000) abort();
      for (k = 0; k < l->upstream_count; k++) {
        if (l->upstreams[k].port == 0) abort();
      }
    } else if (l->upstream_count != 0 || l->upstreams != NULL) {
      abort();
    }
    if (l->max_connections > 1000000 || l->max_connections_per_ip > 1000000) abort();
    if (l->handshake_timeout_ms > 3600000) abort();
    if (l->allow_count > 4096 || l->deny_count > 4096 || l->proxy_trusted_count > 4096) abort();
    if ((l->allow_count == 0) != (l->allow == NULL)) abort();
    if ((l->deny_count == 0) != (l->deny == NULL)) abort();
    if ((l->proxy_trusted_count == 0) != (l->proxy_trusted == NULL)) abort();
    /* PROXY: a version of each kind, trusted balancers whenever headers
     * are accepted (and only then), send_proxy only on forward. */
    if (l->accept_proxy < 0 || l->accept_proxy > 3 || l->send_proxy < 0 || l->send_proxy > 2)
      abort();
    if ((l->accept_proxy != 0) != (l->proxy_trusted_count != 0)) abort();
    if (l->send_proxy != 0 && l->handler != IOCPD_HANDLER_FORWARD) abort();
    if (l->proxy_timeout_ms < 1 || l->proxy_timeout_ms > 3600000) abort();
    for (k = 0; k < l->proxy_trusted_count; k++) {
      if (!is_block_ok(&l->proxy_trusted[k])) abort();
    }
    for (k = 0; k < l->allow_count; k++) {
      if (!is_block_ok(&l->allow[k])) abort();
    }
    for (k = 0; k < l->deny_count; k++) {
      if (!is_block_ok(&l->deny[k])) abort();
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  iocpd_config *config = NULL;
  size_t reported = 0;
  int rc;

  rc = iocpd_config_load_buffer("fuzz.ini", (const char *)data, size, &config, count_message,
                                &reported);
  if (rc < 0 || (size_t)rc != reported) abort();
  if ((rc == 0) != (config != NULL)) abort();
  if (config != NULL) check_config(config);
  iocpd_config_free(config);
  return 0;
}
