/*
 * iocpd engine: a completion-shaped TCP server library, which also relays
 * and echoes UDP datagrams (see IOCPD_UDP).
 *
 * The engine accepts connections on one or more listeners and drives each
 * connection through a handler: a table of callbacks (see iocpd_handler).
 * The handler submits operations (read, write, shutdown, close) and is
 * called back when they complete, the way an I/O Completion Port works.
 * The same API runs on IOCP (Windows) and on epoll (Linux).
 *
 * Threads: the engine runs `workers` threads. Every connection belongs to
 * exactly one worker for its whole life, and all of its callbacks run on that
 * worker, never two at once. The iocpd_conn_* functions and iocpd_read,
 * iocpd_write, iocpd_shutdown, iocpd_close and iocpd_abort must be called on
 * the connection's worker, i.e. from inside one of its callbacks (or a
 * callback of another connection of the same worker). iocpd_server_send and
 * the iocpd_server_* lifecycle functions may be called from any thread.
 *
 * Errors: every function that can fail returns an int, 0 on success or a
 * negative IOCPD_E* code. A call that fails never invokes its callback.
 */
#ifndef IOCPD_H
#define IOCPD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IOCPD_VERSION "0.1.0"

/* Error codes. OS-specific values are translated to these once, inside the
 * backend; iocpd_error_info keeps the raw OS value for messages. */
enum {
  IOCPD_OK = 0,
  IOCPD_ENOMEM = -1,        /* out of memory */
  IOCPD_EINVAL = -2,        /* invalid argument */
  IOCPD_EADDRINUSE = -3,    /* address already in use */
  IOCPD_EADDRNOTAVAIL = -4, /* address not available on this machine */
  IOCPD_EACCES = -5,        /* permission denied */
  IOCPD_ECONNRESET = -6,    /* connection reset by peer */
  IOCPD_ECONNREFUSED = -7,  /* connection refused */
  IOCPD_ETIMEDOUT = -8,     /* operation timed out */
  IOCPD_ENETUNREACH = -9,   /* network or host unreachable */
  IOCPD_ECANCELED = -10,    /* operation canceled */
  IOCPD_ECLOSED = -11,      /* the connection is closing or closed */
  IOCPD_ENOTFOUND = -12,    /* no open connection has that id */
  IOCPD_EBUSY = -13,        /* an operation of that kind is already pending */
  IOCPD_EIO = -14,          /* any other operating-system error */
  IOCPD_ENOTSUP = -15,      /* not available on this platform */
  IOCPD_EMFILE = -16        /* out of file descriptors (handles on Windows) */
};

/* Returns a short English description of an IOCPD_E* code. Never NULL. */
const char *iocpd_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Addresses */

#define IOCPD_AF_INET 4
#define IOCPD_AF_INET6 6

/* A numeric IPv4 or IPv6 address with a port, independent of any OS
 * header. ip holds 4 bytes (IPv4) or 16 bytes (IPv6) in network order. */
typedef struct iocpd_addr {
  int family;    /* IOCPD_AF_INET or IOCPD_AF_INET6 */
  uint16_t port; /* host byte order */
  uint8_t ip[16];
  uint32_t scope_id; /* IPv6 zone index, 0 if none */
} iocpd_addr;

/* Enough room for "[ipv6%scope]:port" and its terminating NUL. */
#define IOCPD_ADDR_STRLEN 64

/* Parses "a.b.c.d:port" or "[ipv6]:port" (numeric only; port 1-65535).
 * Returns 0 and fills *out, or IOCPD_EINVAL and leaves *out unspecified. */
int iocpd_addr_parse(const char *text, iocpd_addr *out);

/* Parses a numeric IPv4 or IPv6 address without a port or brackets.
 * Returns 0 or IOCPD_EINVAL; the port of *out is set to 0. */
int iocpd_addr_parse_ip(const char *text, iocpd_addr *out);

/* Writes addr as "a.b.c.d:port" or "[ipv6]:port" into buf (IOCPD_ADDR_STRLEN
 * bytes) and returns buf. */
char *iocpd_addr_format(const iocpd_addr *addr, char *buf);

/* 1 if addr (its port ignored) is the wildcard 0.0.0.0 or ::, else 0. */
int iocpd_addr_is_wildcard(const iocpd_addr *addr);

/* Resolves "host:port", "a.b.c.d:port" or "[ipv6]:port" to every address
 * the name has (IPv4 and IPv6, in the resolver's order), through the
 * system resolver. Writes at most max addresses to out and returns how many
 * (> 0), or IOCPD_EINVAL (malformed text or port), IOCPD_ENOTFOUND (the name
 * does not resolve) or another negative code; on failure a one-line reason
 * goes to errbuf (errlen bytes; errbuf may be NULL). May block: call it
 * while loading configuration, never from a callback. */
int iocpd_resolve(const char *text, iocpd_addr *out, size_t max, char *errbuf, size_t errlen);

/* 1 if addr (its port ignored) is an address of this machine, where a
 * connection would come back to this host: one of its interfaces'
 * addresses (loopback included) or the wildcard 0.0.0.0 / ::, which as a
 * destination means this host. Asks the OS (a bind test), so it reflects
 * the interfaces of the moment; call it while loading configuration. */
int iocpd_addr_is_local(const iocpd_addr *addr);

