/*
 * epoll backend: the per-worker, per-listener and per-connection state.
 * Included by core/internal.h through the include path (core/posix).
 *
 * Sockets are registered edge-triggered. An event only records what the
 * socket is ready for and puts the connection on its worker's ready list;
 * the actual recv/send and every handler callback run while draining that
 * list. So a connection is never freed while an event for it from the same
 * epoll_wait batch is still to be looked at.
 */
#ifndef IOCPD_BACKEND_H
#define IOCPD_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Accepting is synchronous here, so a slot reserved before accept4 holds
 * a server-wide slot too, for an instant (see admission.c). */
#define IOCPD__SLOT_HOLDS_SERVER 1

/* What an epoll event's data.ptr points at. */
typedef enum iocpd__source_kind {
  IOCPD__SRC_WAKE,
  IOCPD__SRC_LISTENER,
  IOCPD__SRC_CONN
} iocpd__source_kind;

typedef struct iocpd__worker_os {
  int epfd;
  int wakefd;                   /* eventfd; readable when the inbox has mail */
  iocpd__source_kind wake_kind; /* data.ptr for wakefd points here */
  iocpd_conn *ready_head;       /* connections with work to do */
  iocpd_conn *ready_tail;
  /* Connections that asked for more work after their turn in this pass:
   * they wait for the next pass, behind everyone else (see loop.c). */
  iocpd_conn *later_head;
  iocpd_conn *later_tail;
  uint64_t pass;                /* loop passes so far */
  int idle_pipes[8][2];         /* empty pipes kept for splicing (splice.c) */
  int idle_pipe_count;
  uint64_t pipes_used_ms;       /* when a pipe last came back to the pool */
} iocpd__worker_os;

typedef struct iocpd__listener_os {
  iocpd__source_kind kind; /* IOCPD__SRC_LISTENER; data.ptr points here */
  int fd;                  /* -1 when closed */
  int polled;              /* in the epoll set (not while paused at a limit) */
} iocpd__listener_os;

/* One queued write. A connection embeds one for the common case of a
 * single write in flight; more are allocated. */
typedef struct iocpd__write_req {
  struct iocpd__write_req *next;
  const char *data;
  size_t len;
  size_t done;     /* bytes already sent */
  void *arg;       /* for on_sent */
  iocpd__msg *msg; /* a send by id: the message owns data; freed after */
  /* A spliced chunk (splice.c): data is NULL and the len bytes wait in
   * this pipe, which the request owns. */
  unsigned char piped;
  int pipe_fd[2];
} iocpd__write_req;

struct iocpd_conn {
  iocpd__conn_base base;
  iocpd__source_kind kind; /* IOCPD__SRC_CONN */
  int fd;                  /* -1 once closed */
  /* What the socket is known to be ready for (cleared on EAGAIN). */
  unsigned char readable;
  unsigned char writable;
  unsigned char hup;      /* EPOLLRDHUP/HUP/ERR seen: EOF or an error waits */
  /* What the handler asked for. */
  unsigned char want_read;
  unsigned char shut_requested;
  unsigned char shut_done;
  unsigned char peer_closed;
  unsigned char closing;  /* iocpd_close: finish writes, then close */
  unsigned char aborting; /* iocpd_abort: socket already reset */
  unsigned char queued;   /* on the worker's ready or later list */
  uint64_t served_pass;   /* the pass in which it was last processed */
  unsigned char connecting; /* iocpd_connect in progress */
  unsigned char bulk;     /* the last recv filled the buffer: splice next */
  iocpd_conn *splice_to;  /* iocpd_conn_splice_to; the two point at each other */
  iocpd_conn *splice_from;
  size_t write_count;     /* writes queued, for iocpd_conn_pending_writes */
  char *rbuf;             /* engine's read buffer, only while the handler holds data */
  iocpd__write_req *wq_head;
  iocpd__write_req *wq_tail;
  iocpd__write_req spare;
  unsigned char spare_used;
  iocpd_conn *ready_next;
};

#endif /* IOCPD_BACKEND_H */
