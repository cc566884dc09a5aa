/*
 * udp_echo: a UDP echo server that should never be the slowest part of a
 * UDP benchmark: the upstream behind the relays in U1, U2 and U-idle.
 *
 *   udp_echo -p PORT
 *
 * Binds 127.0.0.1:PORT and sends every datagram back to where it came
 * from, unchanged, one thread. Datagrams are taken in batches of up to
 * BATCH with one recvmmsg (blocking until the first, then whatever else is
 * queued) and all of a batch go back with one sendmmsg, so a busy relay
 * costs it one pair of system calls per batch rather than per datagram.
 * Its socket buffers are raised to BUF_BYTES (past net.core.rmem_max when
 * run as root) so that a burst from a relay is queued, not dropped, here.
 * Runs until killed; on SIGTERM or SIGINT it prints what it echoed to
 * stderr and exits 0.
 */
/* The CMake build (tests/blackbox.cmake) defines it on the command line. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#define BATCH 64
#define MAX_DATAGRAM 65536
#define BUF_BYTES (8 << 20)

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static void die(const char *what) {
  fprintf(stderr, "udp_echo: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* Sets a socket buffer to BUF_BYTES: the FORCE option ignores the sysctl
 * cap but needs CAP_NET_ADMIN; without it the capped size will do. */
static void raise_buffer(int fd, int force, int plain) {
  int v = BUF_BYTES;
  if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) != 0)
    setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v));
}

int main(int argc, char **argv) {
  static unsigned char data[BATCH][MAX_DATAGRAM];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_in from[BATCH], addr;
  struct sigaction sa;
  unsigned long long datagrams = 0, bytes = 0, batches = 0, send_errors = 0;
  int fd, port = 0, i;

  for (i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "-p") == 0) port = atoi(argv[i + 1]);
  }
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "usage: udp_echo -p PORT\n");
    return 2;
  }
  /* No SA_RESTART: the signal must end the blocking recvmmsg. */
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  raise_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF);
  raise_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF);
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) die("bind");

  while (!stop) {
    int n, sent = 0;
    for (i = 0; i < BATCH; i++) {
      iov[i].iov_base = data[i];
      iov[i].iov_len = MAX_DATAGRAM;
      memset(&msgs[i], 0, sizeof(msgs[i]));
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
    }
    n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recvmmsg");
    }
    /* Each datagram goes back as long as it came, to its own source. */
    for (i = 0; i < n; i++) {
      iov[i].iov_len = msgs[i].msg_len;
      bytes += msgs[i].msg_len;
    }
    datagrams += (unsigned long long)n;
    batches++;
    while (sent < n) {
      int k = sendmmsg(fd, msgs + sent, (unsigned)(n - sent), 0);
      if (k < 0) {
        if (errno == EINTR && !stop) continue;
        /* A source that is gone (ICMP unreachable reported here) loses
         * its echo; the rest of the batch still goes. */
        send_errors++;
        k = 1;
      }
      sent += k;
    }
  }
  fprintf(stderr, "udp_echo: %llu datagrams, %llu bytes echoed in %llu batches, %llu send errors\n",
          datagrams, bytes, batches, send_errors);
  close(fd);
  return 0;
}
