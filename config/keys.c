/*
 * The keys of the config file, as a table: one row per key, with its
 * section, the kind of value it takes (a setter, as nginx's ngx_command_t
 * rows have), where the value goes in the config, its limits, its default
 * and one line of help. Adding a key is adding a row (and its id in
 * loader.h), plus its cross-key rule in checks.c if it has one; the
 * line, the text and the validity of every key are kept generically, and
 * the "unknown key" messages list the keys of the table.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

#define DURATION_FORMS "e.g. 500ms, 30s, 5m or 1h"
#define BLOCK_FORMS "a.b.c.d/N with N 0-32, or ipv6/N with N 0-128"
#define MS_PER_HOUR ((uint64_t)3600 * 1000)

typedef struct config_key config_key;

/* Checks value (on line) and stores it at out + k->offset (and
 * k->offset2); returns 1, or 0 after reporting the problem. */
typedef int (*key_setter)(loader *ld, const config_key *k, int line, const char *value, char *out);

struct config_key {
  section_kind section; /* SECTION_SERVICE or SECTION_LISTENER */
  const char *name;
  key_setter set;
  size_t offset;     /* in iocpd_config ([service]) or iocpd_config_listener */
  size_t offset2;    /* a second field some kinds fill (a count, a text) */
  uint64_t min, max; /* the range of numbers, durations and sizes */
  const char *range; /* the maximum or range as written in messages */
  const char *forms; /* sizes: the examples in "(expected e.g. ...)";
                        choices: the words, by value, space-separated */
  int deferred;      /* checked once the whole file is read (checks.c) */
  const char *def;   /* the default, as it would be written; NULL: none */
  const char *help;  /* one line, for `iocpd help-config` and README */
  int repeat;        /* a list: each further line in the section appends */
};

/* ------------------------------------------------------------------------ */
/* Small helpers */

static int is_digits(const char *s) {
  if (*s == '\0') return 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9') return 0;
  }
  return 1;
}

/* A plain decimal number: iocpd_parse_size already rejects overflow. */
static int parse_number(const char *text, uint64_t *value) {
  if (!is_digits(text)) return IOCPD_EINVAL;
  return iocpd_parse_size(text, value);
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

size_t next_entry(const char **p, char *entry, size_t size) {
  const char *start = *p, *comma = strchr(start, ',');
  const char *end = comma != NULL ? comma : start + strlen(start);
  size_t len;
  while (start < end && is_space(*start)) start++;
  while (end > start && is_space(end[-1])) end--;
  len = (size_t)(end - start);
  if (len >= size) len = size - 1;
  memcpy(entry, start, len);
  entry[len] = '\0';
  *p = comma != NULL ? comma + 1 : NULL;
  return len;
}

#define FIELD(out, k, type) ((type *)(void *)((out) + (k)->offset))
#define FIELD2(out, k, type) ((type *)(void *)((out) + (k)->offset2))

/* ------------------------------------------------------------------------ */
/* The kinds of values */

/* A duration in milliseconds; 0 only if k->min is 0 (0 = off). */
static int set_duration(loader *ld, const config_key *k, int line, const char *value, char *out) {
  uint64_t ms;
  if (iocpd_parse_duration(value, &ms) != 0) {
    add_problem(ld, line, "%s: invalid duration '%s' (expected " DURATION_FORMS ")", k->name,
                value);
    return 0;
  }
  if (ms < k->min) {
    add_problem(ld, line, "%s: '%s' must be more than 0", k->name, value);
    return 0;
  }
  if (ms > k->max) {
    add_problem(ld, line, "%s: '%s' is more than the maximum of %s", k->name, value, k->range);
    return 0;
  }
  *FIELD(out, k, uint64_t) = ms;
  return 1;
}

/* A size in bytes ("64k"), from k->min to k->max. */
static int set_size(loader *ld, const config_key *k, int line, const char *value, char *out) {
  uint64_t n;
  if (iocpd_parse_size(value, &n) != 0) {
    add_problem(ld, line, "%s: invalid size '%s' (expected %s)", k->name, value, k->forms);
    return 0;
  }
  if (n < k->min || n > k->max) {
    add_problem(ld, line, "%s: %s out of range %s", k->name, value, k->range);
    return 0;
  }
  *FIELD(out, k, uint64_t) = n;
  return 1;
}

/* A whole number from k->min to k->max, into an unsigned. */
static int set_count(loader *ld, const config_key *k, int line, const char *value, char *out) {
  uint64_t n;
  if (parse_number(value, &n) != 0 || n < k->min || n > k->max) {
    add_problem(ld, line, "%s: invalid value '%s' (expected a number from %u to %u)", k->name,
                value, (unsigned)k->min, (unsigned)k->max);
    return 0;
  }
  *FIELD(out, k, unsigned) = (unsigned)n;
  return 1;
}

/* A connection limit: 0 (no limit) to k->max. */
static int set_limit(loader *ld, const config_key *k, int line, const char *value, char *out) {
  uint64_t n;
  if (parse_number(value, &n) != 0 || n > k->max) {
    add_problem(ld, line,
                "%s: invalid value '%s' (expected a number from 0 to %u; 0 means no limit)",
                k->name, value, (unsigned)k->max);
    return 0;
  }
  *FIELD(out, k, uint64_t) = n;
  return 1;
}

static int set_log_level(loader *ld, const config_key *k, int line, const char *value, char *out) {
  int level;
  for (level = IOCPD_LOG_ERROR; level <= IOCPD_LOG_DEBUG; level++) {
    if (strcmp(value, iocpd_log_level_name((iocpd_log_level)level)) == 0) {
      *FIELD(out, k, iocpd_log_level) = (iocpd_log_level)level;
      return 1;
    }
  }
  add_problem(ld, line, "%s: invalid value '%s' (expected error, warning, info or debug)", k->name,
              value);
  return 0;
}

/* One word of k->forms ("off v1 v2"), into an int: its position. */
static int set_choice(loader *ld, const config_key *k, int line, const char *value, char *out) {
  const char *p = k->forms;
  char expected[128];
  size_t used = 0, len = strlen(value);
  int index = 0, count = 0;

  while (*p != '\0') {
    const char *end = strchr(p, ' ');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n == len && len > 0 && strncmp(p, value, n) == 0) {
      *FIELD(out, k, int) = index;
      return 1;
    }
    index++;
    p += n;
    while (*p == ' ') p++;
  }
  /* "(expected a, b or c)" from the same words. */
  for (p = k->forms; *p != '\0'; count++) {
    const char *end = strchr(p, ' ');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    int w = snprintf(expected + used, sizeof(expected) - used, "%s%.*s",
                     count == 0 ? "" : (end == NULL ? " or " : ", "), (int)n, p);
    if (w < 0 || (size_t)w >= sizeof(expected) - used) break;
    used += (size_t)w;
    p += n;
    while (*p == ' ') p++;
  }
  add_problem(ld, line, "%s: invalid value '%s' (expected %s)", k->name, value, expected);
  return 0;
}

