/*
 * The forward handler: relays an accepted client connection to an upstream,
 * both ways, using only the public engine API (as any embedder's handler
 * could).
 *
 * A relay has two sides, the client (0) and the upstream (1), and one
 * function serves both directions by looking at which side called. Each
 * direction has at most one buffer in flight: a side is read, the chunk is
 * written to the other side, and only when that write is out is the side
 * read again. So a slow reader on one end slows the sender on the other
 * instead of growing memory: a relay holds at most buffer_size bytes per
 * direction. The buffer is allocated only when input is waiting (on_alloc)
 * and freed when its write is out, so an idle relay holds none.
 *
 * Lifetime: the relay lives until both of its connections have delivered
 * on_closed. A chunk read from one side may be in a write on the other side
 * when the first side dies, so buffers are freed only after their write has
 * completed or with the relay, never earlier.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocpd.h"

#define CLIENT 0
#define UPSTREAM 1
/* Attempts reported in the "no upstream reachable" warning. */
#define MAX_REPORTED 8

typedef struct relay_side {
  iocpd_conn *conn;     /* NULL before the upstream exists or once closed */
  char *buf;            /* this side's input, being written to the other side */
  unsigned char eof;    /* FIN received from this side */
  unsigned char ending; /* iocpd_close or iocpd_abort called on it */
} relay_side;

typedef struct relay {
  const iocpd_forward_options *opt;
  relay_side side[2];
  size_t first;    /* upstream index of the first attempt */
  size_t cursor;   /* steps taken through the attempt order (next_upstream) */
  size_t attempts; /* upstreams tried so far */
  int connected;
  size_t tried[MAX_REPORTED]; /* the upstream of each attempt, for the log */
  int errors[MAX_REPORTED];   /* the outcome of each attempt, for the log */
  iocpd_access_record record; /* filled as each side closes, then reported */
  size_t buf_size;            /* of side[].buf, for the worker's cache */
  /* send_proxy: the header sent first on the upstream connection; it
   * stays here until its write is out. While header_pending, it waits to
   * go out in one piece with the client's first bytes (see
   * send_proxy_header). */
  char proxy_header[IOCPD_PROXY_FORMAT_MAX];
  size_t proxy_len;
  unsigned char header_pending;
  unsigned char skipped[]; /* per step of the first round: passed over as down */
} relay;

static relay *relay_of(iocpd_conn *conn) { return iocpd_conn_get_data(conn); }

static int side_of(relay *r, iocpd_conn *conn) {
  return r->side[UPSTREAM].conn == conn ? UPSTREAM : CLIENT;
}

static void end_side(relay *r, int s, int abortive) {
  relay_side *side = &r->side[s];
  if (side->conn == NULL || side->ending) return;
  side->ending = 1;
  if (abortive) {
    iocpd_abort(side->conn);
  } else {
    iocpd_close(side->conn);
  }
}

/* Ends the whole relay. A clean end closes both sides gracefully (every
 * queued byte still goes out, then FIN); otherwise both are reset. */
static void end_relay(relay *r, int abortive) {
  end_side(r, CLIENT, abortive);
  end_side(r, UPSTREAM, abortive);
}

/* 1 while the client has yet to send its first byte under a handshake
 * timeout: the client's timer then stays the handshake deadline, even if
 * the upstream speaks first. */
static int awaiting_handshake(relay *r) {
  return r->opt->handshake_timeout_ms != 0 && r->side[CLIENT].conn != NULL &&
         iocpd_conn_bytes_in(r->side[CLIENT].conn) == 0;
}

/* Traffic moved: re-arm the idle timeout (on the client connection). Once
 * the client has spoken, its handshake deadline is over even when no idle
 * timeout replaces it (idle_timeout = 0): the timer is then disarmed. */
static void touch(relay *r) {
  iocpd_conn *client = r->side[CLIENT].conn;
  uint32_t idle = r->opt->idle_timeout_ms;
  if (client == NULL || r->side[CLIENT].ending || awaiting_handshake(r)) return;
  if (idle != 0 || r->opt->handshake_timeout_ms != 0) {
    if (iocpd_conn_set_timer(client, idle) != 0) end_relay(r, 1);
  }
}

/* Records why the relay ends (on the client connection, whose record the
 * access log gets); the first reason sticks. */
static void end_because(relay *r, iocpd_end_reason reason) {
  if (r->side[CLIENT].conn != NULL) iocpd_conn_set_end_reason(r->side[CLIENT].conn, reason);
}

