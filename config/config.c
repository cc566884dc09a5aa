/*
 * Loading and validating the INI config file.
 *
 * The whole file is read into memory first (at most 1 MiB), its encoding is
 * checked, and then its lines are fed to inih through ini_parse_stream with
 * our own reader. The reader is what gives every message its line number:
 * Debian's libinih is built without line numbers in the handler, and inih
 * calls the reader exactly once per line, before it calls the handler for
 * that line, so the reader's line count is the handler's line.
 *
 * The reader also checks each line before inih sees it, because inih cannot
 * report what we need:
 *  - a line longer than inih's buffer would be split silently into two lines;
 *  - a syntax error (no '=', no ']') only shows up in inih's return value,
 *    and only the first one;
 *  - a section header with no keys below it never reaches the handler, and
 *    inih truncates long section names before it hands them over.
 * So the reader tracks the current section itself, reports every broken
 * line, and hands inih an empty line instead of a broken one. inih still
 * splits every "key = value" line, strips white space and removes comments.
 *
 * Indentation is harmless: the reader removes leading white space before a
 * line reaches inih. inih (built with INI_ALLOW_MULTILINE) would otherwise
 * take an indented line as the continuation of the previous value, so that
 * an indented "handler = echo" below "listen = ..." would silently become a
 * second value of `listen`. Multi-line values are therefore not supported;
 * no key needs one.
 *
 * Some keys are checked only once the whole file is read, because a key
 * further down decides about them: upstream and connect_timeout depend on
 * handler, upstream is compared with listen, and [service] metrics_listen
 * with every listener's listen. Host names in upstream are
 * resolved then too (iocpd_resolve), so loading a config may block on the
 * system resolver.
 *
 * Problems are collected, sorted by line and reported together at the end,
 * so the caller sees them in file order whatever stage found them.
 *
 * Warnings are for settings that are valid but probably not what was meant
 * (an allow list that lets nobody in, a public listener without one). They
 * are looked for only in a file without problems, and handed over in
 * config->warnings rather than through the report callback: they never make
 * a file invalid, and a caller counts the callback's messages as errors.
 *
 * Everything after reading the file works on a buffer in memory
 * (iocpd_config_load_buffer), which is what the fuzzer drives. The buffer
 * need not end in a NUL and may contain NULs: nothing below treats it as a
 * C string.
 */

/* MSVC: strerror is fine here; keep /W4 quiet about it. */
#define _CRT_SECURE_NO_WARNINGS
#define _CRT_NONSTDC_NO_DEPRECATE

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "iocpd_sys.h"
#include "config.h"
#include "utf8_files.h"

#define MAX_FILE_SIZE (1024 * 1024)
#define MAX_LISTENER_NAME 63
/* Far more than any real config needs; it bounds the checks between
 * listeners, which compare every pair. */
#define MAX_LISTENERS 1024
#define MAX_WORKERS 64
#define MAX_DRAIN_MS ((uint64_t)24 * 3600 * 1000)
#define MAX_UPSTREAMS 64 /* addresses per listener, after resolution */
#define MAX_HOST_NAME 253
#define DEFAULT_CONNECT_MS 5000
#define MAX_CONNECT_MS ((uint64_t)3600 * 1000)
#define DEFAULT_IDLE_MS ((uint64_t)10 * 60 * 1000)
#define MAX_IDLE_MS ((uint64_t)24 * 3600 * 1000)
#define DEFAULT_BUFFER_SIZE (64 * 1024)
#define MIN_BUFFER_SIZE 1024
#define MAX_BUFFER_SIZE (16 * 1024 * 1024)
#define LISTENER_PREFIX "listener:"
#define LISTEN_FORMS "a.b.c.d:port or [ipv6]:port"
#define UPSTREAM_FORMS "host:port, a.b.c.d:port or [ipv6]:port"
#define DURATION_FORMS "e.g. 500ms, 30s, 5m or 1h"
#define DEFAULT_MAX_CONNECTIONS 10000
#define MAX_CONNECTIONS 1000000 /* max_connections and max_connections_per_ip */
#define MAX_BLOCKS 256          /* entries of one allow or deny list */
#define MAX_HANDSHAKE_MS ((uint64_t)3600 * 1000)
#define BLOCK_FORMS "a.b.c.d/N with N 0-32, or ipv6/N with N 0-128"
#define DEFAULT_ACCESS_LOG_SIZE ((uint64_t)100 * 1024 * 1024)
#define MIN_ACCESS_LOG_SIZE 1024
/* ftell, which measures a file that exists at start-up, returns a long:
 * 32 bits on Windows. */
#define MAX_ACCESS_LOG_SIZE ((uint64_t)1024 * 1024 * 1024)
#define DEFAULT_ACCESS_LOG_KEEP 5
#define MAX_ACCESS_LOG_KEEP 100
#define SERVICE_KEYS                                                          \
  "workers, drain_timeout, log_level, max_connections, access_log, "         \
  "access_log_max_size, access_log_keep or metrics_listen"

/* One problem, already formatted as "FILE:LINE: message". */
typedef struct problem {
  int line;   /* 0 for problems of the whole file */
  size_t seq; /* order of discovery, to keep the sort stable */
  char *text;
} problem;

typedef enum section_kind {
  SECTION_NONE,    /* before the first section header */
  SECTION_IGNORED, /* a rejected header: its keys are not checked */
  SECTION_SERVICE,
  SECTION_LISTENER
} section_kind;

/* A [listener:NAME] section while the file is being read. */
typedef struct listener_rec {
  char *name;
  int line;         /* of the section header */
  int listen_line;  /* of the first listen key, 0 if none yet */
  int handler_line; /* of the first handler key, 0 if none yet */
  /* The same for the other keys. */
  int upstream_line;
  int connect_timeout_line;
  int idle_timeout_line;
  int buffer_size_line;
  int listen_ok;  /* listen was valid: addr and listen_text are set */
  int handler_ok; /* handler named a known handler (echo or forward) */
  iocpd_addr addr;
  char *listen_text;
  iocpd_handler_kind handler;
  /* upstream and connect_timeout as written. They are checked only once
   * the whole file is read (check_forward_keys): whether they are allowed
   * at all depends on handler, which may come later in the section, and
   * the relay-loop check needs listen, which may come later too. */
  char *upstream_text;
  char *connect_timeout_text;
  iocpd_addr *upstreams; /* set by check_upstreams when all is valid */
  size_t upstream_count;
  uint64_t connect_timeout_ms;
  uint64_t idle_timeout_ms;
  uint64_t buffer_size;
  /* Protection keys: the line of each (0 if absent) and its value. */
  int max_connections_line;
  int per_ip_line;
  int allow_line;
  int deny_line;
  int handshake_line;
  uint64_t max_connections;
  uint64_t max_connections_per_ip;
  uint64_t handshake_ms;
  iocpd_cidr *allow; /* set only when the whole list was valid */
  size_t allow_count;
  char *allow_text; /* as written, for warnings */
  iocpd_cidr *deny;
  size_t deny_count;
  char *deny_text;
} listener_rec;

/* Problems or warnings, each already formatted. */
typedef struct message_list {
  problem *items;
  size_t count;
  size_t cap;
} message_list;

typedef struct loader {
  const char *path;

  /* The text being read and the reader's position in it. */
  const char *text;
  size_t len;
  size_t pos;
  int lineno; /* line last handed to inih, counting from 1 */

  /* Where the keys that follow belong. */
  section_kind kind;
  size_t current; /* index in listeners when kind is SECTION_LISTENER */

  /* [service]: the line of its header and of each key, 0 if absent. */
  int service_line;
  int workers_line;
  int drain_line;
  int log_level_line;
  int max_connections_line;
  int access_log_line;
  int access_log_size_line;
  int access_log_keep_line;
  int metrics_line;
  unsigned workers;
  uint64_t drain_ms;
  iocpd_log_level log_level;
  uint64_t max_connections;
  char *access_log; /* joined with the config's directory; NULL if absent */
  uint64_t access_log_size;
  unsigned access_log_keep;
  /* metrics_listen as written; checked once the listeners are known
   * (check_metrics), since it must not take a listener's address. */
  char *metrics_text;
  int metrics_ok; /* metrics_addr is valid and free */
  iocpd_addr metrics_addr;

  listener_rec *listeners;
  size_t listener_count;
  size_t listener_cap;
  size_t listener_headers; /* [listener:...] headers, rejected ones too */
  int too_many_listeners;  /* a header beyond MAX_LISTENERS was seen */

  message_list problems;
  message_list warnings; /* looked for only when there is no problem */
  int out_of_memory;     /* a message or an allocation got lost */
} loader;

/* ------------------------------------------------------------------------ */
/* Small helpers */

static char *copy_string(const char *s, size_t len) {
  char *copy = malloc(len + 1);
  if (copy != NULL) {
    memcpy(copy, s, len);
    copy[len] = '\0';
  }
  return copy;
}

/* The white space inih strips (its lskip uses isspace in the "C" locale). */
static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
         c == '\f';
}

