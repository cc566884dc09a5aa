/*
 * The config loader's own declarations, shared by the files of config/
 * (not installed, not for callers: they use config.h):
 *
 *   keys.c     the table of keys, one row each, and what every kind of
 *              value accepts (durations, sizes, counts, lists, addresses)
 *   reader.c   the file, its encoding, its lines and sections, fed to inih
 *   checks.c   what needs the whole file: keys that depend on others,
 *              upstreams and relay loops, listeners sharing an address,
 *              and the warnings
 *   messages.c problems and warnings, as "FILE:LINE: message"
 *   config.c   iocpd_config_load and the config it returns
 *
 * While a file is read, every value goes straight to where the config
 * will hold it (an iocpd_config for [service], an iocpd_config_listener
 * per listener); the loader keeps, for every key of every section, the
 * line it was on, its text as written, and whether it was valid.
 */
#ifndef IOCPD_CONFIG_LOADER_H
#define IOCPD_CONFIG_LOADER_H

#include <stdarg.h>
#include <stddef.h>

#include "config.h"
#include "iocpd_sys.h"

#define MAX_FILE_SIZE (1024 * 1024)
#define MAX_LISTENER_NAME 63
/* Far more than any real config needs; it bounds the checks between
 * listeners, which compare every pair. */
#define MAX_LISTENERS 1024
#define MAX_UPSTREAMS 64 /* addresses per listener, after resolution */
#define MAX_HOST_NAME 253
#define MAX_BLOCKS 4096 /* entries of one allow, deny or proxy_trusted list, all lines */
#define LISTENER_PREFIX "listener:"
#define LISTEN_FORMS "a.b.c.d:port or [ipv6]:port"
#define UPSTREAM_FORMS "host:port, a.b.c.d:port or [ipv6]:port"

/* One problem or warning, already formatted as "FILE:LINE: message". */
typedef struct problem {
  int line;   /* 0 for problems of the whole file */
  size_t seq; /* order of discovery, to keep the sort stable */
  char *text;
} problem;

typedef struct message_list {
  problem *items;
  size_t count;
  size_t cap;
} message_list;

typedef enum section_kind {
  SECTION_NONE,    /* before the first section header */
  SECTION_IGNORED, /* a rejected header: its keys are not checked */
  SECTION_SERVICE,
  SECTION_LISTENER
} section_kind;

/* The keys, in the order of the table (keys.c) and of the "expected ..."
 * lists in messages. */
typedef enum key_id {
  KEY_WORKERS,
  KEY_DRAIN_TIMEOUT,
  KEY_LOG_LEVEL,
  KEY_SERVICE_MAX_CONNECTIONS,
  KEY_ACCESS_LOG,
  KEY_ACCESS_LOG_MAX_SIZE,
  KEY_ACCESS_LOG_KEEP,
  KEY_METRICS_LISTEN,
  KEY_RESOLVE_INTERVAL,
  KEY_LISTEN,
  KEY_HANDLER,
  KEY_PROTOCOL,
  KEY_UPSTREAM,
  KEY_CONNECT_TIMEOUT,
  KEY_MAX_FAILS,
  KEY_FAIL_TIMEOUT,
  KEY_HEALTH_CHECK,
  KEY_HEALTH_INTERVAL,
  KEY_HEALTH_TIMEOUT,
  KEY_RISE,
  KEY_FALL,
  KEY_IDLE_TIMEOUT,
  KEY_BUFFER_SIZE,
  KEY_MAX_CONNECTIONS,
  KEY_MAX_CONNECTIONS_PER_IP,
  KEY_MAX_SESSIONS,
  KEY_MAX_SESSIONS_PER_IP,
  KEY_ALLOW,
  KEY_DENY,
  KEY_HANDSHAKE_TIMEOUT,
  KEY_SEND_PROXY,
  KEY_ACCEPT_PROXY,
  KEY_PROXY_TRUSTED,
  KEY_PROXY_TIMEOUT,
  KEY_IPV6_ONLY,
  KEY_COUNT
} key_id;

/* A further line of a key that may be repeated in its section (a list:
 * allow, deny, proxy_trusted, upstream), whose entries it appends. */
typedef struct key_line {
  struct key_line *next;
  int line;
  char *text;
} key_line;

/* What the loader knows of each key of one section. */
typedef struct key_state {
  int line[KEY_COUNT];         /* of its first occurrence; 0 if absent */
  char *text[KEY_COUNT];       /* its value as written, if present */
  unsigned char ok[KEY_COUNT]; /* every line of it was valid and is stored */
  key_line *more[KEY_COUNT];   /* its further lines, in file order */
} key_state;

/* A [listener:NAME] section while the file is being read. */
typedef struct listener_rec {
  iocpd_config_listener out; /* the values where the config will hold them;
                                out.name and out.line are the header's */
  key_state keys;
} listener_rec;

