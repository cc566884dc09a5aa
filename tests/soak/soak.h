/*
 * soak: a fault-injecting client and upstream for iocpd's forward handler.
 *
 * One program, two processes: the parent is the client side, a forked
 * child is the upstream. Both run natively on Linux and talk to the iocpd
 * under test (native, or iocpd.exe under Wine) over 127.0.0.1, so the same
 * tool soaks both backends.
 *
 * Every connection has a plan (soak_plan) derived from the run's seed: its
 * kind (normal, or one of the faults), how many bytes go each way, and
 * where a fault strikes. The bytes themselves are a function of the
 * connection's seed and the offset (soak_pattern_*), so each receiver
 * checks every byte without anyone storing what was sent. A connection
 * starts with a 16-byte header (magic, index, seed) that tells the
 * upstream which plan it serves; the header is not payload.
 *
 * The two processes share one anonymous mapping (soak_shared): counters
 * for the barrier (every relayed connection open at once before any
 * payload moves) and a record per connection and side (soak_side) saying
 * how that side ended. Data never travels through it: it is the test's
 * control channel, and the client reads both sides' records at the end to
 * judge each connection (report.c).
 *
 * Single-threaded per process (one epoll set each), C11 plus POSIX/Linux.
 */
#ifndef SOAK_H
#define SOAK_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SOAK_HEADER_LEN 16
#define SOAK_MAGIC "SOAK" /* the header's first 4 bytes */
#define SOAK_NO_OFFSET UINT64_MAX

/* What a connection does. The relayed kinds come first; SILENT must stay
 * last (its connections are counted apart, see soak_params.silent). */
typedef enum soak_kind {
  KIND_NORMAL,         /* both directions at once, FIN after the last byte each way */
  KIND_FAILOVER,       /* normal, through the listener whose first upstream refuses */
  KIND_SLOW_CLIENT,    /* the client stops reading its download, then reads slowly */
  KIND_SLOW_UPSTREAM,  /* the upstream does the same with the upload */
  KIND_EARLY_CLIENT,   /* the client sends all and FIN before the upstream sends a byte */
  KIND_EARLY_UPSTREAM, /* the upstream sends all and FIN before the client sends a byte */
  KIND_CLIENT_RESET,   /* the client resets after `cut` bytes of its upload */
  KIND_UPSTREAM_RESET, /* the upstream resets after `cut` bytes of its download */
  KIND_SILENT,         /* connects and sends nothing: handshake_timeout must end it */
  KIND_COUNT
} soak_kind;

/* Short names for output ("client_reset"), indexed by soak_kind. */
extern const char *const soak_kind_names[KIND_COUNT];

/* 1 for the kinds that must end byte-exact with a clean EOF both ways. */
int soak_kind_is_clean(soak_kind kind);

/* One connection's plan; the same in both processes. */
typedef struct soak_plan {
  uint64_t seed;       /* this connection's seed; its bytes derive from it */
  uint64_t up_size;    /* payload bytes client -> upstream */
  uint64_t down_size;  /* payload bytes upstream -> client */
  uint64_t cut;        /* reset kinds: payload bytes sent before the reset */
  uint64_t slow_after; /* slow kinds: bytes read before the reader stops */
  uint32_t pause_ms;   /* slow kinds: stop this long, then read slowly as long */
  uint8_t kind;        /* soak_kind */
} soak_plan;