/* An address block: an address and how many leading bits must match. */
typedef struct iocpd_cidr {
  iocpd_addr addr; /* port unused */
  unsigned prefix; /* 0-32 for IPv4, 0-128 for IPv6 */
} iocpd_cidr;

/* Parses "a.b.c.d/N" or "ipv6/N"; a bare address means the single host
 * (/32 or /128). Bits set beyond the prefix are rejected ("10.0.0.1/8"),
 * since they usually mean a typo. Returns 0 or IOCPD_EINVAL. */
int iocpd_cidr_parse(const char *text, iocpd_cidr *out);

/* Writes c as "a.b.c.d/N" or "ipv6/N" into buf (IOCPD_ADDR_STRLEN bytes). */
char *iocpd_cidr_format(const iocpd_cidr *c, char *buf);

/* 1 if addr lies in c, else 0. An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) matches IPv4 blocks as a.b.c.d. */
int iocpd_cidr_match(const iocpd_cidr *c, const iocpd_addr *addr);

/* ------------------------------------------------------------------------ */
/* The PROXY protocol (HAProxy's specification): a header at the start of
 * a connection that carries the original client's address across a relay
 * or a load balancer. Version 1 is a text line, version 2 binary. */

#define IOCPD_PROXY_V1 1u /* a mask bit, and the version number */
#define IOCPD_PROXY_V2 2u
#define IOCPD_PROXY_V1_MAX 107 /* the longest version 1 line, CRLF included */
/* The longest version 2 header accepted, TLVs included (the protocol
 * allows 65,551 bytes; real senders stay far below). */
#define IOCPD_PROXY_MAX_HEADER 4096
/* Room for any header iocpd_proxy_format writes. */
#define IOCPD_PROXY_FORMAT_MAX 108

/* Why a header was refused; iocpd_proxy_parse returns the negated value.
 * The last three come from the engine, not the parser. */
enum {
  IOCPD_PROXY_UNKNOWN = 1, /* no PROXY signature: not a PROXY header */
  IOCPD_PROXY_VERSION,     /* a version not accepted here, or a v2 version other than 2 */
  IOCPD_PROXY_MALFORMED,   /* a bad field, command, family or TLV length */
  IOCPD_PROXY_OVERSIZE,    /* v1 longer than 107 bytes, v2 over IOCPD_PROXY_MAX_HEADER */
  IOCPD_PROXY_TRUNCATED,   /* the connection ended before the header did */
  IOCPD_PROXY_TIMEOUT,     /* the header did not arrive in time */
  IOCPD_PROXY_UNTRUSTED,   /* sent by an address outside the trusted list */
  IOCPD_PROXY_ERROR_KINDS  /* one more than the last */
};

/* "unknown", "version", "malformed", "oversize", "truncated", "timeout"
 * or "untrusted" ("-" for anything else). */
const char *iocpd_proxy_error_name(int error);

/* A parsed header. has_addresses is 0 for a v2 LOCAL or v1 UNKNOWN
 * header, or a family that is not TCP over IPv4/IPv6: the connection's
 * own addresses stand then. */
typedef struct iocpd_proxy_header {
  int version;       /* 1 or 2 */
  int has_addresses; /* src and dst are set */
  iocpd_addr src;    /* the original client */
  iocpd_addr dst;    /* the address it connected to */
  size_t length;     /* bytes the header takes */
} iocpd_proxy_header;

/* Parses the header at the start of data (len bytes), accepting the
 * versions in the mask `versions` (IOCPD_PROXY_V1 | IOCPD_PROXY_V2).
 * Returns the header's length (> 0; the bytes after it are payload), 0
 * when more bytes are needed to decide, or a negated IOCPD_PROXY_* reason.
 * Pure: no I/O, no allocation; *out is set on success. */
int iocpd_proxy_parse(const void *data, size_t len, unsigned versions, iocpd_proxy_header *out);

/* Writes a version (1 or 2) header for a connection from src to dst into
 * buf (IOCPD_PROXY_FORMAT_MAX bytes) and returns its length (0 for a bad
 * version). With src or dst NULL it writes the header that carries no
 * address: v1 "PROXY UNKNOWN", v2 LOCAL (for connections that relay no
 * client, such as health checks). An IPv4 end beside an IPv6 one is
 * written IPv4-mapped. */
size_t iocpd_proxy_format(char *buf, int version, const iocpd_addr *src, const iocpd_addr *dst);

/* ------------------------------------------------------------------------ */
/* Logging */

typedef enum iocpd_log_level {
  IOCPD_LOG_ERROR = 0,
  IOCPD_LOG_WARNING = 1,
  IOCPD_LOG_INFO = 2,
  IOCPD_LOG_DEBUG = 3
} iocpd_log_level;

/* Receives one complete message (no newline). May be called from any worker
 * thread at once, so it must be thread-safe. */
typedef void (*iocpd_log_fn)(void *arg, iocpd_log_level level, const char *message);

/* Returns "error", "warning", "info" or "debug". */
const char *iocpd_log_level_name(iocpd_log_level level);

/* What a message is about, for hosts that give kinds of events their own
 * ids (the Windows Event Log): most messages are IOCPD_EVENT_GENERIC. */
typedef enum iocpd_log_event {
  IOCPD_EVENT_GENERIC = 0,
  IOCPD_EVENT_UPSTREAM_DOWN, /* passive or active health marked an upstream down */
  IOCPD_EVENT_UPSTREAM_UP,   /* a down upstream is in service again */
  IOCPD_EVENT_PROXY_REFUSED  /* accept_proxy: a peer not trusted, or a bad PROXY header */
} iocpd_log_event;

