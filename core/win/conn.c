/*
 * IOCP backend: the OS side of connections (see core/conn.c for the state
 * machine).
 *
 * Reading: a read posts a zero-byte WSARecv, which pins no buffer while
 * the connection is idle. Its completion says "data or FIN is waiting"; a
 * buffer is then taken and filled with a non-blocking recv (the socket is
 * put in non-blocking mode the first time, which does not affect
 * overlapped calls), and conn.c hears of the data or the FIN.
 * WSAEWOULDBLOCK there just means the zero-byte read completed early:
 * post it again.
 *
 * A busy connection (its last read delivered data) skips that step: the
 * next read is a WSARecv with a real buffer, one operation per chunk
 * instead of two. A new connection, accepted or connected, counts as busy:
 * its peer is about to talk (a request, a reply), and a first zero-byte
 * read would cost two more kernel round trips per connection. So that
 * idle connections still pin no buffer, a sweep cancels any such read
 * pending for more than BUSY_READ_IDLE_MS and the connection goes back to
 * zero-byte reads (iocpd__sweep_busy_reads). At most MAX_BUSY_READS per
 * worker are real at a time, which bounds the memory a burst of
 * connections can pin; beyond it new connections wait with zero-byte
 * reads.
 *
 * Writing: only the head of the write queue is posted, so a partial send
 * can be continued without reordering bytes.
 *
 * Immediate completions: connection sockets skip the completion port when
 * an operation succeeds inside the call that starts it (see
 * skip_port_on_success). No packet comes for such an operation, so it goes
 * on the worker's completed-inline list instead and the loop runs it
 * through iocpd__conn_op_done like a packet, after the handler's call has
 * returned: callbacks never nest, and it stays in `pending` until then.
 * Calls that fail at once (neither 0 nor WSA_IO_PENDING) queue no packet
 * either; such an op is put on the same list with its error (op_failed),
 * so that a socket failure always reaches conn.c the same way, from the
 * loop.
 *
 * Teardown: closing the socket makes every pending operation complete with
 * an error (ERROR_OPERATION_ABORTED on Windows; Wine reports 676 instead,
 * so the code never infers "we closed it" from the error, only from the
 * connection's own close_requested/aborting flags). The connection is
 * freed when `pending` reaches zero. When nothing is pending at close time
 * a FINISH op goes on the worker's completed-inline list, so that teardown
 * always runs from the loop and never inside a handler's call.
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
  iocpd__worker_os *w = &c->worker->os;
  c->os.busy_prev = NULL;
  c->os.busy_next = w->busy_reads;
  if (w->busy_reads != NULL) w->busy_reads->os.busy_prev = c;
  w->busy_reads = c;
  w->busy_read_count++;
}

static void busy_list_remove(iocpd_conn *c) {
  iocpd__worker_os *w = &c->worker->os;
  if (c->os.busy_prev != NULL) {
    c->os.busy_prev->os.busy_next = c->os.busy_next;
  } else {
    w->busy_reads = c->os.busy_next;
  }
  if (c->os.busy_next != NULL) c->os.busy_next->os.busy_prev = c->os.busy_prev;
  c->os.busy_prev = c->os.busy_next = NULL;
  w->busy_read_count--;
}

void iocpd__sweep_busy_reads(iocpd__worker *w) {
  iocpd_conn *c;
  if (w->os.busy_read_count == 0 || w->now_ms < w->os.next_sweep_ms) return;
  w->os.next_sweep_ms = w->now_ms + SWEEP_INTERVAL_MS;
  for (c = w->os.busy_reads; c != NULL; c = c->os.busy_next) {
    if (!c->os.read_cancelled && w->now_ms - c->os.read_posted_ms >= BUSY_READ_IDLE_MS) {
      /* Its completion (ERROR_OPERATION_ABORTED, or data if it raced)
       * comes back as usual, through the port or, if the read had
       * completed at once, from the inline list; see real_read_done. */
      c->os.read_cancelled = 1;
      CancelIoEx((HANDLE)c->os.sock, &c->os.read_op.ov);
    }
  }
}

int iocpd__busy_reads_timeout(iocpd__worker *w) {
  if (w->os.busy_read_count == 0) return -1;
  if (w->now_ms >= w->os.next_sweep_ms) return 0;
  return (int)(w->os.next_sweep_ms - w->now_ms);
}

