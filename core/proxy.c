/*
 * The PROXY protocol (HAProxy's specification, versions 1 and 2): a pure
 * parser and writer, no I/O, so that both can be tested byte by byte and
 * fuzzed. The engine reads a header with it on listeners that accept one
 * (proxy_front.c); the forward handler writes one to its upstreams.
 *
 * The parser is strict where the specification is (the v1 line's shape
 * and length, the v2 signature, version, command and family/protocol
 * byte, every TLV's length) and lenient where it allows: a v2 family it
 * does not use (UNIX, or datagrams over a stream) falls back to the
 * connection's own addresses, as the specification asks of receivers.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define V2_FIXED 16 /* signature, version/command, family, length */

/* The headers that carry no address: v1 UNKNOWN, and v2 LOCAL (the
 * signature, version 2 with the LOCAL command, no family, no block). */
static const char v1_unknown[] = "PROXY UNKNOWN\r\n";
static const unsigned char v2_local[V2_FIXED] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
                                                 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00};

const void *iocpd__proxy_no_address(int version, size_t *len) {
  *len = version == 1 ? sizeof(v1_unknown) - 1 : sizeof(v2_local);
  return version == 1 ? (const void *)v1_unknown : v2_local;
}
#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_TCP4 0x11
#define V2_TCP6 0x21

const char *iocpd_proxy_error_name(int error) {
  switch (error) {
    case IOCPD_PROXY_UNKNOWN: return "unknown";
    case IOCPD_PROXY_VERSION: return "version";
    case IOCPD_PROXY_MALFORMED: return "malformed";
    case IOCPD_PROXY_OVERSIZE: return "oversize";
    case IOCPD_PROXY_TRUNCATED: return "truncated";
    case IOCPD_PROXY_TIMEOUT: return "timeout";
    case IOCPD_PROXY_UNTRUSTED: return "untrusted";
    default: return "-";
  }
}

/* 1 if the len bytes at p are a prefix of sig (of sig_len bytes). */
static int is_prefix(const void *p, size_t len, const void *sig, size_t sig_len) {
  return memcmp(p, sig, len < sig_len ? len : sig_len) == 0;
}

/* ------------------------------------------------------------------------ */
/* Version 1: "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n", at most 107 bytes */

/* Parses a port: 1 to 5 digits, no leading zero, at most 65535. */
static int v1_port(const char *s, size_t len, uint16_t *out) {
  unsigned long v = 0;
  size_t i;
  if (len == 0 || len > 5 || (len > 1 && s[0] == '0')) return -1;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (unsigned long)(s[i] - '0');
  }
  if (v > 65535) return -1;
  *out = (uint16_t)v;
  return 0;
}

/* Parses an address of the given family; no zone index. */
static int v1_ip(const char *s, size_t len, int family, iocpd_addr *out) {
  char text[48];
  if (len == 0 || len >= sizeof(text) || memchr(s, '%', len) != NULL) return -1;
  memcpy(text, s, len);
  text[len] = '\0';
  if (iocpd_addr_parse_ip(text, out) != 0 || out->family != family) return -1;
  return 0;
}

/* The line [s, s + len) without its CRLF, after "PROXY ". */
static int v1_fields(const char *s, size_t len, iocpd_proxy_header *out) {
  const char *field[5];
  size_t flen[5], n = 0, i = 0;
  int family;

  /* Single spaces between fields, none at either end. */
  while (n < 5) {
    size_t start = i;
    while (i < len && s[i] != ' ') i++;
    field[n] = s + start;
    flen[n] = i - start;
    if (flen[n] == 0) return -1;
    n++;
    if (i == len) break;
    if (n == 5) return -1; /* a sixth field, or a trailing space */
    i++;                   /* the space */
    if (n == 1 && flen[0] == 7 && memcmp(field[0], "UNKNOWN", 7) == 0) break;
  }
  if (flen[0] == 7 && memcmp(field[0], "UNKNOWN", 7) == 0) {
    /* The sender does not know the addresses (or they are not TCP): the
     * rest of the line, whatever it is, is ignored. */
    out->has_addresses = 0;
    return 0;
  }
  if (n != 5 || i != len || flen[0] != 4) return -1;
  if (memcmp(field[0], "TCP4", 4) == 0) {
    family = IOCPD_AF_INET;
  } else if (memcmp(field[0], "TCP6", 4) == 0) {
    family = IOCPD_AF_INET6;
  } else {
    return -1;
  }
  if (v1_ip(field[1], flen[1], family, &out->src) != 0 ||
      v1_ip(field[2], flen[2], family, &out->dst) != 0 ||
      v1_port(field[3], flen[3], &out->src.port) != 0 ||
      v1_port(field[4], flen[4], &out->dst.port) != 0)
    return -1;
  out->has_addresses = 1;
  return 0;
}

