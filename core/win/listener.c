/*
 * IOCP backend: listening sockets. A posted AcceptEx wakes the worker when
 * a client arrives; accept() then takes the clients queued behind it.
 *
 * A completion port tells of a new client only through a completed
 * AcceptEx, so each listener keeps ACCEPTS_POSTED of them posted, each on
 * a socket made in advance. When one completes, the clients that queued in
 * the backlog meanwhile are taken with accept() on the non-blocking
 * listening socket, up to ACCEPTS_PER_WAKE, and only then is the AcceptEx
 * posted again. accept() makes its socket in the same kernel call, where
 * AcceptEx needs a socket made beforehand (a call of its own) and a
 * completion to come back: under a stream of connections most clients
 * arrive while the worker is busy and take the one-call path, and a lone
 * client costs one accept() that finds the backlog empty.
 *
 * The kernel completes a posted AcceptEx on its own, so each one first
 * reserves an admission slot, as each accept() does: at a connection limit
 * fewer (or no) accepts are posted or made, and new clients wait in the
 * backlog instead of being accepted and dropped. A new connection's socket
 * is bound to the completion port of the worker that will own it before it
 * is handed over, so its completions go straight to that worker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ws2tcpip.h>

#include "sockaddr.h"
#include "win.h"

/* AcceptEx calls kept posted per listener: one is enough to wake the
 * worker, since accept() takes whoever queued behind it; more would take
 * those clients the costlier way. */
#define ACCEPTS_POSTED 1

/* Clients taken with accept() per completed AcceptEx before the loop looks
 * at its other work again, so one busy listener cannot starve its
 * connections (the AcceptEx, posted again, completes at once if more are
 * waiting). */
#define ACCEPTS_PER_WAKE 64

int iocpd__listener_fail(iocpd__listener *l, const char *what, DWORD e, iocpd_error_info *err) {
  char addr[IOCPD_ADDR_STRLEN], text[160];
  if (err != NULL) {
    iocpd__os_strerror((long)e, text, sizeof(text));
    err->code = iocpd__translate_win(e);
    err->os_error = (long)e;
    snprintf(err->message, sizeof(err->message), "listener %s: %s %s: %s", l->name, what,
             iocpd_addr_format(&l->addr, addr), text);
  }
  if (l->os.sock != INVALID_SOCKET) closesocket(l->os.sock);
  l->os.sock = INVALID_SOCKET;
  l->open = 0;
  return iocpd__translate_win(e);
}

static void reset(SOCKET s);
static int admit_or_park(iocpd__listener *l, iocpd_conn *c);
static int serve_accepted(iocpd__listener *l, SOCKET s, const struct sockaddr *local,
                          const struct sockaddr *peer);

int iocpd__listener_bind(iocpd__listener *l, iocpd_error_info *err) {
  struct sockaddr_storage ss;
  int len = iocpd__sockaddr_from(&l->addr, &ss);
  BOOL on = TRUE;
  u_long nonblocking = 1;

  if (l->udp) return iocpd__udp_bind(l, err);
  l->os.sock = iocpd__new_socket(ss.ss_family, 0);
  if (l->os.sock == INVALID_SOCKET)
    return iocpd__listener_fail(l, "cannot create a socket for", WSAGetLastError(), err);
  /* Exclusive use: no other process can bind the same port, even with
   * SO_REUSEADDR, so a listener cannot be hijacked. */
  setsockopt(l->os.sock, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof(on));
  if (ss.ss_family == AF_INET6) {
    /* An [ipv6]:port listener serves IPv6 only, as written, unless it is
     * dual_stack (IPv4 clients arrive IPv4-mapped; see sockaddr.c). */
    int v6only = !l->dual_stack;
    setsockopt(l->os.sock, IPPROTO_IPV6, IPV6_V6ONLY, (const char *)&v6only, sizeof(v6only));
  }
  if (bind(l->os.sock, (struct sockaddr *)&ss, len) != 0)
    return iocpd__listener_fail(l, "cannot bind", WSAGetLastError(), err);
  if (listen(l->os.sock, SOMAXCONN) != 0)
    return iocpd__listener_fail(l, "cannot listen on", WSAGetLastError(), err);
  /* accept() must find the backlog empty rather than wait on it (see the
   * top); overlapped calls, AcceptEx included, are not affected. */
  if (ioctlsocket(l->os.sock, FIONBIO, &nonblocking) != 0)
    return iocpd__listener_fail(l, "cannot make non-blocking", WSAGetLastError(), err);
  l->open = 1;
  return 0;
}

