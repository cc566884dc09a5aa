/*
 * Address blocks (CIDR) for allow and deny lists: parsing, formatting and
 * matching, in plain C like addr.c.
 */
#include <stdio.h>
#include <string.h>

#include "iocpd.h"

/* ::ffff:0:0/96, the IPv4-mapped IPv6 prefix. */
static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static unsigned max_prefix(int family) { return family == IOCPD_AF_INET ? 32 : 128; }

/* 1 if the first `bits` bits of a and b are equal. */
static int same_prefix(const uint8_t *a, const uint8_t *b, unsigned bits) {
  unsigned whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, whole) != 0) return 0;
  if (rest == 0) return 1;
  return ((a[whole] ^ b[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* 1 if any bit after the first `bits` is set. */
static int host_bits_set(const uint8_t *ip, unsigned bits, unsigned total) {
  unsigned i;
  for (i = bits; i < total; i++) {
    if (ip[i / 8] & (0x80 >> (i % 8))) return 1;
  }
  return 0;
}

int iocpd_cidr_parse(const char *text, iocpd_cidr *out) {
  char ip[64];
  const char *slash;
  size_t len;
  unsigned long prefix = 0;
  const char *p;

  if (text == NULL || out == NULL) return IOCPD_EINVAL;
  slash = strchr(text, '/');
  len = slash != NULL ? (size_t)(slash - text) : strlen(text);
  if (len == 0 || len >= sizeof(ip)) return IOCPD_EINVAL;
  memcpy(ip, text, len);
  ip[len] = '\0';
  if (iocpd_addr_parse_ip(ip, &out->addr) != 0 || out->addr.scope_id != 0) return IOCPD_EINVAL;
  if (slash == NULL) {
    out->prefix = max_prefix(out->addr.family);
    return 0;
  }
  if (slash[1] == '\0') return IOCPD_EINVAL;
  for (p = slash + 1; *p != '\0'; p++) {
    if (*p < '0' || *p > '9' || p - slash > 3) return IOCPD_EINVAL;
    prefix = prefix * 10 + (unsigned long)(*p - '0');
  }
  if (prefix > max_prefix(out->addr.family)) return IOCPD_EINVAL;
  out->prefix = (unsigned)prefix;
  if (host_bits_set(out->addr.ip, out->prefix, max_prefix(out->addr.family))) return IOCPD_EINVAL;
  return 0;
}

char *iocpd_cidr_format(const iocpd_cidr *c, char *buf) {
  char addr[IOCPD_ADDR_STRLEN], *ip = addr;
  size_t n;
  iocpd_addr_format(&c->addr, addr);
  /* Drop the ":port" (and brackets) that iocpd_addr_format adds. */
  n = strlen(addr);
  while (n > 0 && addr[n - 1] != ':') n--;
  addr[n > 0 ? n - 1 : 0] = '\0';
  if (ip[0] == '[') {
    ip++;
    ip[strlen(ip) - 1] = '\0';
  }
  snprintf(buf, IOCPD_ADDR_STRLEN, "%s/%u", ip, c->prefix);
  return buf;
}

int iocpd_cidr_match(const iocpd_cidr *c, const iocpd_addr *a) {
  if (c->addr.family == a->family) return same_prefix(c->addr.ip, a->ip, c->prefix);
  /* An IPv4 client seen through a dual-stack IPv6 socket. */
  if (c->addr.family == IOCPD_AF_INET && a->family == IOCPD_AF_INET6 &&
      memcmp(a->ip, v4_mapped, sizeof(v4_mapped)) == 0)
    return same_prefix(c->addr.ip, a->ip + 12, c->prefix);
  return 0;
}
