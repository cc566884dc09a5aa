/*
 * IOCP backend: UDP listeners and sessions.
 *
 * A listener keeps UDP_RECVS WSARecvFrom calls posted, each with a buffer
 * of its own, so that datagrams arriving together are taken together and
 * the socket never sits without a receive. A completed receive becomes
 * the send of what it received (back to its source for echo, up the
 * session's socket for forward) and a fresh op is posted in its place: a
 * datagram is never copied, split or merged. Buffers come from the
 * worker's buffer cache, as connections' do. A session's socket keeps one
 * WSARecv posted for its upstream's replies, which leave through the
 * listener's socket with WSASendTo in the same way.
 *
 * Sends in flight are the queue: at most IOCPD_UDP_QUEUE_MAX per session
 * and direction (ECHO_SENDS for an echo listener); a datagram beyond that
 * is dropped and counted. Each op and its buffer live until its
 * completion has come through the port (these sockets never skip it);
 * an ended session is freed only when none of its ops is out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sockaddr.h"
#include "win.h"

#define UDP_RECVS 8
#define UDP_SLOT 65536
#define ECHO_SENDS (4 * IOCPD_UDP_QUEUE_MAX)
#define IDLE_OPS 64
/* Sends that look for an unreported ICMP error first (pending_refusal). */
#define PROBE_SENDS 8

/* What an op is doing. */
enum {
  UDP_RECV_FROM, /* on the listener's socket: a client's datagram */
  UDP_SEND_TO,   /* on the listener's socket: a reply to a client */
  UDP_RECV,      /* on a session's socket: its upstream's reply */
  UDP_SEND       /* on a session's socket: a datagram to its upstream */
};

/* ------------------------------------------------------------------------ */
/* Ops */

/* An op with a buffer from the worker's cache (the one connections read
 * into), or NULL when memory is short. */
static iocpd__udp_op *op_get(iocpd__listener *l, iocpd__udp_session *s) {
  iocpd__worker *w = l->worker;
  iocpd__udp_op *op = w->os.udp_idle;
  char *data = iocpd__buffer_get(w, UDP_SLOT);
  if (data == NULL) return NULL;
  if (op != NULL) {
    w->os.udp_idle = op->next_idle;
    w->os.udp_idle_count--;
  } else if ((op = malloc(sizeof(*op))) == NULL) {
    iocpd__buffer_put(w, data, UDP_SLOT);
    return NULL;
  }
  memset(op, 0, sizeof(*op));
  op->op.type = IOCPD__OP_UDP;
  op->listener = l;
  op->session = s;
  op->data = data;
  return op;
}

static void op_put(iocpd__udp_op *op) {
  iocpd__worker *w = op->listener->worker;
  iocpd__buffer_put(w, op->data, UDP_SLOT);
  op->data = NULL;
  if (w->os.udp_idle_count >= IDLE_OPS) {
    free(op);
    return;
  }
  op->next_idle = w->os.udp_idle;
  w->os.udp_idle = op;
  w->os.udp_idle_count++;
}

void iocpd__udp_free_idle(iocpd__worker *w) {
  while (w->os.udp_idle != NULL) {
    iocpd__udp_op *op = w->os.udp_idle;
    w->os.udp_idle = op->next_idle;
    free(op);
  }
  w->os.udp_idle_count = 0;
}

/* Whether the worker may have one more send in flight: each holds a
 * buffer of UDP_SLOT bytes until it completes. */
static int worker_room(iocpd__listener *l) {
  return (size_t)(l->worker->os.udp_sends + 1) * UDP_SLOT <= IOCPD__UDP_QUEUED_MAX;
}

/* Counts op as out (on the worker, and on its session). */
static void op_out(iocpd__udp_op *op) {
  op->listener->worker->os.udp_pending++;
  if (op->session != NULL) op->session->os.pending++;
}

static int is_refusal(DWORD e) {
  /* How an ICMP port or host unreachable reaches a connected datagram
   * socket: WSAECONNRESET on Windows; other names under other stacks. */
  return e == WSAECONNRESET || e == WSAECONNREFUSED || e == ERROR_PORT_UNREACHABLE ||
         e == ERROR_CONNECTION_REFUSED || e == WSAENETUNREACH || e == WSAEHOSTUNREACH ||
         e == ERROR_HOST_UNREACHABLE || e == ERROR_NETWORK_UNREACHABLE;
}

