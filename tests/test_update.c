/*
 * iocpd_server_update on both backends (the Windows build runs it under
 * Wine): a kept listener never refuses a connection while it is updated
 * and gives new connections its new settings; an added listener accepts,
 * a removed one stops accepting and its connections drain, then are
 * aborted; the old settings are released only after their last
 * connection; a listener that cannot bind is reported and changes nothing
 * else.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "iocpd_sys.h"
#include "testengine.h"

/* A handler that answers every connection with its handler_arg (a
 * NUL-terminated tag) and closes: which settings a connection got. */
static int tag_accept(iocpd_conn *c) {
  const char *tag = iocpd_conn_handler_arg(c);
  int rc = iocpd_write(c, tag, strlen(tag), NULL);
  iocpd_close(c);
  return rc;
}

static const iocpd_handler tag_handler = {.name = "tag", .on_accept = tag_accept};

static iocpd_listener_options tag_listener(const char *name, uint16_t port, const char *tag) {
  iocpd_listener_options l;
  memset(&l, 0, sizeof(l));
  l.name = name;
  l.addr = loopback(port);
  l.handler = &tag_handler;
  l.handler_arg = (void *)tag;
  return l;
}

static iocpd_listener_options echo_listener(const char *name, uint16_t port) {
  iocpd_listener_options l;
  memset(&l, 0, sizeof(l));
  l.name = name;
  l.addr = loopback(port);
  l.handler = &iocpd_echo_handler;
  return l;
}

static iocpd_server *create(const iocpd_listener_options *l, size_t n) {
  iocpd_server_options o;
  iocpd_server *s = NULL;
  iocpd_error_info err;
  memset(&o, 0, sizeof(o));
  o.listeners = l;
  o.listener_count = n;
  o.workers = 2;
  if (iocpd_server_create(&o, &s, &err) != 0) {
    fprintf(stderr, "create: %s\n", err.message);
    return NULL;
  }
  return s;
}

/* What a connection to port is answered: the tag, "refused" or "-". */
static void answer(uint16_t port, char *out, size_t len) {
  tsock c = tnet_connect(port);
  size_t got = 0;
  if (c == TSOCK_BAD) {
    snprintf(out, len, "refused");
    return;
  }
  while (got + 1 < len) {
    int n = recv(c, out + got, (int)(len - 1 - got), 0);
    if (n <= 0) break;
    got += (size_t)n;
  }
  out[got] = '\0';
  if (got == 0) snprintf(out, len, "-");
  tnet_close(c);
}

/* Connects to a port without pause until told to stop, counting answers. */
typedef struct prober {
  uint16_t port;
  atomic_int stop;
  unsigned ok, one, two, bad;
  char last_bad[32];
} prober;

static void probe_loop(void *arg) {
  prober *p = arg;
  while (!atomic_load(&p->stop)) {
    char got[32];
    answer(p->port, got, sizeof(got));
    if (strcmp(got, "one") == 0) {
      p->one++;
    } else if (strcmp(got, "two") == 0) {
      p->two++;
    } else {
      p->bad++;
      snprintf(p->last_bad, sizeof(p->last_bad), "%s", got);
    }
  }
}

static void test_kept_listener_never_refuses(void) {
  uint16_t port = tnet_free_port();
  iocpd_listener_options one = tag_listener("a", port, "one"), two = tag_listener("a", port, "two");
  iocpd_server *s = create(&one, 1);
  iocpd_update_options u;
  iocpd_update_report r;
  prober p;
  iocpd_thread *t;
  char got[32];
  int i;

  CHECK(s != NULL);
  if (s == NULL) return;
  memset(&p, 0, sizeof(p));
  p.port = port;
  t = iocpd_thread_start(probe_loop, &p);
  CHECK(t != NULL);
  memset(&u, 0, sizeof(u));
  u.listener_count = 1;
  for (i = 0; i < 20; i++) {
    u.listeners = i % 2 == 0 ? &two : &one;
    CHECK(iocpd_server_update(s, &u, &r) == 0);
    CHECK(r.kept == 1 && r.added == 0 && r.removed == 0 && r.failed == 0);
    tnet_sleep_ms(20);
  }
  atomic_store(&p.stop, 1);
  iocpd_thread_join(t);
  printf("kept listener, 20 updates: %u connections answered 'one', %u 'two', %u otherwise%s%s\n",
         p.one, p.two, p.bad, p.bad ? ", last: " : "", p.last_bad);
  CHECK(p.bad == 0);
  CHECK(p.one > 0 && p.two > 0);
  /* The last update gave "one": every new connection gets it. */
  for (i = 0; i < 5; i++) {
    answer(port, got, sizeof(got));
    CHECK(strcmp(got, "one") == 0);
  }
  iocpd_server_destroy(s);
}

static atomic_int released;
static void note_release(void *arg) {
  (void)arg;
  atomic_fetch_add(&released, 1);
}

static int last_error_seen;
static char last_error[256];
static void note_error(void *arg, const iocpd_error_info *err) {
  (void)arg;
  last_error_seen++;
  snprintf(last_error, sizeof(last_error), "%s", err->message);
}

