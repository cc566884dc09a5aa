/*
 * loadgen: a small, lean load generator for iocpd's benchmarks.
 *
 *   loadgen echo     -p PORT [-c CONNS] [-s SIZE] [-d SECS] [-n MSGS]
 *   loadgen bulk     -p PORT [-c CONNS] [-s WRITE_SIZE] [-d SECS] [-n BYTES]
 *   loadgen connrate -p PORT [-c PARALLEL] [-s SIZE] [-d SECS] [-n CONNS]
 *   loadgen idle     -p PORT [-c CONNS] [-d HOLD_SECS] [--ready-file PATH]
 *   loadgen stream   -p PORT [-c CONNS] [-s WRITE_SIZE] [-W WINDOW] [-d SECS] [-w SECS]
 *
 * One thread and one epoll set drive every connection, so on a small
 * machine the generator takes one core at most and leaves the rest to the
 * servers under test. Only 127.0.0.1 is accepted as a target: this tool
 * must never be pointed at someone else's machine.
 *
 * echo:     CONNS connections, each with one SIZE-byte message in flight;
 *           every echoed byte is compared with what was sent. Reports
 *           messages/s, MB/s (payload, one direction) and latency
 *           percentiles from a log-bucketed histogram.
 * bulk:     CONNS connections stream WRITE_SIZE-byte writes for SECS, then
 *           send FIN and wait for the peer to close: the bytes counted are
 *           the bytes delivered, and the time includes draining the queues
 *           on the way. Anything the peer sends back is read and dropped.
 * connrate: PARALLEL slots each loop connect, send SIZE (1 KiB) bytes,
 *           read them back (verified), close. Reports connections/s.
 * idle:     opens CONNS connections (at most 128 connecting at once), does
 *           one 16-byte echo on each (so a relay has surely connected its
 *           upstream side), touches --ready-file, holds them for SECS and
 *           reports how many were established and how many dropped.
 * stream:   CONNS connections to an echo server each send continuously
 *           (WRITE_SIZE-byte writes, default 64 KiB) while at most WINDOW
 *           bytes (default 1 MiB) of theirs are not echoed back yet, and
 *           read and verify their echo. After the warm-up, for SECS, counts
 *           the verified echoed bytes of each connection. Reports the
 *           aggregate (echoed payload, one direction) and the fairness
 *           between connections: min, median and max per-connection
 *           throughput, Jain's index (sum x)^2 / (n * sum x^2), and every
 *           connection's byte count. Connections are served in the order
 *           epoll reports them, each drained at once, so the generator
 *           itself favours none.
 *
 * Output: one JSON object on one line on stdout, and one line for humans on
 * stderr. Exit status 0 on success, 1 if the run failed (a corrupted echo,
 * nothing completed, fewer idle connections than asked), 2 on usage errors.
 */
/* The CMake build (tests/blackbox.cmake) defines it on the command line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define PATTERN_LEN (1u << 20) /* bytes of pseudo-random pattern */
#define PATTERN_SLACK 4096     /* offsets a message may start at */
#define MAX_EVENTS 512
#define IDLE_PARALLEL 128 /* idle mode: connections being set up at once */
#define IDLE_PROBE 16     /* idle mode: bytes echoed once per connection */

enum mode { MODE_ECHO, MODE_BULK, MODE_CONNRATE, MODE_IDLE, MODE_STREAM };
static const char *const mode_names[] = {"echo", "bulk", "connrate", "idle", "stream"};
#define MODES 5

enum state { ST_FREE, ST_CONNECTING, ST_RUNNING, ST_IDLE, ST_DRAINING, ST_DONE };

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
} conn;

typedef struct options {
  enum mode mode;
  int port;
  unsigned conns;
  size_t size;
  double duration;
  uint64_t count;
  double warmup;
  double connect_timeout;
  const char *label;
  const char *ready_file;
  size_t window; /* stream: most bytes unechoed per connection */
} options;

/* ------------------------------------------------------------------------ */
/* Time and the latency histogram */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

static unsigned top_bit(uint64_t v) {
  unsigned e = 0;
  while (v >>= 1)
    e++;
  return e;
}

static unsigned bucket_of(uint64_t v) {
  unsigned e;
  if (v < SUB_COUNT) return (unsigned)v;
  e = top_bit(v);
  return ((e - SUB_BITS + 1) << SUB_BITS) + (unsigned)((v >> (e - SUB_BITS)) & (SUB_COUNT - 1));
}

