/*
 * Config unit test, part of test_config_units (see test_config_units.c):
 * The observability keys: access_log and its rotation, metrics_listen,
 * and their warnings.
 */
#define _CRT_SECURE_NO_WARNINGS

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "configtest.h"

/* ------------------------------------------------------------------------ */
/* Observability: access_log, access_log_max_size, access_log_keep,
 * metrics_listen */

/* Loads text from DIR/name and from memory under name, expecting it to be
 * valid, and checks that access_log became want_file (from the file) and
 * want_buffer (from memory, where the name has no directory). */
static void check_access_path(const char *name, const char *text, const char *want_file,
                              const char *want_buffer) {
  iocpd_config *c = load_any(name, text, strlen(text), 1, none, NULL);
  if (c != NULL) {
    check(c->access_log != NULL && strcmp(c->access_log, want_file) == 0,
          "%s: access_log '%s', expected '%s'", name,
          c->access_log != NULL ? c->access_log : "(null)", want_file);
    iocpd_config_free(c);
  }
  c = load_any(name, text, strlen(text), 0, none, NULL);
  if (c != NULL) {
    check(c->access_log != NULL && strcmp(c->access_log, want_buffer) == 0,
          "%s (buffer): access_log '%s', expected '%s'", name,
          c->access_log != NULL ? c->access_log : "(null)", want_buffer);
    iocpd_config_free(c);
  }
}

