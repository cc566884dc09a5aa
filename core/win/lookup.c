/*
 * IOCP backend: host names to addresses. GetAddrInfoW, not getaddrinfo:
 * the name is UTF-8 inside iocpd, and the ANSI getaddrinfo would read it
 * in the system's code page, so a name outside it (an internationalized
 * domain name, say) would reach the resolver garbled. GetAddrInfoW also
 * encodes such a name for DNS (IDNA) itself.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sockaddr.h"
#include "win.h"

int iocpd__os_lookup(const char *host, iocpd_addr *out, size_t max, char *errbuf, size_t errlen) {
  ADDRINFOW hints, *list = NULL, *ai;
  wchar_t *whost;
  size_t n = 0;
  int wlen, rc;

  wlen = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, host, -1, NULL, 0);
  if (wlen <= 0) {
    if (errbuf != NULL) snprintf(errbuf, errlen, "the name is not valid UTF-8");
    return IOCPD_ENOTFOUND;
  }
  whost = malloc((size_t)wlen * sizeof(*whost));
  if (whost == NULL) return IOCPD_ENOMEM;
  MultiByteToWideChar(CP_UTF8, 0, host, -1, whost, wlen);
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  rc = GetAddrInfoW(whost, NULL, &hints, &list);
  free(whost);
  if (rc != 0) {
    /* The result is a Winsock error code: its text, in the system's
     * language, comes out as UTF-8 through the W API. */
    if (errbuf != NULL) iocpd__os_strerror(rc, errbuf, errlen);
    return rc == WSA_NOT_ENOUGH_MEMORY ? IOCPD_ENOMEM : IOCPD_ENOTFOUND;
  }
  for (ai = list; ai != NULL && n < max; ai = ai->ai_next) {
    if (iocpd__sockaddr_to(ai->ai_addr, &out[n]) == 0) n++;
  }
  FreeAddrInfoW(list);
  return (int)n;
}