/* ------------------------------------------------------------------------ */
/* Posting */

/* Posts op as a receive on the listener's socket. Returns 0 or the WSA
 * error (op is then still the caller's). */
static DWORD post_recv_from(iocpd__udp_op *op) {
  iocpd__listener *l = op->listener;
  int tries;
  op->kind = UDP_RECV_FROM;
  op->session = NULL;
  /* An ICMP error for an earlier reply may be reported right here on
   * stacks that ignore SIO_UDP_CONNRESET: it concerns one client, so
   * the receive is simply posted again. */
  for (tries = 0; tries < 8; tries++) {
    DWORD e;
    memset(&op->op.ov, 0, sizeof(op->op.ov));
    op->buf.buf = op->data;
    op->buf.len = UDP_SLOT;
    op->flags = 0;
    op->addr_len = sizeof(op->addr);
    op->sock = l->os.sock;
    if (WSARecvFrom(l->os.sock, &op->buf, 1, NULL, &op->flags, (struct sockaddr *)&op->addr,
                    &op->addr_len, &op->op.ov, NULL) == 0 ||
        (e = (DWORD)WSAGetLastError()) == WSA_IO_PENDING) {
      l->os.udp_recvs++;
      op_out(op);
      return 0;
    }
    if (!is_refusal(e)) return e;
  }
  return WSAECONNRESET;
}

/* Posts receives until UDP_RECVS are out. */
static void fill_recvs(iocpd__listener *l) {
  while (l->open && l->os.udp_recvs < UDP_RECVS) {
    iocpd__udp_op *op = op_get(l, NULL);
    DWORD e;
    if (op == NULL) return; /* the ones still out go on; the next completion retries */
    e = post_recv_from(op);
    if (e != 0) {
      op_put(op);
      iocpd__log(l->server, IOCPD_LOG_WARNING, "listener %s: cannot receive (error %lu)", l->name,
                 (unsigned long)e);
      return;
    }
  }
}

/* Posts op as the receive of its session's socket: 0 or the WSA error. */
static DWORD post_session_recv(iocpd__udp_op *op) {
  iocpd__udp_session *s = op->session;
  DWORD e;
  op->kind = UDP_RECV;
  memset(&op->op.ov, 0, sizeof(op->op.ov));
  op->buf.buf = op->data;
  op->buf.len = UDP_SLOT;
  op->flags = 0;
  op->sock = s->os.sock;
  if (WSARecv(s->os.sock, &op->buf, 1, NULL, &op->flags, &op->op.ov, NULL) == 0 ||
      (e = (DWORD)WSAGetLastError()) == WSA_IO_PENDING) {
    op_out(op);
    return 0;
  }
  return e;
}

/* Sends op's len bytes: to op->addr through the listener's socket
 * (UDP_SEND_TO), or up the session's socket (UDP_SEND). 0 or the WSA
 * error (op is then still the caller's). */
static DWORD post_send(iocpd__udp_op *op, int kind, DWORD len) {
  iocpd__listener *l = op->listener;
  int rc;
  op->kind = (unsigned char)kind;
  memset(&op->op.ov, 0, sizeof(op->op.ov));
  op->buf.buf = op->data;
  op->buf.len = len;
  op->sock = kind == UDP_SEND_TO ? l->os.sock : op->session->os.sock;
  if (kind == UDP_SEND_TO) {
    rc = WSASendTo(l->os.sock, &op->buf, 1, NULL, 0, (struct sockaddr *)&op->addr, op->addr_len,
                   &op->op.ov, NULL);
  } else {
    rc = WSASend(op->session->os.sock, &op->buf, 1, NULL, 0, &op->op.ov, NULL);
  }
  if (rc != 0) {
    DWORD e = (DWORD)WSAGetLastError();
    if (e != WSA_IO_PENDING) return e;
  }
  op_out(op);
  l->worker->os.udp_sends++;
  if (kind == UDP_SEND) {
    op->session->os.sends_up++;
  } else if (op->session != NULL) {
    op->session->os.sends_down++;
  } else {
    l->os.udp_echo_sends++;
  }
  return 0;
}