/* Frees the relay once both sides are closed; conn is the one closing
 * now (still valid: this runs inside its on_closed). */
static void relay_free_if_done(relay *r, iocpd_conn *conn) {
  if (r->side[CLIENT].conn != NULL || r->side[UPSTREAM].conn != NULL) return;
  /* Every byte count is final now. */
  iocpd_server_report_access(iocpd_conn_server(conn), &r->record);
  iocpd_buffer_put(conn, r->side[CLIENT].buf, r->buf_size);
  iocpd_buffer_put(conn, r->side[UPSTREAM].buf, r->buf_size);
  free(r);
}

/* --------------------------------------------------------------------- */
/* Connecting */

static const iocpd_handler upstream_handler;

static void warn_unreachable(relay *r) {
  char line[512], addr[IOCPD_ADDR_STRLEN], client[IOCPD_ADDR_STRLEN];
  size_t i, used = 0, n = r->attempts < MAX_REPORTED ? r->attempts : MAX_REPORTED;
  iocpd_conn *c = r->side[CLIENT].conn;

  line[0] = '\0';
  for (i = 0; i < n && used < sizeof(line); i++) {
    const iocpd_addr *up = &r->opt->upstreams[r->tried[i]];
    int w = snprintf(line + used, sizeof(line) - used, "%s%s (%s)", i > 0 ? ", " : "",
                     iocpd_addr_format(up, addr), iocpd_strerror(r->errors[i]));
    if (w < 0) break;
    used += (size_t)w;
  }
  /* With an upstream down, every client would add a line: one per second
   * per listener, with a count of the others. */
  iocpd_conn_log_limited(c, IOCPD_LOG_WARNING, "listener %s: no upstream reachable for %s: %s",
                         iocpd_conn_listener_name(c),
                         iocpd_addr_format(iocpd_conn_peer_addr(c), client), line);
}

/* The upstream to try next, as an index, or opt->upstream_count when
 * every one has been tried. The order is round robin from r->first, in
 * two rounds: first each upstream not marked down (the engine's passive
 * health), then the ones the first round passed over, so that a client is
 * never refused for our own bookkeeping while an upstream might answer. */
static size_t next_upstream(relay *r) {
  size_t n = r->opt->upstream_count;
  while (r->cursor < 2 * n) {
    size_t step = r->cursor++;
    size_t i = (r->first + step % n) % n;
    if (step < n) {
      if (!iocpd_conn_upstream_down(r->side[CLIENT].conn, &r->opt->upstreams[i])) return i;
      r->skipped[step] = 1;
    } else if (r->skipped[step - n]) {
      return i;
    }
  }
  return n;
}

/* Starts the next connection attempt. Returns 0 if one is under way, or a
 * negative code once every upstream has been tried (after logging), or at
 * once, quietly, when the client is already on its way out (closed or
 * aborted, e.g. by a drain): then nothing new is started. */
static int connect_next(relay *r) {
  const iocpd_forward_options *opt = r->opt;
  iocpd_conn *client = r->side[CLIENT].conn;
  size_t u;

  while ((u = next_upstream(r)) < opt->upstream_count) {
    size_t i = r->attempts++;
    const iocpd_addr *to = &opt->upstreams[u];
    iocpd_conn *up;
    int rc;
    if (i < MAX_REPORTED) r->tried[i] = u;
    rc = iocpd_connect(client, to, &upstream_handler, r, &up);
    if (rc == IOCPD_ECLOSED) return rc;
    if (rc == 0) {
      r->side[UPSTREAM].conn = up;
      r->side[UPSTREAM].ending = 0;
      if (opt->connect_timeout_ms != 0 && iocpd_conn_set_timer(up, opt->connect_timeout_ms) != 0) {
        r->errors[i < MAX_REPORTED ? i : MAX_REPORTED - 1] = IOCPD_ENOMEM;
        end_side(r, UPSTREAM, 1);
      }
      return 0;
    }
    if (i < MAX_REPORTED) r->errors[i] = rc;
  }
  warn_unreachable(r);
  end_because(r, IOCPD_END_CONNECT_FAILED);
  return IOCPD_ECONNREFUSED;
}

