/*
 * IOCP backend: connections.
 *
 * Reading: iocpd_read posts a zero-byte WSARecv, which pins no buffer while
 * the connection is idle. Its completion says "data or FIN is waiting"; a
 * buffer is then taken and filled with a non-blocking recv (the socket is in
 * non-blocking mode, which does not affect overlapped calls), and the
 * handler gets on_data or on_peer_closed. WSAEWOULDBLOCK there just means
 * the zero-byte read completed early: post it again.
 *
 * A busy connection (its last read delivered data) skips that step: the
 * next read is a WSARecv with a real buffer, one operation per chunk
 * instead of two. So that idle connections still pin no buffer, a sweep
 * cancels any such read pending for more than BUSY_READ_IDLE_MS and the
 * connection goes back to zero-byte reads (iocpd__sweep_busy_reads). At
 * most MAX_BUSY_READS per worker are real at a time, which bounds the
 * memory a burst of connections can pin.
 *
 * Writing: writes queue per connection and only the head is posted, so a
 * partial send can be continued without reordering bytes.
 *
 * Immediate completions: connection sockets skip the completion port when
 * an operation succeeds inside the call that starts it (see
 * skip_port_on_success). No packet comes for such an operation, so it goes
 * on the worker's completed-inline list instead and the loop runs it
 * through iocpd__conn_op_done like a packet, after the handler's call has
 * returned: callbacks never nest, and it stays in `pending` until then.
 * Calls that fail at once (neither 0 nor WSA_IO_PENDING) queue no packet
 * either; such an op is put on the same list with its error (op_failed), so
 * that a socket failure always reaches the handler the same way, through
 * on_error from the loop, as on the epoll backend: iocpd_read and
 * iocpd_write never return it, and nothing queued is dropped on the way.
 *
 * Teardown: closing the socket makes every pending operation complete with
 * an error (ERROR_OPERATION_ABORTED on Windows; Wine reports 676 instead,
 * so the code never infers "we closed it" from the error, only from the
 * connection's own closing/aborting flags). The connection is freed when
 * `pending` reaches zero. When nothing is pending at close time a FINISH
 * packet is posted to the worker's own port, so that teardown always runs
 * from the loop and never inside a handler's call.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <ws2tcpip.h>

#include "sockaddr.h"
#include "win.h"

/* The buffer a zero-byte WSARecv names: never written. */
static char zero_byte_buffer[1];

/* The most one WSASend carries (see post_write). */
#define MAX_SEND_CHUNK (256u * 1024u)

#define BUSY_READ_IDLE_MS 1000
#define MAX_BUSY_READS 256
#define SWEEP_INTERVAL_MS 250

static void busy_list_add(iocpd_conn *c) {
  iocpd__worker_os *w = &c->base.worker->os;
  c->busy_prev = NULL;
  c->busy_next = w->busy_reads;
  if (w->busy_reads != NULL) w->busy_reads->busy_prev = c;
  w->busy_reads = c;
  w->busy_read_count++;
}

static void busy_list_remove(iocpd_conn *c) {
  iocpd__worker_os *w = &c->base.worker->os;
  if (c->busy_prev != NULL) {
    c->busy_prev->busy_next = c->busy_next;
  } else {
    w->busy_reads = c->busy_next;
  }
  if (c->busy_next != NULL) c->busy_next->busy_prev = c->busy_prev;
  c->busy_prev = c->busy_next = NULL;
  w->busy_read_count--;
}

void iocpd__sweep_busy_reads(iocpd__worker *w) {
  iocpd_conn *c;
  if (w->os.busy_read_count == 0 || w->now_ms < w->os.next_sweep_ms) return;
  w->os.next_sweep_ms = w->now_ms + SWEEP_INTERVAL_MS;
  for (c = w->os.busy_reads; c != NULL; c = c->busy_next) {
    if (!c->read_cancelled && w->now_ms - c->read_posted_ms >= BUSY_READ_IDLE_MS) {
      /* Its completion (ERROR_OPERATION_ABORTED, or data if it raced)
       * comes back as usual, through the port or, if the read had
       * completed at once, from the inline list; see real_read_done. */
      c->read_cancelled = 1;
      CancelIoEx((HANDLE)c->sock, &c->read_op.ov);
    }
  }
}

