/*
 * IOCP backend: the worker loop, its wake-up, Winsock start-up and error
 * translation.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "win.h"

/* Completions dequeued per GetQueuedCompletionStatusEx call. */
#define ENTRIES_PER_WAIT 128

/* Ops completed inline that the loop runs, at most, between two looks at
 * a port that only accepts and wake-ups can reach (see iocpd__loop_run). */
#define INLINE_OPS_PER_LOOK 64

int iocpd__backend_init(iocpd_error_info *err) {
  WSADATA wsa;
  int rc = WSAStartup(MAKEWORD(2, 2), &wsa);
  if (rc != 0) {
    if (err != NULL) {
      err->code = IOCPD_EIO;
      err->os_error = rc;
      snprintf(err->message, sizeof(err->message), "WSAStartup failed: error %d", rc);
    }
    return IOCPD_EIO;
  }
  return 0;
}

void iocpd__backend_cleanup(void) { WSACleanup(); }

int iocpd__translate_win(DWORD e) {
  switch (e) {
    case 0: return 0;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case WSAENOBUFS: return IOCPD_ENOMEM;
    case ERROR_INVALID_PARAMETER:
    case WSAEINVAL: return IOCPD_EINVAL;
    case WSAEADDRINUSE: return IOCPD_EADDRINUSE;
    case WSAEADDRNOTAVAIL: return IOCPD_EADDRNOTAVAIL;
    case ERROR_ACCESS_DENIED:
    case WSAEACCES: return IOCPD_EACCES;
    case WSAECONNRESET:
    case WSAECONNABORTED:
    case WSAESHUTDOWN:
    case ERROR_NETNAME_DELETED: /* how a reset shows on IOCP */
    case ERROR_CONNECTION_ABORTED:
    case ERROR_CONNECTION_INVALID: return IOCPD_ECONNRESET;
    case WSAECONNREFUSED:
    case ERROR_CONNECTION_REFUSED: return IOCPD_ECONNREFUSED;
    case WSAETIMEDOUT:
    case ERROR_SEM_TIMEOUT: return IOCPD_ETIMEDOUT;
    case WSAENETUNREACH:
    case WSAEHOSTUNREACH:
    case ERROR_NETWORK_UNREACHABLE:
    case ERROR_HOST_UNREACHABLE: return IOCPD_ENETUNREACH;
    case ERROR_OPERATION_ABORTED: return IOCPD_ECANCELED; /* = WSA_OPERATION_ABORTED */
    case WSAEMFILE:
    case ERROR_TOO_MANY_OPEN_FILES: return IOCPD_EMFILE;
    default: return IOCPD_EIO;
  }
}

void iocpd__os_strerror(long os_error, char *buf, size_t len) {
  /* The W form, converted to UTF-8: the system's text is in its own
   * language, which the ANSI code page may not hold, and every log line
   * is UTF-8. */
  wchar_t text[256];
  char utf8[sizeof(text) / sizeof(text[0]) * 3 + 24]; /* 3 bytes a UTF-16 unit at most */
  DWORD n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           (DWORD)os_error, 0, text, sizeof(text) / sizeof(text[0]), NULL);
  int bytes = 0;
  size_t keep;
  if (len == 0) return;
  /* System messages end in ".\r\n" (Wine's in ". "); a log line wants
   * none of that. */
  while (n > 0 && (text[n - 1] == L'\n' || text[n - 1] == L'\r' || text[n - 1] == L'.' ||
                   text[n - 1] == L' ')) {
    n--;
  }
  if (n > 0) {
    bytes = WideCharToMultiByte(CP_UTF8, 0, text, (int)n, utf8, (int)sizeof(utf8) - 24, NULL, NULL);
  }
  if (bytes <= 0) {
    snprintf(buf, len, "Windows error %ld", os_error);
    return;
  }
  snprintf(utf8 + bytes, 24, " (%ld)", os_error);
  /* Cut to fit, never inside a character. */
  keep = strlen(utf8);
  if (keep >= len) {
    keep = len - 1;
    while (keep > 0 && ((unsigned char)utf8[keep] & 0xC0) == 0x80) keep--;
  }
  memcpy(buf, utf8, keep);
  buf[keep] = '\0';
}

