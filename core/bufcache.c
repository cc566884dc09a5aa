/*
 * A small per-worker cache of read buffers. A relay or an echo reads a
 * chunk, writes it, gives the buffer back and soon wants another of the
 * same size: with malloc/free each round trip could shrink and regrow the
 * thread's heap (page faults), so recently freed buffers are kept here
 * instead, a few per size. Idle connections still hold none: the cache
 * belongs to the worker, and is bounded.
 */
#include <stdlib.h>

#include "internal.h"

/* Kept per size class; beyond this a returned buffer is freed. */
#define BUFFERS_PER_CLASS 32

char *iocpd_buffer_get(iocpd_conn *c, size_t size) { return iocpd__buffer_get(c->worker, size); }

void iocpd_buffer_put(iocpd_conn *c, char *buf, size_t size) {
  iocpd__buffer_put(c->worker, buf, size);
}

char *iocpd__buffer_get(iocpd__worker *w, size_t size) {
  int i;
  for (i = 0; i < IOCPD__BUFFER_CLASSES; i++) {
    iocpd__buffer_class *k = &w->buffers[i];
    if (k->size == size && k->count > 0) return k->free[--k->count];
  }
  return malloc(size);
}

void iocpd__buffer_put(iocpd__worker *w, char *buf, size_t size) {
  int i;
  if (buf == NULL) return;
  for (i = 0; i < IOCPD__BUFFER_CLASSES; i++) {
    iocpd__buffer_class *k = &w->buffers[i];
    if (k->size == 0) k->size = size; /* claim a free class */
    if (k->size != size) continue;
    if (k->count < BUFFERS_PER_CLASS) {
      if (k->free == NULL) {
        k->free = malloc(BUFFERS_PER_CLASS * sizeof(*k->free));
        if (k->free == NULL) break;
      }
      k->free[k->count++] = buf;
      return;
    }
    break;
  }
  free(buf);
}

void iocpd__buffers_free(iocpd__worker *w) {
  int i;
  for (i = 0; i < IOCPD__BUFFER_CLASSES; i++) {
    iocpd__buffer_class *k = &w->buffers[i];
    while (k->count > 0) free(k->free[--k->count]);
    free(k->free);
    k->free = NULL;
    k->size = 0;
  }
}