/* The run's parameters (command line, see main.c). */
typedef struct soak_params {
  uint64_t seed;
  uint32_t relayed;        /* relayed connections, all held open at once */
  uint32_t silent;         /* further connections that send nothing */
  uint64_t max_size;       /* largest transfer each way */
  uint64_t min_bytes;      /* clean connections carry at least this much */
  uint32_t pause_max_ms;   /* slow readers stop for up to this long */
  uint32_t handshake_ms;   /* the silent listener's handshake_timeout */
  uint32_t end_bound_ms;   /* a fault must reach the other end within this */
  uint32_t ramp_ms;        /* time to get every relayed connection open */
  uint32_t time_limit_ms;  /* the whole run, at most */
  uint32_t connecting_max; /* connects in progress at once */
  uint32_t max_open;       /* client sockets open at once (descriptor budget) */
  int driver;              /* talk to a driver on stdin/stdout (see main.c) */
  int reset_eof_ok;        /* a reset may arrive as a clean EOF (Wine 8, see report.c) */
  int64_t corrupt;         /* debug: this connection's upload gets a wrong byte; -1 none */
  uint16_t main_port, failover_port, silent_port; /* iocpd's listeners */
} soak_params;

/* How one side's receiving direction ended. */
enum soak_rx {
  RX_OPEN,    /* not ended (yet) */
  RX_EOF,     /* clean FIN; `received` says after how many bytes */
  RX_RESET,   /* ECONNRESET */
  RX_ERROR,   /* another error (err) */
  RX_EXCESS,  /* more bytes than planned arrived */
  RX_CORRUPT, /* a byte differed (bad_at) */
  RX_STOPPED  /* this side stopped reading: it reset, or the connection was dead */
};

/* How one side's sending direction ended. */
enum soak_tx {
  TX_OPEN,       /* not ended (yet) */
  TX_DONE,       /* every planned byte sent, then FIN */
  TX_RESET,      /* the send failed with EPIPE or ECONNRESET: the peer reset */
  TX_ERROR,      /* another error (err) */
  TX_STOPPED,    /* this side stopped sending: the connection was dead */
  TX_RESET_BY_US /* this side reset the connection as planned (fault_ns) */
};

/* One side of one connection, written only by the process owning that
 * side; read by the client after the upstream process has exited. */
typedef struct soak_side {
  uint64_t sent;     /* payload bytes the kernel accepted */
  uint64_t received; /* payload bytes read; all checked */
  uint64_t bad_at;   /* offset of the first wrong byte, or SOAK_NO_OFFSET */
  uint64_t start_ns; /* client: connect() called; upstream: header read */
  uint64_t fault_ns; /* when this side reset the connection (reset kinds) */
  uint64_t end_ns;   /* when this side was done with it; 0: never */
  int32_t err;       /* errno of the error that ended it, 0 if none */
  uint8_t rx, tx;    /* soak_rx, soak_tx */
} soak_side;

/* The mapping both processes share. */
typedef struct soak_shared {
  atomic_uint identified;        /* relayed connections whose header the upstream read */
  atomic_uint released;          /* 1 once payload may move */
  atomic_uint quit;              /* 1: the upstream process should exit */
  atomic_uint upstream_accepted; /* connections the upstream accepted */
  atomic_uint upstream_open;     /* ... and has not closed yet */
  atomic_uint anon_eof;          /* closed before a header arrived: by a clean FIN */
  atomic_uint anon_reset;        /* ... by a reset */
  atomic_uint anon_other;        /* ... otherwise (data that was no header, errors) */
  atomic_uint bad_headers;
  atomic_ullong upstream_verified; /* payload bytes the upstream checked */
  uint64_t held_ns;                /* client: when every relayed connection was open */
  uint64_t released_ns;            /* client: when payload started to move */
  uint32_t held;                   /* client: relayed connections open at that point */
  int wake_fd;                     /* eventfd: the client wakes the upstream */
  uint32_t total;                  /* connections (relayed + silent) */
  soak_side *client;               /* [total], in this mapping */
  soak_side *upstream;             /* [total], in this mapping */
} soak_shared;

/* ---- pattern.c: plans and the byte pattern ---- */

/* A 64-bit mixing function (splitmix64's finaliser): every input bit
 * affects every output bit. */
uint64_t soak_mix64(uint64_t x);

/* The seed of one direction's bytes (up: client -> upstream). */
uint64_t soak_dir_seed(const soak_plan *plan, int up);