/* The smallest value that falls into bucket b, and the bucket's width. */
static uint64_t bucket_low(unsigned b, uint64_t *width) {
  unsigned e;
  if (b < SUB_COUNT) {
    *width = 1;
    return b;
  }
  e = (b >> SUB_BITS) + SUB_BITS - 1;
  *width = (uint64_t)1 << (e - SUB_BITS);
  return (uint64_t)(SUB_COUNT + (b & (SUB_COUNT - 1))) << (e - SUB_BITS);
}

static void hist_add(histogram *h, uint64_t v) {
  h->bucket[bucket_of(v)]++;
  h->count++;
  if (v > h->max) h->max = v;
}

/* The value at quantile q (0..1), as the middle of its bucket; 0 if empty. */
static uint64_t hist_quantile(const histogram *h, double q) {
  uint64_t want, seen = 0, width;
  unsigned b;
  if (h->count == 0) return 0;
  want = (uint64_t)(q * (double)h->count + 0.999999);
  if (want < 1) want = 1;
  for (b = 0; b < NBUCKETS; b++) {
    seen += h->bucket[b];
    if (seen >= want) {
      uint64_t low = bucket_low(b, &width);
      uint64_t mid = low + width / 2;
      return mid > h->max ? h->max : mid;
    }
  }
  return h->max;
}

/* ------------------------------------------------------------------------ */
/* Globals of the one run this process makes */

static options opt;
static unsigned char *pattern;
static unsigned char *scratch; /* receive buffer */
static size_t scratch_len;
static conn *conns;
static int epfd = -1;
static struct sockaddr_in target;
static histogram hist;
static uint64_t ops;       /* messages (echo), connections (connrate) done */
static uint64_t bytes_out; /* payload bytes sent (bulk) */
static uint64_t bytes_in;  /* bytes received (bulk) */
static uint64_t errors;    /* failed connects, resets, early EOFs */
static uint64_t mismatches;
static uint64_t t_begin, t_end, t_measure;
static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Fills the pattern with xorshift output: every offset gives a different
 * sequence, so a byte echoed into the wrong place or message shows up. */
static void make_pattern(void) {
  uint64_t x = 0x9e3779b97f4a7c15u;
  size_t i;
  pattern = malloc(PATTERN_LEN + PATTERN_SLACK);
  if (pattern == NULL) die("malloc");
  for (i = 0; i < PATTERN_LEN + PATTERN_SLACK; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    pattern[i] = (unsigned char)(x >> 24);
  }
}

/* Where message seq of connection id starts in the pattern. */
static size_t message_offset(uint32_t id, uint64_t seq) {
  return (size_t)((id * 2654435761u + seq * 40503u) % PATTERN_SLACK);
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void watch(conn *c, int op, uint32_t events) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = events;
  ev.data.ptr = c;
  if (epoll_ctl(epfd, op, c->fd, &ev) != 0) die("epoll_ctl");
  c->want_out = (events & EPOLLOUT) != 0;
}

