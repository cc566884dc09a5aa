/*
 * The per-connection write queue, shared by both backends. Each backend's
 * struct iocpd_conn and iocpd__write_req name these fields alike (wq_head,
 * wq_tail, write_count, spare, spare_used; next, data, len, done, arg,
 * msg), and core files are compiled against the chosen backend's header,
 * so one copy of this logic serves both.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

iocpd__write_req *iocpd__wq_push(iocpd_conn *c, const void *data, size_t len, void *arg) {
  iocpd__write_req *r;
  /* Most handlers keep one write in flight: the embedded request serves
   * them without an allocation. */
  if (!c->spare_used) {
    r = &c->spare;
    c->spare_used = 1;
  } else {
    r = malloc(sizeof(*r));
    if (r == NULL) return NULL;
  }
  memset(r, 0, sizeof(*r));
  r->data = data;
  r->len = len;
  r->arg = arg;
  if (c->wq_tail != NULL) {
    c->wq_tail->next = r;
  } else {
    c->wq_head = r;
  }
  c->wq_tail = r;
  c->write_count++;
  return r;
}

void iocpd__wq_free(iocpd_conn *c, iocpd__write_req *r) {
  free(r->msg);
  if (r == &c->spare) {
    c->spare_used = 0;
  } else {
    free(r);
  }
}

void iocpd__wq_complete_head(iocpd_conn *c) {
  iocpd__write_req *r = c->wq_head;
  c->wq_head = r->next;
  if (c->wq_head == NULL) c->wq_tail = NULL;
  c->write_count--;
  /* After close or abort the handler hears nothing but on_closed, and a
   * send by id (msg) was never the handler's write. */
  if (r->msg == NULL && !c->base.closing && c->base.handler->on_sent != NULL) {
    size_t len = r->len;
    void *arg = r->arg;
    iocpd__wq_free(c, r);
    c->base.handler->on_sent(c, len, arg);
  } else {
    iocpd__wq_free(c, r);
  }
}

void iocpd__wq_clear(iocpd_conn *c) {
  while (c->wq_head != NULL) {
    iocpd__write_req *r = c->wq_head;
    c->wq_head = r->next;
    iocpd__wq_free(c, r);
  }
  c->wq_tail = NULL;
  c->write_count = 0;
}

size_t iocpd_conn_pending_writes(const iocpd_conn *c) { return c->write_count; }

void iocpd__conn_send_msg(iocpd_conn *c, iocpd__msg *msg) {
  if (iocpd_write(c, msg->data, msg->len, NULL) != 0) {
    free(msg);
    return;
  }
  c->wq_tail->msg = msg;
}
