/*
 * churn (bench R5, a reload under load): for SECS, PARALLEL slots loop
 * connect, send SIZE (1 KiB) bytes, read them back (verified), close, as
 * connrate does; meanwhile LONG connections (--long, default 50), set up
 * first, stream for the whole run, each putting at most --long-size bytes
 * (default 16 KiB) more in flight every 10 ms and at most 8 times that
 * unechoed, and verify their echo. When time is up they stop sending,
 * wait for the rest of their echo, half-close and read to EOF.
 *
 * During the run loadgen itself runs --reload-cmd (through /bin/sh -c,
 * its output to stderr) --reloads times, every --reload-every seconds
 * (default: spread evenly over the run), without waiting for it. A
 * reload's window runs from the command's start to --reload-window
 * seconds (default 1) after it exits: the relay reloads after the command
 * has told it to, and settles after that. One clock times the commands
 * and the connections, so nothing has to line up two processes' clocks.
 *
 * A cycle whose time (connect to close or failure) overlaps a window
 * counts as "during", the others as "outside". A failed cycle is one
 * refused, reset, ended early (short), corrupted or not done within
 * CYCLE_TIMEOUT; a slot waits FAIL_PAUSE after a failure before it tries
 * again, as a client would, so a relay that is down costs a count of
 * failures that follows from how long it is down. A broken long transfer
 * is one that did not connect, failed, ended early, carried a wrong byte
 * or did not end within LONG_DRAIN of the run.
 *
 * Reports the cycles and failures during and outside the windows, the
 * p99 latency of a cycle (connect to the whole echo back) and of the
 * connect alone (to established) during and outside, the long transfers
 * ok and broken and their verified bytes, and the reloads run.
 */
#include "loadgen.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TICK_NS 10000000u         /* long transfers: pacing interval */
#define LONG_WINDOW 8             /* long transfers: ticks' bytes unechoed at most */
#define CYCLE_TIMEOUT 3000000000u /* above the 1 s of a lost SYN's retransmit */
#define FAIL_PAUSE 10000000u      /* a slot's pause after a failed cycle */
#define LONG_DRAIN 10000000000u   /* long transfers: to reach EOF after the run */
#define RELOAD_WAIT 10000000000u  /* a reload command still running after the run */
#define MAX_RELOADS 1000
#define NEVER UINT64_MAX

extern char **environ;

/* Why a cycle failed, or a long transfer broke. */
enum cause { C_REFUSED, C_RESET, C_SHORT, C_TIMEOUT, C_CORRUPT, C_CONNECT, NCAUSES };
static const char *const cause_name[NCAUSES] = {"refused", "reset",   "short",
                                                "timeout", "corrupt", "connect"};

/* The reloads: their windows and the command running now, if any. */
typedef struct window {
  uint64_t start, end; /* end is NEVER while the command runs */
} window;
static window windows[MAX_RELOADS];
static unsigned nwindows, reloads_failed;
static pid_t reload_pid = -1;
static uint64_t reload_ns_max;

/* The figures, "during" ([1]) and "outside" ([0]) the windows. */
static histogram h_cycle[2], h_connect[2];
static uint64_t cycles[2], failed[2], fail_cause[NCAUSES];
static unsigned long_ok, long_broken, broken_cause[NCAUSES];
static uint64_t long_bytes;

/* Whether [a, b] overlaps a reload window: a window that has not closed
 * yet overlaps whatever comes after its start. */
static int during(uint64_t a, uint64_t b) {
  unsigned i;
  for (i = 0; i < nwindows; i++) {
    if (windows[i].start <= b && windows[i].end >= a) return 1;
  }
  return 0;
}

static int is_long(const conn *c) { return c < conns + opt.long_conns; }

/* ------------------------------------------------------------------------ */
/* The reload command */

static void start_reload(uint64_t now) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t dfl;
  char *argv[] = {"sh", "-c", (char *)opt.reload_cmd, NULL};
  int rc;
  /* The command's output goes to stderr: stdout is the JSON line. SIGPIPE,
   * which loadgen ignores, is back to its default in the command: what it
   * starts (a relay, when it restarts one) should not inherit that. */
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  if (posix_spawn_file_actions_init(&fa) != 0 ||
      posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO) != 0 ||
      posix_spawnattr_init(&attr) != 0 || posix_spawnattr_setsigdefault(&attr, &dfl) != 0 ||
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF) != 0)
    die("posix_spawn setup");
  rc = posix_spawn(&reload_pid, "/bin/sh", &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  windows[nwindows].start = now;
  windows[nwindows].end = NEVER;
  nwindows++;
  if (rc != 0) {
    fprintf(stderr, "loadgen: cannot run the reload command: %s\n", strerror(rc));
    reload_pid = -1;
    reloads_failed++;
    windows[nwindows - 1].end = now + (uint64_t)(opt.reload_window * 1e9);
  }
}

