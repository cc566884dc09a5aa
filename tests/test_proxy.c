/*
 * The PROXY protocol parser and writer (core/proxy.c), byte by byte: every
 * form of HAProxy's specification, valid and invalid, each also fed in
 * two pieces split at every byte (the parser must ask for more, never
 * decide early) and followed by payload (which must stay payload).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testengine.h"

#define ANY (IOCPD_PROXY_V1 | IOCPD_PROXY_V2)

static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

static iocpd_addr ip(const char *text, uint16_t port) {
  iocpd_addr a;
  memset(&a, 0, sizeof(a));
  iocpd_addr_parse_ip(text, &a);
  a.port = port;
  return a;
}

static int same_addr(const iocpd_addr *a, const iocpd_addr *b) {
  return a->family == b->family && a->port == b->port &&
         memcmp(a->ip, b->ip, a->family == IOCPD_AF_INET ? 4 : 16) == 0;
}

/* Parses h (len bytes) whole, then every prefix of it, then with payload
 * after it. Every prefix must ask for more (0) unless the whole is an
 * error that a prefix may already see, which must then be the same
 * error. Returns the whole's result; *out gets its header. */
static int parse_all_ways(const void *h, size_t len, unsigned versions, iocpd_proxy_header *out) {
  iocpd_proxy_header hdr, again;
  char *buf = malloc(len + 16);
  int whole = iocpd_proxy_parse(h, len, versions, &hdr);
  size_t k;
  for (k = 1; k < len; k++) {
    int part = iocpd_proxy_parse(h, k, versions, &again);
    if (!(part == 0 || (whole < 0 && part == whole))) {
      fprintf(stderr, "  prefix of %u of %u bytes: %d (whole: %d)\n", (unsigned)k, (unsigned)len,
              part, whole);
      CHECK(0);
      break;
    }
  }
  if (whole > 0) {
    /* Payload after the header changes nothing, whatever it is. */
    memcpy(buf, h, len);
    memcpy(buf + len, "\r\nPROXY \0\r\n\r\nxyz", 16);
    CHECK(iocpd_proxy_parse(buf, len + 16, versions, &again) == whole);
    CHECK(again.length == hdr.length && again.has_addresses == hdr.has_addresses);
  }
  free(buf);
  if (out != NULL) *out = hdr;
  return whole;
}

static int parse_text(const char *line, unsigned versions, iocpd_proxy_header *out) {
  return parse_all_ways(line, strlen(line), versions, out);
}

/* ------------------------------------------------------------------------ */
/* Version 1 */