static int is_digits(const char *s) {
  if (*s == '\0') return 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9') return 0;
  }
  return 1;
}

/* A plain decimal number: a size without a unit is exactly that, and
 * iocpd_parse_size already rejects overflow. */
static int parse_number(const char *text, uint64_t *value) {
  if (!is_digits(text)) return IOCPD_EINVAL;
  return iocpd_parse_size(text, value);
}

/* Returns 1 if [s, s + n) is well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). */
static int is_utf8(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    unsigned long cp, min;
    size_t more, k;

    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      more = 1, min = 0x80, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      more = 2, min = 0x800, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      more = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return 0;
    }
    if (n - i - 1 < more) return 0;
    for (k = 1; k <= more; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += more + 1;
  }
  return 1;
}

/* Same scan as inih's: returns the index in [s, s + n) of the first
 * character of chars, or of the ';' that starts an inline comment (a ';'
 * after white space), or n. chars may be NULL. */
static size_t find_char_or_comment(const char *s, size_t n, const char *chars) {
  int was_space = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    if (chars != NULL && strchr(chars, s[i]) != NULL) break;
    if (was_space && s[i] == ';') break;
    was_space = is_space(s[i]);
  }
  return i;
}

/* ------------------------------------------------------------------------ */
/* Problems */

/* Doubles the capacity of an array of elem-byte items (first: the initial
 * capacity). Returns the moved array and updates *cap, or returns NULL with
 * ld->out_of_memory set and the array left as it was. */
static void *grow_array(loader *ld, void *items, size_t *cap, size_t elem, size_t first) {
  size_t n = *cap ? *cap * 2 : first;
  void *grown = realloc(items, n * elem);
  if (grown == NULL) {
    ld->out_of_memory = 1;
    return NULL;
  }
  *cap = n;
  return grown;
}

/* Appends "FILE:LINE: KIND: message" (or "FILE: ..." when line is 0; KIND
 * is empty for problems) to list. */
