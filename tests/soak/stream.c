/* soak: one end of a relayed connection (see stream.h). */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

/* The slow phase reads SLOW_CHUNK bytes every SLOW_TICK_MS: 1.6 MB/s, far
 * below what the sender manages, so the relay's backpressure is what keeps
 * the sender in check. */
#define SLOW_CHUNK 16384
#define SLOW_TICK_MS 10

void soak_stream_init(soak_stream *s, int fd, uint32_t index, const soak_plan *plan,
                      int upstream_side, soak_side *rec) {
  soak_kind kind = (soak_kind)plan->kind;
  soak_kind my_reset = upstream_side ? KIND_UPSTREAM_RESET : KIND_CLIENT_RESET;
  soak_kind my_slow = upstream_side ? KIND_SLOW_UPSTREAM : KIND_SLOW_CLIENT;
  soak_kind peer_early = upstream_side ? KIND_EARLY_CLIENT : KIND_EARLY_UPSTREAM;
  uint64_t tx_size = upstream_side ? plan->down_size : plan->up_size;

  s->fd = fd;
  s->index = index;
  s->rec = rec;
  s->tx_seed = soak_dir_seed(plan, !upstream_side);
  s->rx_seed = soak_dir_seed(plan, upstream_side);
  s->rx_size = upstream_side ? plan->up_size : plan->down_size;
  s->reset_at_stop = kind == my_reset;
  s->tx_stop = s->reset_at_stop ? plan->cut : tx_size;
  s->tx_after_eof = kind == peer_early;
  s->slow = kind == my_slow;
  s->slowed = 0;
  s->slow_after = plan->slow_after;
  s->pause_ms = plan->pause_ms;
  s->slow_until = s->timer_at = 0;
  s->corrupt_at = SOAK_NO_OFFSET;
  s->read_mode = READ_FULL;
  /* readable, writable, next and queued are the owner's: readiness
   * seen before the plan started (the upstream learns it from the header)
   * still counts. */
  rec->bad_at = SOAK_NO_OFFSET;
}

static void set_timer(soak_stream *s, soak_timers *timers, uint64_t when) {
  s->timer_at = when;
  if (soak_timers_add(timers, when, s->index) != 0) s->timer_at = 0; /* reads on at full speed */
}

/* The slow reader's trigger: after slow_after bytes it stops reading. */
static int pause_now(soak_stream *s, soak_timers *timers, uint64_t now) {
  if (!s->slow || s->slowed || s->rec->received < s->slow_after) return 0;
  s->slowed = 1;
  s->read_mode = READ_PAUSED;
  set_timer(s, timers, now + (uint64_t)s->pause_ms * 1000000u);
  if (s->timer_at == 0) s->read_mode = READ_FULL;
  return s->read_mode == READ_PAUSED;
}

/* One received chunk: checked against the pattern, counted. Returns 0, or
 * -1 when the direction ended here (a wrong byte, too many bytes). */
static int take(soak_stream *s, const unsigned char *buf, size_t n) {
  soak_side *rec = s->rec;
  size_t ok = soak_pattern_check(s->rx_seed, rec->received, buf, n);
  if (ok < n) {
    rec->bad_at = rec->received + ok;
    rec->received += ok;
    rec->rx = RX_CORRUPT;
    return -1;
  }
  rec->received += n;
  if (rec->received > s->rx_size) {
    rec->rx = RX_EXCESS;
    return -1;
  }
  return 0;
}

static void read_failed(soak_stream *s, int e) {
  s->rec->rx = e == ECONNRESET ? RX_RESET : RX_ERROR;
  s->rec->err = e;
}

/* Reads until the socket is drained, the plan pauses, or budget is used.
 * Returns 1 if budget ran out with data possibly left. */
static int read_some(soak_stream *s, unsigned char *buf, size_t buf_len, size_t budget,
                     soak_timers *timers, uint64_t now) {
  while (s->readable && s->rec->rx == RX_OPEN) {
    size_t want = buf_len;
    ssize_t n;
    if (pause_now(s, timers, now) || s->read_mode == READ_PAUSED || s->read_mode == READ_TICK)
      return 0;
    if (budget == 0) return 1;
    if (s->read_mode == READ_SLOW && want > SLOW_CHUNK) want = SLOW_CHUNK;
    if (want > budget) want = budget;
    n = recv(s->fd, buf, want, 0);
    if (n > 0) {
      if (take(s, buf, (size_t)n) != 0) return 0;
      budget -= (size_t)n;
      if (s->read_mode == READ_SLOW) {
        s->read_mode = READ_TICK;
        set_timer(s, timers, now + SLOW_TICK_MS * 1000000u);
        if (s->timer_at == 0) s->read_mode = READ_FULL;
      }
    } else if (n == 0) {
      s->rec->rx = RX_EOF;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      s->readable = 0;
    } else if (errno != EINTR) {
      read_failed(s, errno);
    }
  }
  return 0;
}