static void set_out(conn *c, int on) {
  if (c->want_out == on) return;
  watch(c, EPOLL_CTL_MOD, on ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

/* Starts a non-blocking connect on c. Returns 0, or -1 (counted as an error)
 * if the socket could not even be created or the connect failed at once. */
static int start_connect(conn *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    errors++;
    return -1;
  }
  if (connect(fd, (struct sockaddr *)&target, sizeof(target)) != 0 && errno != EINPROGRESS) {
    close(fd);
    errors++;
    return -1;
  }
  c->fd = fd;
  c->state = ST_CONNECTING;
  c->sent = c->recvd = 0;
  c->t_start = now_ns();
  watch(c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
  return 0;
}

/* The connect of c finished: returns 0 if it succeeded. */
static int connect_result(conn *c) {
  int err = 0, on = 1;
  socklen_t len = sizeof(err);
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return -1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  return 0;
}

static void drop(conn *c, int state) {
  if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
  c->fd = -1;
  c->state = state;
}

/* Sends the rest of c's current message (size bytes from its offset).
 * Returns 0, or -1 if the connection failed. */
static int send_rest(conn *c, size_t size) {
  while (c->sent < size) {
    ssize_t n = send(c->fd, pattern + c->off + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_out(c, 1);
        return 0;
      }
      return -1;
    }
    c->sent += (size_t)n;
  }
  set_out(c, 0);
  return 0;
}

/* Reads what has arrived of c's echo and checks it. Returns 1 once the
 * whole message is back, 0 if more is to come, -1 on failure or EOF. */
static int recv_echo(conn *c, size_t size) {
  while (c->recvd < size) {
    size_t want = size - c->recvd;
    ssize_t n = recv(c->fd, scratch, want < scratch_len ? want : scratch_len, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    if (n == 0) return -1;
    if (memcmp(scratch, pattern + c->off + c->recvd, (size_t)n) != 0) {
      mismatches++;
      return -1;
    }
    c->recvd += (size_t)n;
  }
  return 1;
}

static void begin_message(conn *c) {
  c->off = message_offset(c->id, c->seq);
  c->sent = c->recvd = 0;
  c->t_start = now_ns();
}

/* ------------------------------------------------------------------------ */
/* Connecting a fixed set (echo, bulk, idle) */

/* Connects conns[0..n) and returns how many succeeded within the connect
 * timeout. In idle mode at most IDLE_PARALLEL are in progress at once and
 * each does one small echo; the others just connect. */
static unsigned connect_all(unsigned n, int probe) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline = now_ns() + (uint64_t)(opt.connect_timeout * 1e9);
  unsigned next = 0, pending = 0, ok = 0, failed = 0, i;
  unsigned parallel = probe ? IDLE_PARALLEL : n;

  while (ok + failed < n && !interrupted) {
    int k;
    while (next < n && pending < parallel) {
      conn *c = &conns[next++];
      if (start_connect(c) != 0) {
        failed++;
        continue;
      }
      pending++;
    }
    if (now_ns() > deadline) break;
    k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (c->state == ST_CONNECTING) {
        if (!(ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
        if (connect_result(c) != 0) {
          errors++;
          drop(c, ST_DONE);
          failed++;
          pending--;
          continue;
        }
        if (!probe) {
          c->state = ST_RUNNING;
          watch(c, EPOLL_CTL_MOD, EPOLLIN);
          ok++;
          pending--;
          continue;
        }
        c->state = ST_RUNNING;
        c->off = message_offset(c->id, 0);
        if (send_rest(c, IDLE_PROBE) != 0) goto fail;
      } else if (c->state == ST_RUNNING) {
        int r;
        if ((ev[i].events & EPOLLOUT) && send_rest(c, IDLE_PROBE) != 0) goto fail;
        r = recv_echo(c, IDLE_PROBE);
        if (r < 0) goto fail;
        if (r == 1) {
          c->state = ST_IDLE;
          set_out(c, 0);
          ok++;
          pending--;
        }
      }
      continue;
    fail:
      errors++;
      drop(c, ST_DONE);
      failed++;
      pending--;
    }
  }
  /* Whatever is still connecting now has missed the deadline. */
  for (i = 0; i < n; i++) {
    if (conns[i].state == ST_CONNECTING || (probe && conns[i].state == ST_RUNNING)) {
      errors++;
      drop(&conns[i], ST_DONE);
    }
  }
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Modes */

static int timed_out(uint64_t now, uint64_t deadline) { return now >= deadline || interrupted; }

static void reset_stats(uint64_t now) {
  memset(&hist, 0, sizeof(hist));
  ops = 0;
  bytes_out = bytes_in = 0;
  t_measure = now;
}

static void run_echo(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, warm_end, now;
  unsigned i, up, active;
  int warm = opt.warmup > 0;

  up = connect_all(opt.conns, 0);
  if (up < opt.conns) {
    fprintf(stderr, "loadgen: only %u of %u connections came up\n", up, opt.conns);
    return;
  }
  now = now_ns();
  t_begin = t_measure = now;
  warm_end = now + (uint64_t)(opt.warmup * 1e9);
  deadline = warm_end + (uint64_t)(opt.duration * 1e9);
  for (i = 0; i < opt.conns; i++) {
    conn *c = &conns[i];
    begin_message(c);
    if (send_rest(c, opt.size) != 0) {
      errors++;
      drop(c, ST_DONE);
    }
  }
  active = opt.conns;
  while (active > 0) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    now = now_ns();
    if (warm && now >= warm_end) {
      warm = 0;
      reset_stats(now);
    }
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      int r;
      if (c->state != ST_RUNNING) continue;
      if ((ev[i].events & EPOLLOUT) && send_rest(c, opt.size) != 0) goto fail;
      r = recv_echo(c, opt.size);
      if (r < 0) goto fail;
      if (r == 0) continue;
      now = now_ns();
      hist_add(&hist, now - c->t_start);
      ops++;
      c->seq++;
      if (timed_out(now, deadline) || (opt.count != 0 && ops >= opt.count)) break;
      begin_message(c);
      if (send_rest(c, opt.size) != 0) goto fail;
      continue;
    fail:
      errors++;
      drop(c, ST_DONE);
      active--;
    }
    /* Echoes still out when time is up are abandoned: the run ends at the
     * deadline, not when the slowest connection answers. */
    if (timed_out(now, deadline) || (opt.count != 0 && ops >= opt.count)) break;
  }
  t_end = now_ns();
}

static void run_bulk(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, now, eof_deadline = 0;
  unsigned i, up, open;
  int sending = 1;
  size_t chunk = opt.size;

  up = connect_all(opt.conns, 0);
  if (up < opt.conns) {
    fprintf(stderr, "loadgen: only %u of %u connections came up\n", up, opt.conns);
    return;
  }
  t_begin = t_measure = now = now_ns();
  deadline = now + (uint64_t)(opt.duration * 1e9);
  for (i = 0; i < opt.conns; i++)
    watch(&conns[i], EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
  open = opt.conns;
  while (open > 0) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (c->state == ST_DONE) continue;
      if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t n;
        for (;;) {
          n = recv(c->fd, scratch, scratch_len, 0);
          if (n > 0) {
            bytes_in += (uint64_t)n;
            continue;
          }
          break;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          /* EOF (or a reset) after our FIN is the end; before it, a failure. */
          if (c->state != ST_DRAINING || n < 0) errors++;
          drop(c, ST_DONE);
          open--;
          continue;
        }
      }
      if (sending && c->state == ST_RUNNING && (ev[i].events & EPOLLOUT)) {
        for (;;) {
          size_t off = (size_t)(bytes_out % PATTERN_SLACK);
          ssize_t n = send(c->fd, pattern + off, chunk, MSG_NOSIGNAL);
          if (n > 0) {
            bytes_out += (uint64_t)n;
            if (opt.count != 0 && bytes_out >= opt.count) break;
            continue;
          }
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
          errors++;
          drop(c, ST_DONE);
          open--;
          break;
        }
      }
    }
    now = now_ns();
    if (sending && (timed_out(now, deadline) || (opt.count != 0 && bytes_out >= opt.count))) {
      /* Time is up: FIN every connection and wait for the sink to close,
       * which it does once it has read everything. */
      sending = 0;
      eof_deadline = now + 30000000000u;
      for (i = 0; i < opt.conns; i++) {
        conn *c = &conns[i];
        if (c->state != ST_RUNNING) continue;
        shutdown(c->fd, SHUT_WR);
        c->state = ST_DRAINING;
        watch(c, EPOLL_CTL_MOD, EPOLLIN);
      }
    }
    if (!sending && now >= eof_deadline) {
      fprintf(stderr, "loadgen: the peer did not close within 30 s of our FIN\n");
      errors++;
      break;
    }
  }
  t_end = now_ns();
}