/* Like iocpd_log_fn, with the kind of event. */
typedef void (*iocpd_log_event_fn)(void *arg, iocpd_log_level level, iocpd_log_event event,
                                   const char *message);

/* ------------------------------------------------------------------------ */
/* Handlers and connections */

typedef struct iocpd_server iocpd_server;
typedef struct iocpd_conn iocpd_conn;

/* A handler: what a listener does with each connection. Every slot may be
 * NULL except on_accept. All slots run on the connection's worker. */
typedef struct iocpd_handler {
  /* Name shown in logs, e.g. "echo". */
  const char *name;
  /* A connection was accepted. Return 0 to keep it (typically after calling
   * iocpd_read), or a negative code to have the engine abort it; on_closed
   * follows in both cases. */
  int (*on_accept)(iocpd_conn *conn);
  /* The read requested by iocpd_read returned len > 0 bytes. data stays
   * valid until the next iocpd_read on this connection or on_closed, so it
   * may be passed to iocpd_write without copying. */
  void (*on_data)(iocpd_conn *conn, const char *data, size_t len);
  /* A write of len bytes queued by iocpd_write has been handed to the OS.
   * arg is the value given to iocpd_write. */
  void (*on_sent)(iocpd_conn *conn, size_t len, void *arg);
  /* The peer shut down its sending side (FIN): the read requested by
   * iocpd_read will deliver nothing more. Writing is still possible. */
  void (*on_peer_closed)(iocpd_conn *conn);
  /* A read or write failed (e.g. IOCPD_ECONNRESET). The engine aborts the
   * connection right after this returns; on_closed follows. */
  void (*on_error)(iocpd_conn *conn, int err);
  /* Last callback for this connection, after every pending operation has
   * completed. Free per-connection state here. The conn pointer is invalid
   * once this returns. */
  void (*on_closed)(iocpd_conn *conn);
  /* Optional: supplies the buffer the next read fills. On entry *size is
   * the listener's buffer_size; the handler may lower it. The buffer
   * belongs to the handler, which gets it back in on_data and decides how
   * long it lives. Returning NULL fails the connection with IOCPD_ENOMEM.
   * When NULL, the engine reads into a buffer of its own (see on_data).
   * Called when input is waiting; on IOCP also just before a read on a
   * busy connection, if the handler has on_release. */
  char *(*on_alloc)(iocpd_conn *conn, size_t *size);
  /* A connection made with iocpd_connect is established (status 0) or has
   * failed (status < 0; the engine then aborts it and on_closed follows). */
  void (*on_connect)(iocpd_conn *conn, int status);
  /* The timer set with iocpd_conn_set_timer has expired. */
  void (*on_timer)(iocpd_conn *conn);
  /* Optional: a buffer from on_alloc comes back unused (the connection
   * went idle before data arrived in it). With it, the IOCP backend may
   * read a busy connection straight into a buffer (one operation per
   * chunk) instead of waiting with a zero-byte read first; idle
   * connections still end up holding no buffer within about a second. */
  void (*on_release)(iocpd_conn *conn, char *buf);
} iocpd_handler;

/* The built-in echo handler: sends back every byte it receives, in order,
 * one buffer in flight at a time; on FIN it finishes sending, then shuts
 * down its own sending side and closes. Its handler_arg may be NULL or
 * point to an iocpd_echo_options that outlives the server. */
extern const iocpd_handler iocpd_echo_handler;

typedef struct iocpd_echo_options {
  uint32_t idle_timeout_ms;      /* close a connection idle this long; 0 = never */
  uint32_t handshake_timeout_ms; /* close a client that sends nothing this long
                                    after connecting; 0 = never */
} iocpd_echo_options;

/* The built-in forward handler: relays each accepted connection to an
 * upstream, both ways, one buffer in flight per direction (a slow reader
 * slows the other side's sender instead of growing memory). New connections
 * rotate over the upstreams; an attempt that fails or exceeds
 * connect_timeout_ms moves on to the next one. A FIN from one side becomes
 * a shutdown of the other side's sending direction after every byte before
 * it; a reset or error on one side aborts the other. Its handler_arg must
 * point to an iocpd_forward_options that outlives the server. */
extern const iocpd_handler iocpd_forward_handler;

typedef struct iocpd_forward_options {
  const iocpd_addr *upstreams; /* at least one; must outlive the server */
  size_t upstream_count;
  uint32_t connect_timeout_ms;   /* per attempt; 0 = the OS's own timeout */
  uint32_t idle_timeout_ms;      /* no byte either way this long: close; 0 = never */
  uint32_t handshake_timeout_ms; /* client sends nothing this long after
                                    connecting: close; 0 = never */
  /* 0, or 1 or 2: a PROXY header of that version goes first on every
   * upstream connection, with the client's address (the one a header it
   * sent carried, if its listener accepts them) and the address it
   * connected to. */
  int send_proxy;
} iocpd_forward_options;

/* After iocpd_close or iocpd_abort the engine calls nothing on that
 * connection but on_closed. */

/* Socket failures: iocpd_read and iocpd_write never return one. A read or
 * write that the OS refuses, at once or later, is reported through
 * on_error (then the engine aborts the connection and on_closed follows),
 * always after the handler's current call has returned, on both backends;
 * writes queued before it are neither sent nor reported as sent. The codes
 * they do return are about the call itself: IOCPD_EINVAL, IOCPD_EBUSY,
 * IOCPD_ECLOSED, IOCPD_ENOMEM. */

