/*
 * What the engine's C tests (test_engine.c, test_splice.c) share: counted
 * checks that report file and line and let the test run on, and small
 * helpers around a server under test. Each test is one translation unit,
 * so the counters live here as statics.
 */
#ifndef IOCPD_TESTENGINE_H
#define IOCPD_TESTENGINE_H

#include <stdio.h>

#include "iocpd.h"
#include "testnet.h"

static int failures, checks;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    checks++;                                                                                      \
    if (!(cond)) {                                                                                 \
      failures++;                                                                                  \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
    }                                                                                              \
  } while (0)

/* Prints the tally; returns the process exit code. */
static inline int check_summary(void) {
  printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}

static inline iocpd_addr loopback(uint16_t port) {
  iocpd_addr a;
  iocpd_addr_parse_ip("127.0.0.1", &a);
  a.port = port;
  return a;
}

/* Waits up to 5 s for the server's connection count to become n. */
static inline int wait_count(iocpd_server *s, size_t n) {
  int i;
  for (i = 0; i < 500; i++) {
    if (iocpd_server_connection_count(s) == n) return 1;
    tnet_sleep_ms(10);
  }
  return 0;
}

/* A server with one listener "test" on 127.0.0.1:port with handler h;
 * NULL (after printing why) if it cannot start. */
static inline iocpd_server *start_server(const iocpd_handler *h, uint16_t port, unsigned workers) {
  iocpd_listener_options l;
  iocpd_server_options o;
  iocpd_error_info err;
  iocpd_server *s = NULL;
  memset(&l, 0, sizeof(l));
  memset(&o, 0, sizeof(o));
  l.name = "test";
  l.addr = loopback(port);
  l.handler = h;
  o.workers = workers;
  o.listeners = &l;
  o.listener_count = 1;
  if (iocpd_server_create(&o, &s, &err) != 0) {
    fprintf(stderr, "cannot start: %s\n", err.message);
    return NULL;
  }
  return s;
}

#endif /* IOCPD_TESTENGINE_H */
