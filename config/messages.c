/*
 * Problems and warnings of a config file, each formatted at once as
 * "FILE:LINE: message" and reported together, sorted by line, when the
 * file is done: the caller sees them in file order whatever stage found
 * them.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

char *copy_string(const char *s, size_t len) {
  char *copy = malloc(len + 1);
  if (copy != NULL) {
    memcpy(copy, s, len);
    copy[len] = '\0';
  }
  return copy;
}

void *grow_array(loader *ld, void *items, size_t *cap, size_t elem, size_t first) {
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
static void add_message(loader *ld, message_list *list, int line, const char *kind, const char *fmt,
                        va_list ap) {
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

void add_problem(loader *ld, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  add_message(ld, &ld->problems, line, "", fmt, ap);
  va_end(ap);
}

void add_warning(loader *ld, int line, const char *fmt, ...) {
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

void sort_messages(message_list *list) {
  if (list->count > 1) qsort(list->items, list->count, sizeof(*list->items), compare_problems);
}

void free_messages(message_list *list) {
  size_t i;
  for (i = 0; i < list->count; i++) free(list->items[i].text);
  free(list->items);
}
