/* iocpd_addr_parse / iocpd_addr_parse_ip / iocpd_addr_format /
 * iocpd_addr_is_wildcard / iocpd_addr_is_local. */
#include <stdio.h>
#include <string.h>

#include "iocpd.h"

static int failures, checks;

/* Parses text and formats it back; expect NULL means "must be rejected". */
static void round_trip(const char *text, const char *expect) {
  iocpd_addr a;
  char buf[IOCPD_ADDR_STRLEN];
  int rc = iocpd_addr_parse(text, &a);
  checks++;
  if (expect == NULL) {
    if (rc == 0) {
      failures++;
      fprintf(stderr, "accepted bad address '%s' as %s\n", text, iocpd_addr_format(&a, buf));
    }
    return;
  }
  if (rc != 0) {
    failures++;
    fprintf(stderr, "rejected good address '%s'\n", text);
    return;
  }
  iocpd_addr_format(&a, buf);
  if (strcmp(buf, expect) != 0) {
    failures++;
    fprintf(stderr, "'%s' formats as '%s', want '%s'\n", text, buf, expect);
  }
}

/* Parses each of texts (addresses without a port) and checks that
 * predicate says want (1 or 0) of it. */
static void check_predicate(const char *name, int (*predicate)(const iocpd_addr *),
                            const char *const *texts, size_t n, int want) {
  size_t i;
  for (i = 0; i < n; i++) {
    iocpd_addr a;
    checks++;
    if (iocpd_addr_parse_ip(texts[i], &a) != 0 || !predicate(&a) != !want) {
      failures++;
      fprintf(stderr, "%s(%s) is not %d\n", name, texts[i], want);
    }
  }
}
#define CHECK_PREDICATE(fn, texts, want)                                                           \
  check_predicate(#fn, fn, texts, sizeof(texts) / sizeof(texts[0]), want)

int main(void) {
  iocpd_addr a;

  round_trip("127.0.0.1:7007", "127.0.0.1:7007");
  round_trip("0.0.0.0:1", "0.0.0.0:1");
  round_trip("255.255.255.255:65535", "255.255.255.255:65535");
  round_trip("[::1]:80", "[::1]:80");
  round_trip("[::]:80", "[::]:80");
  round_trip("[fd00:0:0:0:0:0:0:6]:80", "[fd00::6]:80");
  round_trip("[2001:DB8:0:0:1:0:0:1]:443", "[2001:db8::1:0:0:1]:443");
  round_trip("[1:0:0:2:0:0:0:3]:9", "[1:0:0:2::3]:9");
  round_trip("[::ffff:10.0.0.1]:22", "[::ffff:a00:1]:22");
  round_trip("[fe80::1%3]:80", "[fe80::1%3]:80");
  round_trip("[1:2:3:4:5:6:7::]:5", "[1:2:3:4:5:6:7:0]:5");

  round_trip("127.0.0.1", NULL); /* no port */
  round_trip("127.0.0.1:", NULL);
  round_trip("127.0.0.1:0", NULL); /* port 0 */
  round_trip("127.0.0.1:65536", NULL);
  round_trip("127.0.0.1:80x", NULL);
  round_trip("127.0.0.1:-1", NULL);
  round_trip("256.0.0.1:80", NULL);
  round_trip("1.2.3:80", NULL);
  round_trip("1.2.3.4.5:80", NULL);
  round_trip("::1:80", NULL); /* IPv6 needs brackets */
  round_trip("[::1]80", NULL);
  round_trip("[::1:80", NULL);
  round_trip("[1.2.3.4]:80", NULL); /* brackets are for IPv6 */
  round_trip("[1::2::3]:80", NULL);
  round_trip("[12345::]:80", NULL);
  round_trip("[1:2:3:4:5:6:7:8:9]:80", NULL);
  round_trip("[1:2:3:4:5:6:7:8::]:80", NULL);
  round_trip("[:1]:80", NULL);
  round_trip("[1:]:80", NULL);
  round_trip("localhost:80", NULL);
  round_trip("", NULL);
  round_trip(":80", NULL);

  checks++;
  if (iocpd_addr_parse_ip("10.1.2.3", &a) != 0 || a.family != IOCPD_AF_INET || a.ip[0] != 10 ||
      a.ip[3] != 3 || a.port != 0) {
    failures++;
    fprintf(stderr, "parse_ip 10.1.2.3 wrong\n");
  }
  checks++;
  if (iocpd_addr_parse_ip("::1", &a) != 0 || a.family != IOCPD_AF_INET6 || a.ip[15] != 1) {
    failures++;
    fprintf(stderr, "parse_ip ::1 wrong\n");
  }
  checks++;
  if (iocpd_addr_parse_ip("1.2.3.4:5", &a) == 0) {
    failures++;
    fprintf(stderr, "parse_ip accepted a port\n");
  }
  checks++;
  if (strcmp(iocpd_strerror(IOCPD_ECONNRESET), "connection reset by peer") != 0 ||
      strcmp(iocpd_strerror(IOCPD_EMFILE), "too many open files") != 0 ||
      strcmp(iocpd_strerror(-999), "unknown error") != 0) {
    failures++;
    fprintf(stderr, "iocpd_strerror wrong\n");
  }

  /* Addresses of this machine: loopback and the wildcard, which as a
   * destination means this host; a documentation address never is. */
  {
    static const char *const local[] = {"127.0.0.1", "127.0.0.2", "0.0.0.0", "::"};
    static const char *const remote[] = {"192.0.2.1", "2001:db8::1"};
    CHECK_PREDICATE(iocpd_addr_is_local, local, 1);
    CHECK_PREDICATE(iocpd_addr_is_local, remote, 0);
  }

  /* The wildcard of each family, and nothing else: IPv4-mapped 0.0.0.0 is
   * an IPv6 address that is not ::. */
  {
    static const char *const any[] = {"0.0.0.0", "::"};
    static const char *const one[] = {"0.0.0.1", "127.0.0.1", "::1", "::ffff:0.0.0.0", "1::"};
    CHECK_PREDICATE(iocpd_addr_is_wildcard, any, 1);
    CHECK_PREDICATE(iocpd_addr_is_wildcard, one, 0);
  }

  printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