static void run_connrate(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, now;
  unsigned i, active = 0;
  int starting = 1;
  uint32_t next_id = 0;

  t_begin = t_measure = now = now_ns();
  deadline = now + (uint64_t)(opt.duration * 1e9);
  for (i = 0; i < opt.conns; i++) {
    conns[i].id = next_id++;
    if (start_connect(&conns[i]) == 0) active++;
  }
  while (active > 0 || starting) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      int r;
      if (c->state == ST_CONNECTING) {
        if (!(ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
        if (connect_result(c) != 0) goto fail;
        c->state = ST_RUNNING;
        c->off = message_offset(c->id, 0);
        c->sent = c->recvd = 0;
        if (send_rest(c, opt.size) != 0) goto fail;
        continue;
      }
      if (c->state != ST_RUNNING) continue;
      if ((ev[i].events & EPOLLOUT) && send_rest(c, opt.size) != 0) goto fail;
      r = recv_echo(c, opt.size);
      if (r < 0) goto fail;
      if (r == 0) continue;
      now = now_ns();
      hist_add(&hist, now - c->t_start);
      ops++;
      drop(c, ST_FREE);
      goto next;
    fail:
      errors++;
      drop(c, ST_FREE);
    next:
      active--;
      if (!starting) continue;
      if (timed_out(now_ns(), deadline) || (opt.count != 0 && ops >= opt.count)) continue;
      /* A new connection takes the slot; failures do not stop the run,
       * but too many of them mean the target is down. */
      if (errors > 1000 && errors > ops) continue;
      c->id = next_id++;
      if (start_connect(c) == 0) active++;
    }
    now = now_ns();
    if (starting && (timed_out(now, deadline) || (opt.count != 0 && ops >= opt.count) ||
                     (errors > 1000 && errors > ops))) {
      starting = 0;
      t_end = now;
    }
    if (!starting && timed_out(now, deadline + 2000000000u)) break;
    if (starting && active == 0) {
      /* Every slot failed to even start: the target is not there. */
      starting = 0;
      t_end = now;
    }
  }
  /* Slots still running after the grace period are abandoned. */
  for (i = 0; i < opt.conns; i++) {
    if (conns[i].fd >= 0) drop(&conns[i], ST_FREE);
  }
  if (t_end == 0) t_end = now_ns();
}

