/*
 * Internal declarations shared by the platform-neutral core (the files in
 * core/) and the two backends (core/win, core/posix). Not installed; not
 * for handlers.
 *
 * Model: a server has `worker_count` workers, each running its own event
 * loop on its own thread (an I/O Completion Port on Windows, an epoll set on
 * Linux). Every connection belongs to one worker for its whole life, so its
 * state is touched by one thread only and needs no lock. Other threads talk
 * to a worker only through its inbox: a mutex-protected list of messages
 * plus a backend-specific wake-up (PostQueuedCompletionStatus / eventfd).
 * Each listener is owned by one worker, which accepts on it and hands each
 * new connection to the next worker in turn.
 */
#ifndef IOCPD_INTERNAL_H
#define IOCPD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "iocpd.h"
#include "compat.h"
#include "thread.h"

#define IOCPD__MAX_WORKERS 64
#define IOCPD__DEFAULT_BUFFER_SIZE (64 * 1024)

/* The low bits of a connection id name its worker, so a send by id finds
 * the right inbox without a global table. */
#define IOCPD__ID_WORKER_BITS 8
#define IOCPD__ID_WORKER(id) ((unsigned)((id) & ((1u << IOCPD__ID_WORKER_BITS) - 1)))

#define container_of(ptr, type, member) \
  ((type *)((char *)(ptr) - offsetof(type, member)))

typedef struct iocpd__worker iocpd__worker;
typedef struct iocpd__listener iocpd__listener;

/* Messages a worker receives in its inbox. */
typedef enum iocpd__msg_type {
  IOCPD__MSG_SEND,            /* write a copy of data to connection `id` */
  IOCPD__MSG_ADOPT,           /* take over a freshly accepted connection */
  IOCPD__MSG_START_LISTENERS, /* start accepting on this worker's listeners */
  IOCPD__MSG_CLOSE_LISTENERS, /* close the listeners this worker owns */
  IOCPD__MSG_ABORT_ALL,       /* abort every connection of this worker */
  IOCPD__MSG_QUIT             /* leave the loop once nothing is pending */
} iocpd__msg_type;

typedef struct iocpd__msg {
  struct iocpd__msg *next;
  iocpd__msg_type type;
  uint64_t id;       /* SEND */
  iocpd_conn *conn;  /* ADOPT */
  size_t len;        /* SEND: bytes in data */
  char *data;        /* SEND: the copied bytes, allocated with the message */
} iocpd__msg;

/* The part of every connection that the shared core reads. Each backend's
 * struct iocpd_conn starts with this member, named `base`. */
typedef struct iocpd__conn_base {
  uint64_t id;
  iocpd__worker *worker;
  iocpd__listener *listener;
  const iocpd_handler *handler;
  void *data;              /* the handler's pointer */
  iocpd_addr peer;
  iocpd_addr local;
  int closing;             /* set under the worker lock; see registry.c */
  int outbound;            /* made by iocpd_connect, not accepted */
  uint64_t timer_due;      /* when the timer fires (iocpd__now_ms) */
  size_t timer_slot;       /* 1 + index in the worker's timer heap; 0 = unarmed */
  iocpd_conn *table_next;  /* chain in the worker's id table */
  iocpd__msg adopt_msg;    /* carries the connection to its worker */
} iocpd__conn_base;

#include "backend.h" /* iocpd__worker_os, iocpd__listener_os, struct iocpd_conn */

struct iocpd__listener {
  iocpd_server *server;
  char *name;
  iocpd_addr addr;
  const iocpd_handler *handler;
  void *handler_arg;
  size_t buffer_size;
  iocpd__worker *worker; /* the worker that accepts on it */
  int open;              /* set while the socket is open; owner only */
  iocpd_error_info start_error; /* why iocpd__listener_start failed */
  iocpd__listener_os os;
};

struct iocpd__worker {
  iocpd_server *server;
  unsigned index;
  iocpd__thread *thread;
  iocpd__mutex *lock;      /* guards inbox, table and conn closing flags */
  iocpd__msg *inbox_head;  /* under lock */
  iocpd__msg *inbox_tail;  /* under lock */
  iocpd_conn **table;      /* id -> conn, chained; mutated under lock */
  size_t table_size;       /* buckets, a power of two */
  size_t table_count;
  uint64_t next_seq;       /* owner only */
  int quit;                /* owner only */
  iocpd_conn **timers;     /* min-heap by timer_due; owner only */
  size_t timer_count;
  size_t timer_cap;
  iocpd__worker_os os;
};

struct iocpd_server {
  iocpd__worker *workers;
  unsigned worker_count;
  iocpd__listener *listeners;
  size_t listener_count;
  iocpd_log_fn log;
  void *log_arg;
  iocpd_log_level log_level;
  int64_t next_worker;       /* round robin for new connections; atomic */