int iocpd__busy_reads_timeout(iocpd__worker *w) {
  if (w->os.busy_read_count == 0) return -1;
  if (w->now_ms >= w->os.next_sweep_ms) return 0;
  return (int)(w->os.next_sweep_ms - w->now_ms);
}

/* Makes s (already associated with its worker's port) skip the port when
 * an operation completes at once: under Wine every dequeued packet costs a
 * wineserver request, and on Windows a trip through the port. The
 * documentation allows this for a socket only if its provider hands out
 * IFS handles: with a non-IFS layered provider completions may be lost.
 * Returns 1 if the mode is on; on any failure 0, and the socket keeps the
 * ordinary behaviour (a packet for every operation). */
static int skip_port_on_success(SOCKET s) {
  /* Nothing waits on the socket handle itself, so completions need not
   * signal it either. */
  const UCHAR modes = FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE;
  WSAPROTOCOL_INFOW info;
  int len = sizeof(info);
  if (getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) != 0 ||
      (info.dwServiceFlags1 & XP1_IFS_HANDLES) == 0)
    return 0;
  return SetFileCompletionNotificationModes((HANDLE)s, modes) ? 1 : 0;
}

/* Counts an operation that has started on c: its call returned success
 * (`now`: it already completed) or WSA_IO_PENDING. A packet will come for
 * it unless it completed at once on a socket that skips the port; then
 * the loop is told to run it instead. */
static void op_started(iocpd_conn *c, iocpd__op *op, int now) {
  op->failed = 0;
  c->pending++;
  if (now && c->skip_port) iocpd__op_completed_inline(c->base.worker, op);
}

/* Counts an operation whose call failed at once with `error`: no packet
 * will come, so the loop runs it from the inline list, where it completes
 * with that error (see iocpd__conn_op_done). The handler hears of it
 * through on_error after its current call has returned. */
static void op_failed(iocpd_conn *c, iocpd__op *op, DWORD error) {
  op->failed = error;
  c->pending++;
  iocpd__op_completed_inline(c->base.worker, op);
}

/* The WSA error an op completed with: 0 on success. */
static DWORD op_result(iocpd_conn *c, iocpd__op *op, DWORD status) {
  DWORD failed = op->failed;
  op->failed = 0;
  if (failed != 0) return failed;
  return status == 0 ? 0 : iocpd__op_error(c->sock, op);
}

iocpd_conn *iocpd__conn_new(iocpd__listener *l, SOCKET sock,
                            const struct sockaddr *local,
                            const struct sockaddr *peer) {
  u_long nonblocking = 1;
  BOOL on = TRUE;
  iocpd_conn *c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  c->sock = sock;
  c->base.listener = l;
  c->base.handler = l->handler;
  c->base.established = 1;
  iocpd__conn_started(c);
  c->read_op.type = IOCPD__OP_READ;
  c->finish_op.type = IOCPD__OP_FINISH;
  if (local != NULL) iocpd__sockaddr_to(local, &c->base.local);
  if (peer != NULL) iocpd__sockaddr_to(peer, &c->base.peer);
  ioctlsocket(sock, FIONBIO, &nonblocking);
  /* Small echoes and relayed request/response traffic must not wait for
   * Nagle's algorithm. */
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof(on));
  return c;
}

/* Last step of every connection, once no operation is pending. */
static void finish(iocpd_conn *c) {
  assert(c->pending == 0 && c->sock == INVALID_SOCKET);
  iocpd__wq_clear(c);
  iocpd__timer_remove(c);
  if (c->read_real) busy_list_remove(c); /* not reached: pending was 0 */
  if (c->base.handler->on_closed != NULL) c->base.handler->on_closed(c);
  iocpd_buffer_put(c, c->rbuf, c->base.listener->buffer_size);
  iocpd__conn_unregister(c);
  free(c);
}

/* Tears down if the connection is closed and nothing is pending. Returns 1
 * if c was freed. */
static int check_done(iocpd_conn *c) {
  if ((c->closing || c->aborting) && c->sock == INVALID_SOCKET && c->pending == 0) {
    finish(c);
    return 1;
  }
  return 0;
}

/* Makes sure teardown will run from the loop even if no operation is
 * pending now. */