static int client_accept(iocpd_conn *client) {
  const iocpd_forward_options *opt = iocpd_conn_handler_arg(client);
  relay *r;

  if (opt == NULL) return IOCPD_EINVAL;
  if (opt->upstream_count == 0) {
    /* Every upstream is a host name that does not resolve (yet): the
     * client is turned away, quietly but for one line a second. */
    iocpd_conn_log_limited(client, IOCPD_LOG_WARNING,
                           "listener %s: no upstream address: its names do not resolve (yet)",
                           iocpd_conn_listener_name(client));
    iocpd_conn_set_end_reason(client, IOCPD_END_CONNECT_FAILED);
    return IOCPD_ECONNREFUSED;
  }
  r = calloc(1, sizeof(*r) + opt->upstream_count);
  if (r == NULL) return IOCPD_ENOMEM;
  r->opt = opt;
  r->side[CLIENT].conn = client;
  /* Round robin across all workers, on the listener's counter. */
  r->first = (size_t)(iocpd_conn_listener_turn(client) % opt->upstream_count);
  iocpd_conn_set_data(client, r);
  if (opt->handshake_timeout_ms != 0 &&
      iocpd_conn_set_timer(client, opt->handshake_timeout_ms) != 0)
    return IOCPD_ENOMEM;
  /* The client is not read until the upstream answers: nothing to relay
   * to yet, and an unread client costs nothing. */
  return connect_next(r);
}

/* send_proxy: the PROXY header goes first on the upstream connection,
 * ahead of every byte of the client's: the client's address (a
 * balancer's header's, if one came in) and the address it connected to.
 *
 * A client that speaks first usually has its first bytes waiting by the
 * time the upstream answers: the header then goes out with them, in one
 * write (the client's first read lands HEADER_ROOM bytes into its buffer,
 * and the header is put in front), which saves a system call on each side
 * per connection. For a protocol where the server speaks first, the
 * header goes out alone when the upstream's timer fires, a millisecond
 * after the connect; splicing waits until the header is out. */
#define HEADER_ROOM IOCPD_PROXY_FORMAT_MAX
#define HEADER_WAIT_MS 1

static int prepare_proxy_header(relay *r, iocpd_conn *client, iocpd_conn *up) {
  r->proxy_len = iocpd_proxy_format(r->proxy_header, r->opt->send_proxy,
                                    iocpd_conn_peer_addr(client), iocpd_conn_local_addr(client));
  if (r->proxy_len == 0) return IOCPD_EINVAL;
  r->header_pending = 1;
  return iocpd_conn_set_timer(up, HEADER_WAIT_MS);
}

/* The header alone, when no client bytes came to carry it. */
static int send_header_alone(relay *r) {
  iocpd_conn *up = r->side[UPSTREAM].conn;
  r->header_pending = 0;
  iocpd_conn_splice_to(r->side[CLIENT].conn, up);
  return iocpd_write(up, r->proxy_header, r->proxy_len, r->proxy_header);
}

static void upstream_connected(iocpd_conn *up, int status) {
  relay *r = relay_of(up);
  char client[IOCPD_ADDR_STRLEN], upstream[IOCPD_ADDR_STRLEN];
  iocpd_conn *c = r->side[CLIENT].conn;

  if (status != 0) {
    /* The engine aborts the attempt; on_closed tries the next one. */
    if (r->attempts - 1 < MAX_REPORTED) r->errors[r->attempts - 1] = status;
    return;
  }
  iocpd_conn_set_timer(up, 0);
  r->connected = 1;
  if (r->opt->send_proxy != 0 && prepare_proxy_header(r, c, up) != 0) {
    end_relay(r, 1);
    return;
  }
  if (iocpd_server_log_enabled(iocpd_conn_server(up), IOCPD_LOG_DEBUG))
    iocpd_server_log(iocpd_conn_server(up), IOCPD_LOG_DEBUG, "listener %s: relaying %s to %s",
                     iocpd_conn_listener_name(c),
                     iocpd_addr_format(iocpd_conn_peer_addr(c), client),
                     iocpd_addr_format(iocpd_conn_peer_addr(up), upstream));
  /* Bulk chunks may then skip user space (epoll: splice); where the
   * backend has no such path this changes nothing. */
  if (!r->header_pending) iocpd_conn_splice_to(c, up);
  iocpd_conn_splice_to(up, c);
  touch(r);
  if (iocpd_read(c) != 0 || iocpd_read(up) != 0) end_relay(r, 1);
}

/* --------------------------------------------------------------------- */
/* Relaying: the same functions serve both sides. */

/* Where a side's read goes in its buffer: the client's first one, while
 * the PROXY header waits, leaves room for the header in front. */
