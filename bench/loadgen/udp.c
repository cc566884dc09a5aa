/*
 * loadgen's UDP sessions: a session's connected socket, the datagram
 * format (header, then pattern), sending and checking datagrams in
 * batches, and setting up a set of sessions (each sends its first
 * datagram and waits for the echo, so that a relay has made its session
 * and its upstream socket before anything is measured). The UDP modes
 * build on these.
 */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* One datagram's receive slot is opt.size + 1 bytes: a longer datagram
 * shows as one byte too many (and MSG_TRUNC), never as a good one. */
static unsigned char *rx_buf;
static size_t rx_slot;

void udp_init(void) {
  if (opt.size < UDP_HEADER) {
    fprintf(stderr, "loadgen: UDP datagrams are at least %u bytes (-s)\n", UDP_HEADER);
    exit(2);
  }
  rx_slot = opt.size + 1;
  rx_buf = malloc(UDP_BATCH * rx_slot);
  if (rx_buf == NULL) die("malloc");
}

int udp_open(conn *c) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    errors++;
    return -1;
  }
  /* Connected: the kernel hands this socket only the target's datagrams. */
  if (connect(fd, (struct sockaddr *)&target, sizeof(target)) != 0) {
    close(fd);
    errors++;
    return -1;
  }
  c->fd = fd;
  c->seq = 0;
  watch(c, EPOLL_CTL_ADD, EPOLLIN);
  return 0;
}

/* The header: id, sequence number, size, in this machine's byte order
 * (both ends are this process). */
static void put_header(unsigned char *h, uint32_t id, uint64_t seq) {
  uint32_t size = (uint32_t)opt.size;
  memcpy(h, &id, 4);
  memcpy(h + 4, &seq, 8);
  memcpy(h + 12, &size, 4);
}

int udp_send(conn *c, uint64_t first, unsigned count) {
  unsigned char hdr[UDP_BATCH][UDP_HEADER];
  struct iovec iov[UDP_BATCH][2];
  struct mmsghdr msgs[UDP_BATCH];
  unsigned i, done = 0;

  if (count > UDP_BATCH) count = UDP_BATCH;
  memset(msgs, 0, count * sizeof(msgs[0]));
  for (i = 0; i < count; i++) {
    put_header(hdr[i], c->id, first + i);
    iov[i][0].iov_base = hdr[i];
    iov[i][0].iov_len = UDP_HEADER;
    iov[i][1].iov_base = pattern + message_offset(c->id, first + i);
    iov[i][1].iov_len = opt.size - UDP_HEADER;
    msgs[i].msg_hdr.msg_iov = iov[i];
    msgs[i].msg_hdr.msg_iovlen = 2;
  }
  while (done < count) {
    int k = sendmmsg(c->fd, msgs + done, count - done, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      errors++;
      return done > 0 ? (int)done : -1;
    }
    done += (unsigned)k;
  }
  return (int)done;
}

/* What the n bytes at p are for session id: 0 its datagram *seq (the
 * header says so and the rest is that datagram's pattern), 1 a whole
 * datagram of another session (a relay sent it to the wrong client), 2
 * anything else. */
static int udp_classify(const unsigned char *p, size_t n, uint32_t id, uint64_t *seq) {
  uint32_t got_id, size;
  if (n != opt.size) return 2;
  memcpy(&got_id, p, 4);
  memcpy(seq, p + 4, 8);
  memcpy(&size, p + 12, 4);
  if (size != opt.size || got_id >= opt.conns ||
      memcmp(p + UDP_HEADER, pattern + message_offset(got_id, *seq), n - UDP_HEADER) != 0)
    return 2;
  return got_id == id ? 0 : 1;
}

int udp_recv(conn *c, uint64_t *seqs, unsigned *good) {
  struct iovec iov[UDP_BATCH];
  struct mmsghdr msgs[UDP_BATCH];
  unsigned i;
  int n;

  *good = 0;
  memset(msgs, 0, sizeof(msgs));
  for (i = 0; i < UDP_BATCH; i++) {
    iov[i].iov_base = rx_buf + i * rx_slot;
    iov[i].iov_len = rx_slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  do {
    n = recvmmsg(c->fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    errors++;
    return -1;
  }
  for (i = 0; i < (unsigned)n; i++) {
    uint64_t seq;
    int kind = msgs[i].msg_hdr.msg_flags & MSG_TRUNC
                   ? 2
                   : udp_classify(rx_buf + i * rx_slot, msgs[i].msg_len, c->id, &seq);
    if (kind == 0)
      seqs[(*good)++] = seq;
    else if (kind == 1)
      misrouted++;
    else
      mismatches++;
  }
  return n;
}

unsigned udp_setup(unsigned n) {
  struct epoll_event ev[MAX_EVENTS];
  uint64_t now = now_ns(), deadline = now + (uint64_t)(opt.connect_timeout * 1e9);
  uint64_t retry = (uint64_t)UDP_RETRY_MS * 1000000u;
  conn *pending[UDP_SETUP_PARALLEL] = {NULL};
  unsigned next = 0, waiting = 0, ok = 0, failed = 0, i, j;

  while (ok + failed < n && !interrupted && now < deadline) {
    int k;
    while (next < n && waiting < UDP_SETUP_PARALLEL) {
      conn *c = &conns[next++];
      if (udp_open(c) != 0) {
        failed++;
        continue;
      }
      c->state = ST_CONNECTING;
      c->t_start = now;
      udp_send(c, 0, 1); /* if it did not go, the retry sends it */
      pending[waiting++] = c;
    }
    k = epoll_wait(epfd, ev, MAX_EVENTS, 10);
    if (k < 0 && errno != EINTR) die("epoll_wait");
    now = now_ns();
    for (i = 0; i < (unsigned)(k > 0 ? k : 0); i++) {
      conn *c = ev[i].data.ptr;
      uint64_t seqs[UDP_BATCH];
      unsigned good;
      if (c->state != ST_CONNECTING) continue;
      while (udp_recv(c, seqs, &good) > 0) {
        for (j = 0; j < good; j++) {
          if (seqs[j] == 0) c->state = ST_IDLE;
        }
      }
    }
    /* The sessions whose echo came leave the list; a late one tries again. */
    for (i = 0; i < waiting;) {
      conn *c = pending[i];
      if (c->state == ST_IDLE) {
        c->seq = 1;
        ok++;
        pending[i] = pending[--waiting];
        continue;
      }
      if (now - c->t_start >= retry) {
        c->t_start = now;
        udp_send(c, 0, 1);
      }
      i++;
    }
  }
  for (i = 0; i < waiting; i++) {
    errors++;
    drop(pending[i], ST_DONE);
  }
  return ok;
}

int udp_setup_and_start(double warmup, uint64_t *warm_end, uint64_t *deadline) {
  unsigned up;
  uint64_t now;
  udp_init();
  up = udp_setup(opt.conns);
  if (up < opt.conns) {
    fprintf(stderr, "loadgen: only %u of %u UDP sessions came up\n", up, opt.conns);
    return -1;
  }
  now = now_ns();
  t_begin = t_measure = now;
  *warm_end = now + (uint64_t)(warmup * 1e9);
  *deadline = *warm_end + (uint64_t)(opt.duration * 1e9);
  return 0;
}
