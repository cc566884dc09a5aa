/*
 * epoll_echo: the smallest reasonable epoll echo server, as a yardstick.
 *
 *   epoll_echo -p PORT [--sink | --proxy]
 *
 * Listens on 127.0.0.1:PORT, one thread, level-triggered epoll. A readable
 * connection gets one recv into a shared 64 KiB buffer and the bytes are
 * sent straight back; only when the socket cannot take them all is the rest
 * copied to a per-connection buffer, reading stops, and the connection
 * waits for EPOLLOUT. So an idle connection costs no user-space memory
 * beyond one slot in an array indexed by fd. With --sink it reads and drops
 * everything instead, and closes on EOF (the far end of bulk tests). With
 * --proxy every connection starts with a PROXY header (v1 or v2, as a
 * relay with send_proxy sends it), which is dropped, not echoed; it must
 * arrive whole in the connection's first read (a relay writes it in one
 * piece), or the connection is closed.
 *
 * It is also the upstream behind the relays in the relay benchmarks.
 * Runs until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 256

typedef struct pending {
  size_t len, done;
  char data[]; /* what the socket would not take yet */
} pending;

static pending **waiting;    /* by fd */
static unsigned char *fresh; /* by fd: --proxy, and no byte read yet */
static int proxy_mode;
static size_t max_fds;
static int epfd;
static char buf[BUF_SIZE];

static void die(const char *what) {
  fprintf(stderr, "epoll_echo: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void set_events(int fd, uint32_t events, int op) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof(ev));
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epfd, op, fd, &ev) != 0) die("epoll_ctl");
}

static void drop(int fd) {
  free(waiting[fd]);
  waiting[fd] = NULL;
  close(fd);
}

/* Sends data[0..len) on fd; keeps what does not fit and waits for EPOLLOUT.
 * Returns 0 or -1 (the connection is gone). */
static int send_or_keep(int fd, const char *data, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = send(fd, data + done, len - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pending *p = malloc(sizeof(*p) + (len - done));
      if (p == NULL) return -1;
      p->len = len - done;
      p->done = 0;
      memcpy(p->data, data + done, p->len);
      waiting[fd] = p;
      set_events(fd, EPOLLOUT, EPOLL_CTL_MOD);
      return 0;
    }
    return -1;
  }
  return 0;
}

static void on_writable(int fd) {
  pending *p = waiting[fd];
  while (p->done < p->len) {
    ssize_t n = send(fd, p->data + p->done, p->len - p->done, MSG_NOSIGNAL);
    if (n > 0) {
      p->done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    drop(fd);
    return;
  }
  free(p);
  waiting[fd] = NULL;
  set_events(fd, EPOLLIN, EPOLL_CTL_MOD);
}

/* The length of the PROXY header at the start of p (n bytes), or 0 if
 * there is no whole one. */
static size_t proxy_header_length(const char *p, size_t n) {
  static const char v2_sig[12] = {'\r', '\n', '\r', '\n', '\0', '\r',
                                  '\n', 'Q',  'U',  'I',  'T',  '\n'};
  size_t i;
  if (n >= 16 && memcmp(p, v2_sig, 12) == 0) {
    size_t len = 16 + ((size_t)(unsigned char)p[14] << 8 | (unsigned char)p[15]);
    return len <= n ? len : 0;
  }
  if (n >= 8 && memcmp(p, "PROXY ", 6) == 0) {
    for (i = 6; i + 1 < n && i < 107; i++) {
      if (p[i] == '\r' && p[i + 1] == '\n') return i + 2;
    }
  }
  return 0;
}

static void on_readable(int fd, int sink) {
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      size_t skip = 0;
      if (sink) continue; /* drain all, then wait for the next event */
      if (fresh[fd]) {
        fresh[fd] = 0;
        skip = proxy_header_length(buf, (size_t)n);
        if (skip == 0) {
          drop(fd);
          return;
        }
      }
      if ((size_t)n > skip && send_or_keep(fd, buf + skip, (size_t)n - skip) != 0) drop(fd);
      return;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    drop(fd); /* EOF or error */
    return;
  }
}

static void on_accept(int lfd) {
  for (;;) {
    int on = 1, fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return; /* EAGAIN, or out of fds: try again on the next event */
    }
    if ((size_t)fd >= max_fds) {
      close(fd);
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    fresh[fd] = (unsigned char)proxy_mode;
    set_events(fd, EPOLLIN, EPOLL_CTL_ADD);
  }
}

int main(int argc, char **argv) {
  struct epoll_event ev[MAX_EVENTS];
  struct sockaddr_in sa;
  struct rlimit rl;
  int i, lfd, on = 1, port = 0, sink = 0;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--sink") == 0) {
      sink = 1;
    } else if (strcmp(argv[i], "--proxy") == 0) {
      proxy_mode = 1;
    } else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
      port = atoi(argv[++i]);
    } else {
      port = 0;
      break;
    }
  }
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "usage: epoll_echo -p PORT [--sink | --proxy]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    max_fds = (size_t)rl.rlim_cur;
  }
  if (max_fds == 0 || max_fds > 1u << 20) max_fds = 1u << 20;
  waiting = calloc(max_fds, sizeof(*waiting));
  fresh = calloc(max_fds, 1);
  if (waiting == NULL || fresh == NULL) die("calloc");

  lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0) die("bind");
  if (listen(lfd, 4096) != 0) die("listen");
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");
  set_events(lfd, EPOLLIN, EPOLL_CTL_ADD);
  fprintf(stderr, "epoll_echo: %s on 127.0.0.1:%d\n", sink ? "sink" : "echo", port);

  for (;;) {
    int n = epoll_wait(epfd, ev, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (i = 0; i < n; i++) {
      int fd = ev[i].data.fd;
      if (fd == lfd) {
        on_accept(lfd);
      } else if (waiting[fd] != NULL) {
        on_writable(fd);
      } else {
        on_readable(fd, sink);
      }
    }
  }
}