static size_t read_offset(relay *r, int side) {
  return side == CLIENT && r->header_pending ? HEADER_ROOM : 0;
}

static char *relay_alloc(iocpd_conn *conn, size_t *size) {
  relay *r = relay_of(conn);
  int side = side_of(r, conn);
  relay_side *s = &r->side[side];
  size_t offset = read_offset(r, side);
  r->buf_size = *size; /* the listener's: the same for both sides */
  if (s->buf == NULL) s->buf = iocpd_buffer_get(conn, *size);
  if (s->buf == NULL) return NULL;
  *size -= offset;
  return s->buf + offset;
}

/* A buffer from relay_alloc came back unused (IOCP, the side went idle). */
static void relay_release(iocpd_conn *conn, char *buf) {
  relay *r = relay_of(conn);
  relay_side *s = &r->side[side_of(r, conn)];
  /* The read may have started at the header's room (relay_alloc). */
  if (s->buf != NULL && (buf == s->buf || buf == s->buf + HEADER_ROOM)) {
    iocpd_buffer_put(conn, s->buf, r->buf_size);
    s->buf = NULL;
  }
}

static void relay_data(iocpd_conn *conn, const char *data, size_t len) {
  relay *r = relay_of(conn);
  relay_side *to = &r->side[!side_of(r, conn)];
  touch(r);
  /* Spliced: the engine has queued the chunk on the other side already,
   * and relay_sent follows as for our own write. */
  if (data == NULL) return;
  if (to->conn == NULL || to->ending) {
    end_relay(r, 1);
    return;
  }
  if (side_of(r, conn) == CLIENT && r->header_pending) {
    /* The header goes out with these first bytes, in front of them in
     * the room their read left (relay_alloc). */
    relay_side *from = &r->side[CLIENT];
    if (from->buf == NULL || data != from->buf + HEADER_ROOM) {
      if (send_header_alone(r) != 0) end_relay(r, 1);
    } else {
      char *start = from->buf + HEADER_ROOM - r->proxy_len;
      memcpy(start, r->proxy_header, r->proxy_len);
      r->header_pending = 0;
      iocpd_conn_set_timer(to->conn, 0);
      iocpd_conn_splice_to(conn, to->conn);
      data = start;
      len += r->proxy_len;
    }
  }
  /* data is this side's buffer; it stays put until the write is out. */
  if (iocpd_write(to->conn, data, len, NULL) != 0) end_relay(r, 1);
}

static void relay_sent(iocpd_conn *conn, size_t len, void *arg) {
  relay *r = relay_of(conn);
  relay_side *from = &r->side[!side_of(r, conn)];
  (void)len;
  if (arg == r->proxy_header) return; /* the header: no chunk of a side's */
  touch(r);
  /* The chunk is out: the buffer can go, and the side it came from may be
   * read again. */
  iocpd_buffer_put(conn, from->buf, r->buf_size);
  from->buf = NULL;
  if (from->conn != NULL && !from->ending && !from->eof && iocpd_read(from->conn) != 0)
    end_relay(r, 1);
}

static void relay_peer_closed(iocpd_conn *conn) {
  relay *r = relay_of(conn);
  int s = side_of(r, conn);
  relay_side *to = &r->side[!s];

  r->side[s].eof = 1;
  end_because(r, s == CLIENT ? IOCPD_END_CLIENT_FIN : IOCPD_END_UPSTREAM_FIN);
  /* A client that ends before saying anything: the header still goes
   * first, then the FIN. */
  if (s == CLIENT && r->header_pending && send_header_alone(r) != 0) {
    end_relay(r, 1);
    return;
  }
  touch(r);
  /* Both FINs are in: closing both passes this one on. The other side has
   * sent its FIN, so closing its socket sends ours after its queued bytes,
   * as a shutdown would (see after_writes in conn.c): one call fewer per
   * relayed connection. */
  if (r->side[!s].eof) {
    end_relay(r, 0);
    return;
  }
  /* Pass the FIN on. Nothing of this side's is queued on the other (it is
   * read only after its last write went out), so this FIN follows every
   * byte that came before it. */
  if (to->conn != NULL && !to->ending && iocpd_shutdown(to->conn) != 0) end_relay(r, 1);
}