static void test_v1_valid(void) {
  iocpd_proxy_header h;
  iocpd_addr src = ip("192.168.0.1", 56324), dst = ip("192.168.0.11", 443);
  const char *tcp4 = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
  const char *tcp6 = "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 65535 0\r\n";
  const char *unknown = "PROXY UNKNOWN ffff:: 1.2.3.4 not checked\r\n";
  char max[128];

  CHECK(parse_text(tcp4, ANY, &h) == (int)strlen(tcp4));
  CHECK(h.version == 1 && h.has_addresses);
  CHECK(same_addr(&h.src, &src) && same_addr(&h.dst, &dst));
  CHECK(parse_text(tcp4, IOCPD_PROXY_V1, &h) == (int)strlen(tcp4));

  CHECK(parse_text(tcp6, ANY, &h) == (int)strlen(tcp6));
  src = ip("2001:db8::1", 65535);
  dst = ip("::ffff:10.0.0.1", 0);
  CHECK(h.has_addresses && same_addr(&h.src, &src) && same_addr(&h.dst, &dst));

  CHECK(parse_text("PROXY UNKNOWN\r\n", ANY, &h) == 15);
  CHECK(h.version == 1 && !h.has_addresses);
  /* UNKNOWN: whatever follows on the line is ignored. */
  CHECK(parse_text(unknown, ANY, &h) == (int)strlen(unknown));
  CHECK(!h.has_addresses);

  /* The longest TCP line, and the longest line the specification
   * allows (107 bytes, an UNKNOWN with the longest addresses). */
  snprintf(max, sizeof(max), "PROXY TCP6 %s %s 65535 65535\r\n",
           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  CHECK(parse_text(max, ANY, &h) == (int)strlen(max) && h.has_addresses);
  snprintf(max, sizeof(max), "PROXY UNKNOWN %s %s 65535 65535\r\n",
           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
  CHECK(strlen(max) == IOCPD_PROXY_V1_MAX);
  CHECK(parse_text(max, ANY, &h) == IOCPD_PROXY_V1_MAX);
}

static void test_v1_invalid(void) {
  static const char *const malformed[] = {
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",       /* LF without CR */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",      /* CR without LF */
      "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",    /* two spaces */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",    /* trailing space */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",       /* a port missing */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",   /* a field too many */
      "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",     /* no such protocol */
      "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",     /* case matters */
      "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",         /* family mismatch */
      "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",         /* family mismatch */
      "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",       /* short address */
      "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",   /* octet out of range */
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", /* port out of range */
      "PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",   /* leading zero */
      "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",    /* sign */
      "PROXY TCP6 fe80::1%1 ::1 1 2\r\n",       /* zone index */
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x01\r\n", /* control byte */
      "PROXY \r\n",                             /* no protocol */
      "PROXY UNKNOWN\x80\r\n",                  /* not ASCII */
  };
  char over[200];
  iocpd_proxy_header h;
  size_t i;

  for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
    int rc = parse_text(malformed[i], ANY, &h);
    if (rc != -IOCPD_PROXY_MALFORMED) fprintf(stderr, "  case %u: %d\n", (unsigned)i, rc);
    CHECK(rc == -IOCPD_PROXY_MALFORMED);
  }
  /* 108 bytes with the CRLF, or no CRLF within 107: oversize. */
  memset(over, 'a', sizeof(over));
  memcpy(over, "PROXY UNKNOWN ", 14);
  over[106] = '\r';
  over[107] = '\n';
  CHECK(parse_all_ways(over, 108, ANY, &h) == -IOCPD_PROXY_OVERSIZE);
  CHECK(parse_all_ways(over, 105, ANY, &h) == 0);
  CHECK(parse_all_ways(over, 106, ANY, &h) == -IOCPD_PROXY_OVERSIZE); /* no CR by byte 106 */
  CHECK(parse_all_ways(over, sizeof(over), ANY, &h) == -IOCPD_PROXY_OVERSIZE);
  over[105] = '\r';
  over[106] = '\n';
  CHECK(parse_all_ways(over, 107, ANY, &h) == 107);

  /* Not a PROXY header at all, or the version this listener refuses. */
  CHECK(parse_text("GET / HTTP/1.1\r\n", ANY, &h) == -IOCPD_PROXY_UNKNOWN);
  CHECK(parse_text("PROXZ", ANY, &h) == -IOCPD_PROXY_UNKNOWN);
  CHECK(parse_text("proxy TCP4", ANY, &h) == -IOCPD_PROXY_UNKNOWN);
  CHECK(parse_text("PROXY UNKNOWN\r\n", IOCPD_PROXY_V2, &h) == -IOCPD_PROXY_VERSION);
  CHECK(parse_text("PROX", ANY, &h) == 0);
}

/* ------------------------------------------------------------------------ */
/* Version 2 */

/* Writes a v2 header: command byte, family byte, then body (n bytes). */
static size_t v2(unsigned char *out, unsigned ver_cmd, unsigned fam, const void *body, size_t n) {
  memcpy(out, v2_sig, 12);
  out[12] = (unsigned char)ver_cmd;
  out[13] = (unsigned char)fam;
  out[14] = (unsigned char)(n >> 8);
  out[15] = (unsigned char)(n & 0xff);
  memcpy(out + 16, body, n);
  return 16 + n;
}

static void test_v2_valid(void) {
  unsigned char h[600], body[600];
  iocpd_proxy_header p;
  iocpd_addr src = ip("10.1.2.3", 1234), dst = ip("10.9.8.7", 80);
  size_t n;

  /* PROXY TCP4 */
  memcpy(body, "\x0a\x01\x02\x03\x0a\x09\x08\x07\x04\xd2\x00\x50", 12);
  n = v2(h, 0x21, 0x11, body, 12);
  CHECK(parse_all_ways(h, n, ANY, &p) == 28);
  CHECK(p.version == 2 && p.has_addresses && p.length == 28);
  CHECK(same_addr(&p.src, &src) && same_addr(&p.dst, &dst));
  CHECK(parse_all_ways(h, n, IOCPD_PROXY_V2, &p) == 28);
  CHECK(parse_all_ways(h, n, IOCPD_PROXY_V1, &p) == -IOCPD_PROXY_VERSION);

  /* PROXY TCP6 */
  memset(body, 0, 36);
  body[0] = 0x20, body[1] = 0x01, body[15] = 1;   /* 2001::1 */
  body[16 + 15] = 2;                              /* ::2 */
  body[32] = 0xff, body[33] = 0xff, body[35] = 7; /* 65535 -> 7 */
  n = v2(h, 0x21, 0x21, body, 36);
  CHECK(parse_all_ways(h, n, ANY, &p) == 52);
  src = ip("2001::1", 65535);
  dst = ip("::2", 7);
  CHECK(p.has_addresses && same_addr(&p.src, &src) && same_addr(&p.dst, &dst));

  /* With TLVs after the addresses: an ALPN, an authority, a NOOP with
   * no value, and a 300-byte unique id; all skipped. */
  memcpy(body, "\x0a\x01\x02\x03\x0a\x09\x08\x07\x04\xd2\x00\x50", 12);
  n = 12;
  memcpy(body + n, "\x01\x00\x02h2", 5), n += 5;
  memcpy(body + n,
         "\x02\x00\x0b"
         "example.com",
         14),
      n += 14;
  memcpy(body + n, "\x04\x00\x00", 3), n += 3;
  body[n] = 0x05, body[n + 1] = 0x01, body[n + 2] = 0x2c; /* 300 */
  memset(body + n + 3, 'u', 300), n += 303;
  n = v2(h, 0x21, 0x11, body, n);
  CHECK(parse_all_ways(h, n, ANY, &p) == (int)n);
  src = ip("10.1.2.3", 1234);
  CHECK(p.has_addresses && same_addr(&p.src, &src));

  /* LOCAL: the block, whatever it holds, is skipped; no addresses. */
  n = v2(h, 0x20, 0x00, body, 0);
  CHECK(parse_all_ways(h, n, ANY, &p) == 16);
  CHECK(p.version == 2 && !p.has_addresses);
  n = v2(h, 0x20, 0x11, "\x01\x02\x03", 3); /* short, yet LOCAL: fine */
  CHECK(parse_all_ways(h, n, ANY, &p) == 19 && !p.has_addresses);
  n = v2(h, 0x20, 0x77, body, 5); /* any family under LOCAL */
  CHECK(parse_all_ways(h, n, ANY, &p) == 21 && !p.has_addresses);

  /* PROXY with families that are not this stream's: UNSPEC (block
   * skipped), UDP over IPv4 and IPv6, UNIX: valid, no addresses. */
  n = v2(h, 0x21, 0x00, "abc", 3);
  CHECK(parse_all_ways(h, n, ANY, &p) == 19 && !p.has_addresses);
  memset(body, 0, 216);
  n = v2(h, 0x21, 0x12, body, 12);
  CHECK(parse_all_ways(h, n, ANY, &p) == 28 && !p.has_addresses);
  n = v2(h, 0x21, 0x22, body, 36);
  CHECK(parse_all_ways(h, n, ANY, &p) == 52 && !p.has_addresses);
  n = v2(h, 0x21, 0x31, body, 216);
  CHECK(parse_all_ways(h, n, ANY, &p) == 232 && !p.has_addresses);
  n = v2(h, 0x21, 0x32, body, 216);
  CHECK(parse_all_ways(h, n, ANY, &p) == 232 && !p.has_addresses);
}

static void test_v2_invalid(void) {
  unsigned char h[IOCPD_PROXY_MAX_HEADER + 64], body[IOCPD_PROXY_MAX_HEADER + 64];
  static const unsigned bad_families[] = {0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x41, 0xff};
  iocpd_proxy_header p;
  size_t n, i;

  memcpy(body, "\x0a\x01\x02\x03\x0a\x09\x08\x07\x04\xd2\x00\x50", 12);
  /* A version other than 2. */
  n = v2(h, 0x11, 0x11, body, 12);
  CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_VERSION);
  n = v2(h, 0x31, 0x11, body, 12);
  CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_VERSION);
  /* A command other than LOCAL and PROXY. */
  n = v2(h, 0x22, 0x11, body, 12);
  CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_MALFORMED);
  /* Families and protocols the specification does not define. */
  for (i = 0; i < sizeof(bad_families) / sizeof(bad_families[0]); i++) {
    n = v2(h, 0x21, bad_families[i], body, 12);
    CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_MALFORMED);
  }
  /* A block too short for its family. */
  n = v2(h, 0x21, 0x11, body, 11);
  CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_MALFORMED);
  n = v2(h, 0x21, 0x21, body, 35);
  CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_MALFORMED);
  n = v2(h, 0x21, 0x31, body, 215);
  CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_MALFORMED);
  /* TLVs whose lengths do not add up: a TLV cut in its type and length,
   * and one whose value runs past the header. */
  memcpy(body + 12, "\x01\x00", 2);
  n = v2(h, 0x21, 0x11, body, 14);
  CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_MALFORMED);
  memcpy(body + 12, "\x01\x00\x05h2", 5);
  n = v2(h, 0x21, 0x11, body, 17);
  CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_MALFORMED);
  /* Over the size limit, whatever follows; exactly at it, fine. */
  memset(body + 12, 0, sizeof(body) - 12);
  n = IOCPD_PROXY_MAX_HEADER - 16 + 1;
  body[12] = 0x04, body[13] = (unsigned char)((n - 15) >> 8), body[14] = (unsigned char)(n - 15);
  v2(h, 0x21, 0x11, body, n);
  CHECK(iocpd_proxy_parse(h, 16, ANY, &p) == -IOCPD_PROXY_OVERSIZE);
  n = IOCPD_PROXY_MAX_HEADER - 16;
  body[12] = 0x04, body[13] = (unsigned char)((n - 15) >> 8), body[14] = (unsigned char)(n - 15);
  n = v2(h, 0x21, 0x11, body, n);
  CHECK(parse_all_ways(h, n, ANY, &p) == IOCPD_PROXY_MAX_HEADER);
  /* A wrong signature byte, at each place. */
  for (i = 0; i < 12; i++) {
    n = v2(h, 0x21, 0x11, body, 12);
    h[i] ^= 0x40;
    CHECK(parse_all_ways(h, n, ANY, &p) == -IOCPD_PROXY_UNKNOWN);
  }
}

