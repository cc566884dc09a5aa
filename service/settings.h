/*
 * A loaded config and the engine's options made from it: one
 * iocpd_listener_options per listener, with the handler options it points
 * to. The daemon makes them at start and at each reload (daemon.h).
 */
#ifndef IOCPD_SETTINGS_H
#define IOCPD_SETTINGS_H

#include <stdint.h>

#include "config.h"
#include "iocpd.h"
#include "iocpd_sys.h"

/* One loaded config and what the engine was given from it (the handlers'
 * options point into the config). Two hold it: the engine, which releases
 * it (settings_free) once a reload has replaced it and its last
 * connection is gone, or when the server is destroyed; and the daemon,
 * while it is the current one (the metrics thread reads its config). */
typedef struct daemon_settings {
  iocpd_mutex *lock; /* guards refs; taken with no other lock inside */
  int refs;
  iocpd_config *config;
  iocpd_listener_options *listeners; /* one per configured listener */
  iocpd_echo_options *echo;          /* per listener; the engine points here */
  iocpd_forward_options *forward;    /* per listener */
} daemon_settings;

/* Makes the engine's options from config, which the settings then own
 * (NULL when out of memory, config still the caller's). Both references
 * are taken: the engine's and the daemon's. */
daemon_settings *settings_new(iocpd_config *config);
/* Drops one reference (an engine release callback); the last frees the
 * settings with their config. NULL is fine. */
void settings_free(void *arg);
/* The built-in handler of a handler kind. */
const iocpd_handler *daemon_handler_for(iocpd_handler_kind kind);
/* ms, at most UINT32_MAX. */
uint32_t clamp_ms(uint64_t ms);

#endif /* IOCPD_SETTINGS_H */
