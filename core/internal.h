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
#include "thread.h"

#define IOCPD__MAX_WORKERS 64
#define IOCPD__DEFAULT_BUFFER_SIZE (64 * 1024)

/* The low bits of a connection id name its worker, so a send by id finds
 * the right inbox without a global table. */
#define IOCPD__ID_WORKER_BITS 8
#define IOCPD__ID_WORKER(id) ((unsigned)((id) & ((1u << IOCPD__ID_WORKER_BITS) - 1)))

/* The struct a member pointer lies in. (clang-format 14 takes the cast's
 * parentheses for a call and would glue the minus to them.) */
/* clang-format off */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
/* clang-format on */

typedef struct iocpd__worker iocpd__worker;
typedef struct iocpd__listener iocpd__listener;

/* Messages a worker receives in its inbox. */
typedef enum iocpd__msg_type {
  IOCPD__MSG_SEND,             /* write a copy of data to connection `id` */
  IOCPD__MSG_ADOPT,            /* take over a freshly accepted connection */
  IOCPD__MSG_START_LISTENERS,  /* start accepting on this worker's listeners */
  IOCPD__MSG_CLOSE_LISTENERS,  /* close the listeners this worker owns */
  IOCPD__MSG_ABORT_ALL,        /* abort every connection of this worker */
  IOCPD__MSG_RESUME_LISTENERS, /* accept again on paused listeners with room */
  IOCPD__MSG_PARK,             /* wait while iocpd_server_update changes listeners */
  IOCPD__MSG_CLOSE_RETIRED,    /* close this worker's listeners that an update removed */
  IOCPD__MSG_QUIT              /* leave the loop once nothing is pending */
} iocpd__msg_type;

typedef struct iocpd__msg {
  struct iocpd__msg *next;
  iocpd__msg_type type;
  uint64_t id;             /* SEND */
  iocpd_end_reason reason; /* ABORT_ALL: the reason given to each */
  iocpd_conn *conn;        /* ADOPT */
  size_t len;              /* SEND: bytes in data */
  char *data;              /* SEND: the copied bytes, allocated with the message */
} iocpd__msg;

#include "backend.h" /* iocpd__worker_os, iocpd__listener_os, iocpd__conn_os, iocpd__write_os */

/* One queued write. Only the head of a connection's queue is ever being
 * sent, so bytes leave in order even when a send completes partially. */
typedef struct iocpd__write_req {
  struct iocpd__write_req *next;
  const char *data;
  size_t len;
  size_t done;     /* bytes already handed to the OS */
  void *arg;       /* for on_sent */
  iocpd__msg *msg; /* a send by id: the message owns data; freed after */
  iocpd__write_os os;
} iocpd__write_req;

/* The listener settings of one iocpd_server_create or iocpd_server_update:
 * every connection accepted under them holds a reference (so does each
 * listener using them), and the last one gone calls release. */
typedef struct iocpd__generation {
  volatile int64_t refs; /* atomic */
  void (*release)(void *arg);
  void *release_arg;
} iocpd__generation;

/* A connection. The state machine that the public API drives (conn.c)
 * lives in the fields above `os`, written once for both backends; `os`
 * holds what only the backend's own calls touch (its socket, its
 * operations in flight, its readiness). */
