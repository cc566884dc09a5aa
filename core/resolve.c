/*
 * iocpd_resolve: "host:port" text to addresses. Numeric forms go through
 * iocpd_addr_parse; names through the backend's resolver call
 * (iocpd__os_lookup: getaddrinfo, or GetAddrInfoW for UTF-8 names). And iocpd_addr_is_local, which
 * the config check for relay loops asks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sockaddr.h"

/* Every IPv4/IPv6 address of host, with port set. */
static int lookup(const char *host, uint16_t port, iocpd_addr *out, size_t max, char *errbuf,
                  size_t errlen) {
  int n, i;

  /* Config loading runs before any server exists, so on Windows Winsock
   * may not be started yet; the backend's init nests with the engine's. */
  if (iocpd__backend_init(NULL) != 0) {
    if (errbuf != NULL) snprintf(errbuf, errlen, "cannot start the socket library");
    return IOCPD_EIO;
  }
  n = iocpd__os_lookup(host, out, max, errbuf, errlen);
  iocpd__backend_cleanup();
  if (n == 0) {
    if (errbuf != NULL) snprintf(errbuf, errlen, "no IPv4 or IPv6 address");
    return IOCPD_ENOTFOUND;
  }
  for (i = 0; i < n; i++) out[i].port = port;
  return n;
}

int iocpd_resolve(const char *text, iocpd_addr *out, size_t max, char *errbuf, size_t errlen) {
  const char *colon, *p;
  char host[256];
  size_t host_len;
  unsigned long port = 0;

  if (errbuf != NULL && errlen > 0) errbuf[0] = '\0';
  if (text == NULL || out == NULL || max == 0) return IOCPD_EINVAL;
  if (iocpd_addr_parse(text, out) == 0) return 1;
  /* Not numeric: it must be name:port, with a name that is not an
   * address form (brackets or a dotted quad would have parsed above). */
  colon = strrchr(text, ':');
  if (colon == NULL || colon == text || colon[1] == '\0' || text[0] == '[') {
    if (errbuf != NULL) snprintf(errbuf, errlen, "expected host:port");
    return IOCPD_EINVAL;
  }
  for (p = colon + 1; *p != '\0'; p++) {
    if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535) {
      if (errbuf != NULL) snprintf(errbuf, errlen, "invalid port '%s'", colon + 1);
      return IOCPD_EINVAL;
    }
  }
  host_len = (size_t)(colon - text);
  if (port == 0 || host_len >= sizeof(host) || memchr(text, ':', host_len) != NULL) {
    if (errbuf != NULL) snprintf(errbuf, errlen, port == 0 ? "port 0" : "invalid host name");
    return IOCPD_EINVAL;
  }
  memcpy(host, text, host_len);
  host[host_len] = '\0';
  return lookup(host, (uint16_t)port, out, max, errbuf, errlen);
}

int iocpd_addr_is_local(const iocpd_addr *addr) {
  struct sockaddr_storage ss;
  iocpd_addr probe;
  iocpd__socket s;
  int len, local;

  if (iocpd_addr_is_wildcard(addr)) return 1;
  if (iocpd__backend_init(NULL) != 0) return 0;
  /* Binding succeeds only to an address of this machine. A TCP socket
   * bound to port 0 and closed again sends nothing. (Not a datagram
   * socket: Wine 8 lets those bind to any address.) */
  probe = *addr;
  probe.port = 0;
  len = iocpd__sockaddr_from(&probe, &ss);
  s = socket(ss.ss_family, SOCK_STREAM, 0);
  local = s != IOCPD__SOCKET_BAD && bind(s, (struct sockaddr *)&ss, (iocpd__socklen)len) == 0;
  if (s != IOCPD__SOCKET_BAD) iocpd__socket_close(s);
  iocpd__backend_cleanup();
  return local;
}