/* Requests the next chunk of input. Exactly one of on_data, on_peer_closed
 * or on_error follows. On IOCP an idle connection waits with a zero-byte
 * receive, so it pins no buffer. Returns IOCPD_EBUSY if a read is already
 * outstanding, IOCPD_ECLOSED after close/abort or after on_peer_closed. */
int iocpd_read(iocpd_conn *conn);

/* Queues len (> 0) bytes for sending. Writes go out in the order they were
 * queued. data must stay valid until on_sent or on_closed. Returns
 * IOCPD_ECLOSED after iocpd_shutdown, iocpd_close or iocpd_abort. */
int iocpd_write(iocpd_conn *conn, const void *data, size_t len, void *arg);

/* Zero-copy relaying: lets the engine move bulk input of `from` straight
 * into `to`'s send path inside the kernel, so those bytes never pass
 * through user space (Linux: splice(2) through a pipe). From then on a read
 * on `from` may deliver on_data(from, NULL, n): n bytes were read and are
 * already queued as a write on `to`, which completes with
 * on_sent(to, n, NULL) like a write the handler queued itself. The engine
 * does so only while the traffic is bulk (reads that fill the buffer) and
 * `to` can take writes; other reads deliver data as before. to = NULL
 * turns it off; it also ends when either connection closes. Returns 0,
 * IOCPD_EINVAL (to == from, or on another worker), or IOCPD_ENOTSUP where
 * the backend has no such path (IOCP): nothing changes then. */
int iocpd_conn_splice_to(iocpd_conn *from, iocpd_conn *to);

/* Sends FIN once every queued write has gone out (half-close); on an
 * outbound connection whose connect is still pending, once it has
 * succeeded. Reading may go on. Idempotent. */
int iocpd_shutdown(iocpd_conn *conn);

/* Graceful close: stops reading, lets queued writes finish, shuts down the
 * sending side and closes. on_closed follows once nothing is pending. If
 * the queued writes make no progress for the server's close_linger_ms
 * (the peer stopped reading), the close turns into an abort: no peer can
 * hold a closed connection for ever. Idempotent; also fine after
 * iocpd_abort. */
void iocpd_close(iocpd_conn *conn);

/* Abortive close: resets the connection (RST) and drops queued writes at
 * once. on_closed follows once the OS has returned every pending operation.
 * Idempotent. */
void iocpd_abort(iocpd_conn *conn);

/* Opens an outbound connection to `to` on the same worker as `from`, so the
 * handlers of the two may call each other's functions (a relay). The new
 * connection uses `handler` (its on_accept is not called; on_connect is)
 * and starts with `data` as its handler data. It belongs to the listener of
 * `from`. Returns 0 and sets *out, or a negative code (and nothing is
 * called back): IOCPD_ECLOSED if `from` is closing or aborted (for example
 * by a drain), so a dying connection starts nothing new. Reads and writes
 * on it fail with IOCPD_EBUSY until on_connect(0). */
int iocpd_connect(iocpd_conn *from, const iocpd_addr *to, const iocpd_handler *handler, void *data,
                  iocpd_conn **out);

/* Arms the connection's one timer to fire on_timer after ms milliseconds,
 * replacing any earlier setting; ms = 0 disarms it. Not delivered after
 * iocpd_close or iocpd_abort. Returns 0 or IOCPD_ENOMEM. */
int iocpd_conn_set_timer(iocpd_conn *conn, uint32_t ms);

/* Buffers from the worker's cache, for handlers that own their read
 * buffers (on_alloc): a relay's read-write-free rhythm then costs no
 * malloc. iocpd_buffer_get returns size bytes (or NULL); iocpd_buffer_put
 * takes back a buffer from iocpd_buffer_get of the same size, through any
 * connection of the same worker (e.g. inside on_closed). */
char *iocpd_buffer_get(iocpd_conn *conn, size_t size);
void iocpd_buffer_put(iocpd_conn *conn, char *buf, size_t size);

/* Number of writes queued on the connection and not yet sent. */
size_t iocpd_conn_pending_writes(const iocpd_conn *conn);

/* Bytes received from and sent to the peer so far. */
uint64_t iocpd_conn_bytes_in(const iocpd_conn *conn);
uint64_t iocpd_conn_bytes_out(const iocpd_conn *conn);

/* When the connection was accepted (or connected), in milliseconds since
 * 1970 (UTC). */
uint64_t iocpd_conn_start_time(const iocpd_conn *conn);

/* Why a connection ended, for access logs. */
typedef enum iocpd_end_reason {
  IOCPD_END_UNKNOWN = 0,
  IOCPD_END_CLIENT_FIN,     /* the client closed cleanly */
  IOCPD_END_UPSTREAM_FIN,   /* the upstream closed cleanly first */
  IOCPD_END_CLIENT_RESET,   /* the client reset or failed */
  IOCPD_END_UPSTREAM_RESET, /* the upstream reset or failed */
  IOCPD_END_IDLE_TIMEOUT,
  IOCPD_END_HANDSHAKE_TIMEOUT,
  IOCPD_END_CONNECT_FAILED, /* no upstream could be reached */
  IOCPD_END_DENIED,         /* allow/deny */
  IOCPD_END_LIMIT,          /* max_connections_per_ip */
  IOCPD_END_DRAIN_ABORT,    /* still open at the end of a drain */
  IOCPD_END_SHUTDOWN,       /* the server was destroyed */
  IOCPD_END_PROXY_ERROR     /* no usable PROXY header (accept_proxy) */
} iocpd_end_reason;