/* Reaps the reload command if it has ended (or, with force, kills it)
 * and closes its window. */
static void poll_reload(uint64_t now, int force) {
  int status;
  pid_t r;
  if (reload_pid < 0) return;
  if (force) kill(reload_pid, SIGKILL);
  r = waitpid(reload_pid, &status, force ? 0 : WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return;
  if (r < 0 || force || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "loadgen: reload %u failed\n", nwindows);
    reloads_failed++;
  }
  reload_pid = -1;
  windows[nwindows - 1].end = now + (uint64_t)(opt.reload_window * 1e9);
  if (now - windows[nwindows - 1].start > reload_ns_max)
    reload_ns_max = now - windows[nwindows - 1].start;
}

/* ------------------------------------------------------------------------ */
/* Cycles */

static uint32_t next_id;

/* The cause of a failure from errno, as connect_result or a send or
 * receive left it. */
static int cause_of(int err) {
  if (err == ECONNREFUSED) return C_REFUSED;
  if (err == ETIMEDOUT) return C_TIMEOUT;
  return C_RESET;
}

static void cycle_failed(conn *c, int cause, uint64_t now) {
  int d = during(c->t_start, now);
  failed[d]++;
  fail_cause[cause]++;
  drop(c, ST_FREE);
  c->t_start = now + FAIL_PAUSE; /* when the slot may try again */
}

/* Starts a cycle on slot c. */
static void begin_cycle(conn *c, uint64_t now) {
  c->id = next_id++;
  if (start_connect(c) != 0) {
    c->t_start = now;
    cycle_failed(c, cause_of(errno), now);
  }
}

/* Receives on a running cycle; on the whole echo, records it and starts
 * the slot's next cycle (unless the run is over). */
static void cycle_recv(conn *c, int starting) {
  uint64_t before = mismatches, now;
  int r;
  /* recv_echo's -1 is an error (errno), a wrong byte (mismatches) or EOF
   * (neither: errno stays 0). */
  errno = 0;
  r = recv_echo(c, opt.size);
  if (r == 0) return;
  now = now_ns();
  if (r < 0) {
    cycle_failed(c, mismatches != before ? C_CORRUPT : errno == 0 ? C_SHORT : cause_of(errno), now);
    return;
  }
  {
    int d = during(c->t_start, now);
    hist_add(&h_cycle[d], now - c->t_start);
    cycles[d]++;
    ops++;
  }
  drop(c, ST_FREE);
  if (starting) begin_cycle(c, now);
}

static void cycle_event(conn *c, uint32_t events, int starting) {
  uint64_t now;
  if (c->state == ST_CONNECTING) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    now = now_ns();
    if (connect_result(c) != 0) {
      cycle_failed(c, cause_of(errno), now);
      return;
    }
    hist_add(&h_connect[during(c->t_start, now)], now - c->t_start);
    c->state = ST_RUNNING;
    c->off = message_offset(c->id, 0);
    c->sent = c->recvd = 0;
    if (send_rest(c, opt.size) != 0) cycle_failed(c, cause_of(errno), now);
    return;
  }
  if (c->state != ST_RUNNING) return;
  if ((events & EPOLLOUT) && send_rest(c, opt.size) != 0) {
    cycle_failed(c, cause_of(errno), now_ns());
    return;
  }
  cycle_recv(c, starting);
}

/* Starts the slots whose pause is over; fails the cycles that took too
 * long. Returns how many cycles are under way. */
static unsigned cycle_sweep(uint64_t now, int starting) {
  unsigned i, active = 0;
  for (i = opt.long_conns; i < opt.long_conns + opt.conns; i++) {
    conn *c = &conns[i];
    if (c->state == ST_FREE && starting && now >= c->t_start) begin_cycle(c, now);
    /* (A cycle begun in this pass started after now.) */
    if ((c->state == ST_CONNECTING || c->state == ST_RUNNING) && now > c->t_start &&
        now - c->t_start > CYCLE_TIMEOUT)
      cycle_failed(c, C_TIMEOUT, now);
    if (c->state == ST_CONNECTING || c->state == ST_RUNNING) active++;
  }
  return active;
}

/* ------------------------------------------------------------------------ */
/* Long transfers */

static void long_broke(conn *c, int cause) {
  long_broken++;
  broken_cause[cause]++;
  drop(c, ST_DONE);
}

static int long_send(conn *c) {
  uint64_t limit = c->rx + LONG_WINDOW * (uint64_t)opt.long_size;
  return stream_send(c, c->tx_goal < limit ? c->tx_goal : limit, opt.long_size);
}

/* Sends c's FIN once every byte it sent is back: a relay that does not
 * pass a half-close on (nginx's default) closes both ways at a client's
 * FIN and would drop an echo still on its way. */
