/*
 * Reading a config file: the whole file into memory (at most 1 MiB), its
 * encoding, and then its lines, fed to inih through ini_parse_stream with
 * a reader of our own. The reader is what gives every message its line
 * number: Debian's libinih is built without line numbers in the handler,
 * and inih calls the reader exactly once per line, before it calls the
 * handler for that line, so the reader's line count is the handler's line.
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
 */

/* MSVC: strerror is fine here; keep /W4 quiet about it. */
#define _CRT_SECURE_NO_WARNINGS
#define _CRT_NONSTDC_NO_DEPRECATE

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "loader.h"
#include "utf8_files.h"

/* The white space inih strips (its lskip uses isspace in the "C" locale). */
static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
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
/* The file */

int read_config_file(loader *ld, char **text, size_t *len) {
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
        add_problem(ld, 0, "cannot read: %s", errno != 0 ? strerror(errno) : "read error");
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

long check_encoding(loader *ld, const char *text, size_t len) {
  const unsigned char *u = (const unsigned char *)text;
  size_t nuls = 0, i;

  /* UTF-16 (and UTF-32) as written by Windows tools: with a byte order mark,
   * or without one but with a NUL next to every ASCII character. A few stray
   * NULs in a UTF-8 file are reported by line instead. */
  if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
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
    add_problem(ld, line, "listener name is longer than %d characters", MAX_LISTENER_NAME);
    return 0;
  }
  for (p = name; *p != '\0'; p++) {
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '.' || *p == '-')) {
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
    if (strcmp(ld->listeners[i].out.name, name) == 0) {
      add_problem(ld, line, "duplicate section [%s%s] (first at line %d)", LISTENER_PREFIX, name,
                  ld->listeners[i].out.line);
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
  rec->out.name = copy_string(name, strlen(name));
  if (rec->out.name == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  rec->out.line = line;
  keys_set_defaults(SECTION_LISTENER, &rec->out);
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
      add_problem(ld, line, "duplicate section [service] (first at line %d)", ld->service_line);
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
static int check_line(loader *ld, const char *line, size_t len, size_t max_len) {
  const char *start = line;
  size_t n = len, end;

  while (n > 0 && is_space(*start)) start++, n--;

  if (memchr(line, '\0', len) != NULL) {
    add_problem(ld, ld->lineno, "line contains a NUL byte");
    goto broken;
  }
  if (len > max_len) {
    add_problem(ld, ld->lineno, "line is too long (%lu bytes; the limit is %lu)",
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
      add_problem(ld, ld->lineno, "unexpected text after ']' in section header");
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
    add_problem(ld, ld->lineno, "':' is not allowed in a key name (expected 'key = value')");
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
    case SECTION_SERVICE:
    case SECTION_LISTENER: keys_handle(ld, name, value, line); break;
  }
}

/* inih's handler. The section inih passes is ignored: the reader tracks the
 * section itself (see the top of this file). Always returns nonzero, since
 * every problem has been recorded already. */
#if INI_HANDLER_LINENO
static int on_key(void *user, const char *section, const char *name, const char *value,
                  int lineno) {
  (void)lineno;
#else
static int on_key(void *user, const char *section, const char *name, const char *value) {
#endif
  (void)section;
  handle_key(user, name, value);
  return 1;
}

void read_ini(loader *ld) {
  int rc = ini_parse_stream(read_line, ld, on_key, ld);
  /* The reader hands inih only lines it has checked, so inih should find
   * nothing; should it differ from us on some line, still say so. */
  if (rc > 0)
    add_problem(ld, rc, "syntax error");
  else if (rc < 0)
    add_problem(ld, 0, "cannot parse (inih error %d)", rc);
}