/* "client_fin", "idle_timeout", ... ("-" for IOCPD_END_UNKNOWN). */
const char *iocpd_end_reason_name(iocpd_end_reason reason);

/* Records why the connection ends; the first reason set sticks (the engine
 * sets drain_abort, shutdown and client_reset itself). */
void iocpd_conn_set_end_reason(iocpd_conn *conn, iocpd_end_reason reason);
iocpd_end_reason iocpd_conn_end_reason(const iocpd_conn *conn);

/* One finished connection, as handed to the server's on_access. */
typedef struct iocpd_access_record {
  const char *listener;
  iocpd_addr client;
  int has_upstream; /* forward: upstream below is set */
  iocpd_addr upstream;
  uint64_t bytes_in;   /* client -> iocpd */
  uint64_t bytes_out;  /* iocpd -> client */
  uint64_t bytes_up;   /* iocpd -> upstream */
  uint64_t bytes_down; /* upstream -> iocpd */
  uint64_t start_ms;   /* UTC, ms since 1970 */
  uint64_t duration_ms;
  iocpd_end_reason end;
  int has_proxy;    /* the client came through a PROXY header: */
  iocpd_addr proxy; /* the balancer that sent it */
  /* A UDP session (see IOCPD_UDP) rather than a connection: the
   * datagrams each way, counted like the bytes above. */
  int udp;
  uint64_t datagrams_in, datagrams_out, datagrams_up, datagrams_down;
} iocpd_access_record;

/* Hands a finished connection's record to the server's on_access, if any.
 * Handlers call it once per client connection, when everything about it
 * is final (the built-in ones do; forward when both sides are closed).
 * The engine itself reports connections it rejects at accept. Any
 * thread. */
void iocpd_server_report_access(iocpd_server *server, const iocpd_access_record *record);

/* Fills a record from a finished (or finishing) client connection: its
 * listener, client, bytes, start, duration and end reason. */
void iocpd_conn_access_record(const iocpd_conn *conn, iocpd_access_record *record);

/* The next number of a counter that the listener of conn keeps for its
 * handler: 0, 1, 2, ... across every worker, each number once. For
 * spreading connections over a list (round robin) without state of the
 * handler's own shared between workers. Any thread. */
uint64_t iocpd_conn_listener_turn(const iocpd_conn *conn);

/* The connection's id: unique within its server for the server's life. */
uint64_t iocpd_conn_id(const iocpd_conn *conn);
/* The handler's per-connection pointer, NULL until set. */
void *iocpd_conn_get_data(const iocpd_conn *conn);
void iocpd_conn_set_data(iocpd_conn *conn, void *data);
/* The handler_arg of the listener that accepted the connection. */
void *iocpd_conn_handler_arg(const iocpd_conn *conn);
/* The name of the listener that accepted the connection. */
const char *iocpd_conn_listener_name(const iocpd_conn *conn);
/* The client's address and the local address it connected to. */
const iocpd_addr *iocpd_conn_peer_addr(const iocpd_conn *conn);
const iocpd_addr *iocpd_conn_local_addr(const iocpd_conn *conn);
/* On a listener with accept_proxy, once the header is in, the peer and
 * local addresses above are the header's; this is then the balancer's
 * (the socket's peer). NULL when no header gave addresses. */
const iocpd_addr *iocpd_conn_proxy_addr(const iocpd_conn *conn);
iocpd_server *iocpd_conn_server(const iocpd_conn *conn);

/* ------------------------------------------------------------------------ */
/* Servers */

/* Transports (iocpd_listener_options.protocol). */
#define IOCPD_TCP 0
#define IOCPD_UDP 1

/* UDP listeners serve datagrams with one of the two built-in handlers,
 * named by their handler pointer (no other handler is accepted):
 *  - iocpd_echo_handler sends each datagram back to its source, as it
 *    came; it keeps no per-client state (no sessions, no access log).
 *  - iocpd_forward_handler keys a session by the client's address and
 *    port. Each session has its own connected socket to one upstream, so
 *    every reply goes back to the client that caused it. A session ends
 *    after idle_timeout_ms (0 = IOCPD_DEFAULT_UDP_IDLE_TIMEOUT_MS) with no
 *    datagram either way, and is reported once to on_access. An ICMP
 *    port (or host) unreachable from its upstream counts as a failed
 *    attempt there (max_fails, fail_timeout_ms) and moves the session to
 *    the next upstream that is not down; the datagram that met it is
 *    lost, as on any UDP path. send_proxy must be 0.
 * A datagram is never split or merged. One that cannot be sent at once
 * waits in its session's queue, at most IOCPD_UDP_QUEUE_MAX per
 * direction; beyond that it is dropped and counted. allow/deny apply to
 * every datagram's source; max_connections and max_connections_per_ip
 * count sessions. accept_proxy, active health checks, buffer_size and
 * handshake_timeout_ms mean nothing for UDP and must be left 0; the
 * server-wide max_connections and the drain count TCP connections only
 * (closing a UDP listener ends its sessions at once). */