static void run_idle(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, now;
  unsigned i, up;
  FILE *f;

  t_begin = now_ns();
  up = connect_all(opt.conns, 1);
  now = now_ns();
  t_measure = now;
  ops = up;
  fprintf(stderr, "loadgen: idle: %u of %u connections up in %.2f s\n", up, opt.conns,
          (double)(now - t_begin) / 1e9);
  if (opt.ready_file != NULL) {
    f = fopen(opt.ready_file, "w");
    if (f == NULL) die(opt.ready_file);
    fprintf(f, "%u\n", up);
    fclose(f);
  }
  deadline = now + (uint64_t)(opt.duration * 1e9);
  while (!timed_out(now, deadline)) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (c->state != ST_IDLE) continue;
      /* An idle connection must stay silent; data, EOF or an error all
       * mean the relay dropped or broke it. */
      errors++;
      ops--;
      drop(c, ST_DONE);
    }
    now = now_ns();
  }
  t_end = now;
  /* t_measure..t_end is the hold; the setup time goes out separately. */
}

/* Where byte 0 of connection id's stream starts in the pattern; its
 * stream runs on cyclically through the first PATTERN_LEN bytes. */
static size_t stream_origin(uint32_t id) { return (size_t)((id * 2654435761u) % PATTERN_LEN); }

/* Sends on c until the socket is full, the window is, or it fails.
 * Returns 0, or -1 if the connection failed. */
static int stream_send(conn *c) {
  for (;;) {
    size_t pos = (size_t)((stream_origin(c->id) + c->tx) % PATTERN_LEN);
    size_t room = opt.window - (size_t)(c->tx - c->rx), n = opt.size;
    ssize_t k;
    if (room == 0) {
      set_out(c, 0);
      return 0;
    }
    if (n > room) n = room;
    if (n > PATTERN_LEN - pos) n = PATTERN_LEN - pos;
    k = send(c->fd, pattern + pos, n, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_out(c, 1);
        return 0;
      }
      return -1;
    }
    c->tx += (uint64_t)k;
  }
}

/* Reads c's echo until the socket is empty and checks every byte against
 * what was sent. Returns 0, or -1 on EOF, an error or a wrong byte. */
static int stream_recv(conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, scratch, scratch_len, 0);
    size_t done = 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    if (n == 0 || (uint64_t)n > c->tx - c->rx) return -1; /* EOF, or more than we sent */
    while (done < (size_t)n) {
      size_t pos = (size_t)((stream_origin(c->id) + c->rx) % PATTERN_LEN);
      size_t k = (size_t)n - done;
      if (k > PATTERN_LEN - pos) k = PATTERN_LEN - pos;
      if (memcmp(scratch + done, pattern + pos, k) != 0) {
        mismatches++;
        return -1;
      }
      done += k;
      c->rx += k;
    }
  }
}

static void run_stream(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t deadline, warm_end, now;
  unsigned i, up;
  int warm = opt.warmup > 0;

  up = connect_all(opt.conns, 0);
  if (up < opt.conns) {
    fprintf(stderr, "loadgen: only %u of %u connections came up\n", up, opt.conns);
    return;
  }
  now = now_ns();
  t_begin = t_measure = now;
  warm_end = now + (uint64_t)(opt.warmup * 1e9);
  deadline = warm_end + (uint64_t)(opt.duration * 1e9);
  for (i = 0; i < opt.conns; i++) {
    if (stream_send(&conns[i]) != 0) {
      errors++;
      drop(&conns[i], ST_DONE);
    }
  }
  while (!timed_out(now, deadline)) {
    int k = epoll_wait(epfd, ev, MAX_EVENTS, 100);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (c->state != ST_RUNNING) continue;
      /* Reading first opens the window, so the send that follows can
       * go on at once. */
      if (stream_recv(c) != 0 || stream_send(c) != 0) {
        errors++;
        drop(c, ST_DONE);
      }
    }
    now = now_ns();
    if (warm && now >= warm_end) {
      /* The measurement takes its full duration from here. */
      warm = 0;
      t_measure = now;
      deadline = now + (uint64_t)(opt.duration * 1e9);
      for (i = 0; i < opt.conns; i++)
        conns[i].rx_mark = conns[i].rx;
    }
  }
  t_end = now;
  for (i = 0; i < opt.conns; i++) {
    bytes_in += conns[i].rx - conns[i].rx_mark;
    if (conns[i].fd >= 0) drop(&conns[i], ST_DONE);
  }
}

