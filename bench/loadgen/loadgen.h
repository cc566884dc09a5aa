/*
 * loadgen: a small, lean load generator for iocpd's benchmarks.
 *
 *   loadgen echo     -p PORT [-c CONNS] [-s SIZE] [-d SECS] [-n MSGS]
 *   loadgen bulk     -p PORT [-c CONNS] [-s WRITE_SIZE] [-d SECS] [-n BYTES]
 *   loadgen connrate -p PORT [-c PARALLEL] [-s SIZE] [-d SECS] [-n CONNS]
 *   loadgen idle     -p PORT [-c CONNS] [-d HOLD_SECS] [--ready-file PATH]
 *   loadgen stream   -p PORT [-c CONNS] [-s WRITE_SIZE] [-W WINDOW] [-d SECS] [-w SECS]
 *   loadgen churn    -p PORT [-c PARALLEL] [-s SIZE] [-d SECS] [--long N] [--long-size BYTES]
 *                    [--reload-cmd CMD [--reloads N] [--reload-every SECS]
 *                    [--reload-window SECS]]
 *   loadgen udp-echo   -p PORT [-c SESSIONS] [-s SIZE] [-d SECS] [-w SECS]
 *   loadgen udp-stream -p PORT [-c SESSIONS] [-s SIZE] [-W DATAGRAMS] [-d SECS] [-w SECS]
 *   loadgen udp-idle   -p PORT [-c SESSIONS] [-d HOLD_SECS] [--ready-file PATH]
 *
 * One thread and one epoll set drive every connection, so on a small
 * machine the generator takes one core at most and leaves the rest to the
 * servers under test. Only 127.0.0.1 is accepted as a target: this tool
 * must never be pointed at someone else's machine.
 *
 * Output: one JSON object on one line on stdout, and one line for humans on
 * stderr. Exit status 0 on success, 1 if the run failed (a corrupted echo,
 * nothing completed, fewer idle connections than asked), 2 on usage errors.
 *
 * The files: main.c (command line, the table of modes, the report's common
 * fields), conn.c (the pattern, sockets, the epoll set, connecting a fixed
 * set), stats.c (time, the latency histogram, JSON strings), and one file
 * per mode, each starting with what the mode does: echo.c, bulk.c,
 * connrate.c, idle.c, stream.c, churn.c; the UDP modes share udp.c (a
 * session's socket, the datagram format, setting up sessions) and have
 * udpecho.c, udpstream.c and udpidle.c. This header is what they share.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

/* The CMake build (tests/blackbox.cmake) defines it on the command line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define PATTERN_LEN (1u << 20) /* bytes of pseudo-random pattern */
#define PATTERN_SLACK 4096     /* offsets a message may start at */
#define MAX_EVENTS 512
#define IDLE_PARALLEL 128 /* idle mode: connections being set up at once */
#define IDLE_PROBE 16     /* idle mode: bytes echoed once per connection */

/* ------------------------------------------------------------------------ */
/* Modes */

/* A mode: one row of main.c's table, defined in the mode's own file. */
typedef struct loadgen_mode {
  /* The command-line word, and "mode" in the JSON. */
  const char *name;
  /* -s when it is not given: bytes per message or per write. */
  size_t default_size;
  /* The receive buffer: this many bytes, or -s if that is larger. */
  size_t scratch_len;
  /* --long when it is not given; 0: the mode has no long transfers. */
  unsigned default_long;
  /* Drives the connections until the run is over. Sets t_begin, t_measure
   * and t_end; main takes the end of the run for those still 0. */
  void (*run)(void);
  /* Prints the mode's JSON fields (each after a comma) on stdout and its
   * line for humans on stderr, for a measurement of secs seconds. Returns
   * 1 if the run did what it should, 0 if it failed. */
  int (*report)(double secs);
} loadgen_mode;

extern const loadgen_mode mode_echo, mode_bulk, mode_connrate, mode_idle, mode_stream, mode_churn;
extern const loadgen_mode mode_udp_echo, mode_udp_stream, mode_udp_idle;

/* ------------------------------------------------------------------------ */
/* Connections and options */

/* ST_CLOSING: churn's long transfers, FIN sent, waiting for the EOF. */
enum state { ST_FREE, ST_CONNECTING, ST_RUNNING, ST_IDLE, ST_DRAINING, ST_CLOSING, ST_DONE };