static int set_handler(loader *ld, const config_key *k, int line, const char *value, char *out) {
  if (strcmp(value, "echo") == 0 || strcmp(value, "forward") == 0) {
    *FIELD(out, k, iocpd_handler_kind) =
        value[0] == 'e' ? IOCPD_HANDLER_ECHO : IOCPD_HANDLER_FORWARD;
    return 1;
  }
  if (value[0] == '\0') {
    add_problem(ld, line, "%s: value is empty (expected echo or forward)", k->name);
  } else {
    add_problem(ld, line, "%s: unknown handler '%s' (expected echo or forward)", k->name, value);
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Addresses */

const address_rules listen_rules = {"listen", LISTEN_FORMS, 0, 0};
const address_rules upstream_rules = {"upstream", UPSTREAM_FORMS, 1, 1};
const address_rules metrics_rules = {"metrics_listen", LISTEN_FORMS, 0, 0};

static int is_host_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

/* Splits value into its host and port text, reporting what is missing.
 * Returns 1, or 0 after reporting the problem. */
static int split_host_port(loader *ld, int line, const address_rules *rules, const char *value,
                           const char **host, size_t *host_len, const char **port) {
  const char *key = rules->key;
  if (value[0] == '[') {
    const char *close = strchr(value, ']');
    if (close == NULL) {
      add_problem(ld, line, "%s: '%s' is missing ']' (expected [ipv6]:port)", key, value);
      return 0;
    }
    if (close[1] != ':') {
      add_problem(ld, line, "%s: '%s' has no port (expected [ipv6]:port)", key, value);
      return 0;
    }
    *host = value + 1;
    *host_len = (size_t)(close - *host);
    *port = close + 2;
  } else {
    const char *colon = strrchr(value, ':');
    if (colon == NULL) {
      add_problem(ld, line, "%s: '%s' has no port (expected %s)", key, value, rules->forms);
      return 0;
    }
    if (memchr(value, ':', (size_t)(colon - value)) != NULL) {
      add_problem(ld, line, "%s: IPv6 address in '%s' must be in brackets, e.g. [::1]:7007", key,
                  value);
      return 0;
    }
    *host = value;
    *host_len = (size_t)(colon - value);
    *port = colon + 1;
  }
  return 1;
}

/* Reports why host (not a valid numeric address of the expected family)
 * is wrong. */
static void report_bad_host(loader *ld, int line, const char *key, const char *host, int bracketed,
                            const char *in) {
  const char *p;
  int letters = 0;
  for (p = host; *p != '\0'; p++) letters |= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
  if (bracketed)
    add_problem(ld, line, "%s: '%s' is not a valid IPv6 address%s", key, host, in);
  else if (letters)
    add_problem(ld, line, "%s: '%s' is not a numeric IPv4 address (host names are not supported)%s",
                key, host, in);
  else
    add_problem(ld, line, "%s: '%s' is not a valid IPv4 address%s", key, host, in);
}

/* iocpd_addr_parse has the last word on numeric forms; this checks piece
 * by piece first, so that the message says what is wrong. A host part made
 * of digits and dots only is an IPv4 address, never a name: "10.1.2" is a
 * typo, not a name for the resolver to guess at. */
address_kind check_address(loader *ld, int line, const address_rules *rules, const char *value,
                           iocpd_addr *addr) {
  const char *key = rules->key;
  const char *host, *port, *p;
  size_t host_len;
  char host_buf[256];
  /* " (in 'ENTRY')": the line's length limit keeps an entry far shorter. */
  char in[300];
  uint64_t number;
  iocpd_addr ip;
  int bracketed = value[0] == '[';
  int numeric = 1;

  in[0] = '\0';
  if (rules->in_list) snprintf(in, sizeof(in), " (in '%s')", value);
  if (value[0] == '\0') {
    add_problem(ld, line, "%s: value is empty (expected %s)", key, rules->forms);
    return ADDRESS_BAD;
  }
  if (!split_host_port(ld, line, rules, value, &host, &host_len, &port)) return ADDRESS_BAD;
  if (port[0] == '\0') {
    add_problem(ld, line, "%s: '%s' has no port (expected %s)", key, value, rules->forms);
    return ADDRESS_BAD;
  }
  if (!is_digits(port)) {
    add_problem(ld, line, "%s: port '%s' is not a number%s", key, port, in);
    return ADDRESS_BAD;
  }
  if (parse_number(port, &number) != 0 || number < 1 || number > 65535) {
    add_problem(ld, line, "%s: port %s out of range 1-65535%s", key, port, in);
    return ADDRESS_BAD;
  }
  if (host_len == 0) {
    add_problem(ld, line, "%s: '%s' has no address before the port", key, value);
    return ADDRESS_BAD;
  }
  if (host_len >= sizeof(host_buf)) host_len = sizeof(host_buf) - 1;
  memcpy(host_buf, host, host_len);
  host_buf[host_len] = '\0';
  for (p = host_buf; *p != '\0'; p++) numeric &= (*p >= '0' && *p <= '9') || *p == '.';

  if (!bracketed && !numeric && rules->names_ok) {
    for (p = host_buf; *p != '\0' && is_host_name_char(*p); p++) continue;
    if (*p != '\0' || strlen(host_buf) > MAX_HOST_NAME) {
      add_problem(ld, line, "%s: '%s' is not a valid host name%s", key, host_buf, in);
      return ADDRESS_BAD;
    }
    return ADDRESS_NAME;
  }
  if (iocpd_addr_parse_ip(host_buf, &ip) != 0 ||
      ip.family != (bracketed ? IOCPD_AF_INET6 : IOCPD_AF_INET)) {
    report_bad_host(ld, line, key, host_buf, bracketed, in);
    return ADDRESS_BAD;
  }
  if (iocpd_addr_parse(value, addr) != 0) {
    add_problem(ld, line, "%s: invalid address '%s' (expected %s)", key, value, rules->forms);
    return ADDRESS_BAD;
  }
  return ADDRESS_IP;
}

/* listen: a numeric address, and its text for messages (offset2). */
static int set_listen(loader *ld, const config_key *k, int line, const char *value, char *out) {
  char *text;
  if (check_address(ld, line, &listen_rules, value, FIELD(out, k, iocpd_addr)) != ADDRESS_IP)
    return 0;
  text = copy_string(value, strlen(value));
  if (text == NULL) {
    ld->out_of_memory = 1;
    return 0;
  }
  *FIELD2(out, k, char *) = text;
  return 1;
}

/* metrics_listen: like listen; whether it collides with a listener is
 * checked once every listener is known (checks.c). */
static int set_metrics_listen(loader *ld, const config_key *k, int line, const char *value,
                              char *out) {
  iocpd_config *service = (iocpd_config *)(void *)out;
  if (check_address(ld, line, &metrics_rules, value, &service->metrics_listen) != ADDRESS_IP)
    return 0;
  (void)k;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Lists of address blocks */

/* Says what is wrong with entry, which iocpd_cidr_parse rejected: a block
 * with bits set after its prefix ("10.0.0.1/8") is well-formed but most
 * likely a typo, so the message suggests the block that was probably meant;
 * anything else gets the list of accepted forms. */
static void report_bad_block(loader *ld, int line, const char *key, const char *entry) {
  const char *slash = strchr(entry, '/');
  char ip[IOCPD_ADDR_STRLEN];
  size_t len = slash != NULL ? (size_t)(slash - entry) : 0;
  iocpd_cidr block;
  uint64_t prefix;

  memset(&block, 0, sizeof(block));
  if (slash != NULL && len > 0 && len < sizeof(ip) && slash[1] != '\0' && strlen(slash + 1) <= 3 &&
      parse_number(slash + 1, &prefix) == 0) {
    memcpy(ip, entry, len);
    ip[len] = '\0';
    if (iocpd_addr_parse_ip(ip, &block.addr) == 0 && block.addr.scope_id == 0 &&
        prefix <= (block.addr.family == IOCPD_AF_INET ? 32u : 128u)) {
      char meant[IOCPD_ADDR_STRLEN];
      unsigned bit;
      block.prefix = (unsigned)prefix;
      for (bit = block.prefix; bit < 128; bit++)
        block.addr.ip[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
      add_problem(ld, line, "%s: '%s' has bits set after the /%u prefix (did you mean %s?)", key,
                  entry, block.prefix, iocpd_cidr_format(&block, meant));
      return;
    }
  }
  add_problem(ld, line, "%s: '%s' is not a valid address block (expected " BLOCK_FORMS ")", key,
              entry);
}

/* allow, deny: comma-separated address blocks, into an array (offset) and
 * its count (offset2), stored only when every entry is valid. An empty
 * list is an error rather than "no rule": "allow =" with nothing after it
 * is more likely a mistake than a wish to let everyone in. */
static int set_blocks(loader *ld, const config_key *k, int line, const char *value, char *out) {
  iocpd_cidr *found, *shrunk;
  const char *p = value;
  size_t n = 0;
  unsigned index = 0;
  int ok = 1;

  if (value[0] == '\0') {
    add_problem(ld, line,
                "%s: value is empty (expected address blocks such as 10.0.0.0/8 or ::1/128, "
                "separated by commas)",
                k->name);
    return 0;
  }
  found = malloc(MAX_BLOCKS * sizeof(*found));
  if (found == NULL) {
    ld->out_of_memory = 1;
    return 0;
  }
  for (;;) {
    char entry[256];
    size_t len = next_entry(&p, entry, sizeof(entry));

    index++;
    if (len == 0) {
      add_problem(ld, line, "%s: entry %u of '%s' is empty", k->name, index, value);
      ok = 0;
    } else if (index > MAX_BLOCKS) {
      if (index == MAX_BLOCKS + 1)
        add_problem(ld, line, "%s: more than %d entries (the limit)", k->name, MAX_BLOCKS);
      ok = 0;
    } else if (iocpd_cidr_parse(entry, &found[n]) != 0) {
      report_bad_block(ld, line, k->name, entry);
      ok = 0;
    } else {
      n++;
    }
    if (p == NULL) break;
  }
  if (!ok) {
    free(found);
    return 0;
  }
  /* Keep only what is used; should shrinking fail, the block stays. */
  assert(n > 0);
  shrunk = realloc(found, n * sizeof(*found));
  if (shrunk != NULL) found = shrunk;
  *FIELD(out, k, iocpd_cidr *) = found;
  *FIELD2(out, k, size_t) = n;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Paths */

static int is_path_separator(char c) { return c == '/' || c == '\\'; }

/* An absolute path: "/x", "\x" (also "\\server\share") or one with a
 * drive letter ("C:\x", and "C:x", which Windows takes relative to that
 * drive's current directory, never to the config's). The same rules on
 * every platform, so that check-config says the same everywhere. */
static int is_absolute_path(const char *path) {
  if (is_path_separator(path[0])) return 1;
  return ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
         path[1] == ':';
}

/* A file path. A relative path is taken relative to the directory of the
 * config file, not to the working directory: a Windows service starts in
 * System32, and the same config should mean the same file however the
 * daemon is started. The separator found in the config's own path joins
 * the two. */
static int set_path(loader *ld, const config_key *k, int line, const char *value, char *out) {
  const char *p, *sep = NULL;
  size_t dir_len, len = strlen(value);
  char *path;

  if (value[0] == '\0') {
    add_problem(ld, line, "%s: value is empty (expected a file path)", k->name);
    return 0;
  }
  for (p = value; *p != '\0'; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f) {
      add_problem(ld, line, "%s: path contains a control character", k->name);
      return 0;
    }
  }
  if (value[0] == '"' || value[0] == '\'') {
    add_problem(ld, line, "%s: write the path without quotes (spaces are fine)", k->name);
    return 0;
  }
  if (is_path_separator(value[len - 1])) {
    add_problem(ld, line, "%s: '%s' names a directory (expected a file path)", k->name, value);
    return 0;
  }
  if (!is_absolute_path(value)) {
    for (p = ld->path; *p != '\0'; p++)
      if (is_path_separator(*p)) sep = p;
  }
  dir_len = sep != NULL ? (size_t)(sep - ld->path) + 1 : 0;
  path = malloc(dir_len + len + 1);
  if (path == NULL) {
    ld->out_of_memory = 1;
    return 0;
  }
  memcpy(path, ld->path, dir_len);
  memcpy(path + dir_len, value, len + 1);
  *FIELD(out, k, char *) = path;
  return 1;
}

/* Keys whose text alone is kept while the file is read (upstream: it
 * depends on handler, and checks.c reads it). */
static int set_kept(loader *ld, const config_key *k, int line, const char *value, char *out) {
  (void)ld, (void)k, (void)line, (void)value, (void)out;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* The table */

#define SVC(field) offsetof(iocpd_config, field)
#define LST(field) offsetof(iocpd_config_listener, field)

static const config_key keys[KEY_COUNT] = {
    [KEY_WORKERS] = {SECTION_SERVICE, "workers", set_count, SVC(workers), 0, 0, 64, NULL, NULL, 0,
                     "0", "worker threads; 0 = one per CPU (at most 64)", 0},
    [KEY_DRAIN_TIMEOUT] = {SECTION_SERVICE, "drain_timeout", set_duration, SVC(drain_timeout_ms), 0,
                           0, 24 * MS_PER_HOUR, "24h", NULL, 0, "30s",
                           "on stop, how long open connections may take to finish (0 to 24h)", 0},
    [KEY_LOG_LEVEL] = {SECTION_SERVICE, "log_level", set_log_level, SVC(log_level), 0, 0, 0, NULL,
                       NULL, 0, "info", "error, warning, info or debug", 0},
    [KEY_SERVICE_MAX_CONNECTIONS] = {SECTION_SERVICE, "max_connections", set_limit,
                                     SVC(max_connections), 0, 0, 1000000, NULL, NULL, 0, "10000",
                                     "accepted connections of the whole process; 0 = no limit", 0},
    [KEY_ACCESS_LOG] = {SECTION_SERVICE, "access_log", set_path, SVC(access_log), 0, 0, 0, NULL,
                        NULL, 0, NULL,
                        "file for one line per finished connection; relative to the config "
                        "file's folder; off when absent",
                        0},
    [KEY_ACCESS_LOG_MAX_SIZE] = {SECTION_SERVICE, "access_log_max_size", set_size,
                                 SVC(access_log_max_size), 0, 1024, 1024 * 1024 * 1024, "1k-1g",
                                 "e.g. 512k, 100m or 1g", 0, "100m",
                                 "rotate before a line would pass this size (1k to 1g)", 0},
    [KEY_ACCESS_LOG_KEEP] = {SECTION_SERVICE, "access_log_keep", set_count, SVC(access_log_keep), 0,
                             0, 100, NULL, NULL, 0, "5",
                             "rotated files kept, access.log.1 (newest) to .N (0 to 100)", 0},
    [KEY_METRICS_LISTEN] = {SECTION_SERVICE, "metrics_listen", set_metrics_listen, 0, 0, 0, 0, NULL,
                            NULL, 1, NULL,
                            "address of the Prometheus endpoint, GET /metrics; off when absent", 0},
    [KEY_RESOLVE_INTERVAL] = {SECTION_SERVICE, "resolve_interval", set_duration,
                              SVC(resolve_interval_ms), 0, 0, 24 * MS_PER_HOUR, "24h", NULL, 0,
                              "30s",
                              "how often upstream host names are resolved again (0 = only at "
                              "start and reload)",
                              0},
    [KEY_LISTEN] = {SECTION_LISTENER, "listen", set_listen, LST(listen), LST(listen_text), 0, 0,
                    NULL, NULL, 0, NULL, "required: a.b.c.d:port or [ipv6]:port", 0},
    [KEY_HANDLER] = {SECTION_LISTENER, "handler", set_handler, LST(handler), 0, 0, 0, NULL, NULL, 0,
                     NULL, "required: echo or forward", 0},
    /* The words' positions are IOCPD_TCP (0) and IOCPD_UDP (1). */
    [KEY_PROTOCOL] = {SECTION_LISTENER, "protocol", set_choice, LST(protocol), 0, 0, 0, NULL,
                      "tcp udp", 0, "tcp",
                      "tcp (connections) or udp (datagrams; forward keeps a session per client)",
                      0},
    [KEY_UPSTREAM] = {SECTION_LISTENER, "upstream", set_kept, 0, 0, 0, 0, NULL, NULL, 1, NULL,
                      "forward, required: host:port, a.b.c.d:port or [ipv6]:port, "
                      "comma-separated, tried in turn",
                      1},
    [KEY_CONNECT_TIMEOUT] = {SECTION_LISTENER, "connect_timeout", set_duration,
                             LST(connect_timeout_ms), 0, 1, MS_PER_HOUR, "1h", NULL, 1, "5s",
                             "forward: per upstream attempt (1ms to 1h)", 0},
    [KEY_MAX_FAILS] = {SECTION_LISTENER, "max_fails", set_count, LST(max_fails), 0, 0, 1000, NULL,
                       NULL, 1, "3",
                       "forward: failed connects in a row that mark an upstream down; 0 = never",
                       0},
    [KEY_FAIL_TIMEOUT] = {SECTION_LISTENER, "fail_timeout", set_duration, LST(fail_timeout_ms), 0,
                          1, MS_PER_HOUR, "1h", NULL, 1, "10s",
                          "forward: how long a down upstream is tried last (1ms to 1h)", 0},
    [KEY_HEALTH_CHECK] = {SECTION_LISTENER, "health_check", set_choice, LST(health_check), 0, 0, 0,
                          NULL, "none connect", 1, "none",
                          "forward: connect = check each upstream address every health_interval",
                          0},
    [KEY_HEALTH_INTERVAL] = {SECTION_LISTENER, "health_interval", set_duration,
                             LST(health_interval_ms), 0, 1, MS_PER_HOUR, "1h", NULL, 1, "5s",
                             "forward: time between two checks of an upstream (1ms to 1h)", 0},
    [KEY_HEALTH_TIMEOUT] = {SECTION_LISTENER, "health_timeout", set_duration,
                            LST(health_timeout_ms), 0, 1, MS_PER_HOUR, "1h", NULL, 1, "2s",
                            "forward: a check not answered this long fails (1ms to 1h)", 0},
    [KEY_RISE] = {SECTION_LISTENER, "rise", set_count, LST(rise), 0, 1, 100, NULL, NULL, 1, "2",
                  "forward: passed checks in a row that mark a down upstream up (1 to 100)", 0},
    [KEY_FALL] = {SECTION_LISTENER, "fall", set_count, LST(fall), 0, 1, 100, NULL, NULL, 1, "3",
                  "forward: failed checks in a row that mark an upstream down (1 to 100)", 0},
    [KEY_IDLE_TIMEOUT] =
        {SECTION_LISTENER, "idle_timeout", set_duration, LST(idle_timeout_ms), 0, 0,
         24 * MS_PER_HOUR, "24h", NULL, 0, "10m",
         "close a connection idle this long, both ways; 0 = never (udp forward: end a "
         "session, default 60s, not 0)",
         0},
    [KEY_BUFFER_SIZE] = {SECTION_LISTENER, "buffer_size", set_size, LST(buffer_size), 0, 1024,
                         16 * 1024 * 1024, "1k-16m", "e.g. 4096, 64k or 1m", 0, "64k",
                         "read buffer per direction, the most in flight each way (1k to 16m)", 0},
    [KEY_MAX_CONNECTIONS] = {SECTION_LISTENER, "max_connections", set_limit, LST(max_connections),
                             0, 0, 1000000, NULL, NULL, 0, "0",
                             "accepted connections of this listener; 0 = no limit of its own", 0},
    [KEY_MAX_CONNECTIONS_PER_IP] = {SECTION_LISTENER, "max_connections_per_ip", set_limit,
                                    LST(max_connections_per_ip), 0, 0, 1000000, NULL, NULL, 0, "0",
                                    "connections from one client address; 0 = no limit", 0},
    [KEY_MAX_SESSIONS] = {SECTION_LISTENER, "max_sessions", set_limit, LST(max_sessions), 0, 0,
                          1000000, NULL, NULL, 0, "10000",
                          "udp forward: sessions open at once; 0 = no limit", 0},
    [KEY_MAX_SESSIONS_PER_IP] = {SECTION_LISTENER, "max_sessions_per_ip", set_limit,
                                 LST(max_sessions_per_ip), 0, 0, 1000000, NULL, NULL, 0, "0",
                                 "udp forward: sessions of one client address; 0 = no limit", 0},
    [KEY_ALLOW] = {SECTION_LISTENER, "allow", set_blocks, LST(allow), LST(allow_count), 0, 0, NULL,
                   NULL, 0, NULL, "address blocks that may connect; everyone when absent", 1},
    [KEY_DENY] = {SECTION_LISTENER, "deny", set_blocks, LST(deny), LST(deny_count), 0, 0, NULL,
                  NULL, 0, NULL, "address blocks that may not connect; checked before allow", 1},
    [KEY_HANDSHAKE_TIMEOUT] = {SECTION_LISTENER, "handshake_timeout", set_duration,
                               LST(handshake_timeout_ms), 0, 0, MS_PER_HOUR, "1h", NULL, 0, "0",
                               "close a client that sends nothing this long after connecting; "
                               "0 = off",
                               0},
    [KEY_SEND_PROXY] = {SECTION_LISTENER, "send_proxy", set_choice, LST(send_proxy), 0, 0, 0, NULL,
                        "off v1 v2", 1, "off",
                        "forward: PROXY header (v1 or v2) sent to the upstream first, with the "
                        "client's address",
                        0},
    [KEY_ACCEPT_PROXY] = {SECTION_LISTENER, "accept_proxy", set_choice, LST(accept_proxy), 0, 0, 0,
                          NULL, "off v1 v2 any", 0, "off",
                          "PROXY header version expected from a balancer in front (v1, v2 or "
                          "any); needs proxy_trusted",
                          0},
    [KEY_PROXY_TRUSTED] = {SECTION_LISTENER, "proxy_trusted", set_blocks, LST(proxy_trusted),
                           LST(proxy_trusted_count), 0, 0, NULL, NULL, 0, NULL,
                           "address blocks of the balancers whose PROXY headers are believed", 1},
    [KEY_PROXY_TIMEOUT] = {SECTION_LISTENER, "proxy_timeout", set_duration, LST(proxy_timeout_ms),
                           0, 1, MS_PER_HOUR, "1h", NULL, 0, "5s",
                           "accept_proxy: the header must arrive within this (1ms to 1h)", 0},
    [KEY_IPV6_ONLY] = {SECTION_LISTENER, "ipv6_only", set_choice, LST(dual_stack), 0, 0, 0, NULL,
                       "yes no", 0, "yes",
                       "a listener on [::]: no = IPv4 clients too, shown as IPv4", 0},
};

const char *key_name(key_id key) { return keys[key].name; }

/* ------------------------------------------------------------------------ */
/* Handling a key */

void keys_set_defaults(section_kind section, void *out) {
  size_t i;
  for (i = 0; i < KEY_COUNT; i++) {
    const config_key *k = &keys[i];
    int ok;
    if (k->section != section || k->def == NULL) continue;
    /* Defaults are valid by construction: no loader, no messages. */
    ok = k->set(NULL, k, 0, k->def, out);
    assert(ok);
    (void)ok;
  }
}

/* "a, b or c": the keys of a section, for "(expected ...)". */
static void expected_keys(section_kind section, char *buf, size_t size) {
  size_t i, used = 0, n = 0, total = 0;
  for (i = 0; i < KEY_COUNT; i++) total += keys[i].section == section;
  buf[0] = '\0';
  for (i = 0; i < KEY_COUNT && used < size; i++) {
    int w;
    if (keys[i].section != section) continue;
    n++;
    w = snprintf(buf + used, size - used, "%s%s",
                 n == 1       ? ""
                 : n == total ? " or "
                              : ", ",
                 keys[i].name);
    if (w < 0) break;
    used += (size_t)w;
  }
}

/* The row of name in section, or NULL. */
static const config_key *find_key(section_kind section, const char *name) {
  size_t i;
  for (i = 0; i < KEY_COUNT; i++) {
    if (keys[i].section == section && strcmp(keys[i].name, name) == 0) return &keys[i];
  }
  return NULL;
}

/* A further line of list key k: kept (a deferred key is checked with its
 * other lines later), or checked now and its blocks appended to those
 * of the lines before, within MAX_BLOCKS in all. */
static void append_line(loader *ld, const config_key *k, key_state *state, int line,
                        const char *value, char *out) {
  key_id id = (key_id)(k - keys);
  key_line *l = calloc(1, sizeof(*l)), **tail = &state->more[id];
  iocpd_cidr *before, *added, *all;
  size_t n_before, n_added;

  if (l == NULL || (l->text = copy_string(value, strlen(value))) == NULL) {
    free(l);
    ld->out_of_memory = 1;
    return;
  }
  l->line = line;
  while (*tail != NULL) tail = &(*tail)->next;
  *tail = l;
  if (k->deferred) return;
  /* Only lists of blocks are set at once: parse this line on its own,
   * then join it to what the lines before it stored. */
  assert(k->set == set_blocks);
  before = *FIELD(out, k, iocpd_cidr *);
  n_before = *FIELD2(out, k, size_t);
  *FIELD(out, k, iocpd_cidr *) = NULL;
  *FIELD2(out, k, size_t) = 0;
  if (!set_blocks(ld, k, line, value, out)) {
    state->ok[id] = 0;
    *FIELD(out, k, iocpd_cidr *) = before;
    *FIELD2(out, k, size_t) = n_before;
    return;
  }
  added = *FIELD(out, k, iocpd_cidr *);
  n_added = *FIELD2(out, k, size_t);
  all = n_before + n_added <= MAX_BLOCKS ? realloc(before, (n_before + n_added) * sizeof(*all))
                                         : NULL;
  if (all == NULL) {
    if (n_before + n_added > MAX_BLOCKS)
      add_problem(ld, line, "%s: more than %d entries in all (the limit)", k->name, MAX_BLOCKS);
    else
      ld->out_of_memory = 1;
    state->ok[id] = 0;
    free(added);
    *FIELD(out, k, iocpd_cidr *) = before;
    *FIELD2(out, k, size_t) = n_before;
    return;
  }
  memcpy(all + n_before, added, n_added * sizeof(*all));
  free(added);
  *FIELD(out, k, iocpd_cidr *) = all;
  *FIELD2(out, k, size_t) = n_before + n_added;
}

void keys_handle(loader *ld, const char *name, const char *value, int line) {
  section_kind section = ld->kind;
  listener_rec *rec = section == SECTION_LISTENER ? &ld->listeners[ld->current] : NULL;
  const config_key *k = find_key(section, name);
  key_state *state = rec != NULL ? &rec->keys : &ld->service_keys;
  char *out = rec != NULL ? (char *)&rec->out : (char *)&ld->service;
  const char *prefix = rec != NULL ? LISTENER_PREFIX : "";
  const char *section_name = rec != NULL ? rec->out.name : "service";
  key_id id;

  if (k == NULL) {
    char expected[512];
    expected_keys(section, expected, sizeof(expected));
    add_problem(ld, line, "unknown key '%s' in [%s%s] (expected %s)", name, prefix, section_name,
                expected);
    return;
  }
  id = (key_id)(k - keys);
  if (state->line[id] > 0) {
    if (k->repeat) {
      append_line(ld, k, state, line, value, out);
    } else {
      add_problem(ld, line, "duplicate key '%s' in [%s%s] (first at line %d)", name, prefix,
                  section_name, state->line[id]);
    }
    return;
  }
  state->line[id] = line;
  state->text[id] = copy_string(value, strlen(value));
  if (state->text[id] == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  if (!k->deferred) state->ok[id] = (unsigned char)k->set(ld, k, line, value, out);
}

int keys_apply(loader *ld, key_state *state, void *out, key_id key) {
  const config_key *k = &keys[key];
  assert(k->deferred && state->line[key] > 0 && state->text[key] != NULL);
  state->ok[key] = (unsigned char)k->set(ld, k, state->line[key], state->text[key], out);
  return state->ok[key];
}

void keys_free(key_state *state) {
  size_t i;
  for (i = 0; i < KEY_COUNT; i++) {
    free(state->text[i]);
    while (state->more[i] != NULL) {
      key_line *l = state->more[i];
      state->more[i] = l->next;
      free(l->text);
      free(l);
    }
  }
}

void iocpd_config_help(FILE *out) {
  section_kind section = SECTION_NONE;
  size_t i;
  fprintf(out, "%-16s %-24s %-9s %s\n", "section", "key", "default", "meaning");
  for (i = 0; i < KEY_COUNT; i++) {
    const config_key *k = &keys[i];
    const char *name = k->section == SECTION_SERVICE ? "[service]" : "[listener:NAME]";
    fprintf(out, "%-16s %-24s %-9s %s\n", k->section != section ? name : "", k->name,
            k->def != NULL ? k->def : "-", k->help);
    section = k->section;
  }
}