/* ------------------------------------------------------------------------ */
/* Command line and report */

static void usage(void) {
  fprintf(stderr, "usage: loadgen echo|bulk|connrate|idle|stream -p PORT [options]\n"
                  "  -H, --host ADDR        target address; only 127.0.0.1 is accepted\n"
                  "  -p, --port PORT        target port (required)\n"
                  "  -c, --connections N    connections (parallel slots for connrate)\n"
                  "  -s, --size BYTES       message size (echo 64, bulk and stream write\n"
                  "                         65536, connrate 1024)\n"
                  "  -W, --window BYTES     stream: most bytes unechoed per connection\n"
                  "                         (default 1048576)\n"
                  "  -d, --duration SECS    how long to run (idle: how long to hold)\n"
                  "  -n, --count N          stop after N messages / bytes / connections\n"
                  "  -w, --warmup SECS      echo, stream: run this long before measuring\n"
                  "  -t, --connect-timeout SECS  for setting up connections (default 30)\n"
                  "  -l, --label TEXT       copied into the JSON output\n"
                  "  -r, --ready-file PATH  idle: created once every connection is up\n");
  exit(2);
}

static double parse_num(const char *s, const char *what) {
  char *end;
  double v;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || v < 0) {
    fprintf(stderr, "loadgen: bad %s '%s'\n", what, s);
    exit(2);
  }
  return v;
}

static void parse_args(int argc, char **argv) {
  int i;
  const char *host = "127.0.0.1";
  if (argc < 2) usage();
  for (i = 0; i < MODES; i++) {
    if (strcmp(argv[1], mode_names[i]) == 0) break;
  }
  if (i == MODES) usage();
  opt.mode = (enum mode)i;
  opt.conns = 1;
  opt.size = 0;
  opt.duration = 5;
  opt.connect_timeout = 30;
  opt.label = "";
  /* Every option takes a value: they come in pairs. */
  for (i = 2; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define IS(s, l) (strcmp(a, s) == 0 || strcmp(a, l) == 0)
    if (v == NULL) usage();
    if (IS("-H", "--host")) {
      host = v;
    } else if (IS("-p", "--port")) {
      opt.port = (int)parse_num(v, "port");
    } else if (IS("-c", "--connections")) {
      opt.conns = (unsigned)parse_num(v, "connection count");
    } else if (IS("-s", "--size")) {
      opt.size = (size_t)parse_num(v, "size");
    } else if (IS("-d", "--duration")) {
      opt.duration = parse_num(v, "duration");
    } else if (IS("-n", "--count")) {
      opt.count = (uint64_t)parse_num(v, "count");
    } else if (IS("-w", "--warmup")) {
      opt.warmup = parse_num(v, "warmup");
    } else if (IS("-t", "--connect-timeout")) {
      opt.connect_timeout = parse_num(v, "connect timeout");
    } else if (IS("-l", "--label")) {
      opt.label = v;
    } else if (IS("-r", "--ready-file")) {
      opt.ready_file = v;
    } else if (IS("-W", "--window")) {
      opt.window = (size_t)parse_num(v, "window");
    } else {
      usage();
    }
#undef IS
  }
  /* Loopback only, and only the one address: a benchmark tool that can
   * flood any host is a tool for flooding hosts. */
  if (strcmp(host, "127.0.0.1") != 0) {
    fprintf(stderr, "loadgen: refusing target '%s': only 127.0.0.1 is allowed\n", host);
    exit(2);
  }
  if (opt.port <= 0 || opt.port > 65535) usage();
  if (opt.conns == 0 || opt.conns > 100000) {
    fprintf(stderr, "loadgen: connections must be 1..100000\n");
    exit(2);
  }
  if (opt.duration <= 0 || opt.duration > 3600) {
    fprintf(stderr, "loadgen: duration must be in (0, 3600] seconds\n");
    exit(2);
  }
  if (opt.size == 0) {
    opt.size = opt.mode == MODE_BULK || opt.mode == MODE_STREAM ? 65536
               : opt.mode == MODE_CONNRATE                      ? 1024
                                                                : 64;
  }
  if (opt.window == 0) opt.window = PATTERN_LEN;
  if (opt.size > PATTERN_LEN) {
    fprintf(stderr, "loadgen: size must be at most %u bytes\n", PATTERN_LEN);
    exit(2);
  }
}