/* Makes s (already associated with w's port; of family IPv6 if v6, else
 * IPv4) skip the port when an operation completes at once: under Wine
 * every dequeued packet costs a wineserver request, and on Windows a trip
 * through the port. The documentation allows this for a socket only if
 * its provider hands out IFS handles: with a non-IFS layered provider
 * completions may be lost. Returns 1 if the mode is on; on any failure 0,
 * and the socket keeps the ordinary behaviour (a packet for every
 * operation).
 *
 * Whether the provider is IFS is a property of the Winsock catalog entry
 * that serves the family (the documentation says to detect a non-IFS
 * provider by its catalog entry), and every TCP socket here comes from
 * iocpd__new_socket (WSASocketW with family, SOCK_STREAM, IPPROTO_TCP and
 * no protocol info) or from accept() on a listener made by it, so the
 * first socket of each family is asked and the answer kept per worker:
 * asking each socket cost a kernel round trip per connection. The mode
 * itself belongs to each handle and is set on each one. */
static int skip_port_on_success(iocpd__worker *w, SOCKET s, int v6) {
  /* Nothing waits on the socket handle itself, so completions need not
   * signal it either. */
  const UCHAR modes = FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE;
  if (w->os.ifs[v6] == 0) {
    WSAPROTOCOL_INFOW info;
    int len = sizeof(info);
    w->os.ifs[v6] = getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) == 0 &&
                            (info.dwServiceFlags1 & XP1_IFS_HANDLES) != 0
                        ? 1
                        : 2;
  }
  if (w->os.ifs[v6] != 1) return 0;
  return SetFileCompletionNotificationModes((HANDLE)s, modes) ? 1 : 0;
}

/* Counts an operation that has started on c: its call returned success
 * (`now`: it already completed) or WSA_IO_PENDING. A packet will come for
 * it unless it completed at once on a socket that skips the port; then
 * the loop is told to run it instead. */
static void op_started(iocpd_conn *c, iocpd__op *op, int now) {
  op->failed = 0;
  c->os.pending++;
  if (now && c->os.skip_port) {
    iocpd__op_completed_inline(c->worker, op);
  } else {
    c->worker->os.port_ops++; /* its packet will come: see loop.c */
  }
}

/* Counts an operation whose call failed at once with `error`: no packet
 * will come, so the loop runs it from the inline list, where it completes
 * with that error (see iocpd__conn_op_done). */
static void op_failed(iocpd_conn *c, iocpd__op *op, DWORD error) {
  op->failed = error;
  c->os.pending++;
  iocpd__op_completed_inline(c->worker, op);
}

/* The WSA error an op completed with: 0 on success. */
static DWORD op_result(iocpd_conn *c, iocpd__op *op, DWORD status) {
  DWORD failed = op->failed;
  op->failed = 0;
  if (failed != 0) return failed;
  return status == 0 ? 0 : iocpd__op_error(c->os.sock, op);
}

static void fail(iocpd_conn *c, DWORD e) { iocpd__conn_fail(c, iocpd__translate_win(e)); }

iocpd_conn *iocpd__conn_new(iocpd__listener *l, SOCKET sock, const struct sockaddr *local,
                            const struct sockaddr *peer) {
  BOOL on = TRUE;
  iocpd_conn *c = iocpd__conn_alloc(l, NULL);
  if (c == NULL) return NULL;
  c->os.sock = sock;
  c->established = 1;
  c->os.read_op.type = IOCPD__OP_READ;
  c->os.finish_op.type = IOCPD__OP_FINISH;
  /* A new connection is about to carry data (see the top): its first
   * read takes a buffer. */
  c->os.busy = 1;
  if (local != NULL) {
    iocpd__sockaddr_to(local, &c->local);
  } else {
    c->local_unknown = 1; /* looked up if asked for (iocpd__conn_local) */
  }
  if (peer != NULL) iocpd__sockaddr_to(peer, &c->peer);
  /* Small echoes and relayed request/response traffic must not wait for
   * Nagle's algorithm. */
  setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof(on));
  return c;
}

