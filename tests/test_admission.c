/*
 * Admission, driven in-process on both backends: connection limits pause
 * accepting (per listener and for the server, and one listener's idle
 * accepts never starve another), allow and deny, the per-address limit,
 * CIDR parsing and matching, and the access records and counters a
 * monitoring consumer sees.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "testengine.h"

/* Starts an echo server whose single listener has the given rules. */
static iocpd_server *start_guarded(uint16_t port, const iocpd_listener_options *rules,
                                   size_t server_max) {
  iocpd_listener_options l = *rules;
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  memset(&o, 0, sizeof(o));
  l.name = "guarded";
  l.addr = loopback(port);
  l.handler = &iocpd_echo_handler;
  o.workers = 2;
  o.listeners = &l;
  o.listener_count = 1;
  o.max_connections = server_max;
  if (iocpd_server_create(&o, &s, &err) != 0) fprintf(stderr, "cannot start: %s\n", err.message);
  return s;
}

static iocpd_listener_stats stats_of(iocpd_server *s) {
  iocpd_listener_stats st;
  iocpd_server_listener_stats(s, &st, 1);
  return st;
}

/* At the limit, accepting pauses: the next client waits in the backlog
 * (connected by the kernel, but not served) and is served as soon as a
 * connection closes. Nothing is accepted and then dropped. Runs for the
 * listener's limit and for the server's. */
static void check_limit_pauses(int server_wide) {
  uint16_t port = tnet_free_port();
  iocpd_listener_options rules;
  iocpd_server *s;
  tsock a, b, c;

  memset(&rules, 0, sizeof(rules));
  if (!server_wide) rules.max_connections = 2;
  s = start_guarded(port, &rules, server_wide ? 2 : 0);
  CHECK(s != NULL);
  if (s == NULL) return;
  a = tnet_connect(port);
  b = tnet_connect(port);
  CHECK(tnet_echoes(a, "one"));
  CHECK(tnet_echoes(b, "two"));
  c = tnet_connect(port); /* completes in the kernel's backlog */
  CHECK(c != TSOCK_BAD);
  CHECK(tnet_send_all(c, "three", 5) == 0);
  CHECK(tnet_silent_for(c, 700));
  CHECK(stats_of(s).accepted == 2);
  CHECK(stats_of(s).active == 2);
  CHECK(stats_of(s).paused >= 1);
  /* Existing connections are not disturbed by the limit. */
  CHECK(tnet_echoes(a, "still"));
  tnet_close(a);
  {
    char buf[5];
    CHECK(tnet_recv_exact(c, buf, 5) == 0 && memcmp(buf, "three", 5) == 0);
  }
  CHECK(stats_of(s).accepted == 3);
  CHECK(stats_of(s).rejected_denied == 0 && stats_of(s).rejected_per_ip == 0);
  tnet_close(b);
  tnet_close(c);
  iocpd_server_destroy(s);
}

/* The server-wide limit across two listeners: idle accepts of one must not
 * starve the other (on IOCP, posted AcceptEx calls hold no server slot),
 * and a client beyond the limit is served, not dropped, once room opens. */