static void long_close_if_done(conn *c) {
  if (c->state != ST_DRAINING || c->rx != c->tx) return;
  if (shutdown(c->fd, SHUT_WR) != 0) {
    long_broke(c, C_RESET);
    return;
  }
  c->state = ST_CLOSING;
}

static void long_event(conn *c) {
  uint64_t before = mismatches;
  int r;
  if (c->state != ST_RUNNING && c->state != ST_DRAINING && c->state != ST_CLOSING) return;
  r = stream_recv(c);
  if (r < 0) {
    long_broke(c, mismatches != before ? C_CORRUPT : C_RESET);
    return;
  }
  if (r == 1) {
    /* EOF: the end after our FIN (every byte was back by then); before
     * it, the transfer was cut. */
    if (c->state == ST_CLOSING) {
      long_ok++;
      drop(c, ST_DONE);
    } else {
      long_broke(c, C_SHORT);
    }
    return;
  }
  if (c->state == ST_RUNNING && long_send(c) != 0) long_broke(c, C_RESET);
  long_close_if_done(c);
}

/* Every TICK_NS: each long transfer may put long_size more bytes in
 * flight. Bytes a transfer could not send in its tick are not carried
 * over, so one that was held up does not burst afterwards. */
static void long_tick(void) {
  unsigned i;
  for (i = 0; i < opt.long_conns; i++) {
    conn *c = &conns[i];
    if (c->state != ST_RUNNING) continue;
    c->tx_goal = c->tx + opt.long_size;
    if (long_send(c) != 0) long_broke(c, C_RESET);
  }
}

/* The run is over: each long transfer stops sending, waits for the rest
 * of its echo, half-closes and reads to the EOF. */
static void long_finish(void) {
  unsigned i;
  for (i = 0; i < opt.long_conns; i++) {
    conn *c = &conns[i];
    if (c->state != ST_RUNNING) continue;
    set_out(c, 0);
    c->state = ST_DRAINING;
    long_close_if_done(c);
  }
}

static unsigned long_open(void) {
  unsigned i, n = 0;
  for (i = 0; i < opt.long_conns; i++)
    n += conns[i].state == ST_RUNNING || conns[i].state == ST_DRAINING ||
         conns[i].state == ST_CLOSING;
  return n;
}

/* ------------------------------------------------------------------------ */
/* The run */

static void run_churn(void) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t now, deadline, next_tick, every, end_by = NEVER;
  unsigned i, up, reloads_started = 0;
  int starting = 1;

  every = (uint64_t)((opt.reload_every > 0 ? opt.reload_every : opt.duration / (opt.reloads + 1)) *
                     1e9);
  if (opt.reloads > 0 &&
      (double)every * opt.reloads / 1e9 + opt.reload_window > opt.duration + 1e-9) {
    fprintf(stderr, "loadgen: %u reloads every %.3f s with a %.3f s window do not fit in %.3f s\n",
            opt.reloads, (double)every / 1e9, opt.reload_window, opt.duration);
    exit(2);
  }
  up = connect_all(opt.long_conns, 0);
  for (i = 0; i < opt.long_conns; i++) {
    if (conns[i].state != ST_RUNNING) {
      long_broken++;
      broken_cause[C_CONNECT]++;
    }
  }
  if (up < opt.long_conns)
    fprintf(stderr, "loadgen: only %u of %u long transfers came up\n", up, opt.long_conns);
  for (i = opt.long_conns; i < opt.long_conns + opt.conns; i++) conns[i].state = ST_FREE;
  next_id = opt.long_conns;

  now = t_begin = t_measure = now_ns();
  deadline = now + (uint64_t)(opt.duration * 1e9);
  next_tick = now;
  for (;;) {
    int k, wait_ms;
    if (now >= next_tick) {
      if (starting) long_tick();
      next_tick += TICK_NS;
      if (next_tick <= now) next_tick = now + TICK_NS; /* late: no catching up */
    }
    if (starting && reload_pid < 0 && reloads_started < opt.reloads &&
        now >= t_begin + every * (reloads_started + 1)) {
      start_reload(now);
      reloads_started++;
    }
    if (starting && timed_out(now, deadline)) {
      starting = 0;
      t_end = now;
      long_finish();
      end_by = now + LONG_DRAIN;
    }
    if (cycle_sweep(now, starting) == 0 && !starting && long_open() == 0 && reload_pid < 0) break;
    if (now >= end_by) break;
    wait_ms = next_tick > now ? (int)((next_tick - now) / 1000000u) + 1 : 0;
    k = epoll_wait(epfd, ev, MAX_EVENTS, wait_ms);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      if (is_long(c)) {
        long_event(c);
      } else {
        cycle_event(c, ev[i].events, starting);
      }
    }
    now = now_ns();
    poll_reload(now, 0);
    if (reload_pid >= 0 && !starting && now >= t_end + RELOAD_WAIT) poll_reload(now, 1);
  }
  /* What is still open now has missed its time. */
  for (i = 0; i < opt.long_conns; i++) {
    if (conns[i].state == ST_RUNNING || conns[i].state == ST_DRAINING ||
        conns[i].state == ST_CLOSING)
      long_broke(&conns[i], C_TIMEOUT);
  }
  for (i = opt.long_conns; i < opt.long_conns + opt.conns; i++) {
    if (conns[i].state == ST_CONNECTING || conns[i].state == ST_RUNNING)
      cycle_failed(&conns[i], C_TIMEOUT, now);
  }
  poll_reload(now, 1);
  for (i = 0; i < opt.long_conns; i++) long_bytes += conns[i].rx;
  if (reloads_started < opt.reloads)
    fprintf(stderr, "loadgen: only %u of %u reloads started in time\n", reloads_started,
            opt.reloads);
}

