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

#include "net.h"

/* Accepting is synchronous here, so a slot reserved before accept4 holds
 * a server-wide slot too, for an instant (see admission.c). */
#define IOCPD__SLOT_HOLDS_SERVER 1

/* What an epoll event's data.ptr points at. */
typedef enum iocpd__source_kind {
  IOCPD__SRC_WAKE,
  IOCPD__SRC_LISTENER,
  IOCPD__SRC_CONN,
  IOCPD__SRC_UDP,        /* a UDP listener's socket (udp.c) */
  IOCPD__SRC_UDP_SESSION /* a UDP session's socket to its upstream */
} iocpd__source_kind;

struct iocpd__udp_session;

/* A datagram the socket had no room for (udp.c): a copy, waiting. */
typedef struct iocpd__dgram {
  struct iocpd__dgram *next;
  struct sockaddr_in6 to; /* echo: where it goes (a session's go to its client) */
  socklen_t to_len;
  size_t len;
  char data[];
} iocpd__dgram;

/* At most IOCPD_UDP_QUEUE_MAX of them, in order. */
typedef struct iocpd__dgram_queue {
  iocpd__dgram *head, *tail;
  unsigned count;
} iocpd__dgram_queue;

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
  uint64_t pipes_used_ms;               /* when a pipe last came back to the pool */
  struct iocpd__udp_batch *udp_batch;   /* recvmmsg/sendmmsg room, made on first use */
  struct iocpd__udp_session *udp_ended; /* ended sessions, freed after the pass (udp.c) */
  size_t udp_queued;                    /* bytes of datagrams waiting in its queues */
} iocpd__worker_os;

typedef struct iocpd__listener_os {
  iocpd__source_kind kind; /* IOCPD__SRC_LISTENER; data.ptr points here */
  int fd;                  /* -1 when closed */
  int polled;              /* in the epoll set (not while paused at a limit) */
  /* UDP: replies the socket had no room for. An echo listener's wait
   * in its own queue; a forward listener's in their sessions' queues,
   * the sessions in a list. EPOLLOUT is asked for meanwhile. */
  iocpd__dgram_queue echo_out;
  struct iocpd__udp_session *wait_head, *wait_tail;
  int out_watched;
} iocpd__listener_os;

/* The backend's part of a queued write: a spliced chunk (splice.c) has
 * data NULL and its len bytes wait in this pipe, which the request owns. */
typedef struct iocpd__write_os {
  unsigned char piped;
  int pipe_fd[2];
} iocpd__write_os;

/* The backend's part of a UDP session. */
typedef struct iocpd__udp_session_os {
  iocpd__source_kind kind;   /* IOCPD__SRC_UDP_SESSION; data.ptr points here */
  int fd;                    /* connected to its upstream; -1 once closed */
  unsigned char out_watched; /* EPOLLOUT asked for: `up` waits */
  unsigned char waiting;     /* on its listener's wait list: `down` waits */
  iocpd__dgram_queue up;     /* to the upstream */
  iocpd__dgram_queue down;   /* to the client, through the listener's socket */
  struct iocpd__udp_session *wait_prev, *wait_next;
  struct sockaddr_in6 client_raw; /* the client as the listener's socket names it */
  socklen_t client_raw_len;
} iocpd__udp_session_os;

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