/* Whether the socket of s holds an ICMP error that no operation has
 * reported. Windows completes the posted receive with it; Wine, for one,
 * only keeps it as the socket's pending error. So until the upstream has
 * answered, the first few sends look first: a client's retry then goes
 * to the next upstream instead of the one that refused it. */
static int pending_refusal(iocpd__udp_session *s) {
  int e = 0, len = sizeof(e);
  if (getsockopt(s->os.sock, SOL_SOCKET, SO_ERROR, (char *)&e, &len) != 0) return 0;
  return e != 0 && is_refusal((DWORD)e);
}

/* ------------------------------------------------------------------------ */
/* Completions */

/* A client's datagram of n bytes in op: hand it on, and keep the
 * listener's receives posted. */
static void client_datagram(iocpd__udp_op *op, DWORD n) {
  iocpd__listener *l = op->listener;
  iocpd__udp_session *s = NULL;
  iocpd_addr src;
  int moved = 0;
  DWORD e;

  if (iocpd__sockaddr_to((struct sockaddr *)&op->addr, &src) != 0 ||
      !iocpd__admit_datagram(l, &src)) {
    iocpd__udp_count(l, NULL, IOCPD__BYTES_IN, 1, n);
    iocpd__udp_drop(l, IOCPD_UDP_DROP_DENIED, 1);
    op_put(op);
    return;
  }
  if (iocpd__udp_is_echo(l)) {
    iocpd__udp_count(l, NULL, IOCPD__BYTES_IN, 1, n);
    if (l->os.udp_echo_sends >= ECHO_SENDS || !worker_room(l)) {
      iocpd__udp_drop(l, IOCPD_UDP_DROP_QUEUE, 1);
      op_put(op);
      return;
    }
    e = post_send(op, UDP_SEND_TO, n); /* back to op->addr, its source */
  } else {
    s = iocpd__udp_session_get(l, &src, &op->addr, (size_t)op->addr_len);
    if (s == NULL) {
      iocpd__udp_count(l, NULL, IOCPD__BYTES_IN, 1, n);
      op_put(op);
      return;
    }
    iocpd__udp_count(l, s, IOCPD__BYTES_IN, 1, n);
    iocpd__udp_touch(s);
    if (s->os.sends_up >= IOCPD_UDP_QUEUE_MAX || !worker_room(l)) {
      iocpd__udp_drop(l, IOCPD_UDP_DROP_QUEUE, 1);
      op_put(op);
      return;
    }
    op->session = s;
    if (!s->replied && s->datagrams[IOCPD__BYTES_UP] < PROBE_SENDS && pending_refusal(s)) {
      iocpd__udp_upstream_failed(s);
      moved = 1;
    }
    e = s->ended ? WSAECONNRESET : post_send(op, UDP_SEND, n);
    if (e != 0 && is_refusal(e) && !s->ended) {
      /* An ICMP error from an earlier datagram, reported by this send
       * (Wine reports the one just looked at once more): move on, unless
       * that was just done, and try this one once more. */
      if (!moved) iocpd__udp_upstream_failed(s);
      e = s->ended ? e : post_send(op, UDP_SEND, n);
    }
  }
  if (e != 0) {
    iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1);
    op_put(op);
  }
}

/* The reply of n bytes in op came from s's upstream: send it to the
 * client, and post the session's receive again. */
static void upstream_datagram(iocpd__udp_op *op, DWORD n) {
  iocpd__udp_session *s = op->session;
  iocpd__listener *l = op->listener;
  iocpd__udp_op *next;
  DWORD e;

  iocpd__udp_count(l, s, IOCPD__BYTES_DOWN, 1, n);
  iocpd__udp_replied(s);
  iocpd__udp_touch(s);
  next = op_get(l, s);
  if (!l->open || s->os.sends_down >= IOCPD_UDP_QUEUE_MAX || !worker_room(l) || next == NULL) {
    /* Reuse op for the receive; the reply is dropped. */
    iocpd__udp_drop(l, next == NULL ? IOCPD_UDP_DROP_NOMEM : IOCPD_UDP_DROP_QUEUE, 1);
    if (next != NULL) op_put(next);
    next = op;
  } else {
    memcpy(&op->addr, &s->os.client_raw, (size_t)s->os.client_raw_len);
    op->addr_len = s->os.client_raw_len;
    e = post_send(op, UDP_SEND_TO, n);
    if (e != 0) {
      iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1);
      op_put(op);
    }
  }
  e = post_session_recv(next);
  if (e != 0) {
    op_put(next);
    iocpd__udp_session_end(s, is_refusal(e) ? IOCPD_END_CONNECT_FAILED : IOCPD_END_UPSTREAM_RESET);
  }
}