struct iocpd_conn {
  uint64_t id;
  iocpd__worker *worker;
  iocpd__listener *listener;
  const iocpd_handler *handler;
  void *data; /* the handler's pointer */
  /* The listener's settings when the connection was made: an update of
   * the listener applies to later connections only. */
  void *handler_arg;
  size_t buffer_size;
  iocpd__generation *generation;
  iocpd_addr peer;
  iocpd_addr local;
  int closing;       /* closed or aborted; set under the worker lock
                        (see registry.c) so sends by id see it */
  int parked;        /* accepted while the server was full; unserved */
  int outbound;      /* made by iocpd_connect, not accepted */
  int check;         /* an active health check (health.c): no stats */
  int ip_counted;    /* counted in its listener's per-address table */
  int established;   /* accepted, or its outbound connect succeeded */
  int local_unknown; /* `local` not looked up yet (iocpd__conn_local) */
  /* accept_proxy (proxy_front.c): the header versions still awaited (0
   * once it is in, or when none is expected); whether it gave addresses,
   * and then the balancer's, which `peer` no longer is. */
  unsigned char proxy_versions;
  unsigned char proxied;
  iocpd_addr proxy_peer;
  struct iocpd__proxy_read *proxy_read; /* the header so far, while reading it */
  const iocpd_handler *proxy_handler;   /* the listener's, while the front reads */
  /* Input read ahead of the handler (the bytes after a PROXY header): the
   * next reads deliver it, from the worker's deferred list, before
   * anything more comes from the socket. */
  char *pending;
  size_t pending_len, pending_off;
  unsigned char deferred; /* on the worker's deferred list */
  iocpd_conn *deferred_next;
  /* What the handler asked for, and how far the connection has come. */
  unsigned char want_read;       /* iocpd_read: a read is wanted */
  unsigned char peer_closed;     /* on_peer_closed was delivered */
  unsigned char shut_requested;  /* iocpd_shutdown was called */
  unsigned char shut_done;       /* our FIN went out (or is not needed) */
  unsigned char close_requested; /* iocpd_close was called */
  unsigned char aborting;        /* iocpd_abort was called (or a failure) */
  unsigned char connecting;      /* iocpd_connect has not completed */
  unsigned char socket_closed;   /* the socket is closed (iocpd__os_close) */
  char *rbuf;                    /* the engine's read buffer, while the handler holds data */
  iocpd__write_req *wq_head;     /* the write queue */
  iocpd__write_req *wq_tail;
  iocpd__write_req spare; /* one write without an allocation */
  unsigned char spare_used;
  size_t write_count;     /* writes queued, for iocpd_conn_pending_writes */
  uint64_t bytes_in;      /* received from the peer */
  uint64_t bytes_out;     /* sent to the peer */
  uint64_t start_ms;      /* wall clock, for records */
  uint64_t start_mono_ms; /* monotonic, for the duration */
  iocpd_end_reason end_reason;
  uint64_t timer_due;     /* its key in the timer heap (iocpd_now_ms) */
  uint64_t timer_want;    /* when it should fire; may be later than due */
  size_t timer_slot;      /* 1 + index in the worker's timer heap; 0 = unarmed */
  uint64_t linger_mark;   /* bytes_out when the close linger last looked */
  uint64_t linger_since;  /* when bytes_out last moved (worker clock) */
  iocpd_conn *table_next; /* chain in the worker's id table */
  iocpd__msg adopt_msg;   /* carries the connection to its worker */
  iocpd__conn_os os;
};

/* A log rate limit: at most one line per IOCPD__LOG_LIMIT_MS; the lines
 * dropped in between are counted and reported with the next one. */
#define IOCPD__LOG_LIMIT_MS 1000
typedef struct iocpd__log_limit {
  uint64_t last_ms;    /* when a line last went out; 0 = never */
  uint64_t suppressed; /* lines dropped since */
} iocpd__log_limit;

/* Rate-limited handler messages (iocpd_conn_log_limited): one limit per
 * message format, for this many formats per listener. */
#define IOCPD__HANDLER_LOG_FORMATS 4

/* A per-address connection count (max_connections_per_ip). */
typedef struct iocpd__ip_count {
  struct iocpd__ip_count *next;
  uint8_t ip[16]; /* IPv4 in its IPv4-mapped IPv6 form */
  size_t count;
} iocpd__ip_count;

/* One address a listener's connections connect to, and how its attempts
 * went (health.c). */
typedef struct iocpd__upstream_health {
  iocpd_addr addr;
  uint32_t fails_in_row; /* failed attempts since the last success */
  int down;              /* marked down, not yet succeeded since */
  uint64_t down_until;   /* iocpd_now_ms until which it is skipped */
  /* Active checks: results in a row, and the state they set. */
  uint32_t checks_ok, checks_failed;
  int check_down;
} iocpd__upstream_health;

/* A UDP forward session (udp.c): one client address and port, relayed
 * through a connected socket of its own to one upstream. It lives on its
 * listener's worker, in the listener's table, and is touched by that
 * worker only. */
typedef struct iocpd__udp_session {
  iocpd__listener *listener;
  struct iocpd__udp_session *hash_next; /* chain in the listener's table */
  struct iocpd__udp_session *older;     /* the listener's sessions by last activity */
  struct iocpd__udp_session *newer;
  iocpd_addr client;                /* as shown (IPv4 for a mapped address) */
  const iocpd_forward_options *fwd; /* the listener's settings when it began */
  iocpd__generation *generation;    /* ...and its reference on them */
  size_t upstream;                  /* index in fwd->upstreams it sends to */
  size_t upstreams_tried;           /* moved on after a failure, since the last reply */
  uint64_t last_ms;                 /* worker clock at its last datagram either way */
  uint64_t start_ms, start_mono_ms; /* wall clock and monotonic, at the first */
  uint64_t datagrams[4];            /* in, out, up, down (IOCPD__BYTES_* order) */
  uint64_t bytes[4];
  iocpd_end_reason end_reason;
  unsigned char ended;      /* out of the table; its socket is closing */
  unsigned char replied;    /* the upstream has answered since it was chosen */
  unsigned char ip_counted; /* counted under its address (max_connections_per_ip) */
  iocpd__udp_session_os os; /* its socket, queues and the client's raw address */
} iocpd__udp_session;