static void test_server_limit_two_listeners(void) {
  uint16_t pa = tnet_free_port(), pb = tnet_free_port();
  iocpd_listener_options l[2];
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  tsock a1, a2, a3, a4, b1;
  char buf[2];

  memset(l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  l[0].name = "a";
  l[0].addr = loopback(pa);
  l[0].handler = &iocpd_echo_handler;
  l[1].name = "b";
  l[1].addr = loopback(pb);
  l[1].handler = &iocpd_echo_handler;
  o.workers = 2;
  o.listeners = l;
  o.listener_count = 2;
  o.max_connections = 3;
  CHECK(iocpd_server_create(&o, &s, &err) == 0);
  if (s == NULL) return;
  a1 = tnet_connect(pa);
  a2 = tnet_connect(pa);
  a3 = tnet_connect(pa);
  CHECK(tnet_echoes(a1, "1") && tnet_echoes(a2, "2") && tnet_echoes(a3, "3"));
  b1 = tnet_connect(pb); /* the 4th and 5th wait, not dropped */
  a4 = tnet_connect(pa);
  CHECK(tnet_send_all(b1, "b", 1) == 0 && tnet_send_all(a4, "4", 1) == 0);
  CHECK(tnet_silent_for(b1, 600));
  CHECK(tnet_silent_for(a4, 100));
  /* Room for one: exactly one of the two waiting clients is served (which
   * one is a race between the listeners' workers), the other still waits. */
  tnet_close(a1);
  {
    tsock first = TSOCK_BAD, second = TSOCK_BAD;
    int i;
    for (i = 0; i < 50 && first == TSOCK_BAD; i++) {
      if (!tnet_silent_for(b1, 50)) {
        first = b1;
        second = a4;
      } else if (!tnet_silent_for(a4, 50)) {
        first = a4;
        second = b1;
      }
    }
    CHECK(first != TSOCK_BAD);
    if (first != TSOCK_BAD) {
      CHECK(tnet_silent_for(second, 300));
      tnet_close(a2);
      CHECK(tnet_recv_exact(second, buf, 1) == 0);
      CHECK(buf[0] == (second == b1 ? 'b' : '4'));
    }
  }
  CHECK(iocpd_server_connection_count(s) == 3);
  tnet_close(a3);
  tnet_close(a4);
  tnet_close(b1);
  iocpd_server_destroy(s);
}

static void test_connection_limits(void) {
  check_limit_pauses(0);
  check_limit_pauses(1);
  test_server_limit_two_listeners();
}

static void test_allow_deny(void) {
  uint16_t port = tnet_free_port();
  iocpd_listener_options rules;
  iocpd_cidr allow, deny;
  iocpd_server *s;
  tsock c;

  CHECK(iocpd_cidr_parse("127.0.0.0/8", &allow) == 0);
  CHECK(iocpd_cidr_parse("127.0.0.1", &deny) == 0);
  memset(&rules, 0, sizeof(rules));
  rules.allow = &allow;
  rules.allow_count = 1;
  rules.deny = &deny;
  rules.deny_count = 1;
  s = start_guarded(port, &rules, 0);
  CHECK(s != NULL);
  if (s == NULL) return;
  /* Denied (deny is checked before allow): reset before any handler. */
  c = tnet_connect_from("127.0.0.1", port);
  CHECK(c != TSOCK_BAD);
  CHECK(tnet_sees_end(c));
  tnet_close(c);
  /* Allowed and not denied: served. */
  c = tnet_connect_from("127.0.0.2", port);
  CHECK(c != TSOCK_BAD);
  CHECK(tnet_echoes(c, "allowed"));
  tnet_close(c);
  CHECK(stats_of(s).rejected_denied == 1);
  CHECK(stats_of(s).accepted == 1);
  iocpd_server_destroy(s);
}

static void test_per_ip_limit(void) {
  uint16_t port = tnet_free_port();
  iocpd_listener_options rules;
  iocpd_server *s;
  tsock a, b, c, d;

  memset(&rules, 0, sizeof(rules));
  rules.max_connections_per_ip = 2;
  s = start_guarded(port, &rules, 0);
  CHECK(s != NULL);
  if (s == NULL) return;
  a = tnet_connect_from("127.0.0.1", port);
  b = tnet_connect_from("127.0.0.1", port);
  CHECK(tnet_echoes(a, "a") && tnet_echoes(b, "b"));
  c = tnet_connect_from("127.0.0.1", port); /* third from one address */
  CHECK(tnet_sees_end(c));
  tnet_close(c);
  d = tnet_connect_from("127.0.0.3", port); /* another address is fine */
  CHECK(tnet_echoes(d, "d"));
  tnet_close(a);
  CHECK(wait_count(s, 2));
  c = tnet_connect_from("127.0.0.1", port); /* room again for .1 */
  CHECK(tnet_echoes(c, "again"));
  CHECK(stats_of(s).rejected_per_ip == 1);
  tnet_close(b);
  tnet_close(c);
  tnet_close(d);
  iocpd_server_destroy(s);
}

static void test_cidr(void) {
  iocpd_cidr c;
  iocpd_addr a;
  char buf[IOCPD_ADDR_STRLEN];
  CHECK(iocpd_cidr_parse("10.0.0.0/8", &c) == 0 && c.prefix == 8);
  CHECK(strcmp(iocpd_cidr_format(&c, buf), "10.0.0.0/8") == 0);
  CHECK(iocpd_addr_parse_ip("10.200.1.2", &a) == 0 && iocpd_cidr_match(&c, &a));
  CHECK(iocpd_addr_parse_ip("11.0.0.1", &a) == 0 && !iocpd_cidr_match(&c, &a));
  /* An IPv4-mapped IPv6 client matches IPv4 blocks... */
  CHECK(iocpd_addr_parse_ip("::ffff:10.1.2.3", &a) == 0 && iocpd_cidr_match(&c, &a));
  /* ...but other IPv6 addresses never do. */
  CHECK(iocpd_addr_parse_ip("::10.1.2.3", &a) == 0 && !iocpd_cidr_match(&c, &a));
  CHECK(iocpd_cidr_parse("::1/128", &c) == 0 && iocpd_addr_parse_ip("::1", &a) == 0 &&
        iocpd_cidr_match(&c, &a));
  CHECK(iocpd_cidr_parse("fd00::/8", &c) == 0 && iocpd_addr_parse_ip("fdab::1", &a) == 0 &&
        iocpd_cidr_match(&c, &a));
  CHECK(strcmp(iocpd_cidr_format(&c, buf), "fd00::/8") == 0);
  CHECK(iocpd_cidr_parse("0.0.0.0/0", &c) == 0 && iocpd_addr_parse_ip("1.2.3.4", &a) == 0 &&
        iocpd_cidr_match(&c, &a));
  CHECK(iocpd_cidr_parse("192.168.1.7", &c) == 0 && c.prefix == 32);
  CHECK(iocpd_cidr_parse("10.0.0.0/33", &c) == IOCPD_EINVAL);
  CHECK(iocpd_cidr_parse("::1/129", &c) == IOCPD_EINVAL);
  CHECK(iocpd_cidr_parse("1.2.3/8", &c) == IOCPD_EINVAL);
  CHECK(iocpd_cidr_parse("10.0.0.1/8", &c) == IOCPD_EINVAL); /* host bits set */
  CHECK(iocpd_cidr_parse("10.0.0.0/", &c) == IOCPD_EINVAL);
  CHECK(iocpd_cidr_parse("/8", &c) == IOCPD_EINVAL);
  CHECK(iocpd_cidr_parse("10.0.0.0/8x", &c) == IOCPD_EINVAL);
}

/* Access records and counters: what a monitoring consumer sees. */
static iocpd_access_record records[8];
static atomic_int record_count;

static void collect(void *arg, const iocpd_access_record *r) {
  int i = atomic_fetch_add(&record_count, 1);
  (void)arg;
  if (i < 8) records[i] = *r;
}

static void test_access_records_and_stats(void) {
  uint16_t port = tnet_free_port();
  iocpd_listener_options l;
  iocpd_server_options o;
  iocpd_listener_stats st;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  iocpd_cidr deny;
  char buf[1000];
  tsock c;
  int i;

  memset(&l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  CHECK(iocpd_cidr_parse("127.0.0.9", &deny) == 0);
  l.name = "rec";
  l.addr = loopback(port);
  l.handler = &iocpd_echo_handler;
  l.deny = &deny;
  l.deny_count = 1;
  o.listeners = &l;
  o.listener_count = 1;
  o.on_access = collect;
  atomic_store(&record_count, 0);
  CHECK(iocpd_server_create(&o, &s, &err) == 0);
  if (s == NULL) return;
  memset(buf, 'x', sizeof(buf));
  c = tnet_connect(port);
  CHECK(tnet_send_all(c, buf, sizeof(buf)) == 0);
  shutdown(c, TNET_SHUT_WR);
  CHECK(tnet_recv_exact(c, buf, sizeof(buf)) == 0);
  CHECK(tnet_sees_end(c));
  tnet_close(c);
  c = tnet_connect_from("127.0.0.9", port); /* denied */
  CHECK(tnet_sees_end(c));
  tnet_close(c);
  CHECK(wait_count(s, 0));
  for (i = 0; i < 500 && atomic_load(&record_count) < 2; i++) tnet_sleep_ms(10);
  CHECK(atomic_load(&record_count) == 2);
  {
    /* The echo's record comes when its worker closes it, the denied one
     * when it is accepted: either may arrive first. */
    const iocpd_access_record *echoed = &records[records[0].end == IOCPD_END_DENIED ? 1 : 0];
    const iocpd_access_record *denied = &records[records[0].end == IOCPD_END_DENIED ? 0 : 1];
    CHECK(echoed->end == IOCPD_END_CLIENT_FIN);
    CHECK(strcmp(iocpd_end_reason_name(echoed->end), "client_fin") == 0);
    CHECK(echoed->bytes_in == 1000 && echoed->bytes_out == 1000);
    CHECK(!echoed->has_upstream && strcmp(echoed->listener, "rec") == 0);
    CHECK(echoed->start_ms > 1700000000000ull);
    CHECK(denied->end == IOCPD_END_DENIED && denied->client.ip[3] == 9);
  }
  iocpd_server_listener_stats(s, &st, 1);
  CHECK(st.bytes_in == 1000 && st.bytes_out == 1000 && st.bytes_up == 0);
  CHECK(st.accepted == 1 && st.rejected_denied == 1 && st.active == 0);
  {
    uint64_t total = 0;
    for (i = 0; i <= IOCPD_DURATION_BUCKETS; i++) total += st.duration_buckets[i];
    CHECK(total == 1);
  }
  iocpd_server_destroy(s);
}

int main(void) {
  tnet_init();
  test_cidr();
  test_connection_limits();
  test_allow_deny();
  test_per_ip_limit();
  test_access_records_and_stats();
  return check_summary();
}