DWORD iocpd__op_error(SOCKET s, iocpd__op *op) {
  DWORD bytes, flags;
  /* The OVERLAPPED holds an NTSTATUS; WSAGetOverlappedResult is the
   * documented way to turn it into the Winsock error for that socket. */
  if (s == INVALID_SOCKET) return ERROR_OPERATION_ABORTED;
  if (WSAGetOverlappedResult(s, &op->ov, &bytes, FALSE, &flags)) return 0;
  return WSAGetLastError() != 0 ? (DWORD)WSAGetLastError() : ERROR_OPERATION_ABORTED;
}

int iocpd__loop_init(iocpd__worker *w) {
  /* One thread serves this port, so allow exactly one to run. */
  w->os.port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
  if (w->os.port == NULL) return iocpd__translate_win(GetLastError());
  return 0;
}

void iocpd__loop_free(iocpd__worker *w) {
  iocpd__udp_reap(w);
  iocpd__udp_free_idle(w);
  CloseHandle(w->os.port);
}

void iocpd__loop_wakeup(iocpd__worker *w) {
  PostQueuedCompletionStatus(w->os.port, 0, IOCPD__KEY_WAKE, NULL);
}

/* Accepts still pending on w's listeners: w's loop must run until they
 * have all come back, or their OVERLAPPEDs would outlive the loop. */
static unsigned accepts_pending(iocpd__worker *w) {
  iocpd_server *s = w->server;
  unsigned n = 0;
  size_t i;
  iocpd__listener *l;
  for (i = 0; i < s->listener_count; i++) {
    if (s->listeners[i]->worker == w) n += s->listeners[i]->os.pending;
  }
  /* Listeners an update removed: their accepts come back too. */
  for (l = s->retired; l != NULL; l = l->next_retired) {
    if (l->worker == w) n += l->os.pending;
  }
  return n;
}

void iocpd__op_completed_inline(iocpd__worker *w, iocpd__op *op) {
  assert(op->type != IOCPD__OP_ACCEPT);
  op->inline_next = NULL;
  if (w->os.inline_tail != NULL) {
    w->os.inline_tail->inline_next = op;
  } else {
    w->os.inline_head = op;
  }
  w->os.inline_tail = op;
}

/* Runs the ops that completed inline, through the same path as packets,
 * so teardown (pending, FINISH, check_done) stays in one place. Ops that
 * these handlers complete inline in turn wait for the next pass. Returns
 * how many ops it ran. */
static unsigned run_completed_inline(iocpd__worker *w) {
  iocpd__op *op = w->os.inline_head;
  unsigned n = 0;
  w->os.inline_head = w->os.inline_tail = NULL;
  while (op != NULL) {
    /* Read the link first: handling op may free it (a finished write)
     * or queue it again (a read posted anew that completed at once). The
     * next op cannot go meanwhile: it still counts as pending on its own
     * connection. */
    iocpd__op *next = op->inline_next;
    /* The call returned success, so the OVERLAPPED holds the final status
     * and byte count: InternalHigh is exactly what a packet would carry
     * as dwNumberOfBytesTransferred. (The calls' own byte-count arguments
     * are left NULL, as their documentation advises for overlapped
     * calls.) It stays put: an op is not posted again before it has run. */
    iocpd__conn_op_done(op, (DWORD)op->ov.InternalHigh, (DWORD)op->ov.Internal);
    op = next;
    n++;
  }
  return n;
}