static void test_add_remove_drain_release(void) {
  uint16_t pa = tnet_free_port(), pb = tnet_free_port();
  iocpd_listener_options both[2], only_a[1];
  iocpd_server *s;
  iocpd_update_options u;
  iocpd_update_report r;
  tsock held;
  uint64_t t0;
  int i;

  only_a[0] = echo_listener("a", pa);
  both[0] = echo_listener("a", pa);
  both[1] = echo_listener("b", pb);
  s = create(only_a, 1);
  CHECK(s != NULL);
  if (s == NULL) return;

  /* Add b (settings released when replaced and unused). */
  memset(&u, 0, sizeof(u));
  u.listeners = both;
  u.listener_count = 2;
  u.drain_ms = 600;
  u.release = note_release;
  CHECK(iocpd_server_update(s, &u, &r) == 0);
  CHECK(r.kept == 1 && r.added == 1 && r.removed == 0 && r.failed == 0);
  held = tnet_connect(pb);
  CHECK(held != TSOCK_BAD);
  if (held == TSOCK_BAD) {
    iocpd_server_destroy(s);
    return;
  }
  CHECK(tnet_echoes(held, "before"));

  /* Remove b: its port refuses at once, its open connection goes on. */
  u.listeners = only_a;
  u.listener_count = 1;
  u.release = NULL;
  t0 = iocpd_now_ms();
  CHECK(iocpd_server_update(s, &u, &r) == 0);
  CHECK(r.kept == 1 && r.added == 0 && r.removed == 1 && r.draining == 1);
  {
    tsock probe = tnet_connect(pb);
    CHECK(probe == TSOCK_BAD);
    if (probe != TSOCK_BAD) tnet_close(probe);
  }
  CHECK(tnet_echoes(held, "during the drain"));
  /* a took the second update's settings; b's open connection still
   * holds the first update's. */
  CHECK(atomic_load(&released) == 0);
  /* At drain_ms it is aborted. */
  tnet_timeout(held, 3000);
  CHECK(tnet_sees_end(held));
  printf("removed listener's connection ended %llu ms after the update (drain 600 ms)\n",
         (unsigned long long)(iocpd_now_ms() - t0));
  CHECK(iocpd_now_ms() - t0 >= 550);
  tnet_close(held);
  /* Its last connection gone, the first update's settings are released. */
  for (i = 0; i < 200 && atomic_load(&released) == 0; i++) tnet_sleep_ms(10);
  CHECK(atomic_load(&released) == 1);
  {
    tsock c = tnet_connect(pa);
    CHECK(c != TSOCK_BAD);
    if (c != TSOCK_BAD) {
      CHECK(tnet_echoes(c, "a is still there"));
      tnet_close(c);
    }
  }
  iocpd_server_destroy(s);
}

static void test_bind_failure_and_bad_calls(void) {
  uint16_t ports[3], pa, taken, pc;
  iocpd_listener_options l[3], dup[2];
  iocpd_server *s;
  iocpd_update_options u;
  iocpd_update_report r;
  struct sockaddr_in sin;
  tsock blocker = socket(AF_INET, SOCK_STREAM, 0), c;

  /* Three different ports: the blocked one must not be a's or c's. */
  CHECK(tnet_free_ports(ports, 3));
  pa = ports[0];
  taken = ports[1];
  pc = ports[2];
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(taken);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(blocker, (struct sockaddr *)&sin, sizeof(sin)) == 0);
  CHECK(listen(blocker, 1) == 0);
  l[0] = echo_listener("a", pa);
  l[1] = echo_listener("busy", taken);
  l[2] = echo_listener("c", pc);
  s = create(l, 1);
  CHECK(s != NULL);
  if (s == NULL) return;
  memset(&u, 0, sizeof(u));
  u.listeners = l;
  u.listener_count = 3;
  u.on_error = note_error;
  CHECK(iocpd_server_update(s, &u, &r) == 0);
  CHECK(r.kept == 1 && r.added == 1 && r.failed == 1);
  CHECK(last_error_seen == 1);
  CHECK(strstr(last_error, "listener busy: cannot bind 127.0.0.1:") != NULL);
  c = tnet_connect(pc);
  CHECK(c != TSOCK_BAD);
  if (c != TSOCK_BAD) {
    CHECK(tnet_echoes(c, "c was added"));
    tnet_close(c);
  }
  tnet_close(blocker);

  /* Two listeners of one name: nothing changes. */
  dup[0] = echo_listener("x", tnet_free_port());
  dup[1] = echo_listener("x", tnet_free_port());
  u.listeners = dup;
  u.listener_count = 2;
  CHECK(iocpd_server_update(s, &u, &r) == IOCPD_EINVAL);
  c = tnet_connect(pc);
  CHECK(c != TSOCK_BAD);
  if (c != TSOCK_BAD) tnet_close(c);
  /* Once stopping, no update. */
  iocpd_server_close_listeners(s);
  u.listeners = l;
  u.listener_count = 1;
  CHECK(iocpd_server_update(s, &u, &r) == IOCPD_ECLOSED);
  iocpd_server_destroy(s);
}

int main(void) {
  tnet_init();
  test_kept_listener_never_refuses();
  test_add_remove_drain_release();
  test_bind_failure_and_bad_calls();
  return check_summary();
}
