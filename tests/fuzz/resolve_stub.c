/*
 * iocpd_resolve for the fuzzer, in place of core/resolve.c: a fuzzer must
 * never ask the system resolver (slow, not deterministic, and it would
 * send whatever names the fuzzer invents to the network).
 *
 * Numeric forms go through iocpd_addr_parse as in the real one. The name
 * "localhost" resolves to 127.0.0.1 and ::1 without any lookup, so that the
 * loader's handling of names (several addresses per entry, relay loops
 * through a name) is still reached. Every other name fails as a name that
 * does not exist would.
 */
#include <stdio.h>
#include <string.h>

#include "iocpd.h"

int iocpd_resolve(const char *text, iocpd_addr *out, size_t max, char *errbuf, size_t errlen) {
  static const char localhost[] = "localhost";
  const char *colon;
  char numeric[32];
  int n = 0;

  if (errbuf != NULL && errlen > 0) errbuf[0] = '\0';
  if (text == NULL || out == NULL || max == 0) return IOCPD_EINVAL;
  if (iocpd_addr_parse(text, out) == 0) return 1;
  colon = strrchr(text, ':');
  if (colon == NULL || (size_t)(colon - text) != sizeof(localhost) - 1 ||
      memcmp(text, localhost, sizeof(localhost) - 1) != 0 || strlen(colon) > 8) {
    if (errbuf != NULL) snprintf(errbuf, errlen, "name lookups are off in the fuzzer");
    return IOCPD_ENOTFOUND;
  }
  /* The port is checked by parsing it with a numeric address. */
  snprintf(numeric, sizeof(numeric), "127.0.0.1%s", colon);
  if (iocpd_addr_parse(numeric, &out[n]) != 0) {
    if (errbuf != NULL) snprintf(errbuf, errlen, "invalid port");
    return IOCPD_EINVAL;
  }
  n++;
  snprintf(numeric, sizeof(numeric), "[::1]%s", colon);
  if (n < (int)max && iocpd_addr_parse(numeric, &out[n]) == 0) n++;
  return n;
}

/* No sockets in the fuzzer either: loopback and the wildcards are local,
 * every other address is not. */
int iocpd_addr_is_local(const iocpd_addr *addr) {
  static const uint8_t any[16];
  static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (addr->family == IOCPD_AF_INET) return addr->ip[0] == 127 || memcmp(addr->ip, any, 4) == 0;
  return memcmp(addr->ip, any, 16) == 0 || memcmp(addr->ip, v6_loopback, 16) == 0;
}
