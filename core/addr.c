/*
 * Numeric address parsing and formatting, in plain C with no OS headers so
 * that config validation behaves the same on every platform and can be
 * fuzzed natively.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Parses exactly "a.b.c.d" from [s, end) into out[4]. */
static int parse_ipv4(const char *s, const char *end, uint8_t out[4]) {
  int part;
  for (part = 0; part < 4; part++) {
    unsigned value = 0;
    int digits = 0;
    while (s < end && *s >= '0' && *s <= '9') {
      value = value * 10 + (unsigned)(*s - '0');
      if (++digits > 3 || value > 255) return -1;
      s++;
    }
    if (digits == 0) return -1;
    out[part] = (uint8_t)value;
    if (part < 3) {
      if (s >= end || *s != '.') return -1;
      s++;
    }
  }
  return s == end ? 0 : -1;
}

/* Parses an IPv6 address (RFC 4291 text forms, including "::" and a trailing
 * dotted IPv4) from [s, end) into out[16]. */
static int parse_ipv6(const char *s, const char *end, uint8_t out[16]) {
  uint8_t words[16];
  int n = 0;    /* bytes parsed */
  int gap = -1; /* byte index where "::" stands */

  if (end - s >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    s += 2;
  } else if (s < end && *s == ':') {
    return -1;
  }
  while (s < end) {
    const char *start = s;
    unsigned value = 0;
    int digits = 0;
    while (s < end && hex_value(*s) >= 0) {
      value = value * 16 + (unsigned)hex_value(*s);
      if (++digits > 4) return -1;
      s++;
    }
    if (s < end && *s == '.') {
      /* A dotted IPv4 tail takes the last 32 bits. */
      if (n > 12 || parse_ipv4(start, end, words + n) != 0) return -1;
      n += 4;
      s = end;
      break;
    }
    if (digits == 0 || n > 14) return -1;
    words[n++] = (uint8_t)(value >> 8);
    words[n++] = (uint8_t)(value & 0xff);
    if (s == end) break;
    if (*s != ':') return -1;
    s++;
    if (s < end && *s == ':') {
      if (gap >= 0) return -1; /* only one "::" */
      gap = n;
      s++;
    } else if (s == end) {
      return -1; /* trailing single ':' */
    }
  }
  if (gap < 0) {
    if (n != 16) return -1;
    memcpy(out, words, 16);
    return 0;
  }
  if (n > 14) return -1; /* "::" must stand for at least one group */
  memset(out, 0, 16);
  memcpy(out, words, (size_t)gap);
  memcpy(out + 16 - (n - gap), words + gap, (size_t)(n - gap));
  return 0;
}

/* Parses "%N" (a numeric zone index) from [s, end). */
static int parse_scope(const char *s, const char *end, uint32_t *scope) {
  uint64_t value = 0;
  if (s == end) return -1;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9') return -1;
    value = value * 10 + (uint64_t)(*s - '0');
    if (value > 0xffffffffu) return -1;
  }
  *scope = (uint32_t)value;
  return 0;
}

static int parse_ip_range(const char *s, const char *end, iocpd_addr *out) {
  const char *pct;
  memset(out, 0, sizeof(*out));
  if (parse_ipv4(s, end, out->ip) == 0) {
    out->family = IOCPD_AF_INET;
    return 0;
  }
  pct = memchr(s, '%', (size_t)(end - s));
  if (pct != NULL && parse_scope(pct + 1, end, &out->scope_id) != 0) return IOCPD_EINVAL;
  if (parse_ipv6(s, pct != NULL ? pct : end, out->ip) != 0) return IOCPD_EINVAL;
  out->family = IOCPD_AF_INET6;
  return 0;
}

int iocpd_addr_parse_ip(const char *text, iocpd_addr *out) {
  if (text == NULL || out == NULL) return IOCPD_EINVAL;
  return parse_ip_range(text, text + strlen(text), out);
}

int iocpd_addr_parse(const char *text, iocpd_addr *out) {
  const char *host, *host_end, *colon, *p;
  unsigned long port = 0;

  if (text == NULL || out == NULL) return IOCPD_EINVAL;
  if (text[0] == '[') {
    host = text + 1;
    host_end = strchr(host, ']');
    if (host_end == NULL || host_end[1] != ':') return IOCPD_EINVAL;
    colon = host_end + 1;
  } else {
    /* Without brackets only IPv4 is allowed: an IPv6 address has colons of
     * its own, which would make the port ambiguous. */
    host = text;
    colon = strrchr(text, ':');
    if (colon == NULL) return IOCPD_EINVAL;
    host_end = colon;
    if (memchr(host, ':', (size_t)(host_end - host)) != NULL) return IOCPD_EINVAL;
  }
  if (colon[1] == '\0') return IOCPD_EINVAL;
  for (p = colon + 1; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') return IOCPD_EINVAL;
    port = port * 10 + (unsigned long)(*p - '0');
    if (port > 65535) return IOCPD_EINVAL;
  }
  if (port == 0) return IOCPD_EINVAL;
  if (parse_ip_range(host, host_end, out) != 0) return IOCPD_EINVAL;
  if (text[0] == '[' && out->family != IOCPD_AF_INET6) return IOCPD_EINVAL;
  out->port = (uint16_t)port;
  return 0;
}

/* Writes an IPv6 address in RFC 5952 form: lowercase, no leading zeros,
 * the longest run of two or more zero groups shortened to "::". */
static void format_ipv6(const uint8_t ip[16], char *buf, size_t size) {
  unsigned groups[8];
  int i, best = -1, best_len = 0, run = -1, run_len = 0;
  size_t used = 0;

  for (i = 0; i < 8; i++) {
    groups[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
    if (groups[i] == 0) {
      if (run < 0) run = i;
      run_len = i - run + 1;
      if (run_len > best_len) {
        best = run;
        best_len = run_len;
      }
    } else {
      run = -1;
    }
  }
  if (best_len < 2) best = -1;
  buf[0] = '\0';
  for (i = 0; i < 8 && used < size; i++) {
    if (i == best) {
      used += (size_t)snprintf(buf + used, size - used, "::");
      i += best_len - 1;
      continue;
    }
    used += (size_t)snprintf(buf + used, size - used, "%s%x",
                             (i > 0 && i != best + best_len) ? ":" : "", groups[i]);
  }
}

int iocpd_addr_is_wildcard(const iocpd_addr *addr) {
  static const uint8_t zero[16];
  return memcmp(addr->ip, zero, addr->family == IOCPD_AF_INET ? 4 : 16) == 0;
}

int iocpd__addr_equal(const iocpd_addr *a, const iocpd_addr *b) {
  return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}

char *iocpd_addr_format(const iocpd_addr *addr, char *buf) {
  char ip[40]; /* 8 groups of 4 digits and 7 colons, and the NUL */
  if (addr->family == IOCPD_AF_INET) {
    snprintf(buf, IOCPD_ADDR_STRLEN, "%u.%u.%u.%u:%u", addr->ip[0], addr->ip[1], addr->ip[2],
             addr->ip[3], addr->port);
  } else {
    format_ipv6(addr->ip, ip, sizeof(ip));
    if (addr->scope_id != 0) {
      snprintf(buf, IOCPD_ADDR_STRLEN, "[%s%%%lu]:%u", ip, (unsigned long)addr->scope_id,
               addr->port);
    } else {
      snprintf(buf, IOCPD_ADDR_STRLEN, "[%s]:%u", ip, addr->port);
    }
  }
  return buf;
}
