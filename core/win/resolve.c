/* IOCP backend: name resolution through getaddrinfo. */
#include <stdio.h>
#include <string.h>
#include <ws2tcpip.h>

#include "sockaddr.h"
#include "win.h"

int iocpd__getaddrinfo(const char *host, uint16_t port, iocpd_addr *out, size_t max,
                       char *errbuf, size_t errlen) {
  struct addrinfo hints, *list = NULL, *ai;
  WSADATA wsa;
  size_t n = 0;
  int rc;

  /* Config loading runs before any server exists, so Winsock may not be
   * started yet; WSAStartup counts, so this nests with the engine's. */
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
    if (errbuf != NULL) snprintf(errbuf, errlen, "WSAStartup failed");
    return IOCPD_EIO;
  }
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  rc = getaddrinfo(host, NULL, &hints, &list);
  if (rc != 0) {
    if (errbuf != NULL) iocpd__os_strerror(rc, errbuf, errlen);
    WSACleanup();
    return rc == WSA_NOT_ENOUGH_MEMORY ? IOCPD_ENOMEM : IOCPD_ENOTFOUND;
  }
  for (ai = list; ai != NULL && n < max; ai = ai->ai_next) {
    if (iocpd__sockaddr_to(ai->ai_addr, &out[n]) == 0) out[n++].port = port;
  }
  freeaddrinfo(list);
  WSACleanup();
  if (n == 0) {
    if (errbuf != NULL) snprintf(errbuf, errlen, "no IPv4 or IPv6 address");
    return IOCPD_ENOTFOUND;
  }
  return (int)n;
}