static int parse_v1(const char *p, size_t len, iocpd_proxy_header *out) {
  const size_t last_cr = IOCPD_PROXY_V1_MAX - 2; /* where the longest line has its CR */
  size_t i;
  /* Every byte before the CRLF must be printable: a binary byte, or a
   * lone CR or LF, is not a version 1 line, however long it would get. */
  for (i = sizeof(v1_sig); i < len && i <= last_cr; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch == '\r') {
      if (i + 1 == len) return 0; /* the LF may follow */
      if (p[i + 1] != '\n') return -IOCPD_PROXY_MALFORMED;
      if (v1_fields(p + sizeof(v1_sig), i - sizeof(v1_sig), out) != 0)
        return -IOCPD_PROXY_MALFORMED;
      out->version = 1;
      out->length = i + 2;
      return (int)out->length;
    }
    if (ch < 0x20 || ch > 0x7e) return -IOCPD_PROXY_MALFORMED;
  }
  return i > last_cr ? -IOCPD_PROXY_OVERSIZE : 0;
}

/* ------------------------------------------------------------------------ */
/* Version 2: a 16-byte fixed part, then addresses and TLVs */

static uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Checks that [p, end) is a whole sequence of TLVs: type, 16-bit length,
 * value. Their contents are not used. */
static int v2_tlvs_valid(const unsigned char *p, const unsigned char *end) {
  while (p < end) {
    size_t vlen;
    if (end - p < 3) return 0;
    vlen = be16(p + 1);
    if ((size_t)(end - p) - 3 < vlen) return 0;
    p += 3 + vlen;
  }
  return 1;
}

/* The address block of a TCP family: source and destination addresses
 * (ip_len bytes each), then their ports. */
static void read_block(const unsigned char *b, int family, size_t ip_len, iocpd_proxy_header *out) {
  memset(&out->src, 0, sizeof(out->src));
  memset(&out->dst, 0, sizeof(out->dst));
  out->src.family = out->dst.family = family;
  memcpy(out->src.ip, b, ip_len);
  memcpy(out->dst.ip, b + ip_len, ip_len);
  out->src.port = be16(b + 2 * ip_len);
  out->dst.port = be16(b + 2 * ip_len + 2);
  out->has_addresses = 1;
}

static int parse_v2(const unsigned char *p, size_t len, iocpd_proxy_header *out) {
  size_t body, total, addr_len;
  unsigned cmd, fam;

  if (len < V2_FIXED) return 0;
  if ((p[12] >> 4) != 2) return -IOCPD_PROXY_VERSION;
  cmd = p[12] & 0x0f;
  fam = p[13];
  if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) return -IOCPD_PROXY_MALFORMED;
  body = be16(p + 14);
  total = V2_FIXED + body;
  if (total > IOCPD_PROXY_MAX_HEADER) return -IOCPD_PROXY_OVERSIZE;
  /* The families and protocols the specification defines; any other
   * byte must be rejected, except under LOCAL, whose block is ignored. */
  switch (fam) {
    case 0x00: addr_len = 0; break;
    case 0x11:
    case 0x12: addr_len = 12; break;
    case 0x21:
    case 0x22: addr_len = 36; break;
    case 0x31:
    case 0x32: addr_len = 216; break;
    default:
      if (cmd == V2_CMD_PROXY) return -IOCPD_PROXY_MALFORMED;
      addr_len = 0;
  }
  if (cmd == V2_CMD_PROXY && body < addr_len) return -IOCPD_PROXY_MALFORMED;
  if (len < total) return 0;

  out->version = 2;
  out->length = total;
  out->has_addresses = 0;
  if (cmd == V2_CMD_LOCAL) return (int)total; /* its block is not ours to read */
  /* With an unspecified family the block is skipped unread; otherwise
   * what follows the addresses must be well-formed TLVs. */
  if (fam != 0x00 && !v2_tlvs_valid(p + V2_FIXED + addr_len, p + total))
    return -IOCPD_PROXY_MALFORMED;
  if (fam == V2_TCP4) read_block(p + V2_FIXED, IOCPD_AF_INET, 4, out);
  if (fam == V2_TCP6) read_block(p + V2_FIXED, IOCPD_AF_INET6, 16, out);
  /* Datagram or UNIX families: not this stream's addresses; the
   * connection's own stand, as for LOCAL. */
  return (int)total;
}

