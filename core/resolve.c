/*
 * iocpd_resolve: "host:port" text to addresses. Numeric forms go through
 * iocpd_addr_parse; names through the system resolver, reached via the
 * backend's iocpd__getaddrinfo (getaddrinfo on both platforms, but Winsock
 * must be started first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int iocpd_resolve(const char *text, iocpd_addr *out, size_t max, char *errbuf,
                  size_t errlen) {
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
  return iocpd__getaddrinfo(host, (uint16_t)port, out, max, errbuf, errlen);
}