#define IOCPD_DEFAULT_UDP_IDLE_TIMEOUT_MS 60000
#define IOCPD_UDP_QUEUE_MAX 16
/* The largest datagram over IPv4 (IPv6 jumbograms are not relayed). */
#define IOCPD_UDP_MAX_DATAGRAM 65507

/* Why a UDP datagram was dropped (index of iocpd_listener_stats.udp_dropped). */
enum {
  IOCPD_UDP_DROP_DENIED = 0, /* allow/deny refused its source */
  IOCPD_UDP_DROP_SESSIONS,   /* a new session, and max_connections are open */
  IOCPD_UDP_DROP_PER_IP,     /* a new session, and max_connections_per_ip are open */
  IOCPD_UDP_DROP_QUEUE,      /* the session's queue was full */
  IOCPD_UDP_DROP_UPSTREAM,   /* no upstream socket, or the OS refused the send */
  IOCPD_UDP_DROP_NOMEM,      /* out of memory */
  IOCPD_UDP_DROP_KINDS       /* one more than the last */
};

/* "denied", "sessions", "per_ip", "queue_full", "upstream" or "no_memory"
 * ("-" for anything else). */
const char *iocpd_udp_drop_name(int reason);

typedef struct iocpd_listener_options {
  const char *name;             /* copied; shown in logs */
  iocpd_addr addr;              /* where to listen */
  int protocol;                 /* IOCPD_TCP (0) or IOCPD_UDP: see above */
  const iocpd_handler *handler; /* must outlive the server */
  void *handler_arg;            /* see iocpd_conn_handler_arg */
  size_t buffer_size;           /* read buffer per connection; 0 = 64 KiB */
  /* Protection. Zero counts mean "no limit", empty lists "no rule". */
  size_t max_connections;        /* accepting pauses while this many are open */
  size_t max_connections_per_ip; /* more from one address are reset at once */
  const iocpd_cidr *allow;       /* if allow_count > 0, only these may connect */
  size_t allow_count;
  const iocpd_cidr *deny; /* checked before allow; matches are reset */
  size_t deny_count;
  /* Passive health of the addresses this listener's connections connect
   * to (iocpd_connect): one that fails max_fails attempts in a row is
   * marked down for fail_timeout_ms (iocpd_conn_upstream_down), then may
   * be tried again; one success marks it up. 0 = never marked down. A
   * failed attempt is what iocpd_server_connect_failures counts. */
  uint32_t max_fails;
  uint32_t fail_timeout_ms; /* 0 = IOCPD_DEFAULT_FAIL_TIMEOUT_MS */
  /* Active health: every health_interval_ms the listener's worker opens
   * a connection to each address of health_targets (copied) and closes it
   * at once; health_timeout_ms without an answer is a failure. `fall`
   * failed checks in a row mark an address down (iocpd_conn_upstream_down
   * says so until), `rise` good ones in a row mark it up. The checks are
   * not connections of the listener: no counter, access log line or
   * passive failure. 0 interval = no active checks. */
  uint32_t health_interval_ms;
  uint32_t health_timeout_ms; /* 0 = the interval */
  uint32_t rise, fall;        /* 0 = 1 */
  const iocpd_addr *health_targets;
  size_t health_target_count;
  /* 0, 1 or 2: an active check sends the PROXY header that carries no
   * address (v1 UNKNOWN, v2 LOCAL) before it closes, for upstreams that
   * expect a header on every connection. */
  int health_send_proxy;
  /* PROXY headers from a load balancer in front (IOCPD_PROXY_V1 |
   * IOCPD_PROXY_V2; 0 = none). Only peers in proxy_trusted may connect;
   * each must send a header within proxy_timeout_ms, before any payload.
   * The header's client then stands for the peer everywhere: allow/deny
   * and max_connections_per_ip are checked on it once the header is in,
   * and iocpd_conn_peer_addr returns it (iocpd_conn_proxy_addr the
   * balancer). A header that is refused closes the connection and counts
   * in iocpd_listener_stats.proxy_errors. */
  unsigned accept_proxy;
  const iocpd_cidr *proxy_trusted; /* copied */
  size_t proxy_trusted_count;
  uint32_t proxy_timeout_ms; /* 0 = IOCPD_DEFAULT_PROXY_TIMEOUT_MS */
  /* A listener on the IPv6 wildcard ([::]) takes IPv4 clients too (the
   * socket's IPV6_V6ONLY off). They are shown as IPv4 everywhere (peer,
   * local address, allow/deny, per-address limits, PROXY headers), never
   * as ::ffff:a.b.c.d. Set when the listener is bound: an update keeps a
   * kept listener's. 0 = IPv6 clients only. */
  int dual_stack;
} iocpd_listener_options;

#define IOCPD_DEFAULT_PROXY_TIMEOUT_MS 5000

#define IOCPD_DEFAULT_FAIL_TIMEOUT_MS 10000

