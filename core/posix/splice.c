/*
 * epoll backend: zero-copy relaying (iocpd_conn_splice_to).
 *
 * A relay that reads into a buffer and sends from it copies every byte
 * twice, into user space and back. With splice(2) a bulk chunk goes
 * socket -> pipe -> socket and the kernel moves page references instead.
 *
 * The pipe stands in for the read buffer: the chunk is queued on the
 * destination as a write request that owns the pipe, and the handler reads
 * the source again only once that write is out (on_sent), so a pipe holds
 * at most one buffer_size chunk, the bound a buffer has. Pipes come from a
 * small per-worker pool when a chunk is read and go back as soon as it is
 * sent, so an idle relay holds none; the pool itself is closed once it has
 * gone unused for POOL_IDLE_MS, so a quiet worker holds no extra
 * descriptors either. Without a pipe (descriptor limit) the
 * read simply falls back to recv: splicing is only ever a shortcut.
 *
 * Small messages keep going through recv/send: for them a splice costs as
 * many system calls and more bookkeeping. A connection switches to
 * splicing when its reads come in big chunks and back when they get small.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "posix.h"

#define POOL_MAX                                                                                   \
  ((int)(sizeof(((iocpd__worker_os *)0)->idle_pipes) /                                             \
         sizeof(((iocpd__worker_os *)0)->idle_pipes[0])))

#define POOL_IDLE_MS 1000

static int get_pipe(iocpd__worker *w, int fd[2]) {
  if (w->os.idle_pipe_count > 0) {
    int *p = w->os.idle_pipes[--w->os.idle_pipe_count];
    fd[0] = p[0];
    fd[1] = p[1];
    return 0;
  }
  return pipe2(fd, O_NONBLOCK | O_CLOEXEC);
}

static void close_pipe(int fd[2]) {
  close(fd[0]);
  close(fd[1]);
}

/* fd must be an empty pipe: whatever a pooled pipe held would be sent on
 * some other connection. */
static void put_pipe(iocpd__worker *w, int fd[2]) {
  w->os.pipes_used_ms = w->now_ms;
  if (w->os.idle_pipe_count < POOL_MAX) {
    int *p = w->os.idle_pipes[w->os.idle_pipe_count++];
    p[0] = fd[0];
    p[1] = fd[1];
    return;
  }
  close_pipe(fd);
}

void iocpd__splice_free_pipes(iocpd__worker *w) {
  while (w->os.idle_pipe_count > 0) close_pipe(w->os.idle_pipes[--w->os.idle_pipe_count]);
}

int iocpd__splice_timeout(iocpd__worker *w, int timeout) {
  uint64_t due;
  int left;
  if (w->os.idle_pipe_count == 0) return timeout;
  due = w->os.pipes_used_ms + POOL_IDLE_MS;
  left = w->now_ms >= due ? 0 : (int)(due - w->now_ms);
  return timeout < 0 || left < timeout ? left : timeout;
}

void iocpd__splice_trim(iocpd__worker *w) {
  if (w->os.idle_pipe_count > 0 && w->now_ms >= w->os.pipes_used_ms + POOL_IDLE_MS)
    iocpd__splice_free_pipes(w);
}

int iocpd_conn_splice_to(iocpd_conn *from, iocpd_conn *to) {
  if (from == NULL || from == to) return IOCPD_EINVAL;
  if (to != NULL && to->worker != from->worker) return IOCPD_EINVAL;
  if (from->os.splice_to != NULL) from->os.splice_to->os.splice_from = NULL;
  from->os.splice_to = NULL;
  if (to == NULL) return 0;
  if (to->os.splice_from != NULL) to->os.splice_from->os.splice_to = NULL;
  from->os.splice_to = to;
  to->os.splice_from = from;
  return 0;
}

void iocpd__splice_forget(iocpd_conn *c) {
  iocpd__write_req *r;
  /* Unsent bytes in a pipe are dropped with the connection, as a queued
   * buffer would be. */
  for (r = c->wq_head; r != NULL; r = r->next) {
    if (r->os.piped) close_pipe(r->os.pipe_fd);
    r->os.piped = 0;
  }
  iocpd_conn_splice_to(c, NULL);
  if (c->os.splice_from != NULL) iocpd_conn_splice_to(c->os.splice_from, NULL);
}

void iocpd__splice_note_chunk(iocpd_conn *c, size_t n, size_t size) {
  /* Hysteresis, so that a stream of mid-sized chunks does not flap. */
  if (n >= size / 2) {
    c->os.bulk = 1;
  } else if (n < size / 16) {
    c->os.bulk = 0;
  }
}

/* Whether `to` takes writes now, as iocpd_write would. */
static int takes_writes(const iocpd_conn *to) {
  return !to->close_requested && !to->aborting && !to->shut_requested && !to->connecting &&
         !to->socket_closed;
}

int iocpd__splice_read(iocpd_conn *c) {
  iocpd__worker *w = c->worker;
  iocpd_conn *to = c->os.splice_to;
  size_t size = c->buffer_size;
  iocpd__write_req *r;
  int fd[2];
  ssize_t n;

  if (to == NULL || !c->os.bulk || !takes_writes(to)) return 0;
  if (get_pipe(w, fd) != 0) {
    if (errno == EMFILE || errno == ENFILE) iocpd__count_fd_exhausted(c->listener, 1);
    return 0;
  }
  do {
    n = splice(c->os.fd, NULL, fd[1], NULL, size, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    int e = errno;
    put_pipe(w, fd);      /* nothing went in */
    if (n == 0) return 0; /* EOF: recv reports it with the usual handling */
    if (e == EAGAIN || e == EWOULDBLOCK) {
      c->os.readable = 0;
      return 1;
    }
    if (e == EINVAL) {
      /* A socket that cannot splice at all is not asked again. */
      iocpd_conn_splice_to(c, NULL);
      return 0;
    }
    /* A socket error (a reset, say) is reported here, as recv would
     * report it. Never leave it to a recv: splice has consumed the error,
     * so that recv would return 0 and turn a reset into a clean FIN. */
    iocpd__conn_fail(c, iocpd__translate_errno(e));
    return 1;
  }
  r = iocpd__wq_push(to, NULL, (size_t)n, NULL);
  if (r == NULL) {
    close_pipe(fd); /* holds bytes that can no longer be delivered */
    iocpd__conn_fail(c, IOCPD_ENOMEM);
    return 1;
  }
  r->os.piped = 1;
  r->os.pipe_fd[0] = fd[0];
  r->os.pipe_fd[1] = fd[1];
  iocpd__splice_note_chunk(c, (size_t)n, size);
  /* Unlike recv, a short splice does not prove the socket drained (the
   * pipe may have run out of slots first), so readable stays set until
   * EAGAIN says so. */
  iocpd__os_write(to);
  iocpd__conn_read_done(c, NULL, (size_t)n);
  return 1;
}

ssize_t iocpd__splice_write(iocpd_conn *c, iocpd__write_req *r) {
  ssize_t n;
  do {
    n = splice(r->os.pipe_fd[0], NULL, c->os.fd, NULL, r->len - r->done,
               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  } while (n < 0 && errno == EINTR);
  return n;
}

void iocpd__splice_done(iocpd_conn *c, iocpd__write_req *r) {
  put_pipe(c->worker, r->os.pipe_fd);
  r->os.piped = 0;
}
