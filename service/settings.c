/* What the engine is given from a loaded config (see settings.h). */
#include <stdint.h>
#include <stdlib.h>

#include "settings.h"

const iocpd_handler *daemon_handler_for(iocpd_handler_kind kind) {
  return kind == IOCPD_HANDLER_FORWARD ? &iocpd_forward_handler : &iocpd_echo_handler;
}

uint32_t clamp_ms(uint64_t ms) { return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms; }

static void settings_destroy(daemon_settings *st) {
  free(st->listeners);
  free(st->echo);
  free(st->forward);
  iocpd_config_free(st->config);
  iocpd_mutex_destroy(st->lock);
  free(st);
}

void settings_free(void *arg) {
  daemon_settings *st = arg;
  int left;
  if (st == NULL) return;
  iocpd_mutex_lock(st->lock);
  left = --st->refs;
  iocpd_mutex_unlock(st->lock);
  if (left == 0) settings_destroy(st);
}

daemon_settings *settings_new(iocpd_config *config) {
  daemon_settings *st = calloc(1, sizeof(*st));
  size_t i, n = config->listener_count;
  if (st == NULL) return NULL;
  st->refs = 2; /* the engine's and the daemon's */
  st->lock = iocpd_mutex_create();
  st->listeners = calloc(n, sizeof(*st->listeners));
  st->echo = calloc(n, sizeof(*st->echo));
  st->forward = calloc(n, sizeof(*st->forward));
  if (st->lock == NULL || st->listeners == NULL || st->echo == NULL || st->forward == NULL) {
    settings_destroy(st); /* config is NULL: still the caller's */
    return NULL;
  }
  st->config = config;
  for (i = 0; i < n; i++) {
    const iocpd_config_listener *l = &config->listeners[i];
    iocpd_listener_options *out = &st->listeners[i];
    out->name = l->name;
    out->addr = l->listen;
    out->protocol = l->protocol;
    out->handler = daemon_handler_for(l->handler);
    out->allow = l->allow;
    out->allow_count = l->allow_count;
    out->deny = l->deny;
    out->deny_count = l->deny_count;
    out->dual_stack = l->dual_stack;
    if (l->protocol == IOCPD_UDP) {
      /* The engine's limits count sessions on a UDP listener; the keys of
       * connections were refused by the config (checks.c) and stay 0, as
       * the engine requires. */
      out->max_connections = (size_t)l->max_sessions;
      out->max_connections_per_ip = (size_t)l->max_sessions_per_ip;
      if (l->handler == IOCPD_HANDLER_FORWARD) {
        st->forward[i].upstreams = l->upstreams;
        st->forward[i].upstream_count = l->upstream_count;
        st->forward[i].idle_timeout_ms = clamp_ms(l->idle_timeout_ms);
        out->handler_arg = &st->forward[i];
        out->max_fails = l->max_fails;
        out->fail_timeout_ms = clamp_ms(l->fail_timeout_ms);
      } else {
        out->handler_arg = &st->echo[i];
      }
      continue;
    }
    out->buffer_size = (size_t)l->buffer_size;
    out->max_connections = (size_t)l->max_connections;
    out->max_connections_per_ip = (size_t)l->max_connections_per_ip;
    out->accept_proxy = (unsigned)l->accept_proxy;
    out->proxy_trusted = l->proxy_trusted;
    out->proxy_trusted_count = l->proxy_trusted_count;
    out->proxy_timeout_ms = clamp_ms(l->proxy_timeout_ms);
    if (l->handler == IOCPD_HANDLER_FORWARD) {
      st->forward[i].upstreams = l->upstreams;
      st->forward[i].upstream_count = l->upstream_count;
      st->forward[i].connect_timeout_ms = clamp_ms(l->connect_timeout_ms);
      st->forward[i].idle_timeout_ms = clamp_ms(l->idle_timeout_ms);
      st->forward[i].handshake_timeout_ms = clamp_ms(l->handshake_timeout_ms);
      st->forward[i].send_proxy = l->send_proxy;
      out->handler_arg = &st->forward[i];
      out->max_fails = l->max_fails;
      out->fail_timeout_ms = clamp_ms(l->fail_timeout_ms);
      if (l->health_check) {
        out->health_interval_ms = clamp_ms(l->health_interval_ms);
        out->health_timeout_ms = clamp_ms(l->health_timeout_ms);
        out->rise = l->rise;
        out->fall = l->fall;
        out->health_targets = l->upstreams;
        out->health_target_count = l->upstream_count;
        out->health_send_proxy = l->send_proxy;
      }
    } else {
      st->echo[i].idle_timeout_ms = clamp_ms(l->idle_timeout_ms);
      st->echo[i].handshake_timeout_ms = clamp_ms(l->handshake_timeout_ms);
      out->handler_arg = &st->echo[i];
    }
  }
  return st;
}
