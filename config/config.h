/*
 * iocpd configuration: one INI file -> a validated iocpd_config.
 *
 * The file is read with inih. Every problem found is reported through the
 * caller's callback as one line "FILE:LINE: message" (or "FILE: message"
 * when no line applies, e.g. a missing file); loading goes on after an error
 * so that one run reports every problem. A config is returned only if there
 * was no error at all: the daemon never starts half-configured.
 */
#ifndef IOCPD_CONFIG_H
#define IOCPD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "iocpd.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum iocpd_handler_kind {
  IOCPD_HANDLER_ECHO = 0,
  IOCPD_HANDLER_FORWARD = 1
} iocpd_handler_kind;

typedef struct iocpd_config_listener {
  char *name;                 /* NAME from [listener:NAME] */
  int line;                   /* line of the section header */
  iocpd_addr listen;          /* listen = */
  char *listen_text;          /* listen = as written, for messages */
  iocpd_handler_kind handler; /* handler = */
  int protocol;               /* protocol = : IOCPD_TCP (default) or IOCPD_UDP */
  /* forward only: upstream = (every address of every entry, in order) */
  iocpd_addr *upstreams;
  size_t upstream_count;
  uint64_t connect_timeout_ms; /* forward only; default 5 s */
  unsigned max_fails;          /* forward only; default 3, 0 = never down */
  uint64_t fail_timeout_ms;    /* forward only; default 10 s */
  int health_check;            /* forward only: 1 = connect checks; default 0 (none) */
  uint64_t health_interval_ms; /* default 5 s */
  uint64_t health_timeout_ms;  /* default 2 s */
  unsigned rise, fall;         /* defaults 2 and 3 */
  /* echo and forward; default 10 min. UDP: a forward session's, default
   * IOCPD_DEFAULT_UDP_IDLE_TIMEOUT_MS, never 0; 0 for UDP echo (stateless). */
  uint64_t idle_timeout_ms;
  uint64_t buffer_size; /* echo and forward; default 64 KiB */
  /* protection */
  uint64_t max_connections;        /* 0 = no limit (default) */
  uint64_t max_connections_per_ip; /* 0 = no limit (default) */
  /* UDP only: the engine's max_connections and max_connections_per_ip,
   * which count sessions there. */
  uint64_t max_sessions;        /* 0 = no limit (default) */
  uint64_t max_sessions_per_ip; /* 0 = no limit (default) */
  iocpd_cidr *allow;            /* allow = ; none: every address */
  size_t allow_count;
  iocpd_cidr *deny; /* deny = ; checked first */
  size_t deny_count;
  uint64_t handshake_timeout_ms; /* 0 = off (default) */
  /* PROXY protocol */
  int send_proxy;            /* forward only: 0 off (default), 1 v1, 2 v2 */
  int accept_proxy;          /* 0 off (default), IOCPD_PROXY_V1 | IOCPD_PROXY_V2 */
  iocpd_cidr *proxy_trusted; /* required when accept_proxy is on */
  size_t proxy_trusted_count;
  uint64_t proxy_timeout_ms; /* default 5 s */
  /* ipv6_only = no ([::] listeners only): IPv4 clients too. Default 0
   * (ipv6_only = yes). */
  int dual_stack;
} iocpd_config_listener;

typedef struct iocpd_config {
  char *path; /* the file this was loaded from */
  /* The file's text as read (UTF-8, BOM removed), so that its names can
   * be resolved again later (iocpd_config_load_buffer) without reading a
   * file that may have been edited since. */
  char *text;
  size_t text_len;
  int has_names;                /* some upstream is a host name */
  uint64_t resolve_interval_ms; /* [service] resolve_interval, default 30 s; 0 = never */
  unsigned workers;             /* [service] workers, 0 = one per CPU */
  uint64_t drain_timeout_ms;    /* [service] drain_timeout, default 30 s */
  iocpd_log_level log_level;    /* [service] log_level, default info */
  uint64_t max_connections;     /* [service] max_connections, default 10000 */
  /* [service] access_log: where one line per finished connection goes, or
   * NULL (the default) for no access log. A relative path in the file is
   * relative to the config file's directory; this is the path as the
   * daemon opens it (already joined with that directory). */
  char *access_log;
  uint64_t access_log_max_size; /* rotate at this size; default 100 MiB */
  unsigned access_log_keep;     /* rotated files kept (.1 ... .N); default 5 */
  /* [service] metrics_listen: the address of the Prometheus endpoint
   * (GET /metrics); metrics_enabled is 0 when the key is absent. */
  int metrics_enabled;
  iocpd_addr metrics_listen;
  char *metrics_listen_text;        /* as written, for messages */
  iocpd_config_listener *listeners; /* in file order, at least one */
  size_t listener_count;
  /* Things that are allowed but probably unintended, each formatted as
   * "FILE:LINE: warning: message"; check-config prints them, the daemon
   * logs them as warnings. They never make a file invalid. */
  char **warnings;
  size_t warning_count;
} iocpd_config;

/* Receives one problem, already formatted as "FILE:LINE: message". */
typedef void (*iocpd_config_report_fn)(void *arg, const char *message);

/* Loads and validates path, a UTF-8 file name on every platform (Windows
 * included). Returns 0 and sets *out (free it with iocpd_config_free) if
 * the file is valid; otherwise returns the number of problems reported
 * (> 0) and leaves *out NULL. */
int iocpd_config_load(const char *path, iocpd_config **out, iocpd_config_report_fn report,
                      void *report_arg);

/* The same for a file already in memory: name is used in messages only.
 * For tests and the fuzzer; iocpd_config_load reads the file and calls
 * this. */
int iocpd_config_load_buffer(const char *name, const char *data, size_t len, iocpd_config **out,
                             iocpd_config_report_fn report, void *report_arg);

/* Frees a config from iocpd_config_load. NULL is fine. */
void iocpd_config_free(iocpd_config *config);

/* Writes the reference of every key to out, one line each, from the table
 * the loader checks keys with: section, key, default ("-" for none) and
 * what it means (`iocpd help-config`; README's key reference must agree). */
void iocpd_config_help(FILE *out);

/* "500ms", "30s", "5m", "1h", or a bare number of seconds -> milliseconds.
 * Returns 0, or IOCPD_EINVAL for anything else, a negative value or an
 * overflow. */
int iocpd_parse_duration(const char *text, uint64_t *ms);

/* "64k", "1m", "1g" (powers of 1024), or a bare number of bytes -> bytes.
 * Returns 0 or IOCPD_EINVAL as above. */
int iocpd_parse_size(const char *text, uint64_t *bytes);

#ifdef __cplusplus
}
#endif

#endif /* IOCPD_CONFIG_H */