struct iocpd__listener {
  iocpd_server *server;
  char *name;
  iocpd_addr addr;
  int dual_stack; /* IPv6 wildcard taking IPv4 too: as bound, never changed */
  int udp;        /* protocol IOCPD_UDP: datagrams (udp.c), never connections */
  /* What new connections get; replaced by iocpd_server_update under the
   * server lock, read under it when a connection is made. */
  const iocpd_handler *handler;
  void *handler_arg;
  size_t buffer_size;
  iocpd__generation *generation;
  iocpd__worker *worker;         /* the worker that accepts on it */
  int open;                      /* set while the socket is open; owner only */
  int started;                   /* accepting was started; owner only */
  int retired;                   /* removed by an update: closing, then draining */
  uint64_t retire_deadline;      /* iocpd_now_ms when its connections are aborted */
  iocpd__listener *next_retired; /* the server's list of retired listeners */
  iocpd_error_info start_error;  /* why iocpd__listener_start failed */
  /* Admission (admission.c); the fields below are guarded by the server
   * lock unless marked otherwise. */
  size_t max_conns;  /* 0 = no limit */
  size_t max_per_ip; /* 0 = no limit */
  iocpd_cidr *allow; /* copied from the options */
  size_t allow_count;
  iocpd_cidr *deny;
  size_t deny_count;
  size_t conns_open;          /* accepted and not yet freed */
  size_t slots_reserved;      /* accepts under way that may become connections */
  size_t parked;              /* accepted, held unserved until the server has room */
  int paused;                 /* accepting stopped at a limit */
  int resume_posted;          /* a RESUME message is on its way to the owner */
  int retry;                  /* accepting failed for lack of resources; owner only */
  uint64_t last_retry_log_ms; /* owner only */
  iocpd__ip_count **ip_table; /* per-address counts, chained */
  size_t ip_table_size;
  iocpd__log_limit reject_log; /* rejection warnings */
  /* PROXY headers from a balancer (see iocpd_listener_options). */
  unsigned accept_proxy;
  iocpd_cidr *proxy_trusted;
  size_t proxy_trusted_count;
  uint32_t proxy_timeout_ms;
  /* Handler warnings by message format (see log.c). */
  const char *handler_log_format[IOCPD__HANDLER_LOG_FORMATS];
  iocpd__log_limit handler_log[IOCPD__HANDLER_LOG_FORMATS];
  /* Passive health of the addresses its connections connect to
   * (health.c): under the server lock. */
  uint32_t max_fails;       /* 0 = never mark down */
  uint32_t fail_timeout_ms; /* how long a down address is skipped */
  iocpd__upstream_health *health;
  size_t health_count, health_cap;
  /* Active checks (health.c); the targets are copied from the options. */
  uint32_t health_interval_ms, health_timeout_ms, rise, fall;
  iocpd_addr *health_targets;
  size_t health_target_count;
  int health_send_proxy;      /* a check's header: 0 none, 1 v1 UNKNOWN, 2 v2 LOCAL */
  uint64_t health_next;       /* when the owner worker checks next; owner only */
  iocpd_listener_stats stats; /* under the server lock, except bytes */
  volatile int64_t turns;     /* iocpd_conn_listener_turn; atomic */
  /* Bytes in, out, up, down: updated on every read and write by the
   * connections' own workers, so atomically instead of under a lock. */
  volatile int64_t bytes[4];
  /* UDP (udp.c). Datagrams and drops are counted like bytes, atomically;
   * the sessions are the owner worker's alone. */
  volatile int64_t datagrams[4];
  volatile int64_t udp_dropped[IOCPD_UDP_DROP_KINDS];
  iocpd__udp_session **udp_table; /* by client address, chained */
  size_t udp_buckets, udp_count;
  iocpd__udp_session *udp_oldest, *udp_newest;
  uint32_t udp_idle_ms; /* forward: sessions idle this long end */
  iocpd__listener_os os;
};

/* Recently freed buffers of one size (bufcache.c). */
#define IOCPD__BUFFER_CLASSES 4
typedef struct iocpd__buffer_class {
  size_t size; /* 0 = unused class */
  char **free; /* a stack of buffers of that size */
  int count;
} iocpd__buffer_class;