typedef struct iocpd_server_options {
  unsigned workers;                        /* worker threads; 0 = one per CPU (at most 64) */
  const iocpd_listener_options *listeners; /* copied */
  size_t listener_count;                   /* at least 1 */
  iocpd_log_fn log;                        /* NULL = no logging */
  /* If set, receives every message instead of log, with its kind of
   * event (log_arg is its arg too). */
  iocpd_log_event_fn log_event;
  void *log_arg;
  iocpd_log_level log_level; /* messages above this level are skipped */
  size_t max_connections;    /* accepted connections, all listeners; 0 = no limit */
  /* Receives every finished connection's record (see
   * iocpd_server_report_access). Called on worker threads, so it must be
   * thread-safe and must not block: hand the record to a queue. */
  void (*on_access)(void *arg, const iocpd_access_record *record);
  void *access_arg;
  /* A connection closed with iocpd_close whose queued writes make no
   * progress (no byte accepted by the OS) for this long is aborted, so a
   * peer that stops reading cannot hold it for ever. 0 = the default,
   * IOCPD_DEFAULT_CLOSE_LINGER_MS. */
  uint32_t close_linger_ms;
  /* Called once nothing uses the listener options any more (see
   * iocpd_update_options.release): after iocpd_server_update replaced
   * them and their last connection is gone, or in iocpd_server_destroy,
   * or before iocpd_server_create returns an error. May be NULL. */
  void (*release)(void *arg);
  void *release_arg;
} iocpd_server_options;

#define IOCPD_DEFAULT_CLOSE_LINGER_MS 30000

/* Filled when iocpd_server_create fails: the IOCPD_E* code, the raw OS
 * error (errno or WSA/Win32 code, 0 if none) and a one-line message that
 * names the listener, the address and the OS error text. */
typedef struct iocpd_error_info {
  int code;
  long os_error;
  char message[256];
} iocpd_error_info;

/* Binds every listener, starts the workers and begins accepting. Either
 * everything succeeds (returns 0, *out set) or nothing is left behind
 * (returns a negative code, *out untouched, err filled if not NULL). */
int iocpd_server_create(const iocpd_server_options *opts, iocpd_server **out,
                        iocpd_error_info *err);

/* Stops accepting: closes every listener and returns once no listener will
 * accept again. Open connections go on. Any thread but a worker;
 * idempotent. */
void iocpd_server_close_listeners(iocpd_server *server);

/* A new set of listeners for a running server (iocpd_server_update). */
typedef struct iocpd_update_options {
  const iocpd_listener_options *listeners; /* copied, like at create */
  size_t listener_count;
  /* Connections of a removed listener may finish for this long, then are
   * aborted (end reason drain_abort). */
  uint32_t drain_ms;
  /* Called once nothing uses these listener options any more: no
   * listener has them (a later update replaced them) and every
   * connection made under them is gone; or before iocpd_server_update
   * returns an error. Any thread; may be NULL. */
  void (*release)(void *arg);
  void *release_arg;
  /* Called (on the calling thread) for each listener that cannot be
   * added, e.g. its address cannot be bound; the others still apply. */
  void (*on_error)(void *arg, const iocpd_error_info *err);
  void *error_arg;
} iocpd_update_options;

typedef struct iocpd_update_report {
  size_t kept;     /* same name and address: settings replaced, socket kept */
  size_t added;    /* new, bound and accepting */
  size_t removed;  /* no longer accepting; their connections drain */
  size_t failed;   /* could not be added (see on_error) */
  size_t draining; /* connections of the removed listeners open at the update */
} iocpd_update_report;

/* Changes a running server's listeners to u->listeners. A listener with
 * the same name and address as a current one is kept: its socket stays
 * open and accepting throughout (no connection attempt is refused or
 * lost), and its new settings (handler, handler_arg, buffer size,
 * limits, allow/deny, PROXY headers, health) apply to connections accepted after
 * the update; connections already open keep what they started with. A
 * current listener not in the list stops accepting and its connections
 * drain for u->drain_ms, then are aborted. The rest are added, each bound
 * before any change is made. Counters of kept listeners go on.
 *
 * Returns 0 (see *report, which may be NULL), or IOCPD_EINVAL (bad
 * options, nothing changed), IOCPD_ENOMEM (nothing changed) or
 * IOCPD_ECLOSED (the listeners were closed for a stop). One call at a
 * time, from a thread that is not a worker, never concurrently with
 * iocpd_server_close_listeners, _drain or _destroy. A removed listener's
 * record (its name, about 0.5 KiB) is kept until the server is destroyed. */
int iocpd_server_update(iocpd_server *server, const iocpd_update_options *u,
                        iocpd_update_report *report);

/* Number of worker threads the server runs. */
unsigned iocpd_server_worker_count(const iocpd_server *server);

/* Number of accepted connections currently open (outbound connections made
 * with iocpd_connect are not counted). */
size_t iocpd_server_connection_count(iocpd_server *server);

/* Waits up to timeout_ms for the number of open accepted connections to
 * fall below `below` (1 waits for none; 0 just sleeps), and returns the
 * number still open. Returns early whenever a connection closes, so a
 * caller can report progress. */
size_t iocpd_server_wait(iocpd_server *server, size_t below, uint32_t timeout_ms);

/* Counters of one listener, for monitoring. */
/* Upper bounds (seconds) of the connection-duration histogram buckets;
 * a last, implicit bucket counts everything longer. */
#define IOCPD_DURATION_BUCKETS 10
extern const double iocpd_duration_bounds[IOCPD_DURATION_BUCKETS];

