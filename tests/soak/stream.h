/*
 * soak: one end of a relayed connection, as either side sees it. The
 * client and the upstream run the same code with mirrored roles: each
 * sends its pattern stream (then FIN, or a reset at the plan's cut) and
 * receives and checks the other's, stopping or slowing its reads when the
 * plan says so, and records in its soak_side how each direction ended.
 */
#ifndef SOAK_STREAM_H
#define SOAK_STREAM_H

#include "soak.h"

/* How the receiving direction is read now. */
enum soak_read_mode {
  READ_FULL,   /* as fast as data comes */
  READ_PAUSED, /* not at all, until the timer */
  READ_SLOW,   /* one small chunk, then READ_TICK */
  READ_TICK    /* waiting for the timer to allow the next small chunk */
};

typedef struct soak_stream {
  int fd;                     /* -1 once closed */
  uint32_t index;             /* the connection's index (timers name it) */
  soak_side *rec;             /* this side's record in the shared mapping */
  uint64_t tx_seed;           /* what this side sends */
  uint64_t tx_stop;           /* send this many payload bytes, then FIN or reset */
  uint64_t rx_seed;           /* what this side receives */
  uint64_t rx_size;           /* ... and how much of it */
  uint64_t slow_after;        /* slow reader: bytes read before it stops */
  uint64_t slow_until;        /* end of the slow phase (ns) */
  uint64_t timer_at;          /* the pending wake-up (ns), 0 if none */
  uint64_t corrupt_at;        /* debug: offset of a sent byte to flip, or SOAK_NO_OFFSET */
  uint32_t pause_ms;          /* slow reader: stop this long, then read slowly as long */
  uint32_t next;              /* ready-list link (the owner's) */
  uint8_t reset_at_stop;      /* reset instead of FIN after tx_stop bytes */
  uint8_t tx_after_eof;       /* send only once the other side's FIN arrived */
  uint8_t slow;               /* this side is the slow reader */
  uint8_t slowed;             /* ... and has started being slow */
  uint8_t read_mode;          /* soak_read_mode */
  uint8_t readable, writable; /* edge-triggered readiness not yet used up */
  uint8_t queued;             /* on the owner's ready list */
} soak_stream;

/* Sets s up for connection index with plan, as the client side
 * (upstream_side 0) or the upstream side (1); rec is that side's record.
 * Nothing moves until soak_stream_pump. */
void soak_stream_init(soak_stream *s, int fd, uint32_t index, const soak_plan *plan,
                      int upstream_side, soak_side *rec);

/* Reads and writes as far as the socket and the plan allow, at most about
 * budget bytes each way, using buf (buf_len bytes) as scratch. May close
 * s->fd (a planned reset). Adds a wake-up to timers when the plan pauses
 * reading. Returns 1 if more could be done at once (budget used up),
 * else 0. */
int soak_stream_pump(soak_stream *s, unsigned char *buf, size_t buf_len, size_t budget,
                     soak_timers *timers, uint64_t now);

/* The wake-up at s->timer_at is due: moves the slow reader on. */
void soak_stream_timer(soak_stream *s, uint64_t now);

/* 1 once both directions have ended. */
int soak_stream_done(const soak_stream *s);

/* Closes what is left of a finished (or abandoned) stream: a clean close
 * when both directions ended cleanly, else a reset, so the other end never
 * waits for a side that gave up. Sets rec->end_ns if unset. */
void soak_stream_close(soak_stream *s, uint64_t now);

#endif /* SOAK_STREAM_H */