int iocpd_proxy_parse(const void *data, size_t len, unsigned versions, iocpd_proxy_header *out) {
  const unsigned char *p = data;
  int maybe_v1, maybe_v2;

  if (data == NULL || out == NULL || len == 0) return 0;
  memset(out, 0, sizeof(*out));
  maybe_v1 = is_prefix(p, len, v1_sig, sizeof(v1_sig));
  maybe_v2 = is_prefix(p, len, v2_sig, sizeof(v2_sig));
  if (!maybe_v1 && !maybe_v2) return -IOCPD_PROXY_UNKNOWN;
  /* Until the whole signature is in, it may still turn out to be none. */
  if (maybe_v1 && len < sizeof(v1_sig)) return 0;
  if (maybe_v2 && len < sizeof(v2_sig)) return 0;
  if (maybe_v1) {
    if (!(versions & IOCPD_PROXY_V1)) return -IOCPD_PROXY_VERSION;
    return parse_v1((const char *)p, len, out);
  }
  if (!(versions & IOCPD_PROXY_V2)) return -IOCPD_PROXY_VERSION;
  return parse_v2(p, len, out);
}

/* ------------------------------------------------------------------------ */
/* Writing */

/* a in IPv6 form: as is, or IPv4-mapped. */
static void as_ipv6(const iocpd_addr *a, iocpd_addr *out) {
  *out = *a;
  if (a->family == IOCPD_AF_INET) {
    memset(out->ip, 0, 16);
    out->ip[10] = out->ip[11] = 0xff;
    memcpy(out->ip + 12, a->ip, 4);
    out->family = IOCPD_AF_INET6;
  }
}

/* The address without port or zone, as iocpd_addr_format writes it. */
static void ip_text(const iocpd_addr *a, char *buf) {
  iocpd_addr bare = *a;
  char full[IOCPD_ADDR_STRLEN];
  char *end;
  bare.scope_id = 0;
  iocpd_addr_format(&bare, full);
  if (bare.family == IOCPD_AF_INET6) {
    end = strchr(full, ']');
    *end = '\0';
    strcpy(buf, full + 1);
  } else {
    end = strrchr(full, ':');
    *end = '\0';
    strcpy(buf, full);
  }
}

static void put16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)(v & 0xff);
}

/* Writes the family byte, the length and the address block of a TCP
 * family after the signature and command; returns the header's length. */
static size_t write_block(unsigned char *p, unsigned fam, size_t ip_len, const iocpd_addr *s,
                          const iocpd_addr *d) {
  unsigned char *b = p + V2_FIXED;
  p[13] = (unsigned char)fam;
  put16(p + 14, (uint16_t)(2 * ip_len + 4));
  memcpy(b, s->ip, ip_len);
  memcpy(b + ip_len, d->ip, ip_len);
  put16(b + 2 * ip_len, s->port);
  put16(b + 2 * ip_len + 2, d->port);
  return V2_FIXED + 2 * ip_len + 4;
}

size_t iocpd_proxy_format(char *buf, int version, const iocpd_addr *src, const iocpd_addr *dst) {
  iocpd_addr s, d;
  int v6 = 0;
  if (buf == NULL || (version != 1 && version != 2)) return 0;
  if (src != NULL && dst != NULL) {
    s = *src;
    d = *dst;
    /* Both ends in one family: an IPv4 end beside an IPv6 one is written
     * in its IPv4-mapped form. */
    v6 = s.family == IOCPD_AF_INET6 || d.family == IOCPD_AF_INET6;
    if (v6) {
      as_ipv6(src, &s);
      as_ipv6(dst, &d);
    }
  }
  if (version == 1) {
    char a[IOCPD_ADDR_STRLEN], b[IOCPD_ADDR_STRLEN];
    int n;
    if (src == NULL || dst == NULL) {
      memcpy(buf, v1_unknown, sizeof(v1_unknown) - 1);
      return sizeof(v1_unknown) - 1;
    }
    ip_text(&s, a);
    ip_text(&d, b);
    n = snprintf(buf, IOCPD_PROXY_FORMAT_MAX, "PROXY %s %s %s %u %u\r\n", v6 ? "TCP6" : "TCP4", a,
                 b, s.port, d.port);
    return n > 0 && n < IOCPD_PROXY_FORMAT_MAX ? (size_t)n : 0;
  } else {
    unsigned char *p = (unsigned char *)buf;
    if (src == NULL || dst == NULL) {
      memcpy(p, v2_local, sizeof(v2_local));
      return sizeof(v2_local);
    }
    memcpy(p, v2_sig, sizeof(v2_sig));
    p[12] = 0x20 | V2_CMD_PROXY;
    return v6 ? write_block(p, V2_TCP6, 16, &s, &d) : write_block(p, V2_TCP4, 4, &s, &d);
  }
}