typedef struct conn {
  int fd;
  int state;
  uint32_t id;
  uint64_t seq;     /* messages completed on this connection */
  size_t off;       /* pattern offset of the current message */
  size_t sent;      /* bytes of the current message sent */
  size_t recvd;     /* bytes of the current echo received */
  uint64_t t_start; /* ns: when the current message (or connect) began */
  int want_out;     /* EPOLLOUT is in the interest set */
  uint64_t tx, rx;  /* stream: bytes sent, bytes echoed and verified */
  uint64_t rx_mark; /* stream: rx when the measurement began */
  uint64_t tx_goal; /* churn: what a long transfer may have sent by now */
} conn;

typedef struct options {
  const loadgen_mode *mode;
  int port;
  unsigned conns;
  size_t size;
  double duration;
  uint64_t count;
  double warmup;
  double connect_timeout;
  const char *label;
  const char *ready_file;
  size_t window; /* stream: most bytes unechoed per connection; udp-stream:
                  * most datagrams */
  /* churn: long transfers (conns[0..long_conns), before the opt.conns
   * slots), and the reloads */
  unsigned long_conns;
  size_t long_size; /* bytes each long transfer adds per 10 ms */
  const char *reload_cmd;
  unsigned reloads;
  double reload_every;  /* 0: spread evenly over the run */
  double reload_window; /* seconds after a reload command that still count */
} options;

/* ------------------------------------------------------------------------ */
/* Time, counters and the latency histogram (stats.c) */

/* Buckets: values below 2^SUB_BITS exactly, then 2^SUB_BITS buckets per power
 * of two, so every bucket is at most 1/32 (about 3%) of its value wide. */
#define SUB_BITS 5
#define SUB_COUNT (1u << SUB_BITS)
#define NBUCKETS ((64 - SUB_BITS + 1) * SUB_COUNT)

typedef struct histogram {
  uint64_t count;
  uint64_t max;
  uint64_t bucket[NBUCKETS];
} histogram;

/* The figures of the one run this process makes; the modes count, stats.c
 * holds them. */
extern histogram hist;
extern uint64_t ops;       /* messages (echo), connections (connrate) done */
extern uint64_t bytes_out; /* payload bytes sent (bulk) */
extern uint64_t bytes_in;  /* bytes received (bulk), echoed and verified (stream) */
extern uint64_t errors;    /* failed connects, resets, early EOFs */
extern uint64_t mismatches;
extern uint64_t lost; /* UDP: datagrams with no echo within UDP_LOSS_MS */
extern uint64_t late; /* UDP: echoes that came after that */
/* UDP: whole, unchanged datagrams of another session (a relay mixed
 * clients up); not counted as corrupt, so that the run's figures stand. */
extern uint64_t misrouted;
extern uint64_t t_begin, t_end, t_measure; /* ns (now_ns) */

/* Nanoseconds on the monotonic clock. */
uint64_t now_ns(void);

/* Whether the run is over: now has reached deadline or a signal came. */
int timed_out(uint64_t now, uint64_t deadline);

void hist_add(histogram *h, uint64_t v);

/* The value at quantile q (0..1), as the middle of its bucket; 0 if empty. */
uint64_t hist_quantile(const histogram *h, double q);

/* Percentiles of hist in microseconds, as echo and connrate report them. */
typedef struct latency {
  double p50, p99, p999, max;
} latency;

latency latency_of(const histogram *h);

/* Prints l as the JSON fields p50_us, p99_us, p999_us and max_us. */
void json_latency(const latency *l);

/* Writes s as a JSON string (labels come from the command line). */
void json_string(const char *s);

/* ------------------------------------------------------------------------ */
/* The pattern, sockets and the epoll set (conn.c) */

extern options opt;                       /* the command line (main.c) */
extern volatile sig_atomic_t interrupted; /* SIGINT or SIGTERM came (main.c) */

extern unsigned char *pattern; /* PATTERN_LEN + PATTERN_SLACK bytes */
extern unsigned char *scratch; /* receive buffer */
extern size_t scratch_len;
extern conn *conns; /* opt.long_conns + opt.conns of them */
extern int epfd;
extern struct sockaddr_in target;

/* Prints what failed with strerror(errno) and exits 1. */
void die(const char *what);

/* Fills the pattern with xorshift output: every offset gives a different
 * sequence, so a byte echoed into the wrong place or message shows up. */
void make_pattern(void);

/* Where message seq of connection id starts in the pattern. */
size_t message_offset(uint32_t id, uint64_t seq);

/* Sets c's epoll interest (op: EPOLL_CTL_ADD or _MOD); dies if it fails. */
void watch(conn *c, int op, uint32_t events);

/* Adds or removes EPOLLOUT from c's interest, if it changes. */
void set_out(conn *c, int on);

/* Starts a non-blocking connect on c. Returns 0, or -1 (counted as an error)
 * if the socket could not even be created or the connect failed at once. */
int start_connect(conn *c);