/* ------------------------------------------------------------------------ */
/* The writer, and the two together */

static void test_format(void) {
  char buf[IOCPD_PROXY_FORMAT_MAX];
  iocpd_proxy_header p;
  iocpd_addr s4 = ip("192.0.2.1", 40000), d4 = ip("198.51.100.2", 443);
  iocpd_addr s6 = ip("2001:db8::7", 1), d6 = ip("::1", 65535);
  iocpd_addr mapped = ip("::ffff:192.0.2.1", 40000);
  size_t n;

  n = iocpd_proxy_format(buf, 1, &s4, &d4);
  CHECK(n == strlen("PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\n") &&
        memcmp(buf, "PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\n", n) == 0);
  n = iocpd_proxy_format(buf, 1, &s6, &d6);
  CHECK(n == strlen("PROXY TCP6 2001:db8::7 ::1 1 65535\r\n") &&
        memcmp(buf, "PROXY TCP6 2001:db8::7 ::1 1 65535\r\n", n) == 0);
  /* One end IPv4, the other IPv6: both as IPv6. */
  n = iocpd_proxy_format(buf, 1, &s4, &d6);
  CHECK(n > 0 && iocpd_proxy_parse(buf, n, ANY, &p) == (int)n && same_addr(&p.src, &mapped));
  n = iocpd_proxy_format(buf, 1, NULL, NULL);
  CHECK(n == 15 && memcmp(buf, "PROXY UNKNOWN\r\n", 15) == 0);

  n = iocpd_proxy_format(buf, 2, &s4, &d4);
  CHECK(n == 28 && memcmp(buf, v2_sig, 12) == 0 && (unsigned char)buf[12] == 0x21 &&
        buf[13] == 0x11);
  CHECK(iocpd_proxy_parse(buf, n, ANY, &p) == 28 && same_addr(&p.src, &s4) &&
        same_addr(&p.dst, &d4));
  n = iocpd_proxy_format(buf, 2, &s6, &d6);
  CHECK(n == 52 && buf[13] == 0x21);
  CHECK(iocpd_proxy_parse(buf, n, ANY, &p) == 52 && same_addr(&p.src, &s6) &&
        same_addr(&p.dst, &d6));
  n = iocpd_proxy_format(buf, 2, NULL, NULL);
  CHECK(n == 16 && (unsigned char)buf[12] == 0x20 && buf[13] == 0 && buf[14] == 0 && buf[15] == 0);
  CHECK(iocpd_proxy_parse(buf, n, ANY, &p) == 16 && !p.has_addresses);
  CHECK(iocpd_proxy_format(buf, 3, &s4, &d4) == 0);

  CHECK(strcmp(iocpd_proxy_error_name(IOCPD_PROXY_MALFORMED), "malformed") == 0);
  CHECK(strcmp(iocpd_proxy_error_name(IOCPD_PROXY_UNTRUSTED), "untrusted") == 0);
  CHECK(strcmp(iocpd_proxy_error_name(0), "-") == 0);
}

int main(void) {
  test_v1_valid();
  test_v1_invalid();
  test_v2_valid();
  test_v2_invalid();
  test_format();
  return check_summary();
}