/* ------------------------------------------------------------------------ */
/* Report */

static double p99_us(const histogram *h) { return (double)hist_quantile(h, 0.99) / 1e3; }

static int report_churn(double secs) {
  double in_windows = 0, p99[2], c99[2];
  uint64_t covered = 0;
  unsigned i, d;

  /* The time the windows cover: one may start (a reload command that ran
   * late) before the last one's window ends, and is counted once. */
  for (i = 0; i < nwindows; i++) {
    uint64_t start = windows[i].start > covered ? windows[i].start : covered;
    uint64_t end = windows[i].end < t_end ? windows[i].end : t_end;
    if (end > start) {
      in_windows += (double)(end - start) / 1e9;
      covered = end;
    }
  }
  for (d = 0; d < 2; d++) {
    p99[d] = p99_us(&h_cycle[d]);
    c99[d] = p99_us(&h_connect[d]);
  }
  /* errors: every failed cycle and broken long transfer. */
  errors = failed[0] + failed[1] + long_broken;
  printf(",\"cycles\":%llu,\"cycles_per_s\":%.1f", (unsigned long long)ops,
         secs > 0 ? (double)ops / secs : 0);
  printf(",\"cycles_during\":%llu,\"cycles_outside\":%llu,\"failed_during\":%llu,"
         "\"failed_outside\":%llu",
         (unsigned long long)cycles[1], (unsigned long long)cycles[0],
         (unsigned long long)failed[1], (unsigned long long)failed[0]);
  for (i = 0; i < C_CONNECT; i++)
    printf(",\"fail_%s\":%llu", cause_name[i], (unsigned long long)fail_cause[i]);
  printf(",\"p99_during_us\":%.1f,\"p99_outside_us\":%.1f,\"p99_connect_during_us\":%.1f,"
         "\"p99_connect_outside_us\":%.1f",
         p99[1], p99[0], c99[1], c99[0]);
  printf(",\"long\":%u,\"long_size\":%zu,\"long_ok\":%u,\"long_broken\":%u", opt.long_conns,
         opt.long_size, long_ok, long_broken);
  for (i = 0; i < NCAUSES; i++) {
    if (i != C_REFUSED) printf(",\"broken_%s\":%u", cause_name[i], broken_cause[i]);
  }
  printf(",\"long_bytes\":%llu", (unsigned long long)long_bytes);
  printf(",\"reloads\":%u,\"reloads_done\":%u,\"reloads_failed\":%u,\"reload_cmd_ms_max\":%.1f,"
         "\"reload_window_s\":%.3f,\"seconds_in_windows\":%.3f",
         opt.reloads, nwindows, reloads_failed, (double)reload_ns_max / 1e6, opt.reload_window,
         in_windows);
  fprintf(stderr,
          "loadgen churn %s: %u parallel x %zu B + %u long: %llu cycles (%llu during %u "
          "reloads, %.1f s), failed %llu during / %llu outside, p99 %.1f us during / %.1f us "
          "outside (connect %.1f / %.1f us); long transfers %u ok, %u broken, %.1f MB verified; "
          "%u reloads failed, %llu corrupt\n",
          opt.label, opt.conns, opt.size, opt.long_conns, (unsigned long long)ops,
          (unsigned long long)cycles[1], nwindows, in_windows, (unsigned long long)failed[1],
          (unsigned long long)failed[0], p99[1], p99[0], c99[1], c99[0], long_ok, long_broken,
          (double)long_bytes / 1e6, reloads_failed, (unsigned long long)mismatches);
  return ops > 0 && nwindows == opt.reloads && reloads_failed == 0;
}

const loadgen_mode mode_churn = {
    .name = "churn",
    .default_size = 1024,
    .scratch_len = 65536,
    .default_long = 50,
    .run = run_churn,
    .report = report_churn,
};
