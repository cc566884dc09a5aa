/*
 * Loading and validating the INI config file (see config.h; loader.h says
 * which file of config/ does what).
 *
 * The whole file is read into memory first and checked line by line as
 * inih reads it (reader.c); each key is looked up in the table of keys
 * (keys.c), which checks its value and stores it where the config will
 * hold it. Some keys are checked only once the whole file is read, because
 * a key further down decides about them (checks.c). Problems are collected,
 * sorted by line and reported together at the end (messages.c), so the
 * caller sees them in file order whatever stage found them; warnings are
 * looked for only in a file without problems and handed over in
 * config->warnings rather than through the report callback, since a caller
 * counts the callback's messages as errors.
 *
 * Everything after reading the file works on a buffer in memory
 * (iocpd_config_load_buffer), which is what the fuzzer drives. The buffer
 * need not end in a NUL and may contain NULs: nothing treats it as a C
 * string.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

static void loader_init(loader *ld, const char *path) {
  memset(ld, 0, sizeof(*ld));
  ld->path = path;
  ld->kind = SECTION_NONE;
  keys_set_defaults(SECTION_SERVICE, &ld->service);
}

/* Frees what a listener's values hold (after a move, only the NULLs). */
static void free_listener(iocpd_config_listener *l) {
  free(l->name);
  free(l->listen_text);
  free(l->upstreams);
  free(l->allow);
  free(l->deny);
  free(l->proxy_trusted);
}

/* Reports the loader's problems in file order, frees everything the loader
 * still owns, and returns the number of problems (an allocation failure
 * counts as one). */
static int loader_finish(loader *ld, iocpd_config_report_fn report, void *report_arg) {
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
  free(ld->service.access_log);
  keys_free(&ld->service_keys);
  for (i = 0; i < ld->listener_count; i++) {
    free_listener(&ld->listeners[i].out);
    keys_free(&ld->listeners[i].keys);
  }
  free(ld->listeners);
  return count;
}

/* Moves the loader's results into a new config. Returns NULL when out of
 * memory. */
static iocpd_config *build_config(loader *ld) {
  iocpd_config *config = calloc(1, sizeof(*config));
  size_t i;

  if (config == NULL) return NULL;
  *config = ld->service;
  memset(&ld->service, 0, sizeof(ld->service));
  config->path = copy_string(ld->path, strlen(ld->path));
  config->text = copy_string(ld->text, ld->len);
  config->text_len = ld->len;
  config->has_names = ld->has_names;
  config->listeners = calloc(ld->listener_count, sizeof(*config->listeners));
  config->warnings = calloc(ld->warnings.count + 1, sizeof(*config->warnings));
  if (config->metrics_enabled) {
    config->metrics_listen_text = ld->service_keys.text[KEY_METRICS_LISTEN];
    ld->service_keys.text[KEY_METRICS_LISTEN] = NULL;
  }
  if (config->path == NULL || config->text == NULL || config->listeners == NULL ||
      config->warnings == NULL) {
    iocpd_config_free(config);
    return NULL;
  }
  config->listener_count = ld->listener_count;
  for (i = 0; i < ld->listener_count; i++) {
    config->listeners[i] = ld->listeners[i].out;
    memset(&ld->listeners[i].out, 0, sizeof(ld->listeners[i].out));
  }
  sort_messages(&ld->warnings);
  for (i = 0; i < ld->warnings.count; i++) {
    config->warnings[i] = ld->warnings.items[i].text;
    ld->warnings.items[i].text = NULL;
  }
  config->warning_count = ld->warnings.count;
  return config;
}

int iocpd_config_load_buffer(const char *name, const char *data, size_t len, iocpd_config **out,
                             iocpd_config_report_fn report, void *report_arg) {
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
  read_ini(&ld);
  check_whole_file(&ld);
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

int iocpd_config_load(const char *path, iocpd_config **out, iocpd_config_report_fn report,
                      void *report_arg) {
  loader ld;
  char *text = NULL;
  size_t len = 0;
  int count;

  assert(path != NULL);
  assert(out != NULL);
  *out = NULL;

  /* A loader only for the problems of opening and reading the file. */
  loader_init(&ld, path);
  if (read_config_file(&ld, &text, &len) != 0 || ld.out_of_memory)
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
    for (i = 0; i < config->listener_count; i++) free_listener(&config->listeners[i]);
  }
  if (config->warnings != NULL) {
    for (i = 0; i < config->warning_count; i++) free(config->warnings[i]);
  }
  free(config->warnings);
  free(config->listeners);
  free(config->access_log);
  free(config->metrics_listen_text);
  free(config->path);
  free(config->text);
  free(config);
}