int iocpd__os_attach(iocpd_conn *c) {
  /* The listener has associated the socket with the worker's port, and
   * no operation has been posted on it yet. */
  c->os.skip_port = (unsigned char)skip_port_on_success(c->worker, c->os.sock,
                                                        c->listener->addr.family == IOCPD_AF_INET6);
  return 0;
}

/* Frees c if it is closed and nothing is pending. Returns 1 if it did. */
static int check_done(iocpd_conn *c) {
  if ((c->close_requested || c->aborting) && c->socket_closed && c->os.pending == 0) {
    iocpd__conn_free(c);
    return 1;
  }
  return 0;
}

void iocpd__os_schedule(iocpd_conn *c) {
  /* With an op pending, its completion runs teardown; without one, the
   * FINISH op does, so that it never runs inside the caller's call. It
   * goes on the worker's inline list, which the loop runs after the
   * current callback has returned, as a packet would be: the caller is
   * on c's worker, which alone touches that list, and no kernel call
   * (PostQueuedCompletionStatus) is needed to come back to the loop. */
  if (c->os.pending > 0 || c->os.finish_posted) return;
  memset(&c->os.finish_op.ov, 0, sizeof(c->os.finish_op.ov));
  c->os.finish_posted = 1;
  c->os.pending++;
  iocpd__op_completed_inline(c->worker, &c->os.finish_op);
}

void iocpd__os_release(iocpd_conn *c) {
  assert(c->os.pending == 0 && c->os.sock == INVALID_SOCKET);
  if (c->os.read_real) busy_list_remove(c); /* not reached: pending was 0 */
}

void iocpd__os_shutdown(iocpd_conn *c) { shutdown(c->os.sock, SD_SEND); }

void iocpd__os_close(iocpd_conn *c, int reset) {
  if (reset) {
    /* A zero linger time makes closesocket send RST and drop unsent data;
     * pending operations complete with errors, which are then ignored.
     * Windows cancels them in closesocket; Wine leaves a send that waits
     * for a peer who reads nothing pending until that peer goes, so they
     * are cancelled explicitly first (the same completions either way). */
    struct linger lg;
    lg.l_onoff = 1;
    lg.l_linger = 0;
    setsockopt(c->os.sock, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof(lg));
    CancelIoEx((HANDLE)c->os.sock, NULL);
  }
  closesocket(c->os.sock);
  c->os.sock = INVALID_SOCKET;
}

/* Posts the zero-byte read; a failure completes it with the error. */
static void post_read(iocpd_conn *c) {
  WSABUF buf;
  DWORD flags = 0, e;
  int rc;
  buf.buf = zero_byte_buffer;
  buf.len = 0;
  memset(&c->os.read_op.ov, 0, sizeof(c->os.read_op.ov));
  c->os.read_posted = 1;
  rc = WSARecv(c->os.sock, &buf, 1, NULL, &flags, &c->os.read_op.ov, NULL);
  if (rc == SOCKET_ERROR && (e = WSAGetLastError()) != WSA_IO_PENDING) {
    op_failed(c, &c->os.read_op, e);
    return;
  }
  op_started(c, &c->os.read_op, rc == 0);
}

/* Whether the next read may be a real-buffer one (see the top). */
static int may_read_real(iocpd_conn *c) {
  return c->os.busy && c->worker->os.busy_read_count < MAX_BUSY_READS &&
         (c->handler->on_alloc == NULL || c->handler->on_release != NULL);
}

/* Posts a WSARecv with a buffer; a failure (no buffer included)
 * completes the read with the error. */
static void post_real_read(iocpd_conn *c) {
  WSABUF wb;
  DWORD flags = 0, e;
  size_t size;
  char *buf = iocpd__conn_read_buffer(c, &size);
  int rc;

  c->os.read_posted = 1;
  if (buf == NULL) {
    op_failed(c, &c->os.read_op, ERROR_NOT_ENOUGH_MEMORY);
    return;
  }
  wb.buf = buf;
  wb.len = (ULONG)(size > 0x40000000u ? 0x40000000u : size);
  memset(&c->os.read_op.ov, 0, sizeof(c->os.read_op.ov));
  rc = WSARecv(c->os.sock, &wb, 1, NULL, &flags, &c->os.read_op.ov, NULL);
  if (rc == SOCKET_ERROR && (e = WSAGetLastError()) != WSA_IO_PENDING) {
    /* Failed like a zero-byte read: read_done reports it. */
    iocpd__conn_release_buffer(c, buf);
    op_failed(c, &c->os.read_op, e);
    return;
  }
  c->os.read_real = 1;
  c->os.read_cancelled = 0;
  c->os.read_buf = buf;
  c->os.read_posted_ms = c->worker->now_ms;
  busy_list_add(c);
  op_started(c, &c->os.read_op, rc == 0);
}

