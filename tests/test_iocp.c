/*
 * IOCP only (the Windows build, run under Wine): connection sockets skip
 * the completion port when an operation succeeds at once, and the backend
 * then runs the completion itself from its loop. First the platform's
 * side of that contract (Wine must honour it exactly, or the backend would
 * see completions twice or never), then the engine paths where such a
 * completion is still queued when the connection ends.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "testengine.h"
#include <mswsock.h>

/* Returns 1 if a packet arrives on port within ms. */
static int packet_within(HANDLE port, DWORD ms, OVERLAPPED **ov, DWORD *bytes) {
  ULONG_PTR key;
  *ov = NULL;
  return GetQueuedCompletionStatus(port, bytes, &key, ov, ms) || *ov != NULL;
}

static void test_skip_port_contract(void) {
  uint16_t port = tnet_free_port();
  struct sockaddr_in sin;
  WSAPROTOCOL_INFOW info;
  int len = sizeof(info), rc;
  tsock lsn, client, s = TSOCK_BAD;
  HANDLE cp = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
  OVERLAPPED ov, *got;
  WSABUF wb;
  DWORD flags = 0, bytes;
  char buf[16];

  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  lsn = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(bind(lsn, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(lsn, 1) == 0);
  client = tnet_connect(port);
  if (client != TSOCK_BAD) s = accept(lsn, NULL, NULL);
  CHECK(cp != NULL && s != TSOCK_BAD);
  if (cp == NULL || s == TSOCK_BAD) goto out;
  CHECK(CreateIoCompletionPort((HANDLE)s, cp, 1, 0) == cp);
  CHECK(getsockopt(s, SOL_SOCKET, SO_PROTOCOL_INFOW, (char *)&info, &len) == 0);
  if ((info.dwServiceFlags1 & XP1_IFS_HANDLES) == 0) {
    /* The backend leaves the mode off then: nothing to check. */
    printf("skip-port contract: provider is not IFS, mode unused\n");
    goto out;
  }
  CHECK(SetFileCompletionNotificationModes((HANDLE)s, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS |
                                                          FILE_SKIP_SET_EVENT_ON_HANDLE));

  /* A send that completes at once: result in the OVERLAPPED, no packet. */
  memset(&ov, 0, sizeof(ov));
  wb.buf = (char *)"hello";
  wb.len = 5;
  rc = WSASend(s, &wb, 1, NULL, 0, &ov, NULL);
  CHECK(rc == 0 && ov.Internal == 0 && ov.InternalHigh == 5);
  CHECK(!packet_within(cp, 200, &got, &bytes));
  CHECK(tnet_recv_exact(client, buf, 5) == 0 && memcmp(buf, "hello", 5) == 0);

  /* A receive with data already waiting: the same. */
  CHECK(tnet_send_all(client, "abc", 3) == 0);
  tnet_sleep_ms(100);
  memset(&ov, 0, sizeof(ov));
  wb.buf = buf;
  wb.len = sizeof(buf);
  rc = WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL);
  CHECK(rc == 0 && ov.Internal == 0 && ov.InternalHigh == 3 && memcmp(buf, "abc", 3) == 0);
  CHECK(!packet_within(cp, 200, &got, &bytes));

  /* A zero-byte receive that has to wait: exactly one packet. */
  memset(&ov, 0, sizeof(ov));
  wb.len = 0;
  rc = WSARecv(s, &wb, 1, NULL, &flags, &ov, NULL);
  CHECK(rc == SOCKET_ERROR && WSAGetLastError() == WSA_IO_PENDING);
  CHECK(tnet_send_all(client, "x", 1) == 0);
  CHECK(packet_within(cp, 5000, &got, &bytes) && got == &ov && bytes == 0);
  CHECK(!packet_within(cp, 200, &got, &bytes));

  /* A call that fails at once queues nothing either. */
  CHECK(shutdown(s, SD_SEND) == 0);
  memset(&ov, 0, sizeof(ov));
  wb.buf = (char *)"late";
  wb.len = 4;
  rc = WSASend(s, &wb, 1, NULL, 0, &ov, NULL);
  CHECK(rc == SOCKET_ERROR && WSAGetLastError() != WSA_IO_PENDING);
  CHECK(!packet_within(cp, 200, &got, &bytes));
out:
  if (s != TSOCK_BAD) tnet_close(s);
  if (client != TSOCK_BAD) tnet_close(client);
  tnet_close(lsn);
  if (cp != NULL) CloseHandle(cp);
}