typedef struct loader {
  const char *path;
  int has_names; /* an upstream entry is a host name (checks.c) */

  /* The text being read and the reader's position in it. */
  const char *text;
  size_t len;
  size_t pos;
  int lineno; /* line last handed to inih, counting from 1 */

  /* Where the keys that follow belong. */
  section_kind kind;
  size_t current; /* index in listeners when kind is SECTION_LISTENER */

  int service_line;     /* of the [service] header, 0 if none */
  iocpd_config service; /* the [service] values */
  key_state service_keys;

  listener_rec *listeners;
  size_t listener_count;
  size_t listener_cap;
  size_t listener_headers; /* [listener:...] headers, rejected ones too */
  int too_many_listeners;  /* a header beyond MAX_LISTENERS was seen */

  message_list problems;
  message_list warnings; /* looked for only when there is no problem */
  int out_of_memory;     /* a message or an allocation got lost */
} loader;

/* --- messages.c --- */

/* Records a problem: "FILE:LINE: message", or "FILE: message" when line
 * is 0. */
void add_problem(loader *ld, int line, const char *fmt, ...) IOCPD_PRINTF(3, 4);
/* Records a warning: "FILE:LINE: warning: message". */
void add_warning(loader *ld, int line, const char *fmt, ...) IOCPD_PRINTF(3, 4);
/* Sorts a list into file order (whole-file problems last). */
void sort_messages(message_list *list);
void free_messages(message_list *list);
/* Doubles the capacity of an array of elem-byte items (first: the initial
 * capacity). Returns the moved array and updates *cap, or returns NULL
 * with ld->out_of_memory set and the array left as it was. */
void *grow_array(loader *ld, void *items, size_t *cap, size_t elem, size_t first);
/* A NUL-terminated copy of len bytes of s, or NULL. */
char *copy_string(const char *s, size_t len);

/* --- keys.c --- */

/* Stores the defaults of every key of a section into out (an iocpd_config
 * for SECTION_SERVICE, an iocpd_config_listener for SECTION_LISTENER). */
void keys_set_defaults(section_kind section, void *out);
/* One "name = value" line of the current section: looks the key up in the
 * table, reports an unknown or repeated key, keeps its line and text, and
 * checks and stores the value unless the key is checked later (deferred:
 * it depends on other keys). */
void keys_handle(loader *ld, const char *name, const char *value, int line);
/* Checks and stores a deferred key's kept text now (checks.c). Returns 1
 * if it was valid. */
int keys_apply(loader *ld, key_state *keys, void *out, key_id key);
/* A key's name, for messages. */
const char *key_name(key_id key);
/* Frees the texts a key_state holds. */
void keys_free(key_state *keys);

/* What an address key accepts (keys.c; checks.c checks upstream entries
 * and metrics_listen with it too). */
typedef struct address_rules {
  const char *key;   /* the key name that starts each message */
  const char *forms; /* the accepted forms, for "(expected ...)" */
  int names_ok;      /* "host:port" is accepted too, for the resolver */
  int in_list;       /* the text is one entry of a list: a message that
                        quotes only a part of it also names the entry */
} address_rules;

typedef enum address_kind {
  ADDRESS_BAD, /* a problem, already reported */
  ADDRESS_IP,  /* a numeric address, stored in *addr */
  ADDRESS_NAME /* "host:port" with a valid port and a plausible host name */
} address_kind;

extern const address_rules listen_rules, upstream_rules, metrics_rules;

/* Checks "a.b.c.d:port" or "[ipv6]:port" (and "host:port" if the rules
 * allow names), reporting exactly what is wrong. */
address_kind check_address(loader *ld, int line, const address_rules *rules, const char *value,
                           iocpd_addr *addr);
/* Copies the next comma-separated entry of *p, trimmed, into entry (size
 * bytes); returns its length and moves *p past it (NULL after the last). */
size_t next_entry(const char **p, char *entry, size_t size);

/* --- reader.c --- */

/* Reads the whole file into *text (NUL-terminated) and its size into
 * *len. Returns 0, or -1 after recording the problem. */
int read_config_file(loader *ld, char **text, size_t *len);
/* Rejects text that is not UTF-8 as a whole and skips a UTF-8 byte order
 * mark. Returns where the INI text starts, or -1 after recording the
 * problem. */
long check_encoding(loader *ld, const char *text, size_t len);
/* Feeds the text (ld->text, ld->len) to inih, line by line, checking each
 * line and keeping track of the sections. */
void read_ini(loader *ld);

/* --- checks.c --- */

/* Everything that needs the whole file, after it has been read. */
void check_whole_file(loader *ld);
/* Looks for warnings; only for a file without problems. */
void find_warnings(loader *ld);

#endif /* IOCPD_CONFIG_LOADER_H */