struct iocpd__worker {
  iocpd_server *server;
  unsigned index;
  iocpd_thread *thread;
  iocpd_mutex *lock;      /* guards inbox, table and conn closing flags */
  iocpd__msg *inbox_head; /* under lock */
  iocpd__msg *inbox_tail; /* under lock */
  iocpd_conn **table;     /* id -> conn, chained; mutated under lock */
  size_t table_size;      /* buckets, a power of two */
  size_t table_count;
  uint64_t next_seq;                                  /* owner only */
  int quit;                                           /* owner only */
  iocpd__buffer_class buffers[IOCPD__BUFFER_CLASSES]; /* owner only */
  uint64_t now_ms;      /* iocpd_now_ms at this loop pass; owner only */
  uint64_t retry_at;    /* when to retry listeners marked retry; 0 = none */
  uint64_t drain_at;    /* when to abort connections of retired listeners; 0 = none */
  uint64_t health_at;   /* when one of its listeners is due a health check; 0 = none */
  uint64_t udp_at;      /* when a UDP session of its listeners may expire; 0 = none */
  iocpd_conn *deferred; /* connections with read-ahead input to deliver; owner only */
  iocpd_conn **timers;  /* min-heap by timer_due; owner only */
  size_t timer_count;
  size_t timer_cap;
  iocpd__worker_os os;
};

struct iocpd_server {
  iocpd__worker *workers;
  unsigned worker_count;
  iocpd__listener **listeners; /* in options order; changed only while every
                                  worker is parked (iocpd_server_update) */
  size_t listener_count;
  iocpd__listener *retired; /* removed by updates; freed with the server */
  iocpd_log_fn log;
  iocpd_log_event_fn log_event;
  void *log_arg;
  iocpd_log_level log_level;
  int64_t next_worker; /* round robin for new connections; atomic */

  iocpd_mutex *control;             /* serialises broadcasts */
  iocpd_mutex *lock;                /* guards the fields below */
  iocpd_cond *changed;              /* signalled when conn_count falls or acks */
  size_t open_accepted;             /* accepted connections not yet freed */
  size_t open_all;                  /* the same plus outbound ones */
  size_t max_conns;                 /* accepted connections; 0 = no limit */
  size_t slots_reserved;            /* accepts under way that hold a server slot */
  size_t parked;                    /* connections held unserved, all listeners */
  iocpd_connect_failures *failures; /* per (listener, upstream) */
  size_t failure_count;
  size_t failure_cap;
  void (*on_access)(void *arg, const iocpd_access_record *record);
  void *access_arg;
  uint32_t close_linger_ms; /* see iocpd_server_options */
  size_t acks_pending;      /* broadcast messages not yet processed */
  size_t ack_result;        /* sum reported by workers for a broadcast */
  int listeners_closed;
  int parking; /* an update wants every worker parked */
  unsigned workers_parked;
};

/* --- log.c --- */

/* Formats and passes a message to the server's log function, if the level
 * is enabled. */
void iocpd__log(iocpd_server *server, iocpd_log_level level, const char *fmt, ...)
    IOCPD_PRINTF(3, 4);
/* The same for a message about a kind of event (see iocpd_log_event). */
void iocpd__log_event(iocpd_server *server, iocpd_log_level level, iocpd_log_event event,
                      const char *fmt, ...) IOCPD_PRINTF(4, 5);
/* iocpd_conn_log_limited for a kind of event. */
void iocpd__conn_log_limited_event(const iocpd_conn *conn, iocpd_log_level level,
                                   iocpd_log_event event, const char *fmt, ...) IOCPD_PRINTF(4, 5);
/* Whether a rate-limited line may go out at `now`: returns 1 and sets
 * *suppressed to the lines dropped since the last one, or counts this one
 * as dropped and returns 0. The caller serialises calls for one limit
 * (the server lock). */
int iocpd__log_limit_pass(iocpd__log_limit *limit, uint64_t now, uint64_t *suppressed);

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
/* Aborts w's connections of retired listeners whose drain deadline has
 * passed, and sets w->drain_at to the next deadline (0: none). Owner. */
void iocpd__abort_retired(iocpd__worker *w, uint64_t now);
/* The worker a new connection should go to (round robin). */
iocpd__worker *iocpd__next_worker(iocpd_server *s);

/* --- bufcache.c --- */

/* A buffer of size bytes from w's cache (or malloc), and back: what
 * iocpd_buffer_get/put do for a connection's worker. Owner worker. */
char *iocpd__buffer_get(iocpd__worker *w, size_t size);
void iocpd__buffer_put(iocpd__worker *w, char *buf, size_t size);
/* Frees the worker's cached buffers (at server free). */
void iocpd__buffers_free(iocpd__worker *w);

/* --- conn.c: the connection state machine, both backends --- */

/* A new connection of listener l with the settings (handler_arg, buffer
 * size, a reference on their generation) of `like`, or with l's current
 * ones and handler when like is NULL: shared fields set, start times
 * stamped; no socket, no worker yet. NULL when out of memory. On a
 * worker thread only. */