static void post_finish(iocpd_conn *c) {
  if (c->pending > 0 || c->finish_posted) return;
  memset(&c->finish_op.ov, 0, sizeof(c->finish_op.ov));
  c->finish_posted = 1;
  c->pending++;
  PostQueuedCompletionStatus(c->base.worker->os.port, 0, IOCPD__KEY_IO, &c->finish_op.ov);
}

/* A requested half-close, once the last queued write is out and the
 * connection exists: FIN. (A shutdown asked for while ConnectEx is pending
 * waits for its success, as on epoll.) */
static void shutdown_if_flushed(iocpd_conn *c) {
  if (!c->shut_requested || c->shut_done || c->connecting || c->wq_head != NULL ||
      c->sock == INVALID_SOCKET)
    return;
  shutdown(c->sock, SD_SEND);
  c->shut_done = 1;
}

/* Graceful close, once the last queued write is out: FIN, then close. */
static void close_socket_if_flushed(iocpd_conn *c) {
  if (!c->closing || c->aborting || c->wq_head != NULL || c->sock == INVALID_SOCKET) return;
  if (!c->shut_done) shutdown(c->sock, SD_SEND);
  c->shut_done = 1;
  closesocket(c->sock);
  c->sock = INVALID_SOCKET;
}

static void fail(iocpd_conn *c, DWORD e) {
  iocpd_conn_set_end_reason(c, c->base.outbound ? IOCPD_END_UPSTREAM_RESET
                                                : IOCPD_END_CLIENT_RESET);
  if (!c->closing && !c->aborting && c->base.handler->on_error != NULL)
    c->base.handler->on_error(c, iocpd__translate_win(e));
  iocpd_abort(c);
}

/* Posts the zero-byte read; a failure completes it with the error. */
static void post_read(iocpd_conn *c) {
  WSABUF buf;
  DWORD flags = 0, e;
  int rc;
  buf.buf = zero_byte_buffer;
  buf.len = 0;
  memset(&c->read_op.ov, 0, sizeof(c->read_op.ov));
  c->read_posted = 1;
  rc = WSARecv(c->sock, &buf, 1, NULL, &flags, &c->read_op.ov, NULL);
  if (rc == SOCKET_ERROR && (e = WSAGetLastError()) != WSA_IO_PENDING) {
    op_failed(c, &c->read_op, e);
    return;
  }
  op_started(c, &c->read_op, rc == 0);
}

/* Posts the head of the write queue; a failure completes it with the
 * error. At most MAX_SEND_CHUNK goes out per call, so that a long write
 * shows progress (bytes_out) as it goes: a closing connection's linger
 * (timer.c) judges a stuck peer by that. */
static void post_write(iocpd_conn *c) {
  iocpd__write_req *r = c->wq_head;
  size_t left = r->len - r->done;
  DWORD e;
  int rc;
  r->buf.buf = (char *)r->data + r->done;
  r->buf.len = (ULONG)(left > MAX_SEND_CHUNK ? MAX_SEND_CHUNK : left);
  memset(&r->op.ov, 0, sizeof(r->op.ov));
  c->write_posted = 1;
  rc = WSASend(c->sock, &r->buf, 1, NULL, 0, &r->op.ov, NULL);
  if (rc == SOCKET_ERROR && (e = WSAGetLastError()) != WSA_IO_PENDING) {
    op_failed(c, &r->op, e);
    return;
  }
  op_started(c, &r->op, rc == 0);
}

/* The buffer a read fills: the handler's (on_alloc) or the engine's. */
static char *read_buffer(iocpd_conn *c, size_t *size) {
  *size = c->base.listener->buffer_size;
  if (c->base.handler->on_alloc != NULL) return c->base.handler->on_alloc(c, size);
  if (c->rbuf == NULL) c->rbuf = iocpd_buffer_get(c, *size);
  return c->rbuf;
}

/* Gives back a read buffer that received nothing. */
static void release_read_buffer(iocpd_conn *c, char *buf) {
  if (c->base.handler->on_alloc != NULL) {
    c->base.handler->on_release(c, buf);
  } else if (buf == c->rbuf) {
    iocpd_buffer_put(c, c->rbuf, c->base.listener->buffer_size);
    c->rbuf = NULL;
  }
}

/* Whether the next read may be a real-buffer one (see the top). */
static int may_read_real(iocpd_conn *c) {
  return c->busy && c->base.worker->os.busy_read_count < MAX_BUSY_READS &&
         (c->base.handler->on_alloc == NULL || c->base.handler->on_release != NULL);
}

