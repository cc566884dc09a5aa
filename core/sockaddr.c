/* Conversions between iocpd_addr and struct sockaddr, for both backends:
 * the structures are the same on Winsock and BSD sockets, only the header
 * differs (net.h, chosen by the include path). */
#include <string.h>

#include "sockaddr.h"

iocpd__socklen iocpd__sockaddr_from(const iocpd_addr *addr, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (addr->family == IOCPD_AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(addr->port);
    memcpy(&sin->sin_addr, addr->ip, 4);
    return (iocpd__socklen)sizeof(*sin);
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(addr->port);
    memcpy(&sin6->sin6_addr, addr->ip, 16);
    sin6->sin6_scope_id = addr->scope_id;
    return (iocpd__socklen)sizeof(*sin6);
  }
}

int iocpd__sockaddr_to(const struct sockaddr *sa, iocpd_addr *addr) {
  memset(addr, 0, sizeof(*addr));
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    addr->family = IOCPD_AF_INET;
    addr->port = ntohs(sin->sin_port);
    memcpy(addr->ip, &sin->sin_addr, 4);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    /* An IPv4 client of a dual-stack listener arrives IPv4-mapped
     * (::ffff:a.b.c.d): it is an IPv4 client, for allow/deny, per-address
     * limits, logs and PROXY headers alike. */
    if (memcmp(&sin6->sin6_addr, mapped, 12) == 0) {
      addr->family = IOCPD_AF_INET;
      addr->port = ntohs(sin6->sin6_port);
      memcpy(addr->ip, (const uint8_t *)&sin6->sin6_addr + 12, 4);
      return 0;
    }
    addr->family = IOCPD_AF_INET6;
    addr->port = ntohs(sin6->sin6_port);
    memcpy(addr->ip, &sin6->sin6_addr, 16);
    addr->scope_id = sin6->sin6_scope_id;
    return 0;
  }
  return IOCPD_EINVAL;
}