iocpd_conn *iocpd__conn_alloc(iocpd__listener *l, const iocpd_conn *like);
/* Frees a connection that never reached a worker (or is done), and drops
 * its generation reference. */
void iocpd__conn_discard(iocpd_conn *c);
/* Takes over a connection handed over in an ADOPT message (or directly by
 * its listener's own worker): registers it, attaches it to w's loop and
 * calls on_accept. Owner worker only. */
void iocpd__conn_adopt(iocpd__worker *w, iocpd_conn *c);
/* Queues msg's data as a write on c; msg is freed once it is sent or the
 * connection is gone. Owner worker only. */
void iocpd__conn_send_msg(iocpd_conn *c, iocpd__msg *msg);
/* Appends a write to c's queue and returns it, or NULL when out of
 * memory. (iocpd_write, and the splice path, which queues pipes.) */
iocpd__write_req *iocpd__wq_push(iocpd_conn *c, const void *data, size_t len, void *arg);
/* Drops every queued write (teardown). */
void iocpd__wq_clear(iocpd_conn *c);

/* What a backend reports as its operations complete. Always from its
 * loop, never inside a call of the handler's. */

/* The buffer a read fills, *size bytes: the handler's (on_alloc) or the
 * engine's own. NULL when out of memory. */
char *iocpd__conn_read_buffer(iocpd_conn *c, size_t *size);
/* Gives back a buffer from iocpd__conn_read_buffer that received nothing. */
void iocpd__conn_release_buffer(iocpd_conn *c, char *buf);
/* A read brought n > 0 bytes in buf, or the peer's FIN (n == 0): counts
 * them and calls on_data or on_peer_closed. */
void iocpd__conn_read_done(iocpd_conn *c, char *buf, size_t n);
/* n more bytes of the queue's head went to the OS. Completes the head when
 * it is whole (on_sent), then sends the FIN and closes the socket if they
 * were waiting for the queue to empty. */
void iocpd__conn_wrote(iocpd_conn *c, size_t n);
/* The outbound connect finished with status (0 or IOCPD_E*): on_connect,
 * and an abort on failure. */
void iocpd__conn_connected(iocpd_conn *c, int status);
/* A read or write failed with err (IOCPD_E*): records the reset, tells
 * the handler (on_error) unless it closed or aborted, and aborts. */
void iocpd__conn_fail(iocpd_conn *c, int err);
/* The last step: the socket is closed and nothing is pending on it any
 * more. on_closed, then the memory goes. */
void iocpd__conn_free(iocpd_conn *c);

/* The backend's side of a connection: each backend's conn.c implements
 * these, with OS calls only; conn.c decides when. */

/* Puts c (its worker set) on that worker's loop. Returns 0 or IOCPD_E*. */
int iocpd__os_attach(iocpd_conn *c);
/* Creates c's socket and starts connecting it to `to` on c's worker's
 * loop; the outcome arrives through iocpd__conn_connected. Returns 0 or
 * IOCPD_E*, and then nothing is left to undo. */
int iocpd__os_connect(iocpd_conn *c, const iocpd_addr *to);
/* Starts a read (want_read is set) unless one is under way; its outcome
 * arrives through iocpd__conn_read_done or iocpd__conn_fail. */
void iocpd__os_read(iocpd_conn *c);
/* Starts sending the head of c's queue unless a send is under way;
 * progress arrives through iocpd__conn_wrote or iocpd__conn_fail. */
void iocpd__os_write(iocpd_conn *c);
/* Sends FIN now: every queued write is out. */
void iocpd__os_shutdown(iocpd_conn *c);
/* Closes c's socket: gracefully, or with a reset (reset = 1) that drops
 * unsent data. Operations in flight complete with errors, which conn.c
 * ignores once the connection is closing. */
void iocpd__os_close(iocpd_conn *c, int reset);
/* Makes sure the loop looks at c soon, so that its teardown runs from
 * there once nothing is pending. */
void iocpd__os_schedule(iocpd_conn *c);
/* Releases what the backend still holds for c, just before it is freed. */
void iocpd__os_release(iocpd_conn *c);
/* Fills c->local from the socket (asked for through iocpd_conn_local_addr,
 * when the listener's address does not tell). Owner. */
void iocpd__conn_local(iocpd_conn *c);

/* Takes the next read's input from c->pending instead of the socket
 * (iocpd_read), from the loop's next pass; until then c->deferred is set
 * and want_read clear. Owner only. */
void iocpd__conn_defer(iocpd_conn *c);
/* Delivers the read-ahead input of the connections deferred on w. Each
 * backend calls it once per loop pass, and does not block while
 * w->deferred is set. Owner only. */