/* Posts one AcceptEx. Returns 0, or the WSA error (the op is then idle). */
static DWORD post_accept(iocpd__listener *l, iocpd__accept_op *a) {
  DWORD bytes = 0;
  memset(&a->op.ov, 0, sizeof(a->op.ov));
  a->sock = iocpd__new_socket(l->addr.family == IOCPD_AF_INET ? AF_INET : AF_INET6, 0);
  if (a->sock == INVALID_SOCKET) return WSAGetLastError();
  if (!l->os.accept_ex(l->os.sock, a->sock, a->addrs, 0, IOCPD__ACCEPT_ADDR_LEN,
                       IOCPD__ACCEPT_ADDR_LEN, &bytes, &a->op.ov)) {
    DWORD e = WSAGetLastError();
    if (e != ERROR_IO_PENDING) {
      closesocket(a->sock);
      a->sock = INVALID_SOCKET;
      return e;
    }
  }
  a->posted = 1;
  l->os.pending++;
  return 0;
}

/* Posts accepts on every idle op of the pool, as far as admission slots
 * allow. Returns the WSA error of a failed post, 0 otherwise. */
static DWORD fill_pool(iocpd__listener *l) {
  unsigned i;
  for (i = 0; i < l->os.accept_count && l->open; i++) {
    iocpd__accept_op *a = &l->os.accepts[i];
    DWORD e;
    if (a->posted) continue;
    if (!iocpd__admit_reserve(l)) break; /* paused until a close resumes it */
    e = post_accept(l, a);
    if (e != 0) {
      iocpd__admit_release(l);
      return e;
    }
  }
  return 0;
}

static int load_extension(SOCKET s, GUID guid, void *fn, size_t fn_size) {
  DWORD bytes = 0;
  return WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &guid, sizeof(guid), fn, (DWORD)fn_size,
                  &bytes, NULL, NULL) == 0
             ? 0
             : -1;
}

int iocpd__listener_start(iocpd__listener *l, iocpd_error_info *err) {
  GUID accept_guid = WSAID_ACCEPTEX, addrs_guid = WSAID_GETACCEPTEXSOCKADDRS;
  unsigned i;
  DWORD e;

  if (l->udp) return iocpd__udp_start(l, err);
  if (CreateIoCompletionPort((HANDLE)l->os.sock, l->worker->os.port, IOCPD__KEY_IO, 0) == NULL)
    return iocpd__listener_fail(l, "cannot attach a completion port to", GetLastError(), err);
  if (load_extension(l->os.sock, accept_guid, &l->os.accept_ex, sizeof(l->os.accept_ex)) != 0 ||
      load_extension(l->os.sock, addrs_guid, &l->os.get_addrs, sizeof(l->os.get_addrs)) != 0)
    return iocpd__listener_fail(l, "cannot load AcceptEx for", WSAGetLastError(), err);
  l->os.accepts = calloc(ACCEPTS_POSTED, sizeof(*l->os.accepts));
  if (l->os.accepts == NULL)
    return iocpd__listener_fail(l, "out of memory for", ERROR_NOT_ENOUGH_MEMORY, err);
  l->os.accept_count = ACCEPTS_POSTED;
  for (i = 0; i < ACCEPTS_POSTED; i++) {
    l->os.accepts[i].op.type = IOCPD__OP_ACCEPT;
    l->os.accepts[i].listener = l;
    l->os.accepts[i].sock = INVALID_SOCKET;
  }
  e = fill_pool(l);
  /* Some accepts posted is enough to serve; none is a failure. */
  if (e != 0 && l->os.pending == 0) return iocpd__listener_fail(l, "cannot accept on", e, err);
  return 0;
}