/* Posts a WSARecv with a buffer; a failure (no buffer included)
 * completes the read with the error. */
static void post_real_read(iocpd_conn *c) {
  WSABUF wb;
  DWORD flags = 0, e;
  size_t size;
  char *buf = read_buffer(c, &size);
  int rc;

  c->read_posted = 1;
  if (buf == NULL) {
    op_failed(c, &c->read_op, ERROR_NOT_ENOUGH_MEMORY);
    return;
  }
  wb.buf = buf;
  wb.len = (ULONG)(size > 0x40000000u ? 0x40000000u : size);
  memset(&c->read_op.ov, 0, sizeof(c->read_op.ov));
  rc = WSARecv(c->sock, &wb, 1, NULL, &flags, &c->read_op.ov, NULL);
  if (rc == SOCKET_ERROR && (e = WSAGetLastError()) != WSA_IO_PENDING) {
    /* Failed like a zero-byte read: read_done reports it. */
    release_read_buffer(c, buf);
    op_failed(c, &c->read_op, e);
    return;
  }
  c->read_real = 1;
  c->read_cancelled = 0;
  c->read_buf = buf;
  c->read_posted_ms = c->base.worker->now_ms;
  busy_list_add(c);
  op_started(c, &c->read_op, rc == 0);
}

/* Delivers what a read brought: data (n > 0) or the peer's FIN (n == 0). */
static void deliver(iocpd_conn *c, char *buf, size_t n) {
  c->want_read = 0;
  if (n > 0) {
    c->busy = 1;
    iocpd__count_bytes(c, 1, n);
    if (c->base.handler->on_data != NULL) c->base.handler->on_data(c, buf, n);
  } else {
    c->peer_closed = 1;
    if (c->base.handler->on_peer_closed != NULL) c->base.handler->on_peer_closed(c);
  }
}

/* A real-buffer read came back. */
static void real_read_done(iocpd_conn *c, DWORD bytes, DWORD error) {
  char *buf = c->read_buf;
  int cancelled = c->read_cancelled;

  c->read_posted = 0;
  c->read_real = 0;
  c->read_cancelled = 0;
  c->read_buf = NULL;
  busy_list_remove(c);
  /* Closing: the buffer stays where it belongs (the engine's is freed
   * with the connection, a handler's by the handler). */
  if (c->closing || c->aborting || !c->want_read) return;
  if (error != 0 && cancelled) {
    /* Idle for a while: hand the buffer back and wait with a zero-byte
     * read, which pins nothing. */
    c->busy = 0;
    release_read_buffer(c, buf);
    post_read(c);
    return;
  }
  if (error != 0) {
    fail(c, error);
    return;
  }
  deliver(c, buf, bytes);
}

/* The zero-byte read came back: data or FIN is waiting. */
static void read_done(iocpd_conn *c, DWORD error) {
  size_t size;
  char *buf;
  int n;

  c->read_posted = 0;
  if (c->closing || c->aborting || !c->want_read) return;
  if (error != 0) {
    fail(c, error);
    return;
  }
  buf = read_buffer(c, &size);
  if (buf == NULL) {
    fail(c, ERROR_NOT_ENOUGH_MEMORY);
    return;
  }
  n = recv(c->sock, buf, (int)(size > 0x40000000u ? 0x40000000u : size), 0);
  if (n >= 0) {
    deliver(c, buf, (size_t)n);
  } else if (WSAGetLastError() == WSAEWOULDBLOCK) {
    post_read(c);
  } else {
    fail(c, WSAGetLastError());
  }
}

static void write_done(iocpd_conn *c, iocpd__write_req *r, DWORD bytes, DWORD error) {
  c->write_posted = 0;
  if (c->aborting) return;
  if (error != 0) {
    fail(c, error);
    return;
  }
  r->done += bytes;
  iocpd__count_bytes(c, 0, bytes);
  if (r->done >= r->len) iocpd__wq_complete_head(c);
  if (c->aborting) return;
  if (c->wq_head != NULL && !c->write_posted) post_write(c);
  shutdown_if_flushed(c);
  close_socket_if_flushed(c);
}

