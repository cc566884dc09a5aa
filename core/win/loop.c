/*
 * IOCP backend: the worker loop, its wake-up, Winsock start-up and error
 * translation.
 */
#include <stdio.h>
#include <string.h>

#include "win.h"

/* Completions dequeued per GetQueuedCompletionStatusEx call. */
#define ENTRIES_PER_WAIT 128

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
    case ERROR_NETNAME_DELETED:       /* how a reset shows on IOCP */
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
    default: return IOCPD_EIO;
  }
}

void iocpd__os_strerror(long os_error, char *buf, size_t len) {
  DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
                           NULL, (DWORD)os_error, 0, buf, (DWORD)len, NULL);
  /* System messages end in ".\r\n" (Wine's in ". "); a log line wants
   * none of that. */
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == '.' ||
                   buf[n - 1] == ' ')) {
    buf[--n] = '\0';
  }
  if (n == 0) snprintf(buf, len, "Windows error %ld", os_error);
  else if (len > 0) {
    char code[24];
    snprintf(code, sizeof(code), " (%ld)", os_error);
    if (strlen(buf) + strlen(code) < len) strcat(buf, code);
  }
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

void iocpd__loop_free(iocpd__worker *w) { CloseHandle(w->os.port); }

void iocpd__loop_wakeup(iocpd__worker *w) {
  PostQueuedCompletionStatus(w->os.port, 0, IOCPD__KEY_WAKE, NULL);
}

/* Accepts still pending on w's listeners: w's loop must run until they
 * have all come back, or their OVERLAPPEDs would outlive the loop. */
static unsigned accepts_pending(iocpd__worker *w) {
  iocpd_server *s = w->server;
  unsigned n = 0;
  size_t i;
  for (i = 0; i < s->listener_count; i++) {
    if (s->listeners[i].worker == w) n += s->listeners[i].os.pending;
  }
  return n;
}

void iocpd__loop_run(iocpd__worker *w) {
  OVERLAPPED_ENTRY entries[ENTRIES_PER_WAIT];

  while (!w->quit || accepts_pending(w) > 0) {
    ULONG i, n = 0;
    int timeout = iocpd__timers_timeout(w), sweep = iocpd__busy_reads_timeout(w);
    if (sweep >= 0 && (timeout < 0 || sweep < timeout)) timeout = sweep;
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
        iocpd__accept_done(container_of(op, iocpd__accept_op, op),
                           (DWORD)op->ov.Internal);
      } else {
        iocpd__conn_op_done(op, entries[i].dwNumberOfBytesTransferred,
                            (DWORD)op->ov.Internal);
      }
    }
  }
}