void iocpd__udp_op_done(iocpd__udp_op *op, DWORD bytes, DWORD status) {
  iocpd__listener *l = op->listener;
  iocpd__udp_session *s = op->session;
  DWORD error = 0;

  l->worker->os.udp_pending--;
  if (s != NULL) s->os.pending--;
  if (status != 0) error = iocpd__op_error(op->sock, &op->op);
  /* An op of the socket a session left when it moved upstream: over. */
  if (s != NULL && (op->kind == UDP_RECV || op->kind == UDP_SEND) && op->sock != s->os.sock) {
    if (op->kind == UDP_SEND) {
      s->os.sends_up--;
      l->worker->os.udp_sends--;
    }
    op_put(op);
    return;
  }
  switch (op->kind) {
    case UDP_RECV_FROM:
      l->os.udp_recvs--;
      if (!l->open) {
        op_put(op);
        return;
      }
      if (error == 0) {
        client_datagram(op, bytes);
      } else {
        /* A datagram too big (none is) or an ICMP error for an earlier
         * reply: either concerns one datagram, never the listener. */
        if (error == WSAEMSGSIZE) iocpd__udp_drop(l, IOCPD_UDP_DROP_NOMEM, 1);
        op_put(op);
      }
      fill_recvs(l);
      return;
    case UDP_SEND_TO:
      l->worker->os.udp_sends--;
      if (s != NULL) {
        s->os.sends_down--;
      } else {
        l->os.udp_echo_sends--;
      }
      if (error == 0) {
        iocpd__udp_count(l, s, IOCPD__BYTES_OUT, 1, bytes);
      } else if (l->open) {
        iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1);
      }
      op_put(op);
      return;
    case UDP_SEND:
      l->worker->os.udp_sends--;
      s->os.sends_up--;
      if (error == 0) {
        iocpd__udp_count(l, s, IOCPD__BYTES_UP, 1, bytes);
      } else if (!s->ended) {
        iocpd__udp_drop(l, IOCPD_UDP_DROP_UPSTREAM, 1);
        if (is_refusal(error)) iocpd__udp_upstream_failed(s);
      }
      op_put(op);
      return;
    case UDP_RECV:
      if (s->ended) {
        op_put(op);
        return;
      }
      if (error == 0) {
        upstream_datagram(op, bytes);
        return;
      }
      if (is_refusal(error)) {
        iocpd__udp_upstream_failed(s);
        if (!s->ended && post_session_recv(op) == 0) return;
        op_put(op);
        if (!s->ended) iocpd__udp_session_end(s, IOCPD_END_CONNECT_FAILED);
        return;
      }
      op_put(op);
      iocpd__udp_session_end(s, IOCPD_END_UPSTREAM_RESET);
      return;
  }
}

/* ------------------------------------------------------------------------ */
/* Listener and session sockets */

int iocpd__udp_bind(iocpd__listener *l, iocpd_error_info *err) {
  struct sockaddr_storage ss;
  int len = iocpd__sockaddr_from(&l->addr, &ss);
  BOOL on = TRUE, off = FALSE;
  DWORD bytes = 0;
  int room = IOCPD__UDP_RECEIVE_BUFFER;

  l->os.sock = iocpd__new_socket(ss.ss_family, 1);
  if (l->os.sock == INVALID_SOCKET)
    return iocpd__listener_fail(l, "cannot create a UDP socket for", WSAGetLastError(), err);
  setsockopt(l->os.sock, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof(on));
  if (ss.ss_family == AF_INET6) {
    int v6only = !l->dual_stack;
    setsockopt(l->os.sock, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&v6only, sizeof(v6only));
  }
  /* Without this, an ICMP port unreachable that one client's address
   * sends back for a reply fails the listener's next receive with
   * WSAECONNRESET: one client could keep breaking the listener. A stack
   * without the option still works; its errors are retried above. */
  WSAIoctl(l->os.sock, SIO_UDP_CONNRESET, &off, sizeof(off), NULL, 0, &bytes, NULL, NULL);
  /* Room for a burst while the posted receives are being handed on: what
   * arrives with the buffer full is dropped by the stack. */
  setsockopt(l->os.sock, SOL_SOCKET, SO_RCVBUF, (const char *)&room, sizeof(room));
  if (bind(l->os.sock, (struct sockaddr *)&ss, len) != 0)
    return iocpd__listener_fail(l, "cannot bind UDP", WSAGetLastError(), err);
  l->open = 1;
  return 0;
}