/* The last planned byte is out: FIN, or the planned reset. */
static void end_sending(soak_stream *s) {
  if (s->reset_at_stop) {
    /* The time now, not the pass's: the fault's latency is measured from it. */
    s->rec->fault_ns = soak_now_ns();
    soak_reset_close(s->fd);
    s->fd = -1;
    s->rec->tx = TX_RESET_BY_US;
    if (s->rec->rx == RX_OPEN) s->rec->rx = RX_STOPPED;
    return;
  }
  if (shutdown(s->fd, SHUT_WR) != 0) {
    s->rec->tx = errno == ENOTCONN || errno == EPIPE ? TX_RESET : TX_ERROR;
    s->rec->err = errno;
    return;
  }
  s->rec->tx = TX_DONE;
}

/* Writes pattern bytes until the socket is full, the plan's stop, or the
 * budget. Returns 1 if budget ran out with more to send. */
static int write_some(soak_stream *s, unsigned char *buf, size_t buf_len, size_t budget) {
  soak_side *rec = s->rec;
  while (s->writable && rec->tx == TX_OPEN && rec->sent < s->tx_stop) {
    uint64_t left = s->tx_stop - rec->sent;
    size_t len = left < buf_len ? (size_t)left : buf_len;
    ssize_t n;
    if (budget == 0) return 1;
    if (len > budget) len = budget;
    soak_pattern_fill(s->tx_seed, rec->sent, buf, len);
    if (s->corrupt_at >= rec->sent && s->corrupt_at < rec->sent + len)
      buf[s->corrupt_at - rec->sent] ^= 0x5a;
    n = send(s->fd, buf, len, MSG_NOSIGNAL);
    if (n > 0) {
      rec->sent += (uint64_t)n;
      budget -= (size_t)n;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      s->writable = 0;
    } else if (n < 0 && errno != EINTR) {
      rec->tx = errno == EPIPE || errno == ECONNRESET ? TX_RESET : TX_ERROR;
      rec->err = errno;
    }
  }
  if (rec->tx == TX_OPEN && rec->sent == s->tx_stop) end_sending(s);
  return 0;
}

/* Once one direction died, the other cannot go on: note how it ended. */
static void settle(soak_stream *s) {
  soak_side *rec = s->rec;
  int rx_dead = rec->rx != RX_OPEN && rec->rx != RX_EOF;
  /* Also covers a side that waited for the other's FIN before sending. */
  if (rx_dead && rec->tx == TX_OPEN) rec->tx = TX_STOPPED;
  if ((rec->tx == TX_RESET || rec->tx == TX_ERROR) && rec->rx == RX_OPEN) rec->rx = RX_STOPPED;
}

int soak_stream_pump(soak_stream *s, unsigned char *buf, size_t buf_len, size_t budget,
                     soak_timers *timers, uint64_t now) {
  int more = 0;
  soak_side *rec = s->rec;

  if (s->fd < 0) return 0;
  if (rec->rx == RX_OPEN) more |= read_some(s, buf, buf_len, budget, timers, now);
  if (rec->tx == TX_OPEN && (!s->tx_after_eof || rec->rx == RX_EOF))
    more |= write_some(s, buf, buf_len, budget);
  /* After a failed send the receiving direction is not read again: the
   * send consumed the socket's error (Linux reports a reset once), so a
   * recv would now return 0, a clean EOF that never came (settle marks
   * it as stopped instead). The first sign of a reset is the one that
   * counts. */
  settle(s);
  if (soak_stream_done(s) && rec->end_ns == 0) rec->end_ns = now;
  return more && !soak_stream_done(s);
}

void soak_stream_timer(soak_stream *s, uint64_t now) {
  s->timer_at = 0;
  switch (s->read_mode) {
    case READ_PAUSED:
      /* Stopped long enough: now read slowly for as long again. */
      s->read_mode = READ_SLOW;
      s->slow_until = now + (uint64_t)s->pause_ms * 1000000u;
      break;
    case READ_TICK: s->read_mode = now >= s->slow_until ? READ_FULL : READ_SLOW; break;
    default: break;
  }
}

int soak_stream_done(const soak_stream *s) {
  return s->rec->rx != RX_OPEN && s->rec->tx != TX_OPEN;
}

void soak_stream_close(soak_stream *s, uint64_t now) {
  if (s->fd >= 0) {
    if (s->rec->rx == RX_EOF && s->rec->tx == TX_DONE)
      close(s->fd);
    else
      soak_reset_close(s->fd);
    s->fd = -1;
  }
  if (s->rec->end_ns == 0) s->rec->end_ns = now;
}