static void relay_error(iocpd_conn *conn, int err) {
  relay *r = relay_of(conn);
  int s = side_of(r, conn);
  char peer[IOCPD_ADDR_STRLEN];
  if (iocpd_server_log_enabled(iocpd_conn_server(conn), IOCPD_LOG_DEBUG))
    iocpd_server_log(iocpd_conn_server(conn), IOCPD_LOG_DEBUG, "listener %s: %s %s: %s",
                     iocpd_conn_listener_name(conn), s == CLIENT ? "client" : "upstream",
                     iocpd_addr_format(iocpd_conn_peer_addr(conn), peer), iocpd_strerror(err));
  /* The engine resets this side (and records a client's reset itself);
   * reset the other one too, promptly. */
  if (s == UPSTREAM) end_because(r, IOCPD_END_UPSTREAM_RESET);
  r->side[s].ending = 1;
  end_side(r, !s, 1);
}

static void relay_timer(iocpd_conn *conn) {
  relay *r = relay_of(conn);
  if (side_of(r, conn) == UPSTREAM && r->connected) {
    /* No client bytes came to carry the PROXY header: it goes alone. */
    if (r->header_pending && send_header_alone(r) != 0) end_relay(r, 1);
    return;
  }
  if (side_of(r, conn) == UPSTREAM && !r->connected) {
    /* connect_timeout: give up on this upstream; on_closed moves on. */
    if (r->attempts - 1 < MAX_REPORTED) r->errors[r->attempts - 1] = IOCPD_ETIMEDOUT;
    end_side(r, UPSTREAM, 1);
    return;
  }
  /* The client's timer: handshake_timeout (it never sent a byte) or
   * idle_timeout (nothing moved either way). With writes still queued (a
   * peer not reading), waiting for them could take forever, so those
   * relays are reset; idle ones get a clean FIN. */
  end_because(r, awaiting_handshake(r) ? IOCPD_END_HANDSHAKE_TIMEOUT : IOCPD_END_IDLE_TIMEOUT);
  end_relay(r, iocpd_conn_pending_writes(r->side[CLIENT].conn) > 0 ||
                   (r->side[UPSTREAM].conn != NULL &&
                    iocpd_conn_pending_writes(r->side[UPSTREAM].conn) > 0));
}

static void relay_closed(iocpd_conn *conn) {
  relay *r = relay_of(conn);
  int s;

  if (r == NULL) return; /* on_accept failed before there was a relay */
  s = side_of(r, conn);
  if (s == CLIENT) {
    /* Keep what the upstream side may have recorded already. */
    iocpd_access_record upstream_part = r->record;
    iocpd_conn_access_record(conn, &r->record);
    r->record.has_upstream = upstream_part.has_upstream;
    r->record.upstream = upstream_part.upstream;
    r->record.bytes_up = upstream_part.bytes_up;
    r->record.bytes_down = upstream_part.bytes_down;
  } else if (r->connected) {
    uint64_t out = iocpd_conn_bytes_out(conn);
    r->record.has_upstream = 1;
    r->record.upstream = *iocpd_conn_peer_addr(conn);
    /* Payload only, as on the client's side: not the PROXY header. */
    r->record.bytes_up = out > r->proxy_len ? out - r->proxy_len : 0;
    r->record.bytes_down = iocpd_conn_bytes_in(conn);
  }
  r->side[s].conn = NULL;
  if (s == UPSTREAM && !r->connected && r->side[CLIENT].conn != NULL && !r->side[CLIENT].ending) {
    /* A failed or timed-out attempt: try the next upstream, or give up. */
    if (connect_next(r) != 0) end_side(r, CLIENT, 1);
  } else if (r->side[!s].conn != NULL) {
    /* One side is gone for good: the other cannot go on alone. Clean ends
     * arrive here with the other side already ending. */
    end_side(r, !s, 1);
  }
  relay_free_if_done(r, conn);
}

static const iocpd_handler upstream_handler = {
    .name = "forward-upstream",
    .on_data = relay_data,
    .on_sent = relay_sent,
    .on_peer_closed = relay_peer_closed,
    .on_error = relay_error,
    .on_closed = relay_closed,
    .on_alloc = relay_alloc,
    .on_connect = upstream_connected,
    .on_timer = relay_timer,
    .on_release = relay_release,
};

const iocpd_handler iocpd_forward_handler = {
    .name = "forward",
    .on_accept = client_accept,
    .on_data = relay_data,
    .on_sent = relay_sent,
    .on_peer_closed = relay_peer_closed,
    .on_error = relay_error,
    .on_closed = relay_closed,
    .on_alloc = relay_alloc,
    .on_timer = relay_timer,
    .on_release = relay_release,
};