/* ConnectEx came back. */
static void connect_done(iocpd_conn *c, DWORD error) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  u_long nonblocking = 1;
  BOOL on = TRUE;

  c->connecting = 0;
  if (c->closing || c->aborting) return;
  if (error != 0) {
    if (c->base.handler->on_connect != NULL)
      c->base.handler->on_connect(c, iocpd__translate_win(error));
    iocpd_abort(c);
    return;
  }
  /* Like SO_UPDATE_ACCEPT_CONTEXT for accepted sockets: without it,
   * shutdown() and getsockname() fail on a ConnectEx socket. */
  setsockopt(c->sock, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
  if (getsockname(c->sock, (struct sockaddr *)&ss, &len) == 0)
    iocpd__sockaddr_to((struct sockaddr *)&ss, &c->base.local);
  ioctlsocket(c->sock, FIONBIO, &nonblocking);
  setsockopt(c->sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof(on));
  c->base.established = 1;
  if (c->base.handler->on_connect != NULL) c->base.handler->on_connect(c, 0);
  if (!c->closing && !c->aborting) shutdown_if_flushed(c);
}

void iocpd__conn_op_done(iocpd__op *op, DWORD bytes, DWORD status) {
  iocpd_conn *c;
  DWORD error;

  switch (op->type) {
    case IOCPD__OP_READ:
      c = container_of(op, iocpd_conn, read_op);
      error = op_result(c, op, status);
      c->pending--;
      if (c->read_real) {
        real_read_done(c, bytes, error);
      } else {
        read_done(c, error);
      }
      break;
    case IOCPD__OP_WRITE: {
      iocpd__write_req *r = container_of(op, iocpd__write_req, op);
      c = r->conn;
      error = op_result(c, op, status);
      c->pending--;
      write_done(c, r, bytes, error);
      break;
    }
    case IOCPD__OP_CONNECT:
      c = container_of(op, iocpd_conn, connect_op);
      error = op_result(c, op, status);
      c->pending--;
      connect_done(c, error);
      break;
    case IOCPD__OP_FINISH:
      c = container_of(op, iocpd_conn, finish_op);
      c->pending--;
      c->finish_posted = 0;
      break;
    default:
      return;
  }
  check_done(c);
}

void iocpd__conn_adopt(iocpd__worker *w, iocpd_conn *c) {
  c->base.worker = w;
  /* The listener has associated the socket with w's port, and no
   * operation has been posted on it yet. */
  c->skip_port = (unsigned char)skip_port_on_success(c->sock);
  iocpd__conn_register(c);
  if (c->base.handler->on_accept(c) != 0) iocpd_abort(c);
}

int iocpd_read(iocpd_conn *c) {
  if (c->closing || c->aborting || c->peer_closed) return IOCPD_ECLOSED;
  if (c->connecting) return IOCPD_EBUSY;
  if (c->want_read) return IOCPD_EBUSY;
  /* The handler is done with the previous data: give the buffer back so
   * that an idle connection holds none. */
  iocpd_buffer_put(c, c->rbuf, c->base.listener->buffer_size);
  c->rbuf = NULL;
  c->want_read = 1;
  if (c->read_posted) return 0;
  if (may_read_real(c)) {
    post_real_read(c);
  } else {
    post_read(c);
  }
  return 0;
}

int iocpd_write(iocpd_conn *c, const void *data, size_t len, void *arg) {
  iocpd__write_req *r;
  if (data == NULL || len == 0) return IOCPD_EINVAL;
  if (c->closing || c->aborting || c->shut_requested) return IOCPD_ECLOSED;
  if (c->connecting) return IOCPD_EBUSY;
  r = iocpd__wq_push(c, data, len, arg);
  if (r == NULL) return IOCPD_ENOMEM;
  r->op.type = IOCPD__OP_WRITE;
  r->conn = c;
  if (!c->write_posted) post_write(c);
  return 0;
}

/* ConnectEx is an extension: its address comes from WSAIoctl, per address
 * family's provider. Cached per worker. */
static LPFN_CONNECTEX load_connect_ex(iocpd__worker *w, SOCKET s, int v6) {
  GUID guid = WSAID_CONNECTEX;
  DWORD bytes = 0;
  if (w->os.connect_ex[v6] == NULL &&
      WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid),
               &w->os.connect_ex[v6], sizeof(w->os.connect_ex[v6]), &bytes, NULL,
               NULL) != 0)
    w->os.connect_ex[v6] = NULL;
  return w->os.connect_ex[v6];
}