void iocpd__loop_run(iocpd__worker *w) {
  OVERLAPPED_ENTRY entries[ENTRIES_PER_WAIT];
  unsigned inline_run = 0; /* ops run from the inline list since the port's last look */

  /* Ops completed inline keep their connections alive, and a worker is
   * told to quit only once every connection is gone, so the list is empty
   * by then; the condition makes sure no op is ever left unrun. */
  while (!w->quit || accepts_pending(w) > 0 || w->os.inline_head != NULL || w->os.udp_pending > 0) {
    ULONG i, n = 0;
    int timeout, sweep;
    iocpd__udp_reap(w);
    /* Ops completed inline are ready now, and running them needs no
     * kernel call, while a look at the port is one (a request to the
     * wineserver under Wine). While connection ops are pending on the
     * port, their packets can be there: look (without waiting) before
     * every pass, so that they are handled in turn with the inline ones;
     * handling them first also gives the reads the inline ops will post
     * time to find their data waiting and complete at once. When none is
     * pending (one busy connection whose operations all complete at
     * once), only an accept or a wake-up could come: the ops run pass
     * after pass without a look, and the port gets one once
     * INLINE_OPS_PER_LOOK of them have run, so that new connections and
     * the inbox are not kept waiting. Timers run on every pass, as they
     * do after every look. */
    if (w->os.inline_head != NULL && w->os.port_ops == 0 && inline_run < INLINE_OPS_PER_LOOK) {
      iocpd__timers_run(w);
      iocpd__sweep_busy_reads(w);
      inline_run += run_completed_inline(w);
      iocpd__conn_run_deferred(w);
      continue;
    }
    inline_run = 0;
    timeout = iocpd__timers_timeout(w);
    sweep = iocpd__busy_reads_timeout(w);
    if (sweep >= 0 && (timeout < 0 || sweep < timeout)) timeout = sweep;
    /* With ops still on the list (packets can be there, or the ops have
     * had their turn), or input read ahead to deliver: look at the port,
     * never wait. */
    if (w->os.inline_head != NULL || w->deferred != NULL) timeout = 0;
    if (!GetQueuedCompletionStatusEx(w->os.port, entries, ENTRIES_PER_WAIT, &n,
                                     timeout < 0 ? INFINITE : (DWORD)timeout, FALSE)) {
      DWORD e = GetLastError();
      if (e != WAIT_TIMEOUT) {
        iocpd__log(w->server, IOCPD_LOG_ERROR, "GetQueuedCompletionStatusEx failed: error %lu",
                   (unsigned long)e);
        Sleep(10);
      }
      iocpd__timers_run(w);
      iocpd__sweep_busy_reads(w);
      inline_run += run_completed_inline(w);
      iocpd__conn_run_deferred(w);
      continue;
    }
    /* First, so that the pass's clock is fresh for the callbacks below. */
    iocpd__timers_run(w);
    iocpd__sweep_busy_reads(w);
    for (i = 0; i < n; i++) {
      iocpd__op *op;
      if (entries[i].lpCompletionKey == IOCPD__KEY_WAKE) {
        iocpd__worker_run_inbox(w);
        continue;
      }
      op = container_of(entries[i].lpOverlapped, iocpd__op, ov);
      if (op->type == IOCPD__OP_ACCEPT) {
        iocpd__accept_done(container_of(op, iocpd__accept_op, op), (DWORD)op->ov.Internal);
      } else if (op->type == IOCPD__OP_UDP) {
        iocpd__udp_op_done(container_of(op, iocpd__udp_op, op),
                           entries[i].dwNumberOfBytesTransferred, (DWORD)op->ov.Internal);
      } else {
        assert(w->os.port_ops > 0);
        w->os.port_ops--;
        iocpd__conn_op_done(op, entries[i].dwNumberOfBytesTransferred, (DWORD)op->ov.Internal);
      }
    }
    /* After the packets, the timers and the inbox (a WAKE packet), so
     * that what any of them completed inline does not wait a pass. */
    inline_run += run_completed_inline(w);
    iocpd__conn_run_deferred(w);
  }
}