typedef struct iocpd_listener_stats {
  const char *name;
  uint64_t accepted;        /* connections accepted and handed to the handler */
  uint64_t active;          /* of those, still open */
  uint64_t rejected_denied; /* reset at accept: deny list, or not on allow */
  uint64_t rejected_per_ip; /* reset at accept: max_connections_per_ip */
  uint64_t paused;          /* times accepting paused at a connection limit */
  /* Out of file descriptors (handles on Windows): accepts that failed for
   * that reason (accepting then pauses and retries), and, on Linux, splice
   * pipes that could not be made (that relay then copies instead). */
  uint64_t fd_exhausted_accept;
  uint64_t fd_exhausted_pipe;
  /* Bytes so far, counted as they move: client -> iocpd (in), iocpd ->
   * client (out), iocpd -> upstream (up), upstream -> iocpd (down). */
  uint64_t bytes_in, bytes_out, bytes_up, bytes_down;
  /* Durations of closed accepted connections: count per bucket (not
   * cumulative; the last counts those longer than every bound), and
   * their sum in milliseconds. */
  uint64_t duration_buckets[IOCPD_DURATION_BUCKETS + 1];
  uint64_t duration_sum_ms;
  /* accept_proxy: connections closed for their header, by reason (index
   * IOCPD_PROXY_UNKNOWN ... IOCPD_PROXY_UNTRUSTED; 0 unused). */
  uint64_t proxy_errors[IOCPD_PROXY_ERROR_KINDS];
  /* UDP listeners (protocol is IOCPD_UDP; accepted and active above stay
   * 0): datagrams client -> iocpd (in), iocpd -> client (out), iocpd ->
   * upstream (up), upstream -> iocpd (down), their bytes counted in
   * bytes_* above; those dropped, by reason; forward sessions made so far
   * and open now. */
  int protocol;
  uint64_t datagrams_in, datagrams_out, datagrams_up, datagrams_down;
  uint64_t udp_dropped[IOCPD_UDP_DROP_KINDS];
  uint64_t sessions, sessions_open;
} iocpd_listener_stats;

/* Failed outbound connection attempts (iocpd_connect) of a listener to one
 * address: refused, unreachable, timed out, and so on. */
typedef struct iocpd_connect_failures {
  const char *listener;
  iocpd_addr upstream;
  uint64_t count;
} iocpd_connect_failures;

/* Fills out with up to max (listener, upstream) failure counters and
 * returns how many exist. Any thread. */
size_t iocpd_server_connect_failures(iocpd_server *server, iocpd_connect_failures *out, size_t max);

/* 1 if the listener of conn has marked upstream down (max_fails failed
 * attempts in a row, the last less than fail_timeout_ms ago), else 0. A
 * handler choosing among upstreams skips those first, and still tries
 * them when nothing else is left. The change of state is logged: a
 * warning when an address goes down, info when it is up again. Any
 * thread. */
int iocpd_conn_upstream_down(const iocpd_conn *conn, const iocpd_addr *upstream);

/* 0 while the listener named `listener` has upstream marked down (also
 * past fail_timeout_ms, until an attempt succeeds), 1 otherwise (also
 * for an address never tried). For monitoring; any thread. */
int iocpd_server_upstream_up(iocpd_server *server, const char *listener,
                             const iocpd_addr *upstream);

/* Fills out[i] for the first max listeners (in options order) and returns
 * the number of listeners. Any thread. */
size_t iocpd_server_listener_stats(iocpd_server *server, iocpd_listener_stats *out, size_t max);

/* Aborts every open connection (RST) and returns how many it aborted.
 * Any thread but a worker. */
size_t iocpd_server_abort_all(iocpd_server *server);

/* Result of iocpd_server_drain. */
typedef struct iocpd_drain_stats {
  size_t open_at_stop; /* accepted connections open when the drain began */
  size_t drained;      /* of those, closed by themselves in time */
  size_t aborted;      /* of those, aborted at the deadline */
  uint64_t duration_ms;
} iocpd_drain_stats;

/* Called by iocpd_server_drain whenever the number of open connections
 * falls, and at least once a second, with the number still open. */
typedef void (*iocpd_drain_progress_fn)(void *arg, size_t open);

/* Graceful stop: closes the listeners, waits up to drain_ms for open
 * connections to finish, then aborts the rest and waits until every one is
 * really gone. progress and stats may be NULL. Must not be called from a
 * worker thread. The server stays valid for iocpd_server_destroy. */
void iocpd_server_drain(iocpd_server *server, uint32_t drain_ms, iocpd_drain_progress_fn progress,
                        void *progress_arg, iocpd_drain_stats *stats);

/* Stops and frees the server in any state: closes listeners, aborts open
 * connections, waits for their last completions and joins the workers. */
void iocpd_server_destroy(iocpd_server *server);

/* 1 if messages of this level reach the log: check it before formatting
 * anything costly for a message that may be dropped. */
int iocpd_server_log_enabled(const iocpd_server *server, iocpd_log_level level);

/* Logs through the server's log function, printf-style. Any thread. */
void iocpd_server_log(iocpd_server *server, iocpd_log_level level, const char *fmt, ...);

/* Logs like iocpd_server_log, but at most one line per second for each
 * listener (conn's) and message format (fmt, compared as a pointer: one
 * call site, one limit): lines in between are dropped and counted, and the
 * next line that goes out ends in "; N more since the last report". For
 * messages that one event per client could otherwise flood the log with,
 * such as an upstream that is down. Any thread. */
void iocpd_conn_log_limited(const iocpd_conn *conn, iocpd_log_level level, const char *fmt, ...);

/* Any thread: copies len bytes and queues them on connection `id`. Returns
 * IOCPD_ENOTFOUND if no open connection has that id (including one that is
 * closing). If the connection closes before the bytes go out, they are
 * dropped. */
int iocpd_server_send(iocpd_server *server, uint64_t id, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* IOCPD_H */
