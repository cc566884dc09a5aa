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
  uint64_t pass;        /* loop passes so far */
  int idle_pipes[8][2]; /* empty pipes kept for splicing (splice.c) */
  int idle_pipe_count;
  uint64_t pipes_used_ms; /* when a pipe last came back to the pool */
} iocpd__worker_os;

typedef struct iocpd__listener_os {
  iocpd__source_kind kind; /* IOCPD__SRC_LISTENER; data.ptr points here */
  int fd;                  /* -1 when closed */
  int polled;              /* in the epoll set (not while paused at a limit) */
} iocpd__listener_os;

/* The backend's part of a queued write: a spliced chunk (splice.c) has
 * data NULL and its len bytes wait in this pipe, which the request owns. */
typedef struct iocpd__write_os {
  unsigned char piped;
  int pipe_fd[2];
} iocpd__write_os;

/* The backend's part of a connection. */
typedef struct iocpd__conn_os {
  iocpd__source_kind kind; /* IOCPD__SRC_CONN; an event's data.ptr points here */
  int fd;                  /* -1 once closed */
  /* What the socket is known to be ready for (cleared on EAGAIN). */
  unsigned char readable;
  unsigned char writable;
  unsigned char hup;        /* EPOLLRDHUP/HUP/ERR seen: EOF or an error waits */
  unsigned char queued;     /* on the worker's ready or later list */
  unsigned char processing; /* iocpd__conn_process is running for it */
  unsigned char bulk;       /* the last recv filled the buffer: splice next */
  iocpd_conn *splice_to;    /* iocpd_conn_splice_to; the two point at each other */
  iocpd_conn *splice_from;
  uint64_t served_pass; /* the pass in which it was last processed */
  iocpd_conn *ready_next;
} iocpd__conn_os;

#endif /* IOCPD_BACKEND_H */