void iocpd__listener_resume(iocpd__listener *l) {
  DWORD e;
  if (l->udp) return; /* never paused: datagrams over a limit are dropped */
  /* Connections parked while the server was full go first, in order. */
  while (l->os.parked_head != NULL) {
    iocpd_conn *c = l->os.parked_head;
    l->os.parked_head = c->os.parked_next;
    if (l->os.parked_head == NULL) l->os.parked_tail = NULL;
    if (!admit_or_park(l, c)) break; /* still full: c is queued again */
  }
  e = fill_pool(l);
  /* Out of sockets or memory: with fewer (or no) accepts posted the
   * listener would shrink for good, so try again in a moment. */
  if (e == WSAEMFILE) iocpd__count_fd_exhausted(l, 0);
  if (e != 0) iocpd__listener_retry_later(l, "cannot post an accept", (long)e);
}

void iocpd__listener_close(iocpd__listener *l) {
  if (l->udp) {
    iocpd__udp_close(l);
    return;
  }
  /* Parked connections were never served: reset them, give their slots
   * back. */
  while (l->os.parked_head != NULL) {
    iocpd_conn *c = l->os.parked_head;
    l->os.parked_head = c->os.parked_next;
    iocpd__admit_unpark(c);
    reset(c->os.sock);
    iocpd__conn_discard(c);
  }
  l->os.parked_tail = NULL;
  if (l->os.sock != INVALID_SOCKET) {
    /* Closing the socket completes every pending AcceptEx with an error;
     * each completion then closes its own accept socket. */
    closesocket(l->os.sock);
    l->os.sock = INVALID_SOCKET;
    l->open = 0;
  }
  if (l->os.pending == 0 && l->os.accepts != NULL) {
    free(l->os.accepts);
    l->os.accepts = NULL;
  }
}

/* Resets a socket at once: a zero linger time makes closesocket send RST. */
static void reset(SOCKET s) {
  struct linger lg;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(s, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof(lg));
  closesocket(s);
}

/* Makes a connection of a completed accept (which holds an admission
 * slot) and hands it to a worker, or resets it if admission says no. */
static void take_connection(iocpd__listener *l, iocpd__accept_op *a) {
  struct sockaddr *local = NULL, *peer = NULL;
  int local_len = 0, peer_len = 0;
  SOCKET s = a->sock;

  a->sock = INVALID_SOCKET;
  /* Without this the accepted socket does not know its listener, and
   * shutdown(), getpeername() and friends fail on it. */
  if (setsockopt(s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT, (const char *)&l->os.sock,
                 sizeof(l->os.sock)) != 0) {
    iocpd__admit_release(l);
    closesocket(s);
    return;
  }
  l->os.get_addrs(a->addrs, 0, IOCPD__ACCEPT_ADDR_LEN, IOCPD__ACCEPT_ADDR_LEN, &local, &local_len,
                  &peer, &peer_len);
  serve_accepted(l, s, local, peer);
}

/* Makes a connection of s, accepted on l with an admission slot reserved,
 * and admits it (admit_or_park). local may be NULL: it is then looked up
 * only if asked for (iocpd__conn_local). Returns 0 if the connection was
 * parked or memory ran out, so the caller stops taking clients. */
static int serve_accepted(iocpd__listener *l, SOCKET s, const struct sockaddr *local,
                          const struct sockaddr *peer) {
  iocpd_conn *c = iocpd__conn_new(l, s, local, peer);
  if (c == NULL) {
    iocpd__admit_release(l);
    iocpd__log(l->server, IOCPD_LOG_WARNING, "listener %s: out of memory, connection dropped",
               l->name);
    reset(s);
    return 0;
  }
  return admit_or_park(l, c);
}