void iocpd__conn_run_deferred(iocpd__worker *w);

/* --- proxy.c --- */

/* The header of version 1 or 2 that carries no address (v1 UNKNOWN, v2
 * LOCAL), as constant bytes, and its length in *len. */
const void *iocpd__proxy_no_address(int version, size_t *len);

/* --- proxy_front.c: PROXY headers on accept_proxy listeners --- */

/* Starts reading c's header (c->proxy_versions are the versions
 * accepted) before its listener's handler sees it; instead of on_accept.
 * Returns 0 or IOCPD_E* (the caller aborts c). */
int iocpd__proxy_front_start(iocpd_conn *c);

/* --- udp.c: UDP listeners, what both backends share --- */

/* The receive buffer asked for on a UDP listener's socket. */
#define IOCPD__UDP_RECEIVE_BUFFER (4 * 1024 * 1024)
/* The most datagram bytes a worker holds while they wait for a socket to
 * take them (copies queued on epoll, sends in flight on IOCP), over all
 * its sessions: beyond it they are dropped as queue_full. */
#define IOCPD__UDP_QUEUED_MAX (16 * 1024 * 1024)

/* Whether a datagram from src may be served (allow/deny). Owner worker;
 * no lock: the lists change only while every worker is parked. */
int iocpd__admit_datagram(iocpd__listener *l, const iocpd_addr *src);
/* Counts a new session of client within max_connections and
 * max_connections_per_ip: 0 (*ip_counted set if it counts under its
 * address), or IOCPD_UDP_DROP_SESSIONS / _PER_IP / _NOMEM (the caller
 * counts the drop). Takes the server lock. */
int iocpd__admit_session(iocpd__listener *l, const iocpd_addr *client, unsigned char *ip_counted);
/* Forgets a session counted by iocpd__admit_session. */
void iocpd__admit_session_forget(iocpd__listener *l, const iocpd_addr *client, int ip_counted);

/* Counts n datagrams of `bytes` bytes in direction `which`
 * (IOCPD__BYTES_*) on l, and on s when not NULL. */
void iocpd__udp_count(iocpd__listener *l, iocpd__udp_session *s, int which, uint64_t n,
                      uint64_t bytes);
/* Counts one datagram on s alone, for a batch whose listener total is
 * counted once (iocpd__udp_count with s NULL). Owner worker. */
void iocpd__udp_count_session(iocpd__udp_session *s, int which, uint64_t bytes);
/* Counts n datagrams dropped for `reason` (IOCPD_UDP_DROP_*). */
void iocpd__udp_drop(iocpd__listener *l, int reason, uint64_t n);
/* The session of client (raw: its address as the socket gave it), made
 * if new: allowed, within the limits, its upstream chosen and its socket
 * connected (iocpd__udp_os_open). NULL when the datagram is to be
 * dropped; the drop is counted. Owner worker. */
iocpd__udp_session *iocpd__udp_session_get(iocpd__listener *l, const iocpd_addr *client,
                                           const void *raw, size_t raw_len);
/* A datagram went either way: the session is the newest again. */
void iocpd__udp_touch(iocpd__udp_session *s);
/* Ends s: out of the table, reported to the access log, its socket
 * closed (iocpd__udp_os_close), freed once nothing is pending on it. */
void iocpd__udp_session_end(iocpd__udp_session *s, iocpd_end_reason reason);
/* A datagram came back from s's upstream (after iocpd__udp_count). */
void iocpd__udp_replied(iocpd__udp_session *s);
/* Its upstream refused a datagram (ICMP port or host unreachable):
 * counts a failed attempt there and moves s to the next upstream (the
 * session ends if none can be used). Owner worker. */
void iocpd__udp_upstream_failed(iocpd__udp_session *s);
/* Ends every session of l (its socket is closing). */
void iocpd__udp_end_all(iocpd__listener *l, iocpd_end_reason reason);
/* Frees a session once it has ended and nothing is pending on it. */
void iocpd__udp_session_free(iocpd__udp_session *s);
/* Ends the sessions of w's listeners idle past their timeout and sets
 * w->udp_at to the next time one may be. Owner worker. */
void iocpd__udp_expire(iocpd__worker *w, uint64_t now);
/* 0 if o is a TCP listener, or a UDP one with settings that mean
 * something for UDP (see IOCPD_UDP); else IOCPD_EINVAL and err (may be
 * NULL) says what is wrong. */
int iocpd__udp_options_check(const iocpd_listener_options *o, iocpd_error_info *err);
/* 1 if l serves datagrams with the echo handler (no sessions). */
int iocpd__udp_is_echo(const iocpd__listener *l);

/* The backend's side (posix/udp.c, win/udp.c). */