/* Writes the len pattern bytes at offset off of the stream dir_seed. */
void soak_pattern_fill(uint64_t dir_seed, uint64_t off, unsigned char *out, size_t len);

/* Compares len received bytes with the stream dir_seed at offset off.
 * Returns len if all match, else the index of the first that differs. */
size_t soak_pattern_check(uint64_t dir_seed, uint64_t off, const unsigned char *in, size_t len);

/* The plans of every connection: p->relayed relayed ones (kinds drawn in
 * fixed shares, shuffled by the seed), then p->silent silent ones. Returns
 * a malloc'd array of p->relayed + p->silent plans, or NULL when out of
 * memory. */
soak_plan *soak_plans_build(const soak_params *p);

/* The 16-byte header of connection index. */
void soak_header_make(const soak_plan *plan, uint32_t index, unsigned char out[SOAK_HEADER_LEN]);

/* ---- loop.c: time, descriptors and a timer heap ---- */

/* CLOCK_MONOTONIC in ns; both processes share this clock. */
uint64_t soak_now_ns(void);

/* Closes fd with SO_LINGER 0, so the peer gets a RST. */
void soak_reset_close(int fd);

/* Raises the soft descriptor limit to the hard one; returns the soft limit. */
uint64_t soak_raise_fd_limit(void);

/* A min-heap of (when, index) wake-ups. Entries are never removed early:
 * the owner compares `when` with what it expects and ignores stale ones. */
typedef struct soak_timer {
  uint64_t when;
  uint32_t index;
} soak_timer;

typedef struct soak_timers {
  soak_timer *v;
  size_t n, cap;
} soak_timers;

/* Adds a wake-up. Returns 0, or -1 when out of memory. */
int soak_timers_add(soak_timers *t, uint64_t when, uint32_t index);

/* Removes and returns the earliest wake-up due at now, if any (1), else 0. */
int soak_timers_pop_due(soak_timers *t, uint64_t now, soak_timer *out);

/* ms until the earliest wake-up, capped at cap_ms; cap_ms when empty. */
int soak_timers_wait_ms(const soak_timers *t, uint64_t now, int cap_ms);

void soak_timers_free(soak_timers *t);

/* ---- diag.c ---- */

/* For a connection that never ended: prints (stderr) how far this side
 * got, what its socket fd still holds (unread, unsent bytes) and the state
 * and queues of iocpd's socket at the other end of it (from /proc/net/tcp),
 * so that a hang can be placed: data waiting on our side means this tool
 * stopped reading; nothing anywhere means iocpd holds the connection. */
void soak_diag_socket(const char *who, uint32_t index, const soak_side *rec, int fd);

/* ---- client.c, upstream.c: the two sides ---- */

/* Runs the client side: opens every connection (the silent ones mixed
 * in), holds the relayed ones open end to end at once, releases them
 * (after the driver agrees, in driver mode), returns once every
 * connection ended, then waits (a bounded time) for the upstream to
 * finish its sides. Writes sh->client[]. Returns NULL, or why the run
 * stopped early (a static string: the time limit, no progress for 30 s, a
 * connection lost before all were open...). */
const char *soak_client_run(const soak_params *p, const soak_plan *plans, soak_shared *sh,
                            uint64_t began_ns);

/* Runs the upstream side on the listening socket lfd until sh->quit.
 * Writes sh->upstream[] and the counters. Returns 0, or 1 on a fatal
 * error (e.g. epoll failed). */
int soak_upstream_run(const soak_params *p, const soak_plan *plans, soak_shared *sh, int lfd);

/* ---- report.c: judging and printing ---- */

/* Judges every connection from both sides' records, prints the summary
 * (stderr, for people) and a `result {json}` line (stdout, for the
 * driver). aborted is NULL or why the run stopped early. Returns the
 * number of failed checks (0: the soak passed). */
int soak_report(const soak_params *p, const soak_plan *plans, const soak_shared *sh,
                uint64_t began_ns, uint64_t ended_ns, const char *aborted);

#endif /* SOAK_H */