/* Admits c (a connection accepted on l, not yet on any worker) and hands
 * it to its worker; parks it at the end of l's queue if the server is
 * full; resets it if admission says no. Returns 0 if it was parked. */
static int admit_or_park(iocpd__listener *l, iocpd_conn *c) {
  iocpd__worker *target;
  SOCKET s = c->os.sock;
  int verdict = iocpd__admit(c);

  if (verdict == IOCPD__ADMIT_LATER) {
    c->os.parked_next = NULL;
    if (l->os.parked_tail != NULL) {
      l->os.parked_tail->os.parked_next = c;
    } else {
      l->os.parked_head = c;
    }
    l->os.parked_tail = c;
    return 0;
  }
  if (verdict != IOCPD__ADMITTED) {
    reset(s);
    iocpd__conn_discard(c);
    return 1;
  }
  target = iocpd__next_worker(l->server);
  if (CreateIoCompletionPort((HANDLE)s, target->os.port, IOCPD__KEY_IO, 0) == NULL) {
    /* Admitted and counted: end it through the normal teardown on this
     * worker, silently, since no handler has seen it. */
    iocpd__log(l->server, IOCPD_LOG_WARNING,
               "listener %s: cannot attach a connection to a completion port (error %lu)", l->name,
               (unsigned long)GetLastError());
    c->handler = &iocpd__silent_handler;
    target = l->worker;
    CreateIoCompletionPort((HANDLE)s, target->os.port, IOCPD__KEY_IO, 0);
  }
  if (target == l->worker) {
    iocpd__conn_adopt(target, c);
  } else {
    c->adopt_msg.type = IOCPD__MSG_ADOPT;
    c->adopt_msg.conn = c;
    iocpd__worker_post(target, &c->adopt_msg);
  }
  return 1;
}

/* Takes the clients waiting in l's backlog with accept(), as far as
 * admission slots allow (see the top). */
static void take_queued(iocpd__listener *l) {
  int i;
  for (i = 0; i < ACCEPTS_PER_WAKE && l->open; i++) {
    struct sockaddr_storage peer;
    int peer_len = sizeof(peer);
    SOCKET s;
    DWORD e;

    if (!iocpd__admit_reserve(l)) return; /* paused until a close resumes it */
    s = accept(l->os.sock, (struct sockaddr *)&peer, &peer_len);
    if (s == INVALID_SOCKET) {
      e = WSAGetLastError();
      iocpd__admit_release(l);
      if (e == WSAECONNRESET) continue; /* the client gave up while queued */
      /* WSAEWOULDBLOCK: all taken. Out of sockets or memory: the AcceptEx
       * posted next meets it too, and retries later (iocpd__listener_resume). */
      return;
    }
    /* Parked (the server is full): the rest wait in the backlog. */
    if (!serve_accepted(l, s, NULL, (struct sockaddr *)&peer)) return;
  }
}

void iocpd__accept_done(iocpd__accept_op *a, DWORD status) {
  iocpd__listener *l = a->listener;
  DWORD error = status == 0 ? 0 : iocpd__op_error(l->os.sock, &a->op);

  l->os.pending--;
  a->posted = 0;
  if (!l->open) {
    /* The listener is closing: this accept was canceled, or it won a race
     * with the close; either way nobody serves it now. */
    if (a->sock != INVALID_SOCKET) closesocket(a->sock);
    a->sock = INVALID_SOCKET;
    iocpd__admit_release(l);
    iocpd__listener_close(l); /* frees the pool once the last one is back */
    return;
  }
  if (error == 0) {
    take_connection(l, a);
    take_queued(l);
  } else {
    /* A client that reset before we accepted it, or a transient shortage:
     * drop this socket and post the accept again. */
    closesocket(a->sock);
    a->sock = INVALID_SOCKET;
    iocpd__admit_release(l);
  }
  iocpd__listener_resume(l);
}