static void add_message(loader *ld, message_list *list, int line,
                        const char *kind, const char *fmt, va_list ap) {
  char message[768];
  char *text;
  size_t size;

  vsnprintf(message, sizeof(message), fmt, ap);
  if (list->count == list->cap) {
    problem *grown = grow_array(ld, list->items, &list->cap, sizeof(*grown), 8);
    if (grown == NULL) return;
    list->items = grown;
  }
  size = strlen(ld->path) + strlen(kind) + strlen(message) + 32;
  text = malloc(size);
  if (text == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  if (line > 0)
    snprintf(text, size, "%s:%d: %s%s", ld->path, line, kind, message);
  else
    snprintf(text, size, "%s: %s%s", ld->path, kind, message);
  list->items[list->count].line = line;
  list->items[list->count].seq = list->count;
  list->items[list->count].text = text;
  list->count++;
}

static void add_problem(loader *ld, int line, const char *fmt, ...)
    IOCPD_PRINTF(3, 4);
static void add_warning(loader *ld, int line, const char *fmt, ...)
    IOCPD_PRINTF(3, 4);

/* Records a problem: "FILE:LINE: message", or "FILE: message" when line is
 * 0. */
static void add_problem(loader *ld, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_message(ld, &ld->problems, line, "", fmt, ap);
  va_end(ap);
}

/* Records a warning: "FILE:LINE: warning: message". */
static void add_warning(loader *ld, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_message(ld, &ld->warnings, line, "warning: ", fmt, ap);
  va_end(ap);
}

/* File order; problems of the whole file (line 0) come last, since they sum
 * up, e.g. "no [listener:NAME] section". */
static int compare_problems(const void *a, const void *b) {
  const problem *pa = a, *pb = b;
  int la = pa->line > 0 ? pa->line : INT_MAX;
  int lb = pb->line > 0 ? pb->line : INT_MAX;
  if (la != lb) return la < lb ? -1 : 1;
  return pa->seq < pb->seq ? -1 : pa->seq > pb->seq;
}

/* ------------------------------------------------------------------------ */
/* Reading the file */

/* Reads the whole file into *text (NUL-terminated) and its size into *len.
 * Returns 0, or -1 after recording the problem. */
static int read_file(loader *ld, char **text, size_t *len) {
  FILE *f;
  char *buf = NULL;
  size_t cap = 4096, used = 0;
  int rc = -1;

  /* fopen of a directory succeeds on Linux (reading then fails) and fails
   * with EACCES on Windows; neither says what is wrong, so ask first. The
   * path is UTF-8, as every string here: utf8_files.h opens it by that
   * name on Windows too. */
  if (iocpd__is_directory(ld->path)) {
    add_problem(ld, 0, "cannot open: is a directory");
    return -1;
  }
  f = iocpd__fopen(ld->path, "rb");
  if (f == NULL) {
    add_problem(ld, 0, "cannot open: %s", strerror(errno));
    return -1;
  }
  for (;;) {
    size_t n;
    if (buf == NULL || used == cap) {
      char *grown;
      if (buf != NULL) {
        if (cap > MAX_FILE_SIZE) {
          add_problem(ld, 0, "file is larger than 1 MiB");
          goto out;
        }
        cap = cap * 2 > MAX_FILE_SIZE ? MAX_FILE_SIZE + 1 : cap * 2;
      }
      /* One byte more for the terminating NUL. */
      grown = realloc(buf, cap + 1);
      if (grown == NULL) {
        ld->out_of_memory = 1;
        goto out;
      }
      buf = grown;
    }
    errno = 0;
    n = fread(buf + used, 1, cap - used, f);
    used += n;
    if (n == 0) {
      if (ferror(f)) {
        add_problem(ld, 0, "cannot read: %s",
                    errno != 0 ? strerror(errno) : "read error");
        goto out;
      }
      break;
    }
  }
  buf[used] = '\0';
  *text = buf;
  *len = used;
  buf = NULL;
  rc = 0;
out:
  free(buf);
  fclose(f);
  return rc;
}

/* Rejects text that is not UTF-8 (or ASCII) as a whole and skips a UTF-8
 * byte order mark. Returns the offset where the INI text starts, or -1 after
 * recording the problem. */
static long check_encoding(loader *ld, const char *text, size_t len) {
  const unsigned char *u = (const unsigned char *)text;
  size_t nuls = 0, i;

  /* UTF-16 (and UTF-32) as written by Windows tools: with a byte order mark,
   * or without one but with a NUL next to every ASCII character. A few stray
   * NULs in a UTF-8 file are reported by line instead. */
  if (len >= 2 &&
      ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
    add_problem(ld, 0, "file is not UTF-8 text (UTF-16?)");
    return -1;
  }
  for (i = 0; i < len; i++) nuls += u[i] == 0;
  if (nuls > 0 && (u[0] == 0 || (len >= 2 && u[1] == 0) || nuls * 4 >= len)) {
    add_problem(ld, 0, "file is not UTF-8 text (UTF-16?)");
    return -1;
  }
  if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) return 3;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Sections */

static int listener_name_ok(loader *ld, const char *name, int line) {
  const char *p;
  if (name[0] == '\0') {
    add_problem(ld, line, "listener name is empty");
    return 0;
  }
  if (strlen(name) > MAX_LISTENER_NAME) {
    add_problem(ld, line, "listener name is longer than %d characters",
                MAX_LISTENER_NAME);
    return 0;
  }
  for (p = name; *p != '\0'; p++) {
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
          (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-')) {
      add_problem(ld, line,
                  "listener name '%s' contains characters other than "
                  "A-Z a-z 0-9 _ . -",
                  name);
      return 0;
    }
  }
  return 1;
}

/* A [listener:NAME] header. A repeated name is rejected; an invalid name is
 * reported but its keys are still checked, so one run shows every problem. */
static void begin_listener(loader *ld, const char *name, int line) {
  listener_rec *rec;
  size_t i;

  ld->listener_headers++;
  ld->kind = SECTION_IGNORED;
  if (ld->listener_count == MAX_LISTENERS) {
    /* Once is enough: the file is invalid, and one message per section
     * beyond the limit would only bury the others. */
    if (!ld->too_many_listeners)
      add_problem(ld, line,
                  "more than %d listeners (the limit); [%s%s] and the "
                  "listeners after it are not read",
                  MAX_LISTENERS, LISTENER_PREFIX, name);
    ld->too_many_listeners = 1;
    return;
  }
  for (i = 0; i < ld->listener_count; i++) {
    if (strcmp(ld->listeners[i].name, name) == 0) {
      add_problem(ld, line, "duplicate section [%s%s] (first at line %d)",
                  LISTENER_PREFIX, name, ld->listeners[i].line);
      return;
    }
  }
  listener_name_ok(ld, name, line);
  if (ld->listener_count == ld->listener_cap) {
    listener_rec *grown = grow_array(ld, ld->listeners, &ld->listener_cap, sizeof(*grown), 4);
    if (grown == NULL) return;
    ld->listeners = grown;
  }
  rec = &ld->listeners[ld->listener_count];
  memset(rec, 0, sizeof(*rec));
  rec->name = copy_string(name, strlen(name));
  if (rec->name == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  rec->line = line;
  rec->handler = IOCPD_HANDLER_ECHO;
  rec->connect_timeout_ms = DEFAULT_CONNECT_MS;
  rec->idle_timeout_ms = DEFAULT_IDLE_MS;
  rec->buffer_size = DEFAULT_BUFFER_SIZE;
  ld->current = ld->listener_count++;
  ld->kind = SECTION_LISTENER;
}

/* A well-formed header "[name]"; name is what stands between the brackets. */
static void begin_section(loader *ld, const char *name, size_t len, int line) {
  /* The reader limits lines to inih's buffer, far below this size. */
  char buf[1024];
  size_t prefix = strlen(LISTENER_PREFIX);

  if (len >= sizeof(buf)) len = sizeof(buf) - 1;
  memcpy(buf, name, len);
  buf[len] = '\0';

  if (strcmp(buf, "service") == 0) {
    if (ld->service_line > 0) {
      add_problem(ld, line, "duplicate section [service] (first at line %d)",
                  ld->service_line);
      ld->kind = SECTION_IGNORED;
      return;
    }
    ld->service_line = line;
    ld->kind = SECTION_SERVICE;
  } else if (strncmp(buf, LISTENER_PREFIX, prefix) == 0) {
    begin_listener(ld, buf + prefix, line);
  } else {
    add_problem(ld, line,
                "unknown section [%s] (expected [service] or "
                "[listener:NAME])",
                buf);
    ld->kind = SECTION_IGNORED;
  }
}

/* ------------------------------------------------------------------------ */
/* The reader */

/* Checks one line (without its line ending) before inih sees it, and
 * handles section headers. Returns 1 if inih may parse the line, 0 if it
 * was reported as broken. max_len is the longest line inih can take whole. */
static int check_line(loader *ld, const char *line, size_t len,
                      size_t max_len) {
  const char *start = line;
  size_t n = len, end;

  while (n > 0 && is_space(*start)) start++, n--;

  if (memchr(line, '\0', len) != NULL) {
    add_problem(ld, ld->lineno, "line contains a NUL byte");
    goto broken;
  }
  if (len > max_len) {
    add_problem(ld, ld->lineno,
                "line is too long (%lu bytes; the limit is %lu)",
                (unsigned long)len, (unsigned long)max_len);
    goto broken;
  }
  if (!is_utf8((const unsigned char *)line, len)) {
    add_problem(ld, ld->lineno, "line is not valid UTF-8 text");
    goto broken;
  }

  if (n == 0 || *start == ';' || *start == '#') return 1;

  if (*start == '[') {
    size_t rest;
    end = 1 + find_char_or_comment(start + 1, n - 1, "]");
    if (end == n || start[end] != ']') {
      add_problem(ld, ld->lineno, "section header is missing ']'");
      ld->kind = SECTION_IGNORED;
      return 0;
    }
    /* inih ignores whatever follows the ']'; allow only a comment. */
    rest = end + 1;
    while (rest < n && is_space(start[rest])) rest++;
    if (rest < n && start[rest] != ';' && start[rest] != '#') {
      add_problem(ld, ld->lineno,
                  "unexpected text after ']' in section header");
      ld->kind = SECTION_IGNORED;
      return 0;
    }
    begin_section(ld, start + 1, end - 1, ld->lineno);
    return 1;
  }

  /* inih splits at the first '=' or ':'; ':' is not our syntax. */
  end = find_char_or_comment(start, n, "=");
  if (end == n || start[end] != '=') {
    add_problem(ld, ld->lineno, "missing '=' (expected 'key = value')");
    return 0;
  }
  if (find_char_or_comment(start, n, ":") < end) {
    add_problem(ld, ld->lineno,
                "':' is not allowed in a key name (expected 'key = value')");
    return 0;
  }
  return 1;

broken:
  /* Keys below a broken header must not land in the previous section. */
  if (n > 0 && *start == '[') ld->kind = SECTION_IGNORED;
  return 0;
}

/* inih's fgets-style reader: copies the next line, without leading white
 * space and with "\n" as its only line ending, into str (num bytes). */
static char *read_line(char *str, int num, void *stream) {
  loader *ld = stream;
  const char *line, *eol, *start;
  size_t len, max_len;

  /* inih documents its buffer as 3 bytes longer than the longest line
   * ("\r", "\n" and the NUL); apply exactly that limit, whatever the
   * line ending, so that a file behaves the same with LF and CRLF. */
  assert(num > 3);
  max_len = (size_t)num - 3;

  if (ld->pos >= ld->len) return NULL;
  line = ld->text + ld->pos;
  eol = memchr(line, '\n', ld->len - ld->pos);
  len = eol != NULL ? (size_t)(eol - line) : ld->len - ld->pos;
  ld->pos += len + (eol != NULL);
  ld->lineno++;
  if (len > 0 && line[len - 1] == '\r') len--;

  if (!check_line(ld, line, len, max_len)) {
    str[0] = '\n';
    str[1] = '\0';
    return str;
  }
  start = line;
  while (len > 0 && is_space(*start)) start++, len--;
  memcpy(str, start, len);
  str[len] = '\n';
  str[len + 1] = '\0';
  return str;
}

/* ------------------------------------------------------------------------ */
/* Keys */

/* Returns 1 if the key is new in its section (and records its line), 0 if
 * it repeats one (and reports that). */
static int first_key(loader *ld, int *first_line, const char *name,
                     const char *section_prefix, const char *section_name,
                     int line) {
  if (*first_line > 0) {
    add_problem(ld, line, "duplicate key '%s' in [%s%s] (first at line %d)",
                name, section_prefix, section_name, *first_line);
    return 0;
  }
  *first_line = line;
  return 1;
}

/* Parses a duration key's value into *ms. zero_ok says whether 0 is
 * allowed; max_ms is the largest value, written as max_text in messages.
 * Returns 1, or 0 after reporting the problem. */
static int check_duration(loader *ld, int line, const char *key,
                          const char *value, int zero_ok, uint64_t max_ms,
                          const char *max_text, uint64_t *ms) {
  uint64_t number;

  if (iocpd_parse_duration(value, &number) != 0) {
    add_problem(ld, line,
                "%s: invalid duration '%s' (expected " DURATION_FORMS ")", key,
                value);
    return 0;
  }
  if (number == 0 && !zero_ok) {
    add_problem(ld, line, "%s: '%s' must be more than 0", key, value);
    return 0;
  }
  if (number > max_ms) {
    add_problem(ld, line, "%s: '%s' is more than the maximum of %s", key,
                value, max_text);
    return 0;
  }
  *ms = number;
  return 1;
}

/* Parses a connection limit (0 = no limit) into *limit. Returns 1, or 0
 * after reporting the problem. */
static int check_limit(loader *ld, int line, const char *key,
                       const char *value, uint64_t *limit) {
  uint64_t number;

  if (parse_number(value, &number) != 0 || number > MAX_CONNECTIONS) {
    add_problem(ld, line,
                "%s: invalid value '%s' (expected a number from 0 to %d; 0 "
                "means no limit)",
                key, value, MAX_CONNECTIONS);
    return 0;
  }
  *limit = number;
  return 1;
}

static void keep_value(loader *ld, char **text, const char *value);

static int is_path_separator(char c) { return c == '/' || c == '\\'; }

/* An absolute path: "/x", "\x" (also "\\server\share") or one with a
 * drive letter ("C:\x", and "C:x", which Windows takes relative to that
 * drive's current directory, never to the config's). The same rules on
 * every platform, so that check-config says the same everywhere. */
static int is_absolute_path(const char *path) {
  if (is_path_separator(path[0])) return 1;
  return ((path[0] >= 'A' && path[0] <= 'Z') ||
          (path[0] >= 'a' && path[0] <= 'z')) &&
         path[1] == ':';
}

/* access_log = PATH. A relative path is taken relative to the directory of
 * the config file, not to the working directory: a Windows service starts
 * in System32, and the same config should mean the same file however the
 * daemon is started. The separator found in the config's own path joins
 * the two. */
static void access_log_key(loader *ld, const char *value, int line) {
  const char *p, *sep = NULL;
  size_t dir_len, len = strlen(value);

  if (value[0] == '\0') {
    add_problem(ld, line, "access_log: value is empty (expected a file path)");
    return;
  }
  for (p = value; *p != '\0'; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f) {
      add_problem(ld, line, "access_log: path contains a control character");
      return;
    }
  }
  if (value[0] == '"' || value[0] == '\'') {
    add_problem(ld, line,
                "access_log: write the path without quotes (spaces are fine)");
    return;
  }
  if (is_path_separator(value[len - 1])) {
    add_problem(ld, line,
                "access_log: '%s' names a directory (expected a file path)",
                value);
    return;
  }
  if (is_absolute_path(value)) {
    keep_value(ld, &ld->access_log, value);
    return;
  }
  for (p = ld->path; *p != '\0'; p++)
    if (is_path_separator(*p)) sep = p;
  dir_len = sep != NULL ? (size_t)(sep - ld->path) + 1 : 0;
  ld->access_log = malloc(dir_len + len + 1);
  if (ld->access_log == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  memcpy(ld->access_log, ld->path, dir_len);
  memcpy(ld->access_log + dir_len, value, len + 1);
}

/* A whole number from 0 to max for key; returns 1 and sets *out, or 0
 * after reporting the problem. */
static int check_count(loader *ld, int line, const char *key, const char *value,
                       int max, uint64_t *out) {
  if (parse_number(value, out) != 0 || *out > (uint64_t)max) {
    add_problem(ld, line, "%s: invalid value '%s' (expected a number from 0 to %d)",
                key, value, max);
    return 0;
  }
  return 1;
}

static void service_key(loader *ld, const char *name, const char *value,
                        int line) {
  uint64_t number;
  int level;

  if (strcmp(name, "workers") == 0) {
    if (!first_key(ld, &ld->workers_line, name, "", "service", line)) return;
    if (check_count(ld, line, name, value, MAX_WORKERS, &number))
      ld->workers = (unsigned)number;
  } else if (strcmp(name, "drain_timeout") == 0) {
    if (!first_key(ld, &ld->drain_line, name, "", "service", line)) return;
    check_duration(ld, line, name, value, 1, MAX_DRAIN_MS, "24h",
                   &ld->drain_ms);
  } else if (strcmp(name, "log_level") == 0) {
    if (!first_key(ld, &ld->log_level_line, name, "", "service", line)) return;
    for (level = IOCPD_LOG_ERROR; level <= IOCPD_LOG_DEBUG; level++) {
      if (strcmp(value, iocpd_log_level_name((iocpd_log_level)level)) == 0) {
        ld->log_level = (iocpd_log_level)level;
        return;
      }
    }
    add_problem(ld, line,
                "log_level: invalid value '%s' (expected error, warning, info "
                "or debug)",
                value);
  } else if (strcmp(name, "max_connections") == 0) {
    if (!first_key(ld, &ld->max_connections_line, name, "", "service", line))
      return;
    check_limit(ld, line, name, value, &ld->max_connections);
  } else if (strcmp(name, "access_log") == 0) {
    if (!first_key(ld, &ld->access_log_line, name, "", "service", line))
      return;
    access_log_key(ld, value, line);
  } else if (strcmp(name, "access_log_max_size") == 0) {
    if (!first_key(ld, &ld->access_log_size_line, name, "", "service", line))
      return;
    if (iocpd_parse_size(value, &number) != 0) {
      add_problem(ld, line,
                  "access_log_max_size: invalid size '%s' (expected e.g. "
                  "512k, 100m or 1g)",
                  value);
    } else if (number < MIN_ACCESS_LOG_SIZE || number > MAX_ACCESS_LOG_SIZE) {
      add_problem(ld, line, "access_log_max_size: %s out of range 1k-1g",
                  value);
    } else {
      ld->access_log_size = number;
    }
  } else if (strcmp(name, "access_log_keep") == 0) {
    if (!first_key(ld, &ld->access_log_keep_line, name, "", "service", line))
      return;
    if (check_count(ld, line, name, value, MAX_ACCESS_LOG_KEEP, &number))
      ld->access_log_keep = (unsigned)number;
  } else if (strcmp(name, "metrics_listen") == 0) {
    if (!first_key(ld, &ld->metrics_line, name, "", "service", line)) return;
    keep_value(ld, &ld->metrics_text, value);
  } else {
    add_problem(ld, line,
                "unknown key '%s' in [service] (expected " SERVICE_KEYS ")",
                name);
  }
}

/* How an address key reads in messages and what it accepts. */
typedef struct address_rules {
  const char *key;   /* the key name that starts each message */
  const char *forms; /* the accepted forms, for "(expected ...)" */
  int names_ok;      /* "host:port" is accepted too, for the resolver */
  int in_list;       /* the text is one entry of a list: a message that
                        quotes only a part of it also names the entry */
} address_rules;

static const address_rules listen_rules = {"listen", LISTEN_FORMS, 0, 0};
static const address_rules upstream_rules = {"upstream", UPSTREAM_FORMS, 1,
                                             1};
static const address_rules metrics_rules = {"metrics_listen", LISTEN_FORMS, 0,
                                            0};

/* What check_address found. */
typedef enum address_kind {
  ADDRESS_BAD,  /* a problem, already reported */
  ADDRESS_IP,   /* a numeric address, stored in *addr */
  ADDRESS_NAME  /* "host:port" with a valid port and a plausible host name */
} address_kind;

static int is_host_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* Checks "a.b.c.d:port" or "[ipv6]:port" (and "host:port" if the rules
 * allow names) piece by piece, so that the message says what is wrong;
 * iocpd_addr_parse has the last word on numeric forms. A host part made of
 * digits and dots only is an IPv4 address, never a name: "10.1.2" is a
 * typo, not a name for the resolver to guess at. */
static address_kind check_address(loader *ld, int line,
                                  const address_rules *rules,
                                  const char *value, iocpd_addr *addr) {
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
    add_problem(ld, line, "%s: value is empty (expected %s)", key,
                rules->forms);
    return ADDRESS_BAD;
  }
  if (bracketed) {
    const char *close = strchr(value, ']');
    if (close == NULL) {
      add_problem(ld, line, "%s: '%s' is missing ']' (expected [ipv6]:port)",
                  key, value);
      return ADDRESS_BAD;
    }
    if (close[1] != ':') {
      add_problem(ld, line, "%s: '%s' has no port (expected [ipv6]:port)", key,
                  value);
      return ADDRESS_BAD;
    }
    host = value + 1;
    host_len = (size_t)(close - host);
    port = close + 2;
  } else {
    const char *colon = strrchr(value, ':');
    if (colon == NULL) {
      add_problem(ld, line, "%s: '%s' has no port (expected %s)", key, value,
                  rules->forms);
      return ADDRESS_BAD;
    }
    if (memchr(value, ':', (size_t)(colon - value)) != NULL) {
      add_problem(ld, line,
                  "%s: IPv6 address in '%s' must be in brackets, e.g. "
                  "[::1]:7007",
                  key, value);
      return ADDRESS_BAD;
    }
    host = value;
    host_len = (size_t)(colon - value);
    port = colon + 1;
  }

  if (port[0] == '\0') {
    add_problem(ld, line, "%s: '%s' has no port (expected %s)", key, value,
                rules->forms);
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
    add_problem(ld, line, "%s: '%s' has no address before the port", key,
                value);
    return ADDRESS_BAD;
  }
  if (host_len >= sizeof(host_buf)) host_len = sizeof(host_buf) - 1;
  memcpy(host_buf, host, host_len);
  host_buf[host_len] = '\0';
  for (p = host_buf; *p != '\0'; p++)
    numeric &= (*p >= '0' && *p <= '9') || *p == '.';

  if (!bracketed && !numeric && rules->names_ok) {
    for (p = host_buf; *p != '\0' && is_host_name_char(*p); p++) continue;
    if (*p != '\0' || strlen(host_buf) > MAX_HOST_NAME) {
      add_problem(ld, line, "%s: '%s' is not a valid host name%s", key,
                  host_buf, in);
      return ADDRESS_BAD;
    }
    return ADDRESS_NAME;
  }
  if (iocpd_addr_parse_ip(host_buf, &ip) != 0 ||
      ip.family != (bracketed ? IOCPD_AF_INET6 : IOCPD_AF_INET)) {
    int letters = 0;
    for (p = host_buf; *p != '\0'; p++)
      letters |= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
    if (bracketed)
      add_problem(ld, line, "%s: '%s' is not a valid IPv6 address%s", key,
                  host_buf, in);
    else if (letters)
      add_problem(ld, line,
                  "%s: '%s' is not a numeric IPv4 address (host names are "
                  "not supported)%s",
                  key, host_buf, in);
    else
      add_problem(ld, line, "%s: '%s' is not a valid IPv4 address%s", key,
                  host_buf, in);
    return ADDRESS_BAD;
  }
  if (iocpd_addr_parse(value, addr) != 0) {
    add_problem(ld, line, "%s: invalid address '%s' (expected %s)", key, value,
                rules->forms);
    return ADDRESS_BAD;
  }
  return ADDRESS_IP;
}

static void listen_key(loader *ld, listener_rec *rec, const char *value,
                       int line) {
  if (check_address(ld, line, &listen_rules, value, &rec->addr) != ADDRESS_IP)
    return;
  rec->listen_text = copy_string(value, strlen(value));
  if (rec->listen_text == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  rec->listen_ok = 1;
}

/* Keeps a copy of value in *text, for check_forward_keys. */
static void keep_value(loader *ld, char **text, const char *value) {
  *text = copy_string(value, strlen(value));
  if (*text == NULL) ld->out_of_memory = 1;
}

/* Copies the next comma-separated entry of *p, without surrounding white
 * space, into entry (cut to size - 1 bytes; the reader's line limit keeps
 * every real entry far shorter) and returns its length. Moves *p past the
 * comma, or sets it to NULL after the last entry. */
static size_t next_entry(const char **p, char *entry, size_t size) {
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

/* Says what is wrong with entry, which iocpd_cidr_parse rejected: a block
 * with bits set after its prefix ("10.0.0.1/8") is well-formed but most
 * likely a typo, so the message suggests the block that was probably meant;
 * anything else gets the list of accepted forms. */
static void report_bad_block(loader *ld, int line, const char *key,
                             const char *entry) {
  const char *slash = strchr(entry, '/');
  char ip[IOCPD_ADDR_STRLEN];
  size_t len = slash != NULL ? (size_t)(slash - entry) : 0;
  iocpd_cidr block;
  uint64_t prefix;

  memset(&block, 0, sizeof(block));
  if (slash != NULL && len > 0 && len < sizeof(ip) && slash[1] != '\0' &&
      strlen(slash + 1) <= 3 && parse_number(slash + 1, &prefix) == 0) {
    memcpy(ip, entry, len);
    ip[len] = '\0';
    if (iocpd_addr_parse_ip(ip, &block.addr) == 0 &&
        block.addr.scope_id == 0 &&
        prefix <= (block.addr.family == IOCPD_AF_INET ? 32u : 128u)) {
      char meant[IOCPD_ADDR_STRLEN];
      unsigned bit;
      block.prefix = (unsigned)prefix;
      for (bit = block.prefix; bit < 128; bit++)
        block.addr.ip[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
      add_problem(ld, line,
                  "%s: '%s' has bits set after the /%u prefix (did you mean "
                  "%s?)",
                  key, entry, block.prefix, iocpd_cidr_format(&block, meant));
      return;
    }
  }
  add_problem(ld, line,
              "%s: '%s' is not a valid address block (expected " BLOCK_FORMS
              ")",
              key, entry);
}

/* Parses the comma-separated list of address blocks of allow or deny and,
 * if every entry is valid, stores them in *blocks (and a copy of value in
 * *text, for warnings). An empty list is an error rather than "no rule":
 * "allow =" with nothing after it is more likely a mistake than a wish to
 * let everyone in. */
static void blocks_key(loader *ld, int line, const char *key,
                       const char *value, iocpd_cidr **blocks, size_t *count,
                       char **text) {
  iocpd_cidr *found;
  const char *p = value;
  size_t n = 0;
  unsigned index = 0;
  int ok = 1;

  if (value[0] == '\0') {
    add_problem(ld, line,
                "%s: value is empty (expected address blocks such as "
                "10.0.0.0/8 or ::1/128, separated by commas)",
                key);
    return;
  }
  found = malloc(MAX_BLOCKS * sizeof(*found));
  if (found == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  for (;;) {
    char entry[256];
    size_t len = next_entry(&p, entry, sizeof(entry));

    index++;
    if (len == 0) {
      add_problem(ld, line, "%s: entry %u of '%s' is empty", key, index,
                  value);
      ok = 0;
    } else if (index > MAX_BLOCKS) {
      if (index == MAX_BLOCKS + 1)
        add_problem(ld, line, "%s: more than %d entries (the limit)", key,
                    MAX_BLOCKS);
      ok = 0;
    } else if (iocpd_cidr_parse(entry, &found[n]) != 0) {
      report_bad_block(ld, line, key, entry);
      ok = 0;
    } else {
      n++;
    }
    if (p == NULL) break;
  }
  if (ok) {
    *text = copy_string(value, strlen(value));
    if (*text == NULL) {
      ld->out_of_memory = 1;
      ok = 0;
    }
  }
  if (!ok) {
    free(found);
    return;
  }
  /* Keep only what is used; should shrinking fail, the block stays. */
  assert(n > 0);
  {
    iocpd_cidr *shrunk = realloc(found, n * sizeof(*found));
    if (shrunk != NULL) found = shrunk;
  }
  *blocks = found;
  *count = n;
}

/* first_key for a key of a listener section. */
static int first_listener_key(loader *ld, listener_rec *rec, int *first_line,
                              const char *name, int line) {
  return first_key(ld, first_line, name, LISTENER_PREFIX, rec->name, line);
}

static void listener_key(loader *ld, const char *name, const char *value,
                         int line) {
  listener_rec *rec = &ld->listeners[ld->current];
  uint64_t number;

  if (strcmp(name, "listen") == 0) {
    if (!first_listener_key(ld, rec, &rec->listen_line, name, line)) return;
    listen_key(ld, rec, value, line);
  } else if (strcmp(name, "handler") == 0) {
    if (!first_listener_key(ld, rec, &rec->handler_line, name, line)) return;
    if (strcmp(value, "echo") == 0) {
      rec->handler = IOCPD_HANDLER_ECHO;
      rec->handler_ok = 1;
    } else if (strcmp(value, "forward") == 0) {
      rec->handler = IOCPD_HANDLER_FORWARD;
      rec->handler_ok = 1;
    } else if (value[0] == '\0') {
      add_problem(ld, line,
                  "handler: value is empty (expected echo or forward)");
    } else {
      add_problem(ld, line,
                  "handler: unknown handler '%s' (expected echo or forward)",
                  value);
    }
  } else if (strcmp(name, "upstream") == 0) {
    if (!first_listener_key(ld, rec, &rec->upstream_line, name, line)) return;
    keep_value(ld, &rec->upstream_text, value);
  } else if (strcmp(name, "connect_timeout") == 0) {
    if (!first_listener_key(ld, rec, &rec->connect_timeout_line, name, line))
      return;
    keep_value(ld, &rec->connect_timeout_text, value);
  } else if (strcmp(name, "idle_timeout") == 0) {
    if (!first_listener_key(ld, rec, &rec->idle_timeout_line, name, line))
      return;
    check_duration(ld, line, name, value, 1, MAX_IDLE_MS, "24h",
                   &rec->idle_timeout_ms);
  } else if (strcmp(name, "buffer_size") == 0) {
    if (!first_listener_key(ld, rec, &rec->buffer_size_line, name, line))
      return;
    if (iocpd_parse_size(value, &number) != 0) {
      add_problem(ld, line,
                  "buffer_size: invalid size '%s' (expected e.g. 4096, 64k or "
                  "1m)",
                  value);
    } else if (number < MIN_BUFFER_SIZE || number > MAX_BUFFER_SIZE) {
      add_problem(ld, line, "buffer_size: %s out of range 1k-16m", value);
    } else {
      rec->buffer_size = number;
    }
  } else if (strcmp(name, "max_connections") == 0) {
    if (!first_listener_key(ld, rec, &rec->max_connections_line, name, line))
      return;
    check_limit(ld, line, name, value, &rec->max_connections);
  } else if (strcmp(name, "max_connections_per_ip") == 0) {
    if (!first_listener_key(ld, rec, &rec->per_ip_line, name, line)) return;
    check_limit(ld, line, name, value, &rec->max_connections_per_ip);
  } else if (strcmp(name, "allow") == 0) {
    if (!first_listener_key(ld, rec, &rec->allow_line, name, line)) return;
    blocks_key(ld, line, name, value, &rec->allow, &rec->allow_count,
               &rec->allow_text);
  } else if (strcmp(name, "deny") == 0) {
    if (!first_listener_key(ld, rec, &rec->deny_line, name, line)) return;
    blocks_key(ld, line, name, value, &rec->deny, &rec->deny_count,
               &rec->deny_text);
  } else if (strcmp(name, "handshake_timeout") == 0) {
    if (!first_listener_key(ld, rec, &rec->handshake_line, name, line))
      return;
    check_duration(ld, line, name, value, 1, MAX_HANDSHAKE_MS, "1h",
                   &rec->handshake_ms);
  } else {
    add_problem(ld, line,
                "unknown key '%s' in [%s%s] (expected listen, handler, "
                "upstream, connect_timeout, idle_timeout, buffer_size, "
                "max_connections, max_connections_per_ip, allow, deny or "
                "handshake_timeout)",
                name, LISTENER_PREFIX, rec->name);
  }
}

static void handle_key(loader *ld, const char *name, const char *value) {
  int line = ld->lineno;

  /* NULL name or value: a new-section or a no-value call, which only some
   * inih builds make; the reader has dealt with those lines already. */
  if (name == NULL || value == NULL) return;
  if (name[0] == '\0') {
    add_problem(ld, line, "missing key name before '='");
    return;
  }
  switch (ld->kind) {
    case SECTION_NONE:
      add_problem(ld, line,
                  "key '%s' is outside any section (expected under [service] "
                  "or [listener:NAME])",
                  name);
      break;
    case SECTION_IGNORED: break;
    case SECTION_SERVICE: service_key(ld, name, value, line); break;
    case SECTION_LISTENER: listener_key(ld, name, value, line); break;
  }
}

/* inih's handler. The section inih passes is ignored: the reader tracks the
 * section itself (see the top of this file). Always returns nonzero, since
 * every problem has been recorded already. */
#if INI_HANDLER_LINENO
static int on_key(void *user, const char *section, const char *name,
                  const char *value, int lineno) {
  (void)lineno;
#else
static int on_key(void *user, const char *section, const char *name,
                  const char *value) {
#endif
  (void)section;
  handle_key(user, name, value);
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Checks across sections, and the result */

static int same_ip(const iocpd_addr *a, const iocpd_addr *b) {
  return a->family == b->family && a->scope_id == b->scope_id &&
         memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

static int is_wildcard(const iocpd_addr *a) {
  static const uint8_t zero[16];
  return memcmp(a->ip, zero, sizeof(zero)) == 0;
}

static int is_loopback(const iocpd_addr *a) {
  static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0, 0, 1};
  if (a->family == IOCPD_AF_INET) return a->ip[0] == 127;
  return memcmp(a->ip, v6_loopback, sizeof(v6_loopback)) == 0;
}

/* The destination a connection to a really goes to: an IPv4-mapped IPv6
 * address is its IPv4 address, and the wildcard (0.0.0.0 or ::), which as
 * a destination means this host, is its loopback address. */
static iocpd_addr destination(const iocpd_addr *a) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  iocpd_addr d = *a;
  if (d.family == IOCPD_AF_INET6 && memcmp(d.ip, mapped, sizeof(mapped)) == 0) {
    memmove(d.ip, d.ip + 12, 4);
    memset(d.ip + 4, 0, 12);
    d.family = IOCPD_AF_INET;
    d.scope_id = 0;
  }
  if (is_wildcard(&d)) {
    memset(d.ip, 0, sizeof(d.ip));
    if (d.family == IOCPD_AF_INET) {
      d.ip[0] = 127;
      d.ip[3] = 1;
    } else {
      d.ip[15] = 1;
    }
  }
  return d;
}

/* Whether a connection to upstream would arrive at a listener bound to
 * listen: the same address, or, when the listener takes the whole family
 * (0.0.0.0 or [::]), any address of this machine (loopback included).
 * Listeners are bound IPv6-only, so the families never mix. */
static int leads_to(const iocpd_addr *upstream, const iocpd_addr *listen) {
  iocpd_addr to = destination(upstream);
  if (to.family != listen->family || to.port != listen->port) return 0;
  if (memcmp(to.ip, listen->ip, to.family == IOCPD_AF_INET ? 4 : 16) == 0 &&
      (to.family == IOCPD_AF_INET || to.scope_id == listen->scope_id))
    return 1;
  return is_wildcard(listen) && iocpd_addr_is_local(&to);
}

/* Checks one upstream entry and appends its addresses to found (count so
 * far; found has room for MAX_UPSTREAMS + 1). A host name is resolved here,
 * at load time, so that a name that does not resolve stops the daemon from
 * starting instead of failing every connection later. Returns the number of
 * addresses added, or -1 after reporting a problem. */
static int add_upstream(loader *ld, listener_rec *rec, const char *entry,
                        iocpd_addr *found, size_t count) {
  int line = rec->upstream_line;
  size_t room = MAX_UPSTREAMS - count, k;
  iocpd_addr addr;
  address_kind kind;
  int n;

  kind = check_address(ld, line, &upstream_rules, entry, &addr);
  if (kind == ADDRESS_BAD) return -1;
  if (kind == ADDRESS_IP) {
    found[count] = addr;
    n = 1;
  } else {
    char reason[256] = "";
    /* One slot more than there is room for, to notice the limit. */
    n = iocpd_resolve(entry, found + count, room + 1, reason, sizeof(reason));
    if (n == IOCPD_ENOMEM) {
      ld->out_of_memory = 1;
      return -1;
    }
    if (n <= 0) {
      /* iocpd_strerror's text for IOCPD_ENOTFOUND is about connections. */
      const char *why = reason;
      if (why[0] == '\0')
        why = n == IOCPD_ENOTFOUND ? "name not found" : iocpd_strerror(n);
      add_problem(ld, line, "upstream: cannot resolve '%.*s': %s",
                  (int)(strrchr(entry, ':') - entry), entry, why);
      return -1;
    }
  }
  if ((size_t)n > room) {
    add_problem(ld, line,
                "upstream: '%s' brings the listener to more than %d "
                "addresses (the limit)",
                entry, MAX_UPSTREAMS);
    return -1;
  }
  for (k = 0; rec->listen_ok && k < (size_t)n; k++) {
    char text[IOCPD_ADDR_STRLEN];
    if (!leads_to(&found[count + k], &rec->addr)) continue;
    if (kind == ADDRESS_IP)
      add_problem(ld, line,
                  "upstream: %s is this listener's own address (relay loop)",
                  entry);
    else
      add_problem(ld, line,
                  "upstream: %s (%s) is this listener's own address (relay "
                  "loop)",
                  entry, iocpd_addr_format(&found[count + k], text));
    return -1;
  }
  return n;
}

/* Checks the comma-separated upstream list of a listener and, if every
 * entry is valid, stores all their addresses, in order, in rec->upstreams. */
static void check_upstreams(loader *ld, listener_rec *rec) {
  iocpd_addr found[MAX_UPSTREAMS + 1];
  const char *text = rec->upstream_text, *p = text;
  int line = rec->upstream_line, ok = 1;
  size_t count = 0;
  unsigned index = 0;

  if (text[0] == '\0') {
    add_problem(ld, line, "upstream: value is empty (expected " UPSTREAM_FORMS
                          ")");
    return;
  }
  for (;;) {
    char entry[256];
    size_t len = next_entry(&p, entry, sizeof(entry));

    index++;
    if (len == 0) {
      add_problem(ld, line, "upstream: entry %u of '%s' is empty", index,
                  text);
      ok = 0;
    } else if (ok) {
      int n = add_upstream(ld, rec, entry, found, count);
      if (n < 0)
        ok = 0;
      else
        count += (size_t)n;
    } else {
      /* After a problem nothing will be kept: check the entry on its own,
       * only to report its problems too. */
      add_upstream(ld, rec, entry, found, 0);
    }
    if (p == NULL) break;
  }
  if (!ok) return;
  assert(count > 0);
  rec->upstreams = malloc(count * sizeof(*rec->upstreams));
  if (rec->upstreams == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  memcpy(rec->upstreams, found, count * sizeof(*rec->upstreams));
  rec->upstream_count = count;
}

/* The keys that only a forward listener takes, and the one it needs. */
static void check_forward_keys(loader *ld, listener_rec *rec) {
  /* A problem while storing the text was counted as out of memory. */
  int have_upstream = rec->upstream_line > 0 && rec->upstream_text != NULL;
  int have_connect =
      rec->connect_timeout_line > 0 && rec->connect_timeout_text != NULL;

  if (rec->handler_ok && rec->handler == IOCPD_HANDLER_ECHO) {
    if (rec->upstream_line > 0)
      add_problem(ld, rec->upstream_line,
                  "upstream: only valid with handler = forward");
    if (rec->connect_timeout_line > 0)
      add_problem(ld, rec->connect_timeout_line,
                  "connect_timeout: only valid with handler = forward");
    return;
  }
  /* A forward listener, or one whose handler is missing or misspelt (that
   * was reported): check what is there, to report every problem now. */
  if (have_upstream)
    check_upstreams(ld, rec);
  else if (rec->upstream_line == 0 && rec->handler_ok)
    add_problem(ld, rec->line,
                "missing key 'upstream' in [%s%s] (required by handler = "
                "forward)",
                LISTENER_PREFIX, rec->name);
  if (have_connect)
    check_duration(ld, rec->connect_timeout_line, "connect_timeout",
                   rec->connect_timeout_text, 0, MAX_CONNECT_MS, "1h",
                   &rec->connect_timeout_ms);
}

/* Relay loops through other listeners: a forward listener whose upstream
 * is the address of another listener of this file that relays, directly
 * or through more of them, back to the first. (A listener's own address
 * among its upstreams was reported by add_upstream; an upstream that is
 * an echo listener of this file is a chain, not a loop.) */

/* The listener a connection to upstream arrives at, or -1. */
static int listener_at(loader *ld, const iocpd_addr *upstream) {
  size_t j;
  for (j = 0; j < ld->listener_count; j++) {
    if (ld->listeners[j].listen_ok && leads_to(upstream, &ld->listeners[j].addr)) return (int)j;
  }
  return -1;
}

/* Whether listener `from` relays, through upstream edges next[][], to
 * listener `to`. seen has room for every listener. */
static int relays_to(loader *ld, int **next, size_t from, size_t to, unsigned char *seen) {
  size_t *stack, top = 0, k;
  int found = 0;
  stack = malloc(ld->listener_count * sizeof(*stack));
  if (stack == NULL) {
    ld->out_of_memory = 1;
    return 0;
  }
  memset(seen, 0, ld->listener_count);
  stack[top++] = from;
  seen[from] = 1;
  while (top > 0 && !found) {
    size_t at = stack[--top];
    listener_rec *rec = &ld->listeners[at];
    for (k = 0; next[at] != NULL && k < rec->upstream_count; k++) {
      int j = next[at][k];
      if (j < 0 || seen[j]) continue;
      if ((size_t)j == to) {
        found = 1;
        break;
      }
      seen[j] = 1;
      stack[top++] = (size_t)j;
    }
  }
  free(stack);
  return found;
}

static void check_relay_cycles(loader *ld) {
  size_t n = ld->listener_count, i, k;
  int **next = calloc(n != 0 ? n : 1, sizeof(*next));
  unsigned char *seen = malloc(n != 0 ? n : 1);

  if (next == NULL || seen == NULL) goto out_of_memory;
  /* next[i][k]: the listener that upstream k of forward listener i leads
   * to, or -1. */
  for (i = 0; i < n; i++) {
    listener_rec *rec = &ld->listeners[i];
    if (rec->handler != IOCPD_HANDLER_FORWARD || rec->upstream_count == 0) continue;
    next[i] = malloc(rec->upstream_count * sizeof(**next));
    if (next[i] == NULL) goto out_of_memory;
    for (k = 0; k < rec->upstream_count; k++) next[i][k] = listener_at(ld, &rec->upstreams[k]);
  }
  for (i = 0; i < n; i++) {
    listener_rec *rec = &ld->listeners[i];
    for (k = 0; next[i] != NULL && k < rec->upstream_count; k++) {
      int j = next[i][k];
      char text[IOCPD_ADDR_STRLEN];
      if (j < 0 || (size_t)j == i || !relays_to(ld, next, (size_t)j, i, seen)) continue;
      add_problem(ld, rec->upstream_line,
                  "upstream: %s is the address of [%s%s] (line %d), which relays back to "
                  "this listener (relay loop)",
                  iocpd_addr_format(&rec->upstreams[k], text), LISTENER_PREFIX,
                  ld->listeners[j].name, ld->listeners[j].listen_line);
      break;
    }
  }
  goto out;
out_of_memory:
  ld->out_of_memory = 1;
out:
  for (i = 0; next != NULL && i < n; i++) free(next[i]);
  free(next);
  free(seen);
}

static void check_listeners(loader *ld) {
  size_t i, j;

  for (i = 0; i < ld->listener_count; i++) {
    listener_rec *rec = &ld->listeners[i];
    if (rec->listen_line == 0)
      add_problem(ld, rec->line, "missing key 'listen' in [%s%s]",
                  LISTENER_PREFIX, rec->name);
    if (rec->handler_line == 0)
      add_problem(ld, rec->line, "missing key 'handler' in [%s%s]",
                  LISTENER_PREFIX, rec->name);
    check_forward_keys(ld, rec);
  }
  check_relay_cycles(ld);

  /* Two listeners on one address cannot both bind; neither can a wildcard
   * and a specific address of the same family on the same port (Windows
   * refuses it with SO_EXCLUSIVEADDRUSE, Linux for listening sockets). */
  for (j = 1; j < ld->listener_count; j++) {
    listener_rec *b = &ld->listeners[j];
    if (!b->listen_ok) continue;
    for (i = 0; i < j; i++) {
      listener_rec *a = &ld->listeners[i];
      if (!a->listen_ok || a->addr.family != b->addr.family ||
          a->addr.port != b->addr.port)
        continue;
      if (same_ip(&a->addr, &b->addr)) {
        add_problem(ld, b->listen_line,
                    "listen: %s is already used by [%s%s] (line %d)",
                    b->listen_text, LISTENER_PREFIX, a->name, a->listen_line);
        break;
      }
      if (is_wildcard(&a->addr) || is_wildcard(&b->addr)) {
        add_problem(ld, b->listen_line,
                    "listen: %s overlaps %s of [%s%s] (line %d)",
                    b->listen_text, a->listen_text, LISTENER_PREFIX, a->name,
                    a->listen_line);
        break;
      }
    }
  }

  if (ld->listener_headers == 0)
    add_problem(ld, 0, "no [listener:NAME] section; nothing to serve");
}

/* metrics_listen: an address like a listener's, which no listener may take
 * (the metrics endpoint is a server of its own and binds it too). */
static void check_metrics(loader *ld) {
  size_t i;

  if (ld->metrics_line == 0 || ld->metrics_text == NULL) return;
  if (check_address(ld, ld->metrics_line, &metrics_rules, ld->metrics_text,
                    &ld->metrics_addr) != ADDRESS_IP)
    return;
  for (i = 0; i < ld->listener_count; i++) {
    const listener_rec *rec = &ld->listeners[i];
    const iocpd_addr *a = &rec->addr, *m = &ld->metrics_addr;
    if (!rec->listen_ok || a->family != m->family || a->port != m->port)
      continue;
    if (same_ip(a, m)) {
      add_problem(ld, ld->metrics_line,
                  "metrics_listen: %s is already used by [%s%s] (line %d)",
                  ld->metrics_text, LISTENER_PREFIX, rec->name,
                  rec->listen_line);
      return;
    }
    if (is_wildcard(a) || is_wildcard(m)) {
      add_problem(ld, ld->metrics_line,
                  "metrics_listen: %s overlaps %s of [%s%s] (line %d)",
                  ld->metrics_text, rec->listen_text, LISTENER_PREFIX,
                  rec->name, rec->listen_line);
      return;
    }
  }
  ld->metrics_ok = 1;
}

/* ------------------------------------------------------------------------ */
/* Warnings */

static const char *family_name(int family) {
  return family == IOCPD_AF_INET ? "IPv4" : "IPv6";
}

/* 1 if every address of inner lies in outer. */
static int block_covers(const iocpd_cidr *outer, const iocpd_cidr *inner) {
  return outer->addr.family == inner->addr.family &&
         outer->prefix <= inner->prefix &&
         iocpd_cidr_match(outer, &inner->addr);
}

/* The allow and deny lists of one listener: a list that lets nobody in is
 * valid (it may be a deliberate way to close a listener for a while), but
 * far more often a mistake. Listeners are bound IPv6-only, so a listener
 * only ever sees clients of its own family, and only entries of that family
 * count. Only overlaps that are certain are reported: an IPv4-mapped IPv6
 * block is never compared with IPv4 blocks. */
static void warn_about_lists(loader *ld, const listener_rec *rec) {
  int family = rec->addr.family;
  size_t i, j, relevant = 0, covered = 0;

  if (rec->allow_count == 0) {
    if (!is_loopback(&rec->addr))
      add_warning(ld, rec->listen_line,
                  "[%s%s] listens on %s without an allow list: every "
                  "address%s can connect",
                  LISTENER_PREFIX, rec->name, rec->listen_text,
                  rec->deny_count > 0 ? " not in deny" : "");
    for (i = 0; i < rec->deny_count; i++) {
      if (rec->deny[i].addr.family == family && rec->deny[i].prefix == 0) {
        add_warning(ld, rec->deny_line,
                    "deny = %s covers every %s address; nothing can connect "
                    "to [%s%s]",
                    rec->deny_text, family_name(family), LISTENER_PREFIX,
                    rec->name);
        break;
      }
    }
    return;
  }
  for (i = 0; i < rec->allow_count; i++) {
    const iocpd_cidr *a = &rec->allow[i];
    if (a->addr.family != family) continue;
    relevant++;
    for (j = 0; j < rec->deny_count; j++) {
      if (block_covers(&rec->deny[j], a)) {
        covered++;
        break;
      }
    }
  }
  if (relevant == 0)
    add_warning(ld, rec->allow_line,
                "allow = %s has no %s entry, and [%s%s] listens on %s: "
                "nothing can connect",
                rec->allow_text, family_name(family), LISTENER_PREFIX,
                rec->name, rec->listen_text);
  else if (covered == relevant)
    add_warning(ld, rec->deny_line,
                "deny = %s covers every address in allow; nothing can "
                "connect to [%s%s]",
                rec->deny_text, LISTENER_PREFIX, rec->name);
}

/* A per-address limit at or above the listener's own limit (or, without
 * one, the service's) can never be reached. Equal is fine: "one client may
 * take every slot" is a clear statement. */
static void warn_about_limits(loader *ld, const listener_rec *rec) {
  uint64_t per_ip = rec->max_connections_per_ip;

  if (per_ip == 0) return;
  if (rec->max_connections > 0 && per_ip > rec->max_connections)
    add_warning(ld, rec->per_ip_line,
                "max_connections_per_ip = %llu is more than max_connections "
                "= %llu of [%s%s]; it never applies",
                (unsigned long long)per_ip,
                (unsigned long long)rec->max_connections, LISTENER_PREFIX,
                rec->name);
  else if (rec->max_connections == 0 && ld->max_connections > 0 &&
           per_ip > ld->max_connections)
    add_warning(ld, rec->per_ip_line,
                "max_connections_per_ip = %llu is more than [service] "
                "max_connections = %llu; it never applies",
                (unsigned long long)per_ip,
                (unsigned long long)ld->max_connections);
}

/* [service] settings that cannot do what they seem to. */
static void warn_about_service(loader *ld) {
  if (ld->access_log_line == 0) {
    if (ld->access_log_size_line > 0)
      add_warning(ld, ld->access_log_size_line,
                  "access_log_max_size has no effect without access_log");
    if (ld->access_log_keep_line > 0)
      add_warning(ld, ld->access_log_keep_line,
                  "access_log_keep has no effect without access_log");
  }
  /* The metrics name every listener and upstream and show the traffic;
   * the endpoint has no access control of its own. */
  if (ld->metrics_ok && !is_loopback(&ld->metrics_addr))
    add_warning(ld, ld->metrics_line,
                "metrics_listen = %s is not a loopback address: every host "
                "that can reach it can read the metrics",
                ld->metrics_text);
}

/* Called only for a file without problems, so every listener has a valid
 * listen address. */
static void find_warnings(loader *ld) {
  size_t i;
  warn_about_service(ld);
  for (i = 0; i < ld->listener_count; i++) {
    const listener_rec *rec = &ld->listeners[i];
    assert(rec->listen_ok);
    warn_about_lists(ld, rec);
    warn_about_limits(ld, rec);
  }
}

/* ------------------------------------------------------------------------ */
/* The result */

static void sort_messages(message_list *list) {
  if (list->count > 1)
    qsort(list->items, list->count, sizeof(*list->items), compare_problems);
}

/* Moves the loader's results into a new config. Returns NULL when out of
 * memory. */
static iocpd_config *build_config(loader *ld) {
  iocpd_config *config = calloc(1, sizeof(*config));
  size_t i;

  if (config == NULL) return NULL;
  config->path = copy_string(ld->path, strlen(ld->path));
  config->listeners = calloc(ld->listener_count, sizeof(*config->listeners));
  if (ld->warnings.count > 0)
    config->warnings = calloc(ld->warnings.count, sizeof(*config->warnings));
  if (config->path == NULL || config->listeners == NULL ||
      (ld->warnings.count > 0 && config->warnings == NULL)) {
    iocpd_config_free(config);
    return NULL;
  }
  config->workers = ld->workers;
  config->drain_timeout_ms = ld->drain_ms;
  config->log_level = ld->log_level;
  config->max_connections = ld->max_connections;
  config->access_log = ld->access_log;
  ld->access_log = NULL;
  config->access_log_max_size = ld->access_log_size;
  config->access_log_keep = ld->access_log_keep;
  if (ld->metrics_ok) {
    config->metrics_enabled = 1;
    config->metrics_listen = ld->metrics_addr;
    config->metrics_listen_text = ld->metrics_text;
    ld->metrics_text = NULL;
  }
  config->listener_count = ld->listener_count;
  for (i = 0; i < ld->listener_count; i++) {
    listener_rec *rec = &ld->listeners[i];
    iocpd_config_listener *l = &config->listeners[i];
    l->name = rec->name;
    l->line = rec->line;
    l->listen = rec->addr;
    l->listen_text = rec->listen_text;
    l->handler = rec->handler;
    l->upstreams = rec->upstreams;
    l->upstream_count = rec->upstream_count;
    l->connect_timeout_ms = rec->connect_timeout_ms;
    l->idle_timeout_ms = rec->idle_timeout_ms;
    l->buffer_size = rec->buffer_size;
    l->max_connections = rec->max_connections;
    l->max_connections_per_ip = rec->max_connections_per_ip;
    l->allow = rec->allow;
    l->allow_count = rec->allow_count;
    l->deny = rec->deny;
    l->deny_count = rec->deny_count;
    l->handshake_timeout_ms = rec->handshake_ms;
    rec->name = NULL;
    rec->listen_text = NULL;
    rec->upstreams = NULL;
    rec->allow = NULL;
    rec->deny = NULL;
  }
  sort_messages(&ld->warnings);
  for (i = 0; i < ld->warnings.count; i++) {
    config->warnings[i] = ld->warnings.items[i].text;
    ld->warnings.items[i].text = NULL;
  }
  config->warning_count = ld->warnings.count;
  return config;
}

static void loader_init(loader *ld, const char *path) {
  memset(ld, 0, sizeof(*ld));
  ld->path = path;
  ld->kind = SECTION_NONE;
  ld->drain_ms = 30000;
  ld->log_level = IOCPD_LOG_INFO;
  ld->max_connections = DEFAULT_MAX_CONNECTIONS;
  ld->access_log_size = DEFAULT_ACCESS_LOG_SIZE;
  ld->access_log_keep = DEFAULT_ACCESS_LOG_KEEP;
}

static void free_messages(message_list *list) {
  size_t i;
  for (i = 0; i < list->count; i++) free(list->items[i].text);
  free(list->items);
}

/* Reports the loader's problems in file order, frees everything the loader
 * still owns, and returns the number of problems (an allocation failure
 * counts as one). */
static int loader_finish(loader *ld, iocpd_config_report_fn report,
                         void *report_arg) {
  int count;
  size_t i;

  sort_messages(&ld->problems);
  count = (int)ld->problems.count;
  for (i = 0; i < ld->problems.count; i++) {
    if (report != NULL) report(report_arg, ld->problems.items[i].text);
  }
  if (ld->out_of_memory) {
    /* Formatted here, not by add_problem: that needs memory too. A very
     * long path is cut short rather than lost. */
    char message[512];
    count++;
    snprintf(message, sizeof(message), "%s: out of memory", ld->path);
    if (report != NULL) report(report_arg, message);
  }
  free_messages(&ld->problems);
  free_messages(&ld->warnings);
  free(ld->access_log);
  free(ld->metrics_text);
  for (i = 0; i < ld->listener_count; i++) {
    listener_rec *rec = &ld->listeners[i];
    free(rec->name);
    free(rec->listen_text);
    free(rec->upstream_text);
    free(rec->connect_timeout_text);
    free(rec->upstreams);
    free(rec->allow);
    free(rec->allow_text);
    free(rec->deny);
    free(rec->deny_text);
  }
  free(ld->listeners);
  return count;
}

int iocpd_config_load_buffer(const char *name, const char *data, size_t len,
                             iocpd_config **out, iocpd_config_report_fn report,
                             void *report_arg) {
  loader ld;
  long start;
  int count;

  assert(name != NULL);
  assert(data != NULL || len == 0);
  assert(out != NULL);
  *out = NULL;
  /* NULL + 0 is undefined behaviour in C; an empty text is just as good. */
  if (data == NULL) data = "";
  loader_init(&ld, name);

  /* The file reader stops at the same size; a caller with the text in
   * memory gets the same answer. */
  if (len > MAX_FILE_SIZE) {
    add_problem(&ld, 0, "file is larger than 1 MiB");
    goto out;
  }
  start = check_encoding(&ld, data, len);
  if (start < 0) goto out;

  ld.text = data + start;
  ld.len = len - (size_t)start;
  {
    int rc = ini_parse_stream(read_line, &ld, on_key, &ld);
    /* The reader hands inih only lines it has checked, so inih should find
     * nothing; should it differ from us on some line, still say so. */
    if (rc > 0)
      add_problem(&ld, rc, "syntax error");
    else if (rc < 0)
      add_problem(&ld, 0, "cannot parse (inih error %d)", rc);
  }
  check_listeners(&ld);
  check_metrics(&ld);
  if (ld.problems.count == 0 && !ld.out_of_memory) find_warnings(&ld);

  if (ld.problems.count == 0 && !ld.out_of_memory) {
    *out = build_config(&ld);
    if (*out == NULL) ld.out_of_memory = 1;
  }

out:
  count = loader_finish(&ld, report, report_arg);
  if (count > 0 && *out != NULL) {
    iocpd_config_free(*out);
    *out = NULL;
  }
  return count;
}

int iocpd_config_load(const char *path, iocpd_config **out,
                      iocpd_config_report_fn report, void *report_arg) {
  loader ld;
  char *text = NULL;
  size_t len = 0;
  int count;

  assert(path != NULL);
  assert(out != NULL);
  *out = NULL;

  /* A loader only for the problems of opening and reading the file. */
  loader_init(&ld, path);
  if (read_file(&ld, &text, &len) != 0 || ld.out_of_memory)
    return loader_finish(&ld, report, report_arg);
  loader_finish(&ld, NULL, NULL);

  count = iocpd_config_load_buffer(path, text, len, out, report, report_arg);
  free(text);
  return count;
}

void iocpd_config_free(iocpd_config *config) {
  size_t i;
  if (config == NULL) return;
  if (config->listeners != NULL) {
    for (i = 0; i < config->listener_count; i++) {
      free(config->listeners[i].name);
      free(config->listeners[i].listen_text);
      free(config->listeners[i].upstreams);
      free(config->listeners[i].allow);
      free(config->listeners[i].deny);
    }
  }
  if (config->warnings != NULL) {
    for (i = 0; i < config->warning_count; i++) free(config->warnings[i]);
  }
  free(config->warnings);
  free(config->listeners);
  free(config->access_log);
  free(config->metrics_listen_text);
  free(config->path);
  free(config);
}
