/* soak: what the kernel says about a connection that never ended. */
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "soak.h"

static const char *tcp_state(unsigned st) {
  static const char *const names[] = {"?",          "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
                                      "FIN_WAIT1",  "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
                                      "CLOSE_WAIT", "LAST_ACK",    "LISTEN",    "CLOSING"};
  return st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

static int port_of(int fd, int peer) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int rc = peer ? getpeername(fd, (struct sockaddr *)&a, &len)
                : getsockname(fd, (struct sockaddr *)&a, &len);
  return rc == 0 ? ntohs(a.sin_port) : -1;
}

/* Prints the /proc/net/tcp row of the socket local_port -> remote_port on
 * 127.0.0.1, if there is one. */
static void print_row(const char *whose, int local_port, int remote_port) {
  char line[512];
  FILE *f = fopen("/proc/net/tcp", "r");
  if (f == NULL) return;
  while (fgets(line, sizeof(line), f) != NULL) {
    unsigned la, lp, ra, rp, st;
    unsigned long tx, rx;
    if (sscanf(line, " %*d: %x:%x %x:%x %x %lx:%lx", &la, &lp, &ra, &rp, &st, &tx, &rx) != 7)
      continue;
    if ((int)lp != local_port || (int)rp != remote_port) continue;
    fprintf(stderr, "soak:     %s socket %d -> %d: %s, %lu bytes unsent, %lu unread\n", whose,
            local_port, remote_port, tcp_state(st), tx, rx);
  }
  fclose(f);
}

void soak_diag_socket(const char *who, uint32_t index, const soak_side *rec, int fd) {
  int inq = -1, outq = -1;
  int lp = fd >= 0 ? port_of(fd, 0) : -1, rp = fd >= 0 ? port_of(fd, 1) : -1;
  if (fd >= 0) {
    ioctl(fd, SIOCINQ, &inq);
    ioctl(fd, SIOCOUTQ, &outq);
  }
  fprintf(stderr,
          "soak:   %s side of conn %u still open: sent %llu, received %llu; socket %d -> %d, "
          "%d bytes unread, %d unsent\n",
          who, index, (unsigned long long)rec->sent, (unsigned long long)rec->received, lp, rp, inq,
          outq);
  if (lp < 0 || rp < 0) return;
  /* The same pair seen from the other end: iocpd's socket. */
  print_row("iocpd's", rp, lp);
}