static void test_observability_values(void) {
  static const char full[] = "[service]\n"
                             "access_log = logs/access.log\n"
                             "access_log_max_size = 1g\n"
                             "access_log_keep = 100\n"
                             "metrics_listen = [::1]:9180\n"
                             "[listener:a]\n"
                             "listen = 127.0.0.1:9180\n" /* same port, other family: fine */
                             "handler = echo\n";
  static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  char want[1100];
  iocpd_config *c;

  /* Defaults: both off, rotation at 100 MiB keeping 5. */
  c = load_text("obs-defaults.ini", "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n", none);
  if (c != NULL) {
    check(c->access_log == NULL && c->access_log_max_size == 104857600 && c->access_log_keep == 5,
          "obs-defaults: access log %s %llu %u", c->access_log != NULL ? c->access_log : "(null)",
          (unsigned long long)c->access_log_max_size, c->access_log_keep);
    check(!c->metrics_enabled && c->metrics_listen_text == NULL, "obs-defaults: metrics enabled");
    iocpd_config_free(c);
  }

  c = load_any("obs-full.ini", full, strlen(full), 1, none, none);
  if (c != NULL) {
    snprintf(want, sizeof(want), "%s/logs/access.log", dir);
    check(c->access_log != NULL && strcmp(c->access_log, want) == 0, "obs-full: access_log %s",
          c->access_log != NULL ? c->access_log : "(null)");
    check(c->access_log_max_size == 1073741824 && c->access_log_keep == 100,
          "obs-full: rotation %llu %u", (unsigned long long)c->access_log_max_size,
          c->access_log_keep);
    check(c->metrics_enabled && c->metrics_listen.family == IOCPD_AF_INET6 &&
              c->metrics_listen.port == 9180 &&
              memcmp(c->metrics_listen.ip, v6_loopback, 16) == 0 &&
              c->metrics_listen_text != NULL && strcmp(c->metrics_listen_text, "[::1]:9180") == 0,
          "obs-full: metrics_listen");
    iocpd_config_free(c);
  }

  /* The lower bounds. */
  c = load_text("obs-min.ini",
                "[service]\naccess_log = /var/log/iocpd.log\n"
                "access_log_max_size = 1k\naccess_log_keep = 0\n"
                "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                none);
  if (c != NULL) {
    check(c->access_log_max_size == 1024 && c->access_log_keep == 0, "obs-min: rotation %llu %u",
          (unsigned long long)c->access_log_max_size, c->access_log_keep);
    iocpd_config_free(c);
  }

  /* Relative paths join the config's directory; absolute ones (either
   * separator, with or without a drive letter) are kept as written. */
  snprintf(want, sizeof(want), "%s/access.log", dir);
  check_access_path("obs-rel.ini",
                    "[service]\naccess_log = access.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    want, "access.log");
  snprintf(want, sizeof(want), "%s/..\\logs\\a b.log", dir);
  check_access_path("obs-rel2.ini",
                    "[service]\naccess_log = ..\\logs\\a b.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    want, "..\\logs\\a b.log");
  check_access_path("obs-abs.ini",
                    "[service]\naccess_log = /var/log/iocpd/access.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    "/var/log/iocpd/access.log", "/var/log/iocpd/access.log");
  check_access_path("obs-drive.ini",
                    "[service]\naccess_log = C:\\ProgramData\\iocpd\\access.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    "C:\\ProgramData\\iocpd\\access.log", "C:\\ProgramData\\iocpd\\access.log");
  check_access_path("obs-unc.ini",
                    "[service]\naccess_log = \\\\server\\share\\a.log\n"
                    "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n",
                    "\\\\server\\share\\a.log", "\\\\server\\share\\a.log");

  /* A config name with backslashes (as on Windows) gives its directory
   * the same way. */
  c = NULL;
  {
    static const char text[] = "[service]\naccess_log = access.log\n"
                               "[listener:a]\nlisten = 127.0.0.1:1\nhandler = echo\n";
    messages m;
    memset(&m, 0, sizeof(m));
    iocpd_config_load_buffer("C:\\ProgramData\\iocpd\\iocpd.ini", text, strlen(text), &c, collect,
                             &m);
    check(m.count == 0 && c != NULL && c->access_log != NULL &&
              strcmp(c->access_log, "C:\\ProgramData\\iocpd\\access.log") == 0,
          "obs-windows-dir: %s", c != NULL && c->access_log != NULL ? c->access_log : "(null)");
    messages_free(&m);
    iocpd_config_free(c);
  }
}

/* Every problem of the observability keys, in one file, in line order. */
static void test_observability_problems(void) {
  static const char text[] = "[service]\n"                       /* 1 */
                             "access_log =\n"                    /* 2 */
                             "access_log = other.log\n"          /* 3 */
                             "access_log_max_size = 1023\n"      /* 4 */
                             "access_log_max_size = 2g\n"        /* 5 */
                             "access_log_keep = 101\n"           /* 6 */
                             "access_log_keep = -1\n"            /* 7 */
                             "metrics_listen = 127.0.0.1:7007\n" /* 8 */
                             "metrics_listen = 127.0.0.1:9\n"    /* 9 */
                             "[listener:a]\n"                    /* 10 */
                             "listen = 127.0.0.1:7007\n"         /* 11 */
                             "handler = echo\n";                 /* 12 */
  static const char *const expected[] = {
      ":2: access_log: value is empty (expected a file path)",
      ":3: duplicate key 'access_log' in [service] (first at line 2)",
      ":4: access_log_max_size: 1023 out of range 1k-1g",
      ":5: duplicate key 'access_log_max_size' in [service] (first at line 4)",
      ":6: access_log_keep: invalid value '101' (expected a number from 0 to "
      "100)",
      ":7: duplicate key 'access_log_keep' in [service] (first at line 6)",
      ":8: metrics_listen: 127.0.0.1:7007 is already used by [listener:a] "
      "(line 11)",
      ":9: duplicate key 'metrics_listen' in [service] (first at line 8)",
      NULL};
  static const char text2[] = "[service]\n"                                 /* 1 */
                              "access_log = \"C:\\Program Files\\a.log\"\n" /* 2 */
                              "access_log_max_size = 2g\n"                  /* 3 */
                              "access_log_keep = x\n"                       /* 4 */
                              "metrics_listen = 0.0.0.0:7008\n"             /* 5 */
                              "[listener:a]\n"                              /* 6 */
                              "listen = 127.0.0.1:7008\n"                   /* 7 */
                              "handler = echo\n";                           /* 8 */
  static const char *const expected2[] = {
      ":2: access_log: write the path without quotes (spaces are fine)",
      ":3: access_log_max_size: 2g out of range 1k-1g",
      ":4: access_log_keep: invalid value 'x' (expected a number from 0 to "
      "100)",
      ":5: metrics_listen: 0.0.0.0:7008 overlaps 127.0.0.1:7008 of "
      "[listener:a] (line 7)",
      NULL};
  static const char text3[] = "[service]\n"                       /* 1 */
                              "access_log = logs/\n"              /* 2 */
                              "access_log_max_size = 10x\n"       /* 3 */
                              "metrics_listen = localhost:9180\n" /* 4 */
                              "[listener:a]\n"                    /* 5 */
                              "listen = [::]:9180\n"              /* 6 */
                              "handler = echo\n"                  /* 7 */
                              "[service2]\n";                     /* 8 */
  static const char *const expected3[] = {
      ":2: access_log: 'logs/' names a directory (expected a file path)",
      ":3: access_log_max_size: invalid size '10x' (expected e.g. 512k, 100m "
      "or 1g)",
      ":4: metrics_listen: 'localhost' is not a numeric IPv4 address (host "
      "names are not supported)",
      ":8: unknown section [service2] (expected [service] or [listener:NAME])", NULL};
  static const char text4[] = "[service]\n"                    /* 1 */
                              "access_log = a\tb.log\n"        /* 2 */
                              "metrics_listen = [::1]:0\n"     /* 3 */
                              "[listener:a]\n"                 /* 4 */
                              "listen = [::]:9180\n"           /* 5 */
                              "handler = echo\n"               /* 6 */
                              "[listener:b]\n"                 /* 7 */
                              "metrics_listen = 127.0.0.1:1\n" /* 8 */
                              "listen = 127.0.0.1:2\n"         /* 9 */
                              "handler = echo\n";              /* 10 */
  static const char *const expected4[] = {
      ":2: access_log: path contains a control character",
      ":3: metrics_listen: port 0 out of range 1-65535",
      ":8: unknown key 'metrics_listen' in [listener:b] (expected " LISTENER_KEYS ")", NULL};
  load_text("obs-many.ini", text, expected);
  load_text("obs-many2.ini", text2, expected2);
  load_text("obs-many3.ini", text3, expected3);
  load_text("obs-many4.ini", text4, expected4);
}

static void test_observability_warnings(void) {
  static const char text[] = "[service]\n"                     /* 1 */
                             "access_log_max_size = 10m\n"     /* 2 */
                             "access_log_keep = 3\n"           /* 3 */
                             "metrics_listen = 0.0.0.0:9180\n" /* 4 */
                             "[listener:a]\n"                  /* 5 */
                             "listen = 127.0.0.1:7000\n"       /* 6 */
                             "handler = echo\n";               /* 7 */
  static const char *const warnings[] = {
      ":2: warning: access_log_max_size has no effect without access_log",
      ":3: warning: access_log_keep has no effect without access_log",
      ":4: warning: metrics_listen = 0.0.0.0:9180 is not a loopback address: "
      "every host that can reach it can read the metrics",
      NULL};
  static const char quiet[] = "[service]\n"
                              "access_log = a.log\n"
                              "access_log_max_size = 10m\n"
                              "access_log_keep = 3\n"
                              "metrics_listen = 127.0.0.2:9180\n"
                              "[listener:a]\n"
                              "listen = 127.0.0.1:7000\n"
                              "handler = echo\n";
  iocpd_config *c = load_any("obs-warnings.ini", text, strlen(text), 1, none, warnings);
  iocpd_config_free(c);
  c = load_any("obs-warnings-buffer.ini", text, strlen(text), 0, none, warnings);
  iocpd_config_free(c);
  c = load_any("obs-quiet.ini", quiet, strlen(quiet), 1, none, none);
  iocpd_config_free(c);
}

void test_observability(void) {
  test_observability_values();
  test_observability_problems();
  test_observability_warnings();
}
