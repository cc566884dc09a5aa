/*
 * loadgen's connections: the pattern every sent byte comes from, the
 * non-blocking sockets and the one epoll set, sending and checking one
 * message or a stream (stream, churn), and connecting a fixed set of
 * connections (echo, bulk, stream, and idle with its probe echo). The
 * modes build on these.
 */
#include "loadgen.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

unsigned char *pattern;
unsigned char *scratch;
size_t scratch_len;
conn *conns;
int epfd = -1;
struct sockaddr_in target;

void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

void make_pattern(void) {
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

size_t message_offset(uint32_t id, uint64_t seq) {
  return (size_t)((id * 2654435761u + seq * 40503u) % PATTERN_SLACK);
}

void watch(conn *c, int op, uint32_t events) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = events;
  ev.data.ptr = c;
  if (epoll_ctl(epfd, op, c->fd, &ev) != 0) die("epoll_ctl");
  c->want_out = (events & EPOLLOUT) != 0;
}

void set_out(conn *c, int on) {
  if (c->want_out == on) return;
  watch(c, EPOLL_CTL_MOD, on ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

int start_connect(conn *c) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    errors++;
    return -1;
  }
  if (connect(fd, (struct sockaddr *)&target, sizeof(target)) != 0 && errno != EINPROGRESS) {
    int err = errno; /* churn tells a refused connect from others */
    close(fd);
    errors++;
    errno = err;
    return -1;
  }
  c->fd = fd;
  c->state = ST_CONNECTING;
  c->sent = c->recvd = 0;
  c->t_start = now_ns();
  watch(c, EPOLL_CTL_ADD, EPOLLIN | EPOLLOUT);
  return 0;
}

int connect_result(conn *c) {
  int err = 0, on = 1;
  socklen_t len = sizeof(err);
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    errno = err;
    return -1;
  }
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  return 0;
}

void drop(conn *c, int state) {
  if (c->fd >= 0) close(c->fd); /* also leaves the epoll set */
  c->fd = -1;
  c->state = state;
}

int send_rest(conn *c, size_t size) {
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

int recv_echo(conn *c, size_t size) {
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

size_t stream_origin(uint32_t id) { return (size_t)((id * 2654435761u) % PATTERN_LEN); }

int stream_send(conn *c, uint64_t limit, size_t write_size) {
  for (;;) {
    size_t pos = (size_t)((stream_origin(c->id) + c->tx) % PATTERN_LEN), n = write_size;
    ssize_t k;
    if (c->tx >= limit) {
      set_out(c, 0);
      return 0;
    }
    if (n > limit - c->tx) n = (size_t)(limit - c->tx);
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

int stream_recv(conn *c) {
  for (;;) {
    ssize_t n = recv(c->fd, scratch, scratch_len, 0);
    size_t done = 0;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
    if (n == 0) return 1;
    if ((uint64_t)n > c->tx - c->rx) {
      /* More than we sent: the echo carries bytes that are not ours. */
      mismatches++;
      return -1;
    }
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

void begin_message(conn *c) {
  c->off = message_offset(c->id, c->seq);
  c->sent = c->recvd = 0;
  c->t_start = now_ns();
}

unsigned connect_all(unsigned n, int probe) {
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

int connect_and_start(double warmup, uint64_t *warm_end, uint64_t *deadline) {
  unsigned up = connect_all(opt.conns, 0);
  uint64_t now;
  if (up < opt.conns) {
    fprintf(stderr, "loadgen: only %u of %u connections came up\n", up, opt.conns);
    return -1;
  }
  now = now_ns();
  t_begin = t_measure = now;
  *warm_end = now + (uint64_t)(warmup * 1e9);
  *deadline = *warm_end + (uint64_t)(opt.duration * 1e9);
  return 0;
}