void iocpd__os_read(iocpd_conn *c) {
  if (c->os.read_posted) return;
  if (may_read_real(c)) {
    post_real_read(c);
  } else {
    post_read(c);
  }
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
  r->os.op.type = IOCPD__OP_WRITE;
  r->os.conn = c;
  r->os.buf.buf = (char *)r->data + r->done;
  r->os.buf.len = (ULONG)(left > MAX_SEND_CHUNK ? MAX_SEND_CHUNK : left);
  memset(&r->os.op.ov, 0, sizeof(r->os.op.ov));
  c->os.write_posted = 1;
  rc = WSASend(c->os.sock, &r->os.buf, 1, NULL, 0, &r->os.op.ov, NULL);
  if (rc == SOCKET_ERROR && (e = WSAGetLastError()) != WSA_IO_PENDING) {
    op_failed(c, &r->os.op, e);
    return;
  }
  op_started(c, &r->os.op, rc == 0);
}

void iocpd__os_write(iocpd_conn *c) {
  if (!c->os.write_posted) post_write(c);
}

/* Hands what a read brought to conn.c: data (n > 0) or the FIN (n == 0). */
static void deliver(iocpd_conn *c, char *buf, size_t n) {
  if (n > 0) c->os.busy = 1;
  iocpd__conn_read_done(c, buf, n);
}

/* Whether a read's completion still matters: not once the connection is
 * closing or the read is no longer wanted. */
static int read_wanted(iocpd_conn *c) {
  return !c->close_requested && !c->aborting && c->want_read;
}