/* Writes s as a JSON string (labels come from the command line). */
static void json_string(const char *s) {
  putchar('"');
  for (; *s != '\0'; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      printf("\\%c", ch);
    } else if (ch < 0x20) {
      printf("\\u%04x", ch);
    } else {
      putchar(ch);
    }
  }
  putchar('"');
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* x as a share of the median, as JSON ("0.7500") and for people ("0.75x");
 * null and "n/a" when the median is 0 (more than half the connections
 * moved nothing, and no ratio says more than that). */
static const char *share_json(char *buf, size_t size, double x, double median) {
  if (median <= 0) return "null";
  snprintf(buf, size, "%.4f", x / median);
  return buf;
}

static const char *share_text(char *buf, size_t size, double x, double median) {
  if (median <= 0) return "n/a";
  snprintf(buf, size, "%.2fx", x / median);
  return buf;
}

/* The stream mode's part of the report: fairness between connections. */
static int report_stream(double secs) {
  uint64_t *sorted = malloc(opt.conns * sizeof(*sorted));
  double sum = 0, sum_sq = 0, median, jain, lo, hi, to_mbit = secs > 0 ? 8 / secs / 1e6 : 0;
  char lo_share[32], hi_share[32];
  unsigned i, n = opt.conns;

  if (sorted == NULL) die("malloc");
  for (i = 0; i < n; i++) {
    double x = (double)(conns[i].rx - conns[i].rx_mark);
    sorted[i] = conns[i].rx - conns[i].rx_mark;
    sum += x;
    sum_sq += x * x;
  }
  qsort(sorted, n, sizeof(*sorted), cmp_u64);
  median = n % 2 ? (double)sorted[n / 2] : ((double)sorted[n / 2 - 1] + (double)sorted[n / 2]) / 2;
  lo = (double)sorted[0];
  hi = (double)sorted[n - 1];
  jain = sum_sq > 0 ? sum * sum / ((double)n * sum_sq) : 0;
  free(sorted);

  printf(",\"bytes\":%llu,\"gbit_per_s\":%.3f,\"window\":%zu", (unsigned long long)bytes_in,
         sum * to_mbit / 1e3, opt.window);
  printf(",\"conn_mbit_min\":%.3f,\"conn_mbit_median\":%.3f,\"conn_mbit_max\":%.3f", lo * to_mbit,
         median * to_mbit, hi * to_mbit);
  printf(",\"jain\":%.4f,\"min_over_median\":%s,\"max_over_median\":%s", jain,
         share_json(lo_share, sizeof(lo_share), lo, median),
         share_json(hi_share, sizeof(hi_share), hi, median));
  printf(",\"conn_bytes\":[");
  for (i = 0; i < n; i++)
    printf("%s%llu", i > 0 ? "," : "", (unsigned long long)(conns[i].rx - conns[i].rx_mark));
  printf("]");
  fprintf(stderr,
          "loadgen stream %s: %u conns, window %zu B: %.2f Gbit/s echoed; per connection min "
          "%.1f, median %.1f, max %.1f Mbit/s (min %s, max %s the median), Jain %.4f, "
          "%llu errors, %llu corrupt\n",
          opt.label, n, opt.window, sum * to_mbit / 1e3, lo * to_mbit, median * to_mbit,
          hi * to_mbit, share_text(lo_share, sizeof(lo_share), lo, median),
          share_text(hi_share, sizeof(hi_share), hi, median), jain, (unsigned long long)errors,
          (unsigned long long)mismatches);
  return bytes_in > 0 && errors == 0;
}

