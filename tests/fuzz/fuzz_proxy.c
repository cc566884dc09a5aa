/*
 * libFuzzer harness for the PROXY protocol parser and writer
 * (core/proxy.c, iocpd_proxy_parse and iocpd_proxy_format), linked with
 * only what they use (core/addr.c). scripts/fuzz.sh builds it under
 * AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * An input is one byte choosing the accepted versions (its low two bits:
 * v1, v2; 0 counts as both), then the bytes a connection would start
 * with. Checked against iocpd.h's contract:
 *
 *   - the result is the header's length (> 0, within the input, at most
 *     107 bytes for v1 and IOCPD_PROXY_MAX_HEADER for v2, of a version
 *     accepted), 0 (more needed: only while the input is shorter than
 *     either limit) or a negated IOCPD_PROXY_* reason the parser gives;
 *   - every prefix of the input either asks for more or gives the same
 *     result as the whole (a header split across reads is read the same;
 *     bytes after a header never change it);
 *   - a header with addresses has one family for both ends, and writing
 *     them back (iocpd_proxy_format, same version) gives a header that
 *     parses to the same addresses;
 *   - the input's first bytes taken as two addresses, written in either
 *     version and parsed back, give the same addresses and length.
 *
 * A broken rule aborts, so libFuzzer keeps the input as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iocpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
  fprintf(stderr, "fuzz_proxy: %s\n", what);
  abort();
}

static int same_addr(const iocpd_addr *a, const iocpd_addr *b) {
  return a->family == b->family && a->port == b->port &&
         memcmp(a->ip, b->ip, a->family == IOCPD_AF_INET ? 4 : 16) == 0;
}

static int same_header(const iocpd_proxy_header *a, const iocpd_proxy_header *b) {
  if (a->version != b->version || a->length != b->length || a->has_addresses != b->has_addresses)
    return 0;
  return !a->has_addresses || (same_addr(&a->src, &b->src) && same_addr(&a->dst, &b->dst));
}

/* Writes src and dst in version v, parses them back and compares. */
static void round_trip(int v, const iocpd_addr *src, const iocpd_addr *dst) {
  char buf[IOCPD_PROXY_FORMAT_MAX];
  iocpd_proxy_header h;
  size_t n = iocpd_proxy_format(buf, v, src, dst);
  if (n == 0 || n > IOCPD_PROXY_FORMAT_MAX) fail("format: bad length");
  if (iocpd_proxy_parse(buf, n, IOCPD_PROXY_V1 | IOCPD_PROXY_V2, &h) != (int)n)
    fail("format: its output does not parse whole");
  if (h.version != v || !h.has_addresses || !same_addr(&h.src, src) || !same_addr(&h.dst, dst))
    fail("format: parsed back to other addresses");
}

/* Two addresses of one family from the input's bytes. */
static void addresses_from(const uint8_t *p, size_t n, iocpd_addr *a, iocpd_addr *b) {
  uint8_t raw[38];
  memset(raw, 0, sizeof(raw));
  memcpy(raw, p, n < sizeof(raw) ? n : sizeof(raw));
  memset(a, 0, sizeof(*a));
  memset(b, 0, sizeof(*b));
  a->family = b->family = (raw[0] & 1) ? IOCPD_AF_INET6 : IOCPD_AF_INET;
  memcpy(a->ip, raw + 2, a->family == IOCPD_AF_INET ? 4 : 16);
  memcpy(b->ip, raw + 18, b->family == IOCPD_AF_INET ? 4 : 16);
  a->port = (uint16_t)(raw[34] << 8 | raw[35]);
  b->port = (uint16_t)(raw[36] << 8 | raw[37]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  iocpd_proxy_header whole, part;
  unsigned versions;
  const uint8_t *p;
  size_t n, k;
  int rc;

  if (size == 0) return 0;
  versions = data[0] & 3u;
  if (versions == 0) versions = IOCPD_PROXY_V1 | IOCPD_PROXY_V2;
  p = data + 1;
  n = size - 1;

  rc = iocpd_proxy_parse(p, n, versions, &whole);
  if (rc > 0) {
    if ((size_t)rc > n || whole.length != (size_t)rc) fail("length beyond the input");
    if (whole.version != 1 && whole.version != 2) fail("no such version");
    if (!(versions & (unsigned)whole.version)) fail("a version not accepted");
    if (whole.version == 1 && rc > IOCPD_PROXY_V1_MAX) fail("v1 over 107 bytes");
    if (rc > IOCPD_PROXY_MAX_HEADER) fail("v2 over the limit");
    if (whole.has_addresses) {
      if (whole.src.family != whole.dst.family) fail("two families");
      if (whole.src.family != IOCPD_AF_INET && whole.src.family != IOCPD_AF_INET6)
        fail("no such family");
      round_trip(whole.version, &whole.src, &whole.dst);
    }
  } else if (rc == 0) {
    if (n >= IOCPD_PROXY_MAX_HEADER) fail("asks for more past every limit");
  } else if (-rc < IOCPD_PROXY_UNKNOWN || -rc > IOCPD_PROXY_OVERSIZE) {
    fail("a reason the parser does not give");
  }

  for (k = 0; k < n; k++) {
    int r = iocpd_proxy_parse(p, k, versions, &part);
    if (r == 0) continue;
    if (r != rc) fail("a prefix decided otherwise than the whole");
    if (r > 0 && !same_header(&part, &whole)) fail("a prefix gave another header");
  }

  {
    iocpd_addr a, b;
    addresses_from(p, n, &a, &b);
    round_trip(1, &a, &b);
    round_trip(2, &a, &b);
  }
  return 0;
}