int iocpd_connect(iocpd_conn *from, const iocpd_addr *to, const iocpd_handler *handler,
                  void *data, iocpd_conn **out) {
  iocpd__worker *w;
  struct sockaddr_storage ss, any;
  iocpd_addr any_addr;
  LPFN_CONNECTEX connect_ex;
  iocpd_conn *c;
  SOCKET s;
  DWORD e;
  BOOL now;
  int len;

  if (from == NULL || to == NULL || handler == NULL || out == NULL) return IOCPD_EINVAL;
  /* A connection on its way out (closed, aborted, or aborted by a drain)
   * starts nothing new. */
  if (from->base.closing) return IOCPD_ECLOSED;
  w = from->base.worker;
  len = iocpd__sockaddr_from(to, &ss);
  s = WSASocketW(ss.ss_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                 WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) return iocpd__translate_win(WSAGetLastError());
  /* ConnectEx wants a bound socket: any local address, any port. */
  memset(&any_addr, 0, sizeof(any_addr));
  any_addr.family = to->family;
  iocpd__sockaddr_from(&any_addr, &any);
  connect_ex = load_connect_ex(w, s, to->family == IOCPD_AF_INET6);
  if (bind(s, (struct sockaddr *)&any, len) != 0 || connect_ex == NULL ||
      CreateIoCompletionPort((HANDLE)s, w->os.port, IOCPD__KEY_IO, 0) == NULL) {
    e = WSAGetLastError();
    closesocket(s);
    return iocpd__translate_win(e != 0 ? e : ERROR_INVALID_FUNCTION);
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL) {
    closesocket(s);
    return IOCPD_ENOMEM;
  }
  c->sock = s;
  c->connecting = 1;
  c->read_op.type = IOCPD__OP_READ;
  c->connect_op.type = IOCPD__OP_CONNECT;
  c->finish_op.type = IOCPD__OP_FINISH;
  c->base.listener = from->base.listener;
  c->base.handler = handler;
  c->base.data = data;
  c->base.outbound = 1;
  c->base.peer = *to;
  c->base.worker = w;
  c->skip_port = (unsigned char)skip_port_on_success(s);
  iocpd__conn_started(c);
  now = connect_ex(s, (struct sockaddr *)&ss, len, NULL, 0, NULL, &c->connect_op.ov);
  if (!now && (e = WSAGetLastError()) != ERROR_IO_PENDING) {
    closesocket(s);
    free(c);
    iocpd__count_connect_failure(from->base.listener, to);
    return iocpd__translate_win(e);
  }
  op_started(c, &c->connect_op, now);
  iocpd__server_outbound_added(w->server);
  iocpd__conn_register(c);
  *out = c;
  return 0;
}


int iocpd_shutdown(iocpd_conn *c) {
  if (c->closing || c->aborting) return IOCPD_ECLOSED;
  c->shut_requested = 1;
  shutdown_if_flushed(c);
  return 0;
}

void iocpd_close(iocpd_conn *c) {
  if (c->closing || c->aborting) return;
  c->closing = 1;
  c->want_read = 0;
  iocpd__conn_mark_closing(c);
  close_socket_if_flushed(c);
  iocpd__linger_start(c);
  post_finish(c);
}

void iocpd_abort(iocpd_conn *c) {
  struct linger lg;
  if (c->aborting) return;
  c->aborting = 1;
  iocpd__conn_mark_closing(c);
  if (c->sock != INVALID_SOCKET) {
    /* A zero linger time makes closesocket send RST and drop unsent data;
     * pending operations complete with errors, which are then ignored.
     * Windows cancels them in closesocket; Wine leaves a send that waits
     * for a peer who reads nothing pending until that peer goes, so they
     * are cancelled explicitly first (the same completions either way). */
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(c->sock, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof(lg));
    CancelIoEx((HANDLE)c->sock, NULL);
    closesocket(c->sock);
    c->sock = INVALID_SOCKET;
  }
  post_finish(c);
}

/* AcceptEx and ConnectEx completions fill in the local address at once. */
void iocpd__conn_local(iocpd_conn *c) { c->base.local_unknown = 0; }
