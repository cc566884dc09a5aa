/*
 * epoll backend: host names to addresses, through getaddrinfo (names are
 * UTF-8 bytes, passed on as they are).
 */
#include <stdio.h>
#include <string.h>

#include "posix.h"
#include "sockaddr.h"

int iocpd__os_lookup(const char *host, iocpd_addr *out, size_t max, char *errbuf, size_t errlen) {
  struct addrinfo hints, *list = NULL, *ai;
  size_t n = 0;
  int rc;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  rc = getaddrinfo(host, NULL, &hints, &list);
  if (rc != 0) {
    if (errbuf != NULL) snprintf(errbuf, errlen, "%s", gai_strerror(rc));
    return rc == EAI_MEMORY ? IOCPD_ENOMEM : IOCPD_ENOTFOUND;
  }
  for (ai = list; ai != NULL && n < max; ai = ai->ai_next) {
    if (iocpd__sockaddr_to(ai->ai_addr, &out[n]) == 0) n++;
  }
  freeaddrinfo(list);
  return (int)n;
}