int iocpd__udp_start(iocpd__listener *l, iocpd_error_info *err) {
  if (CreateIoCompletionPort((HANDLE)l->os.sock, l->worker->os.port, IOCPD__KEY_IO, 0) == NULL)
    return iocpd__listener_fail(l, "cannot attach a completion port to", GetLastError(), err);
  fill_recvs(l);
  if (l->os.udp_recvs == 0)
    return iocpd__listener_fail(l, "cannot receive on UDP", WSAGetLastError(), err);
  return 0;
}

void iocpd__udp_close(iocpd__listener *l) {
  if (l->os.sock == INVALID_SOCKET || !l->open) return;
  /* Every receive and send still out completes, aborted, through the
   * port; the loop runs until they have. */
  closesocket(l->os.sock);
  l->os.sock = INVALID_SOCKET;
  l->open = 0;
  iocpd__udp_end_all(l, IOCPD_END_SHUTDOWN);
}

static DWORD connect_upstream(iocpd__udp_session *s) {
  struct sockaddr_storage ss;
  int len = iocpd__sockaddr_from(&s->fwd->upstreams[s->upstream], &ss);
  /* A datagram socket's connect only names its peer: no packet, no wait. */
  return connect(s->os.sock, (struct sockaddr *)&ss, len) == 0 ? 0 : (DWORD)WSAGetLastError();
}

int iocpd__udp_os_open(iocpd__udp_session *s) {
  iocpd__listener *l = s->listener;
  iocpd__udp_op *op;
  DWORD e;
  s->os.sock = iocpd__new_socket(
      s->fwd->upstreams[s->upstream].family == IOCPD_AF_INET ? AF_INET : AF_INET6, 1);
  if (s->os.sock == INVALID_SOCKET) return iocpd__translate_win((DWORD)WSAGetLastError());
  e = connect_upstream(s);
  if (e == 0 &&
      CreateIoCompletionPort((HANDLE)s->os.sock, l->worker->os.port, IOCPD__KEY_IO, 0) == NULL)
    e = GetLastError();
  if (e == 0) {
    op = op_get(l, s);
    if (op == NULL) {
      e = ERROR_NOT_ENOUGH_MEMORY;
    } else if ((e = post_session_recv(op)) != 0) {
      op_put(op);
    }
  }
  if (e != 0) {
    closesocket(s->os.sock);
    s->os.sock = INVALID_SOCKET;
    return iocpd__translate_win(e);
  }
  return 0;
}

int iocpd__udp_os_reconnect(iocpd__udp_session *s) {
  /* A new socket rather than a new peer for the old one: an ICMP error
   * the old one still holds (Wine keeps it past SO_ERROR) cannot fail the
   * first sends to the new upstream. The old one's ops come back aborted
   * and are dropped (see iocpd__udp_op_done). */
  SOCKET old = s->os.sock;
  int rc = iocpd__udp_os_open(s);
  if (rc != 0) {
    s->os.sock = old;
    return rc;
  }
  closesocket(old);
  return 0;
}

void iocpd__udp_os_close(iocpd__udp_session *s) {
  iocpd__worker *w = s->listener->worker;
  if (s->os.sock != INVALID_SOCKET) closesocket(s->os.sock);
  s->os.sock = INVALID_SOCKET;
  s->os.ended_next = w->os.udp_ended;
  w->os.udp_ended = s;
}

void iocpd__udp_reap(iocpd__worker *w) {
  iocpd__udp_session **p = &w->os.udp_ended;
  while (*p != NULL) {
    iocpd__udp_session *s = *p;
    if (s->os.pending == 0) {
      *p = s->os.ended_next;
      iocpd__udp_session_free(s);
    } else {
      p = &s->os.ended_next;
    }
  }
}