  iocpd__mutex *control;     /* serialises broadcasts */
  iocpd__mutex *lock;        /* guards the fields below */
  iocpd__cond *changed;      /* signalled when conn_count falls or acks */
  size_t open_accepted;      /* accepted connections not yet freed */
  size_t open_all;           /* the same plus outbound ones */
  size_t acks_pending;       /* broadcast messages not yet processed */
  size_t ack_result;         /* sum reported by workers for a broadcast */
  int listeners_closed;
};

/* --- log.c --- */

/* Formats and passes a message to the server's log function, if the level
 * is enabled. */
void iocpd__log(iocpd_server *server, iocpd_log_level level, const char *fmt,
                ...) IOCPD__PRINTF(3, 4);

/* --- registry.c: ids, the per-worker table and the inbox --- */

int iocpd__worker_table_init(iocpd__worker *w);
void iocpd__worker_table_free(iocpd__worker *w);
/* Gives c an id and makes it findable by id. Owner worker only. */
int iocpd__conn_register(iocpd_conn *c);
/* Marks c closing so that sends by id fail from now on. Owner only. */
void iocpd__conn_mark_closing(iocpd_conn *c);
/* Removes c from its worker's table and counts it gone. Owner only. */
void iocpd__conn_unregister(iocpd_conn *c);
/* Appends msg to w's inbox and wakes w. Any thread. */
void iocpd__worker_post(iocpd__worker *w, iocpd__msg *msg);
/* Runs every message in the inbox. Owner worker only, from its loop. */
void iocpd__worker_run_inbox(iocpd__worker *w);
/* The worker a new connection should go to (round robin). */
iocpd__worker *iocpd__next_worker(iocpd_server *s);

/* --- timer.c --- */

/* Disarms c's timer (at teardown). Owner only. */
void iocpd__timer_remove(iocpd_conn *c);
/* Milliseconds until w's earliest timer, 0 if one is due, -1 if none. */
int iocpd__timers_timeout(iocpd__worker *w);
/* Fires every due timer. */
void iocpd__timers_run(iocpd__worker *w);
void iocpd__timers_free(iocpd__worker *w);

/* --- server.c --- */

/* A handler that does nothing: given to a connection the engine must end
 * without telling anyone (e.g. an iocpd_connect that failed halfway). */
extern const iocpd_handler iocpd__silent_handler;

/* Counts a new connection (an accepted one as soon as it is accepted,
 * before it is handed to its worker, so that drains see it). */
void iocpd__server_conn_added(iocpd_server *s, int outbound);
/* Reports that a broadcast message was processed, adding result. */
void iocpd__server_ack(iocpd_server *s, size_t result);
/* A worker's thread body: runs the backend loop. */
void iocpd__worker_main(void *arg);

/* --- the backend: each implements exactly these, plus the public
 * iocpd_read/write/shutdown/close/abort. --- */

/* Process-wide setup (e.g. WSAStartup); balanced by backend_cleanup. err
 * may be NULL. */
int iocpd__backend_init(iocpd_error_info *err);
void iocpd__backend_cleanup(void);
/* Creates and frees a worker's event loop (not its thread). */
int iocpd__loop_init(iocpd__worker *w);
void iocpd__loop_free(iocpd__worker *w);
/* Runs the loop until w->quit is set and nothing is pending. */
void iocpd__loop_run(iocpd__worker *w);
/* Makes the loop call iocpd__worker_run_inbox soon. Any thread. */
void iocpd__loop_wakeup(iocpd__worker *w);
/* Creates, binds and listens; does not accept yet. Fills err on failure
 * with a message naming the listener, the address and the OS error. */
int iocpd__listener_bind(iocpd__listener *l, iocpd_error_info *err);
/* Starts accepting. Runs once, on the owner worker's thread, after every
 * listener is bound. */
int iocpd__listener_start(iocpd__listener *l, iocpd_error_info *err);
/* Closes the listening socket. Owner worker's thread, or any thread before
 * the workers start / after they are joined. Idempotent. */
void iocpd__listener_close(iocpd__listener *l);
/* Takes over a connection handed over in an ADOPT message: registers it,
 * attaches it to w's loop and calls on_accept. Owner worker only. */
void iocpd__conn_adopt(iocpd__worker *w, iocpd_conn *c);
/* Queues msg's data as a write on c; msg is freed once it is sent or the
 * connection is gone. Owner worker only. */
void iocpd__conn_send_msg(iocpd_conn *c, iocpd__msg *msg);
/* Writes a description of an OS error code into buf. */
void iocpd__os_strerror(long os_error, char *buf, size_t len);

#endif /* IOCPD_INTERNAL_H */