static int report(void) {
  double secs = (double)(t_end - t_measure) / 1e9;
  double rate = secs > 0 ? (double)ops / secs : 0;
  double p50 = (double)hist_quantile(&hist, 0.50) / 1e3;
  double p99 = (double)hist_quantile(&hist, 0.99) / 1e3;
  double p999 = (double)hist_quantile(&hist, 0.999) / 1e3;
  double maxus = (double)hist.max / 1e3;
  int ok = mismatches == 0;

  printf("{\"mode\":\"%s\",\"label\":", mode_names[opt.mode]);
  json_string(opt.label);
  printf(",\"port\":%d,\"connections\":%u,\"size\":%zu,\"seconds\":%.3f", opt.port, opt.conns,
         opt.size, secs);
  switch (opt.mode) {
  case MODE_ECHO:
    ok = ok && ops > 0;
    printf(",\"msgs\":%llu,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f", (unsigned long long)ops, rate,
           rate * (double)opt.size / 1e6);
    printf(",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f", p50, p99, p999,
           maxus);
    fprintf(stderr,
            "loadgen echo %s: %u conns x %zu B: %.0f msgs/s, %.2f MB/s, p50 %.1f us, "
            "p99 %.1f us, p99.9 %.1f us, %llu errors, %llu corrupt\n",
            opt.label, opt.conns, opt.size, rate, rate * (double)opt.size / 1e6, p50, p99, p999,
            (unsigned long long)errors, (unsigned long long)mismatches);
    break;
  case MODE_BULK: {
    double mbs = secs > 0 ? (double)bytes_out / secs / 1e6 : 0;
    ok = ok && bytes_out > 0 && errors == 0;
    printf(",\"bytes\":%llu,\"bytes_in\":%llu,\"mb_per_s\":%.3f,\"gbit_per_s\":%.3f",
           (unsigned long long)bytes_out, (unsigned long long)bytes_in, mbs, mbs * 8 / 1e3);
    fprintf(stderr, "loadgen bulk %s: %u conns: %.1f MB/s (%.2f Gbit/s), %llu errors\n", opt.label,
            opt.conns, mbs, mbs * 8 / 1e3, (unsigned long long)errors);
    break;
  }
  case MODE_CONNRATE:
    ok = ok && ops > 0;
    printf(",\"conns\":%llu,\"conns_per_s\":%.1f", (unsigned long long)ops, rate);
    printf(",\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f", p50, p99, p999,
           maxus);
    fprintf(stderr,
            "loadgen connrate %s: %u parallel x %zu B: %.0f conns/s, p50 %.1f us, p99 %.1f us, "
            "%llu errors, %llu corrupt\n",
            opt.label, opt.conns, opt.size, rate, p50, p99, (unsigned long long)errors,
            (unsigned long long)mismatches);
    break;
  case MODE_STREAM: ok = ok && report_stream(secs); break;
  case MODE_IDLE:
    ok = ok && ops == opt.conns;
    printf(",\"established\":%llu,\"setup_s\":%.3f", (unsigned long long)ops,
           (double)(t_measure - t_begin) / 1e9);
    fprintf(stderr, "loadgen idle %s: %llu of %u connections held for %.1f s, %llu errors\n",
            opt.label, (unsigned long long)ops, opt.conns, secs, (unsigned long long)errors);
    break;
  }
  printf(",\"errors\":%llu,\"corrupt\":%llu,\"ok\":%s}\n", (unsigned long long)errors,
         (unsigned long long)mismatches, ok ? "true" : "false");
  fflush(stdout);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  unsigned i;
  struct sigaction sa;

  parse_args(argc, argv);
  raise_fd_limit();
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  make_pattern();
  /* stream reads whatever has been echoed: in large reads, as a fast
   * client would. */
  scratch_len = opt.mode == MODE_STREAM ? 262144 : 65536;
  if (scratch_len < opt.size) scratch_len = opt.size;
  scratch = malloc(scratch_len);
  conns = calloc(opt.conns, sizeof(*conns));
  if (scratch == NULL || conns == NULL) die("malloc");
  for (i = 0; i < opt.conns; i++) {
    conns[i].fd = -1;
    conns[i].id = i;
  }
  memset(&target, 0, sizeof(target));
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)opt.port);
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");

  switch (opt.mode) {
  case MODE_ECHO: run_echo(); break;
  case MODE_BULK: run_bulk(); break;
  case MODE_CONNRATE: run_connrate(); break;
  case MODE_IDLE: run_idle(); break;
  case MODE_STREAM: run_stream(); break;
  }
  if (t_end == 0) t_end = now_ns();
  if (t_measure == 0) t_measure = t_end;
  return report();
}
