/*
 * IOCP backend: zero-copy relaying (iocpd_conn_splice_to) has no Winsock
 * counterpart for socket-to-socket transfers (TransmitFile and
 * TransmitPackets send from files and memory), so relays keep reading into
 * buffers here.
 */
#include "win.h"

int iocpd_conn_splice_to(iocpd_conn *from, iocpd_conn *to) {
  if (from == NULL || from == to) return IOCPD_EINVAL;
  return IOCPD_ENOTSUP;
}
