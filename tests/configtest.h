/*
 * What the parts of the config unit test (test_config_*.c, one binary,
 * test_config_units) share: counted checks, and loading a config text from
 * a file in the scratch directory and from memory, comparing every message
 * exactly. See test_config_units.c for how the test runs.
 */
#ifndef IOCPD_CONFIGTEST_H
#define IOCPD_CONFIGTEST_H

#include <stddef.h>

#include "config.h"

/* The keys listed by "unknown key" messages. */
#define SERVICE_KEYS                                                                               \
  "workers, drain_timeout, log_level, max_connections, access_log, "                               \
  "access_log_max_size, access_log_keep, metrics_listen or resolve_interval"
#define LISTENER_KEYS                                                                              \
  "listen, handler, protocol, upstream, connect_timeout, max_fails, fail_timeout, health_check, "  \
  "health_interval, health_timeout, rise, fall, idle_timeout, "                                    \
  "buffer_size, max_connections, max_connections_per_ip, max_sessions, max_sessions_per_ip, "      \
  "allow, deny, handshake_timeout, send_proxy, accept_proxy, proxy_trusted, proxy_timeout or "     \
  "ipv6_only"

/* The scratch directory the test writes its files to. */
extern const char *dir;

/* Counts a check; prints "FAIL: ..." when ok is 0. */
void check(int ok, const char *fmt, ...);

/* The messages reported by one iocpd_config_load call. */
typedef struct messages {
  char *text[64];
  size_t count;
  size_t lost; /* beyond the 64 kept */
} messages;

void collect(void *arg, const char *message);
void messages_free(messages *m);
/* DIR/name, in a static buffer (one path at a time is enough). */
const char *path_of(const char *name);
void write_file(const char *path, const char *data, size_t len);
/* Compares count messages in got with expected, a NULL-terminated list of
 * what follows path in each message (":3: ..." or ": ..."). */
void compare_messages(const char *what, const char *path, char *const *got, size_t count,
                      const char *const *expected);
/* Loads data (len bytes) from DIR/name (from_file) or from memory under
 * name, compares the problems with expected (a NULL-terminated list of
 * what follows the path in each message) and, for a valid config, its
 * warnings with warnings (NULL: only checked to be well-formed). Returns
 * the config when valid, else NULL. */
iocpd_config *load_any(const char *name, const char *data, size_t len, int from_file,
                       const char *const *expected, const char *const *warnings);
/* load_any from a file, then from memory, which must say the same;
 * returns the config from the file. */
iocpd_config *load_bytes(const char *name, const char *data, size_t len,
                         const char *const *expected);
iocpd_config *load_text(const char *name, const char *text, const char *const *expected);
/* No messages. */
extern const char *const none[];

/* The parts: each runs its tests. */
void test_units(void);
void test_basics(void);
void test_forward(void);
void test_protection(void);
void test_observability(void);
void test_udp(void);

#endif /* IOCPD_CONFIGTEST_H */