/* Binds l's datagram socket (iocpd__listener_bind for UDP). */
int iocpd__udp_bind(iocpd__listener *l, iocpd_error_info *err);
/* Starts receiving on it (iocpd__listener_start for UDP). */
int iocpd__udp_start(iocpd__listener *l, iocpd_error_info *err);
/* Closes it and ends its sessions (iocpd__listener_close for UDP). */
void iocpd__udp_close(iocpd__listener *l);
/* Creates s's socket, connected to its upstream, and starts receiving on
 * it. Returns 0 or IOCPD_E*. */
int iocpd__udp_os_open(iocpd__udp_session *s);
/* Connects s's socket to its (new) upstream: 0, or IOCPD_E* when it
 * cannot (the caller ends the session). */
int iocpd__udp_os_reconnect(iocpd__udp_session *s);
/* Closes s's socket and drops its queues; frees s (iocpd__udp_session_free)
 * at once or when its last operation completes. */
void iocpd__udp_os_close(iocpd__udp_session *s);

/* --- timer.c --- */

/* Disarms c's timer (at teardown). Owner only. */
void iocpd__timer_remove(iocpd_conn *c);
/* Called by iocpd_close: if writes are still queued, arms
 * c's timer for the server's close linger, so that a close behind a peer
 * that stops reading ends in an abort instead of lasting for ever. From
 * then on c's timer serves the linger only (a closing connection's
 * handler gets no on_timer). Owner only. */
void iocpd__linger_start(iocpd_conn *c);
/* Accepting on l failed for lack of resources (descriptors, sockets,
 * memory): stop for a moment and retry from the loop, instead of spinning
 * on a listener that stays ready or losing it for good. Logs os_error at
 * most once a second. Owner worker. */
void iocpd__listener_retry_later(iocpd__listener *l, const char *what, long os_error);
/* Milliseconds until w's earliest timer, 0 if one is due, -1 if none. */
int iocpd__timers_timeout(iocpd__worker *w);
/* Notes the time for this loop pass and fires every due timer. Each
 * backend calls it once per pass, after waiting. */
void iocpd__timers_run(iocpd__worker *w);
void iocpd__timers_free(iocpd__worker *w);

/* --- admission.c: limits, allow/deny, per-address counts --- */

enum {
  IOCPD__ADMITTED = 0,
  IOCPD__REJECT_DENIED = 1,
  IOCPD__REJECT_PER_IP = 2,
  IOCPD__ADMIT_LATER = 3,     /* server full: hold the connection unserved */
  IOCPD__REJECT_UNTRUSTED = 4 /* accept_proxy: the peer is not in proxy_trusted */
};

/* Reserves room for one more connection on l, within the listener's and
 * the server's limits. Returns 1, or 0 when full: l is then paused, and a
 * RESUME_LISTENERS message reaches its worker once room opens. Owner. */
int iocpd__admit_reserve(iocpd__listener *l);
/* Gives back a reservation that did not become a connection. */
void iocpd__admit_release(iocpd__listener *l);
/* Decides on a just-accepted connection c (its listener and peer set, not
 * yet on any worker): deny, then allow, then the per-address limit; on
 * an accept_proxy listener only whether the peer is a trusted balancer
 * (the rest waits for the header: iocpd__admit_client). On
 * IOCPD__ADMITTED the reservation becomes an open connection, counted. On
 * a rejection the reservation is given back, the rejection counted and
 * logged (at most once a second per listener), and the caller resets the
 * socket and frees c. IOCPD__ADMIT_LATER happens only where accept slots
 * do not hold a server-wide slot (IOCP; see IOCPD__SLOT_HOLDS_SERVER): the
 * server is full, and the caller keeps c unserved ("parked") and calls
 * iocpd__admit again when its listener is resumed. */
int iocpd__admit(iocpd_conn *c);
/* The second half of iocpd__admit on an accept_proxy listener, once the
 * header has replaced c->peer with the client's address: deny, allow,
 * the per-address limit. Counts c accepted, or counts and logs the
 * rejection and sets c's end reason (the caller aborts c and reports it
 * to the access log). */
int iocpd__admit_client(iocpd_conn *c);
/* Gives up a parked connection (its listener is closing): releases its
 * slot. The caller resets and frees it. */
void iocpd__admit_unpark(iocpd_conn *c);
/* Forgets a connection when it is freed: counts, its per-address entry,
 * and resumes listeners that were paused for lack of room. */
void iocpd__admit_forget(iocpd_conn *c);
/* Frees the listener's admission state (at server free). */
void iocpd__admit_free(iocpd__listener *l);

/* --- stats.c: counters for monitoring --- */