/* Handlers whose sends complete at once and so are still on the worker's
 * list when the connection ends: three copies then close, or one copy
 * then abort. */
static atomic_int inline_accepted, inline_closed;

static int inline_accept(iocpd_conn *c) {
  atomic_fetch_add(&inline_accepted, 1);
  return iocpd_read(c);
}
static void thrice_then_close(iocpd_conn *c, const char *data, size_t len) {
  int i;
  /* The first send completes at once; the others queue behind it and each
   * is posted from the previous one's completion. */
  for (i = 0; i < 3; i++) {
    if (iocpd_write(c, data, len, NULL) != 0) iocpd_abort(c);
  }
  iocpd_close(c);
}
static void once_then_abort(iocpd_conn *c, const char *data, size_t len) {
  /* Whether or not the send was taken, the abort ends it. */
  (void)iocpd_write(c, data, len, NULL);
  iocpd_abort(c);
}
static void inline_closed_cb(iocpd_conn *c) {
  (void)c;
  atomic_fetch_add(&inline_closed, 1);
}
static const iocpd_handler thrice_handler = {.name = "thrice",
                                             .on_accept = inline_accept,
                                             .on_data = thrice_then_close,
                                             .on_closed = inline_closed_cb};
static const iocpd_handler abort_handler = {.name = "abort",
                                            .on_accept = inline_accept,
                                            .on_data = once_then_abort,
                                            .on_closed = inline_closed_cb};

static void test_inline_completion_at_close(void) {
  uint16_t p1 = tnet_free_port(), p2 = tnet_free_port();
  iocpd_server *s1 = start_server(&thrice_handler, p1, 1),
               *s2 = start_server(&abort_handler, p2, 1);
  char buf[12];
  int i, rc, n = 20;

  CHECK(s1 != NULL && s2 != NULL);
  if (s1 == NULL || s2 == NULL) goto out;
  atomic_store(&inline_accepted, 0);
  atomic_store(&inline_closed, 0);
  for (i = 0; i < n; i++) {
    tsock c = tnet_connect(p1);
    CHECK(c != TSOCK_BAD);
    if (c == TSOCK_BAD) continue;
    CHECK(tnet_send_all(c, "abcd", 4) == 0);
    /* All three copies, in order, then a graceful end. */
    CHECK(tnet_recv_exact(c, buf, 12) == 0 && memcmp(buf, "abcdabcdabcd", 12) == 0);
    CHECK(tnet_sees_end(c));
    tnet_close(c);
    c = tnet_connect(p2);
    CHECK(c != TSOCK_BAD);
    if (c == TSOCK_BAD) continue;
    CHECK(tnet_send_all(c, "wxyz", 4) == 0);
    /* The send was taken before the abort, so its bytes may come first;
     * then the reset, and never a timeout. */
    rc = recv(c, buf, sizeof(buf), 0);
    if (rc > 0)
      CHECK(rc == 4 && memcmp(buf, "wxyz", 4) == 0 && tnet_sees_end(c));
    else
      CHECK(rc == 0 || WSAGetLastError() != WSAETIMEDOUT);
    tnet_close(c);
  }
  CHECK(wait_count(s1, 0) && wait_count(s2, 0));
  CHECK(atomic_load(&inline_accepted) == 2 * n);
  CHECK(atomic_load(&inline_closed) == 2 * n);
out:
  if (s1 != NULL) iocpd_server_destroy(s1);
  if (s2 != NULL) iocpd_server_destroy(s2);
}

int main(void) {
  tnet_init();
  test_skip_port_contract();
  test_inline_completion_at_close();
  return check_summary();
}