/* The connect of c finished: returns 0 if it succeeded, or -1 with errno
 * set to why it failed. start_connect's -1 leaves connect's errno too. */
int connect_result(conn *c);

/* Closes c's socket (which also takes it out of the epoll set) and puts c
 * in state. */
void drop(conn *c, int state);

/* Sends the rest of c's current message (size bytes from its offset).
 * Returns 0, or -1 if the connection failed. */
int send_rest(conn *c, size_t size);

/* Reads what has arrived of c's echo and checks it. Returns 1 once the
 * whole message is back, 0 if more is to come, -1 on failure or EOF. */
int recv_echo(conn *c, size_t size);

/* Streams (stream, churn's long transfers): byte i of connection id's
 * stream is pattern[(stream_origin(id) + i) % PATTERN_LEN]. */
size_t stream_origin(uint32_t id);

/* Sends c's stream in writes of at most write_size bytes until c->tx
 * reaches limit, the socket is full or it fails. Returns 0, or -1 if the
 * connection failed. */
int stream_send(conn *c, uint64_t limit, size_t write_size);

/* Reads c's echo until the socket is empty and checks every byte against
 * what was sent (c->rx counts them). Returns 0, 1 on EOF, or -1 on an
 * error, a wrong byte or more bytes than were sent (mismatches counts
 * those two). */
int stream_recv(conn *c);

/* Starts c's next message: its offset from c->seq, nothing sent yet. */
void begin_message(conn *c);

/* Connects conns[0..n) and returns how many succeeded within the connect
 * timeout. With probe (idle mode) at most IDLE_PARALLEL are in progress at
 * once and each does one small echo; otherwise they just connect. */
unsigned connect_all(unsigned n, int probe);

/* Connects all opt.conns connections and starts the clock: t_begin and
 * t_measure are now, *warm_end is warmup seconds later and *deadline
 * opt.duration after that. Returns -1, having said so, if not every
 * connection came up. */
int connect_and_start(double warmup, uint64_t *warm_end, uint64_t *deadline);

/* ------------------------------------------------------------------------ */
/* UDP sessions (udp.c) */

/* A UDP session is a conn whose socket is a UDP socket connected to the
 * target, so that the relay sees one client address and port per session,
 * and only datagrams from the target reach it. Every datagram carries a
 * UDP_HEADER-byte header (the session's id, the datagram's sequence number
 * and its size), then pattern bytes that depend on both: an echo is
 * checked whole: one cut, merged or changed counts as corrupt, one that
 * reaches the wrong session as misrouted. */
#define UDP_HEADER 16
#define UDP_BATCH 64         /* datagrams per sendmmsg / recvmmsg */
#define UDP_LOSS_MS 100      /* no echo this long after sending: lost */
#define UDP_RETRY_MS 200     /* setup: the first datagram sent again */
#define UDP_WINDOW 16        /* udp-stream: datagrams out per session (-W) */
#define UDP_SETUP_PARALLEL 1 /* setup: sessions waiting for their first echo */

/* Allocates the receive buffers for datagrams of opt.size bytes. */
void udp_init(void);

/* Opens c's socket, connected to the target and in the epoll set
 * (EPOLLIN). Returns 0, or -1 (counted as an error). */
int udp_open(conn *c);

/* Sends datagrams first .. first + count - 1 of session c, opt.size bytes
 * each, with as few sendmmsg calls as it takes (count <= UDP_BATCH).
 * Returns how many went (0 if the socket is full: EAGAIN), or -1 on another
 * error (counted; an ICMP error from a relay that is not there, typically). */
int udp_send(conn *c, uint64_t first, unsigned count);

/* Reads up to UDP_BATCH datagrams waiting on c's socket and checks each
 * (a wrong one counts as corrupt or misrouted and is skipped). Puts the sequence numbers
 * of the good ones in seqs and their number in *good. Returns how many
 * datagrams were read (fewer than UDP_BATCH: the socket is empty now), or
 * -1 on an error (counted, as for udp_send). */
int udp_recv(conn *c, uint64_t *seqs, unsigned *good);

/* Sets up sessions conns[0..n): each sends datagram 0 and waits for its
 * echo (sent again every UDP_RETRY_MS), at most UDP_SETUP_PARALLEL at
 * once, within the connect timeout. A session whose echo came is in
 * ST_IDLE with seq 1; the others are closed (ST_DONE). Returns how many
 * came up. */
unsigned udp_setup(unsigned n);

/* udp_setup for all opt.conns sessions, then starts the clock as
 * connect_and_start does. Returns -1, having said so, if one did not come
 * up. */
int udp_setup_and_start(double warmup, uint64_t *warm_end, uint64_t *deadline);

#endif