/* A real-buffer read came back. */
static void real_read_done(iocpd_conn *c, DWORD bytes, DWORD error) {
  char *buf = c->os.read_buf;
  int cancelled = c->os.read_cancelled;

  c->os.read_posted = 0;
  c->os.read_real = 0;
  c->os.read_cancelled = 0;
  c->os.read_buf = NULL;
  busy_list_remove(c);
  /* Closing: the buffer stays where it belongs (the engine's is freed
   * with the connection, a handler's by the handler). */
  if (!read_wanted(c)) return;
  if (error != 0 && cancelled) {
    /* Idle for a while: hand the buffer back and wait with a zero-byte
     * read, which pins nothing. */
    c->os.busy = 0;
    iocpd__conn_release_buffer(c, buf);
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

  c->os.read_posted = 0;
  if (!read_wanted(c)) return;
  if (error != 0) {
    fail(c, error);
    return;
  }
  buf = iocpd__conn_read_buffer(c, &size);
  if (buf == NULL) {
    fail(c, ERROR_NOT_ENOUGH_MEMORY);
    return;
  }
  /* The recv must not block the worker if the zero-byte read completed
   * early. Set once, on the first connection's first need: most
   * connections never take this path (see the top). */
  if (!c->os.nonblocking) {
    u_long nonblocking = 1;
    ioctlsocket(c->os.sock, FIONBIO, &nonblocking);
    c->os.nonblocking = 1;
  }
  n = recv(c->os.sock, buf, (int)(size > 0x40000000u ? 0x40000000u : size), 0);
  if (n >= 0) {
    deliver(c, buf, (size_t)n);
  } else if (WSAGetLastError() == WSAEWOULDBLOCK) {
    post_read(c);
  } else {
    fail(c, WSAGetLastError());
  }
}

static void write_done(iocpd_conn *c, DWORD bytes, DWORD error) {
  c->os.write_posted = 0;
  if (c->aborting) return;
  if (error != 0) {
    fail(c, error);
    return;
  }
  iocpd__conn_wrote(c, bytes);
  if (!c->aborting && c->wq_head != NULL && !c->os.write_posted) post_write(c);
}

/* ConnectEx came back. */
static void connect_done(iocpd_conn *c, DWORD error) {
  BOOL on = TRUE;

  if (error == 0 && !c->close_requested && !c->aborting) {
    /* Like SO_UPDATE_ACCEPT_CONTEXT for accepted sockets: without it,
     * shutdown() and getsockname() fail on a ConnectEx socket. */
    setsockopt(c->os.sock, SOL_SOCKET, SO_UPDATE_CONNECT_CONTEXT, NULL, 0);
    setsockopt(c->os.sock, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof(on));
    /* The local address is looked up only if asked for
     * (iocpd__conn_local): a kernel round trip per connection saved. */
    c->local_unknown = 1;
  }
  iocpd__conn_connected(c, iocpd__translate_win(error));
}

void iocpd__conn_op_done(iocpd__op *op, DWORD bytes, DWORD status) {
  iocpd_conn *c;
  DWORD error;

  switch (op->type) {
    case IOCPD__OP_READ:
      c = container_of(op, iocpd_conn, os.read_op);
      error = op_result(c, op, status);
      c->os.pending--;
      if (c->os.read_real) {
        real_read_done(c, bytes, error);
      } else {
        read_done(c, error);
      }
      break;
    case IOCPD__OP_WRITE: {
      iocpd__write_req *r = container_of(op, iocpd__write_req, os.op);
      c = r->os.conn;
      error = op_result(c, op, status);
      c->os.pending--;
      write_done(c, bytes, error);
      break;
    }
    case IOCPD__OP_CONNECT:
      c = container_of(op, iocpd_conn, os.connect_op);
      error = op_result(c, op, status);
      c->os.pending--;
      connect_done(c, error);
      break;
    case IOCPD__OP_FINISH:
      c = container_of(op, iocpd_conn, os.finish_op);
      c->os.pending--;
      c->os.finish_posted = 0;
      break;
    default: return;
  }
  check_done(c);
}

/* ConnectEx is an extension: its address comes from WSAIoctl, per address
 * family's provider. Cached per worker. */
static LPFN_CONNECTEX load_connect_ex(iocpd__worker *w, SOCKET s, int v6) {
  GUID guid = WSAID_CONNECTEX;
  DWORD bytes = 0;
  if (w->os.connect_ex[v6] == NULL &&
      WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid), &w->os.connect_ex[v6],
               sizeof(w->os.connect_ex[v6]), &bytes, NULL, NULL) != 0)
    w->os.connect_ex[v6] = NULL;
  return w->os.connect_ex[v6];
}

int iocpd__os_connect(iocpd_conn *c, const iocpd_addr *to) {
  iocpd__worker *w = c->worker;
  struct sockaddr_storage ss, any;
  iocpd_addr any_addr;
  LPFN_CONNECTEX connect_ex;
  SOCKET s;
  DWORD e;
  BOOL now;
  int len;

  len = iocpd__sockaddr_from(to, &ss);
  s = iocpd__new_socket(ss.ss_family, 0);
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
  c->os.sock = s;
  c->os.read_op.type = IOCPD__OP_READ;
  c->os.connect_op.type = IOCPD__OP_CONNECT;
  c->os.finish_op.type = IOCPD__OP_FINISH;
  c->os.busy = 1; /* as an accepted one: see iocpd__conn_new */
  c->os.skip_port = (unsigned char)skip_port_on_success(w, s, to->family == IOCPD_AF_INET6);
  now = connect_ex(s, (struct sockaddr *)&ss, len, NULL, 0, NULL, &c->os.connect_op.ov);
  if (!now && (e = WSAGetLastError()) != ERROR_IO_PENDING) {
    closesocket(s);
    return iocpd__translate_win(e);
  }
  op_started(c, &c->os.connect_op, now);
  return 0;
}

/* A connected ConnectEx socket, and one that accept() made, leave their
 * local address unknown (AcceptEx hands it over with the peer's). */
void iocpd__conn_local(iocpd_conn *c) {
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  c->local_unknown = 0;
  if (c->os.sock != INVALID_SOCKET && getsockname(c->os.sock, (struct sockaddr *)&ss, &len) == 0)
    iocpd__sockaddr_to((struct sockaddr *)&ss, &c->local);
}
