/*
 * A tiny blocking TCP client for the C tests, so the same test source runs
 * natively (BSD sockets) and as a Windows PE under Wine (Winsock). Test
 * support code only: the engine itself never uses #ifdef for platforms.
 */
#ifndef IOCPD_TESTNET_H
#define IOCPD_TESTNET_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
typedef SOCKET tsock;
#define TSOCK_BAD INVALID_SOCKET
static inline void tnet_init(void) {
  WSADATA wsa;
  WSAStartup(MAKEWORD(2, 2), &wsa);
}
static inline void tnet_close(tsock s) { closesocket(s); }
static inline void tnet_sleep_ms(unsigned ms) { Sleep(ms); }
#define TNET_SHUT_WR SD_SEND
#else
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
typedef int tsock;
#define TSOCK_BAD (-1)
static inline void tnet_init(void) {}
static inline void tnet_close(tsock s) { close(s); }
static inline void tnet_sleep_ms(unsigned ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}
#define TNET_SHUT_WR SHUT_WR
#endif

/* The local port of a bound or connected IPv4 socket. */
static inline uint16_t tnet_local_port(tsock s) {
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  getsockname(s, (struct sockaddr *)&sin, &len);
  return ntohs(sin.sin_port);
}

/* A port on 127.0.0.1 that was free a moment ago. */
static inline uint16_t tnet_free_port(void) {
  struct sockaddr_in sin;
  socklen_t len = sizeof(sin);
  uint16_t port = 0;
  tsock s = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
      getsockname(s, (struct sockaddr *)&sin, &len) == 0)
    port = ntohs(sin.sin_port);
  tnet_close(s);
  return port;
}

/* n distinct ports on 127.0.0.1 that were free a moment ago: the
 * sockets are held until every port is chosen (two tnet_free_port calls
 * may return the same port). Returns 1, or 0 if a socket failed. */
static inline int tnet_free_ports(uint16_t *out, size_t n) {
  tsock held[16];
  size_t i, k;
  int ok = n <= 16;
  for (i = 0; ok && i < n; i++) {
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    held[i] = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (held[i] == TSOCK_BAD || bind(held[i], (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(held[i], (struct sockaddr *)&sin, &len) != 0) {
      if (held[i] != TSOCK_BAD) tnet_close(held[i]);
      ok = 0;
      break;
    }
    out[i] = ntohs(sin.sin_port);
  }
  for (k = 0; k < i; k++) tnet_close(held[k]);
  return ok;
}

/* Sets a receive timeout so a broken test fails instead of hanging. */
static inline void tnet_timeout(tsock s, unsigned ms) {
#ifdef _WIN32
  DWORD t = ms;
#else
  struct timeval t;
  t.tv_sec = ms / 1000;
  t.tv_usec = (ms % 1000) * 1000;
#endif
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&t, sizeof(t));
}

/* Connects from the IPv4 address src (e.g. "127.0.0.2"; NULL for the
 * default) to dst:port (NULL for 127.0.0.1). */
static inline tsock tnet_connect_between(const char *src, const char *dst, uint16_t port) {
  struct sockaddr_in sin;
  tsock s = socket(AF_INET, SOCK_STREAM, 0);
  if (src != NULL) {
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, src, &sin.sin_addr);
    if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
      tnet_close(s);
      return TSOCK_BAD;
    }
  }
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  inet_pton(AF_INET, dst != NULL ? dst : "127.0.0.1", &sin.sin_addr);
  if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
    tnet_close(s);
    return TSOCK_BAD;
  }
  tnet_timeout(s, 10000);
  return s;
}

/* Connects to 127.0.0.1:port from the loopback address src (NULL for the
 * default). */
static inline tsock tnet_connect_from(const char *src, uint16_t port) {
  return tnet_connect_between(src, NULL, port);
}

static inline tsock tnet_connect(uint16_t port) { return tnet_connect_from(NULL, port); }

/* Returns 1 if nothing at all arrives within ms (the read times out). */
static inline int tnet_silent_for(tsock s, unsigned ms) {
  char c;
  int n, timed_out;
  tnet_timeout(s, ms);
  n = recv(s, &c, 1, 0);
  /* Read the error before the next socket call overwrites it. */
#ifdef _WIN32
  timed_out = n < 0 && WSAGetLastError() == WSAETIMEDOUT;
#else
  timed_out = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
#endif
  tnet_timeout(s, 10000);
  return timed_out;
}

static inline int tnet_send_all(tsock s, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    int n = send(s, p, (int)len, 0);
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Reads exactly len bytes; returns 0, or -1 on EOF, error or timeout. */
static inline int tnet_recv_exact(tsock s, void *data, size_t len) {
  char *p = data;
  while (len > 0) {
    int n = recv(s, p, (int)len, 0);
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Returns 1 if the peer ended the stream (EOF or reset) within the receive
 * timeout without sending anything more; 0 on data or timeout. */
static inline int tnet_sees_end(tsock s) {
  char c;
  int n = recv(s, &c, 1, 0);
  if (n == 0) return 1;
  if (n > 0) return 0;
#ifdef _WIN32
  return WSAGetLastError() == WSAETIMEDOUT ? 0 : 1;
#else
  return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : 1;
#endif
}

/* Sends msg and expects it echoed back; returns 1 if it was. */
static inline int tnet_echoes(tsock s, const char *msg) {
  char buf[64];
  size_t n = strlen(msg);
  return tnet_send_all(s, msg, n) == 0 && tnet_recv_exact(s, buf, n) == 0 &&
         memcmp(buf, msg, n) == 0;
}

#endif /* IOCPD_TESTNET_H */