enum { IOCPD__BYTES_IN, IOCPD__BYTES_OUT, IOCPD__BYTES_UP, IOCPD__BYTES_DOWN };
/* Counts n bytes received (incoming = 1) or sent on c. Owner worker. */
void iocpd__count_bytes(iocpd_conn *c, int incoming, size_t n);
/* Stamps a new connection's start times. */
void iocpd__conn_started(iocpd_conn *c);
/* Counts a closed connection (duration histogram, failed connects).
 * Server lock held. Returns 1 if the failed connect marked its address
 * down (see iocpd__health_failed). */
int iocpd__count_closed(iocpd_conn *c);
/* Counts an outbound connect that failed before a connection existed. */
void iocpd__count_connect_failure(iocpd__listener *l, const iocpd_addr *to);
/* Listener settings (server.c). A generation starts with one reference,
 * the creator's. */
iocpd__generation *iocpd__generation_new(void (*release)(void *), void *arg);
void iocpd__generation_ref(iocpd__generation *g);
void iocpd__generation_unref(iocpd__generation *g);
/* A new listener of s, not bound, owned by worker w, with o's settings
 * (referencing g); NULL when out of memory. */
iocpd__listener *iocpd__listener_new(iocpd_server *s, const iocpd_listener_options *o,
                                     iocpd__worker *w, iocpd__generation *g);
int iocpd__listener_configure(iocpd__listener *l, const iocpd_listener_options *o,
                              iocpd__generation *g);
/* Closes (if open) and frees a listener no connection refers to any more. */
void iocpd__listener_free(iocpd__listener *l);
/* Passive health (health.c). A failed attempt (server lock held) returns
 * 1 if it marked the address down; the caller logs it with
 * iocpd__health_log_down once the lock is released. A success takes the
 * lock itself and logs a return to service. */
/* 1 if a and b are the same address and port. */
int iocpd__addr_equal(const iocpd_addr *a, const iocpd_addr *b);
int iocpd__health_failed(iocpd__listener *l, const iocpd_addr *to);
/* What iocpd_conn_upstream_down says, for a listener. Any thread. */
int iocpd__upstream_down(iocpd__listener *l, const iocpd_addr *upstream);
void iocpd__health_log_down(iocpd__listener *l, const iocpd_addr *to);
void iocpd__health_succeeded(iocpd__listener *l, const iocpd_addr *to);
void iocpd__health_free(iocpd__listener *l);
/* Active checks: starts those due on w's listeners and sets w->health_at
 * to the next due time (0: none). Owner worker. */
void iocpd__health_run_checks(iocpd__worker *w, uint64_t now);
/* Counts an accept (pipe = 0) or a splice pipe (pipe = 1) that the OS
 * refused for lack of descriptors. */
void iocpd__count_fd_exhausted(iocpd__listener *l, int pipe);
/* Frees the failure table. */
void iocpd__stats_free(iocpd_server *s);

/* --- server.c --- */

/* A handler that does nothing: given to a connection the engine must end
 * without telling anyone (e.g. an iocpd_connect that failed halfway). */
extern const iocpd_handler iocpd__silent_handler;

/* Counts a new outbound connection. (Accepted ones are counted by
 * iocpd__admit, before they are handed to their worker, so that drains
 * see them.) */
void iocpd__server_outbound_added(iocpd_server *s);
/* Reports that a broadcast message was processed, adding result. */
void iocpd__server_ack(iocpd_server *s, size_t result);
/* Sends a message of `type` to every worker and waits until each has run
 * it; returns the sum of what they reported. Not from a worker. */
size_t iocpd__broadcast(iocpd_server *s, iocpd__msg_type type);
/* Posts RESUME to the owners of paused listeners that have room now
 * (their limits may have changed). */
void iocpd__admit_recheck(iocpd_server *s);
/* A worker's thread body: runs the backend loop. */
void iocpd__worker_main(void *arg);

/* --- the backend's loop and listeners: each implements exactly these,
 * plus the connection hooks under conn.c above. --- */

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
/* Starts accepting again on a listener paused at a limit (owner worker).
 * Backends take new reservations with iocpd__admit_reserve as they go. */
void iocpd__listener_resume(iocpd__listener *l);
/* Writes a description of an OS error code into buf, in UTF-8. */
void iocpd__os_strerror(long os_error, char *buf, size_t len);
/* Resolves host (UTF-8) into at most max IPv4/IPv6 addresses, ports left
 * 0, and returns how many (0: the name has none) or an IOCPD_E* code with
 * the resolver's reason in errbuf (may be NULL). The backend is started. */
int iocpd__os_lookup(const char *host, iocpd_addr *out, size_t max, char *errbuf, size_t errlen);

#endif /* IOCPD_INTERNAL_H */
