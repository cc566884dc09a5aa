/*
 * soak: command line, the two processes, and the driver protocol.
 *
 *   soak --driver [options]       (what tests/test_soak.py runs)
 *   soak --ports MAIN,FAILOVER,SILENT --upstream-port P --refused-port R [options]
 *
 * iocpd must serve three forward listeners: MAIN (upstream = the soak's
 * upstream), FAILOVER (upstream = REFUSED, then the soak's upstream: the
 * first is a port bound by the soak but never listened on, so connecting
 * to it is refused) and SILENT (upstream = the soak's upstream, with
 * handshake_timeout = --handshake-ms).
 *
 * Driver protocol, one line each way at a time:
 *   soak:   ports UPSTREAM REFUSED
 *   driver: go MAIN FAILOVER SILENT        (once iocpd runs with them)
 *   soak:   held N                          (N relayed connections open at once)
 *   driver: release                         (after it has looked at iocpd)
 *   soak:   result {json}                   (then exits: 0 passed, 1 failed)
 * Everything for people goes to stderr. Exit status 2: usage or set-up
 * error. --reset-eof-ok lets a reset arrive as a clean EOF (the Wine run
 * needs it; see report.c); --corrupt CONN flips one byte of connection
 * CONN's upload, to see the checks fail. The whole run is bounded: a
 * watchdog stops it after 30 s without progress, --time-limit after that
 * long in all, and SIGALRM a minute later as a last resort; the upstream
 * process dies with the client.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "soak.h"

#define EXIT_SETUP 2
/* Descriptors each process needs beyond one per connection. */
#define FD_RESERVE 64

static void usage(void) {
  fprintf(
      stderr,
      "usage: soak (--driver | --ports MAIN,FAILOVER,SILENT --upstream-port P --refused-port R)\n"
      "            [--seed N] [--relayed N] [--silent N] [--max-size SIZE] [--min-bytes SIZE]\n"
      "            [--pause-max MS] [--handshake-ms MS] [--end-bound MS] [--ramp MS]\n"
      "            [--time-limit MS] [--connecting N] [--max-open N] [--corrupt CONN]\n"
      "            [--reset-eof-ok]\n"
      "SIZE takes k, m or g (binary). See tests/soak/main.c for the protocol.\n");
}

/* "64k", "8m", "1g" or a plain number of bytes. Returns 0, or -1 if bad. */
static int parse_size(const char *s, uint64_t *out) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || end == s) return -1;
  switch (*end) {
    case 'k':
      v <<= 10;
      end++;
      break;
    case 'm':
      v <<= 20;
      end++;
      break;
    case 'g':
      v <<= 30;
      end++;
      break;
    default: break;
  }
  if (*end != '\0') return -1;
  *out = v;
  return 0;
}

static int parse_u32(const char *s, uint32_t *out) {
  uint64_t v;
  if (parse_size(s, &v) != 0 || v > UINT32_MAX) return -1;
  *out = (uint32_t)v;
  return 0;
}

static int parse_ports(const char *s, soak_params *p) {
  unsigned a, b, c;
  char tail;
  if (sscanf(s, "%u,%u,%u%c", &a, &b, &c, &tail) != 3 || a > 65535 || b > 65535 || c > 65535)
    return -1;
  p->main_port = (uint16_t)a;
  p->failover_port = (uint16_t)b;
  p->silent_port = (uint16_t)c;
  return 0;
}

typedef struct ports {
  uint32_t upstream, refused;
} ports;

static int parse_args(int argc, char **argv, soak_params *p, ports *fixed) {
  int i, silent_set = 0, max_open_set = 0;
  memset(p, 0, sizeof(*p));
  memset(fixed, 0, sizeof(*fixed));
  p->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
  p->relayed = 1000;
  p->max_size = 8u << 20;
  p->min_bytes = 128u << 20;
  p->pause_max_ms = 1500;
  p->handshake_ms = 2000;
  p->end_bound_ms = 5000;
  p->ramp_ms = 60000;
  p->time_limit_ms = 300000;
  p->connecting_max = 256;
  p->corrupt = -1;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    uint64_t n;
    if (strcmp(a, "--driver") == 0) {
      p->driver = 1;
      continue;
    }
    if (strcmp(a, "--reset-eof-ok") == 0) {
      p->reset_eof_ok = 1;
      continue;
    }
    if (v == NULL) return -1;
    i++;
    if (strcmp(a, "--seed") == 0) {
      bad = parse_size(v, &p->seed);
    } else if (strcmp(a, "--relayed") == 0) {
      bad = parse_u32(v, &p->relayed);
    } else if (strcmp(a, "--silent") == 0) {
      bad = parse_u32(v, &p->silent);
      silent_set = 1;
    } else if (strcmp(a, "--max-size") == 0) {
      bad = parse_size(v, &p->max_size) || p->max_size < 2;
    } else if (strcmp(a, "--min-bytes") == 0) {
      bad = parse_size(v, &p->min_bytes);
    } else if (strcmp(a, "--pause-max") == 0) {
      bad = parse_u32(v, &p->pause_max_ms);
    } else if (strcmp(a, "--handshake-ms") == 0) {
      bad = parse_u32(v, &p->handshake_ms);
    } else if (strcmp(a, "--end-bound") == 0) {
      bad = parse_u32(v, &p->end_bound_ms);
    } else if (strcmp(a, "--ramp") == 0) {
      bad = parse_u32(v, &p->ramp_ms);
    } else if (strcmp(a, "--time-limit") == 0) {
      bad = parse_u32(v, &p->time_limit_ms);
    } else if (strcmp(a, "--connecting") == 0) {
      bad = parse_u32(v, &p->connecting_max) || p->connecting_max == 0;
    } else if (strcmp(a, "--max-open") == 0) {
      bad = parse_u32(v, &p->max_open);
      max_open_set = 1;
    } else if (strcmp(a, "--corrupt") == 0) {
      bad = parse_size(v, &n);
      p->corrupt = (int64_t)n;
    } else if (strcmp(a, "--ports") == 0) {
      bad = parse_ports(v, p);
    } else if (strcmp(a, "--upstream-port") == 0) {
      bad = parse_u32(v, &fixed->upstream) || fixed->upstream > 65535;
    } else if (strcmp(a, "--refused-port") == 0) {
      bad = parse_u32(v, &fixed->refused) || fixed->refused > 65535;
    } else {
      bad = 1;
    }
    if (bad) return -1;
  }
  if (!silent_set) p->silent = (p->relayed + 24) / 25;
  if (!max_open_set) p->max_open = p->relayed + p->silent;
  if (p->relayed == 0 || p->max_open < p->relayed) return -1;
  if (!p->driver && (p->main_port == 0 || fixed->upstream == 0 || fixed->refused == 0)) return -1;
  return 0;
}

/* A TCP socket bound to 127.0.0.1:port (0: any free port); listening if
 * asked. Returns the descriptor and sets *bound, or -1. */
static int bound_socket(uint32_t port, int listening, uint32_t *bound) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (listening ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      (listening && listen(fd, SOMAXCONN) != 0) ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    close(fd);
    return -1;
  }
  *bound = ntohs(a.sin_port);
  return fd;
}

/* The mapping both processes share, with the per-connection records. */
static soak_shared *map_shared(uint32_t total) {
  size_t size = sizeof(soak_shared) + 2 * (size_t)total * sizeof(soak_side);
  soak_shared *sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (sh == MAP_FAILED) return NULL;
  memset(sh, 0, size);
  sh->total = total;
  sh->client = (soak_side *)(sh + 1);
  sh->upstream = sh->client + total;
  sh->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (sh->wake_fd < 0) {
    munmap(sh, size);
    return NULL;
  }
  return sh;
}

/* Driver mode: reads `go MAIN FAILOVER SILENT` within the time limit. */
static int read_go(soak_params *p) {
  char line[128];
  struct pollfd pfd;
  unsigned a, b, c;
  pfd.fd = 0;
  pfd.events = POLLIN;
  if (poll(&pfd, 1, (int)p->time_limit_ms) != 1 || fgets(line, sizeof(line), stdin) == NULL)
    return -1;
  if (sscanf(line, "go %u %u %u", &a, &b, &c) != 3 || a > 65535 || b > 65535 || c > 65535)
    return -1;
  p->main_port = (uint16_t)a;
  p->failover_port = (uint16_t)b;
  p->silent_port = (uint16_t)c;
  return 0;
}

/* Checks that both processes have descriptors for every connection. */
static int check_fd_limit(const soak_params *p) {
  uint64_t limit = soak_raise_fd_limit();
  uint64_t client_need = (uint64_t)p->max_open + FD_RESERVE;
  uint64_t upstream_need = (uint64_t)p->relayed + p->silent + FD_RESERVE;
  if (limit >= client_need && limit >= upstream_need) return 0;
  fprintf(stderr,
          "soak: descriptor limit %llu is too low: the client needs %llu and the "
          "upstream %llu\n",
          (unsigned long long)limit, (unsigned long long)client_need,
          (unsigned long long)upstream_need);
  return -1;
}

static void print_plan(const soak_params *p, const soak_plan *plans) {
  uint32_t n[KIND_COUNT] = {0}, i, total = p->relayed + p->silent;
  uint64_t bytes = 0;
  int k;
  for (i = 0; i < total; i++) {
    n[plans[i].kind]++;
    bytes += plans[i].up_size + plans[i].down_size;
  }
  fprintf(stderr,
          "soak: seed %llu: %u relayed + %u silent connections, %.1f MiB planned "
          "(1 B..%.0f KiB each way); kinds:",
          (unsigned long long)p->seed, p->relayed, p->silent, (double)bytes / (1 << 20),
          (double)p->max_size / 1024);
  for (k = 0; k < KIND_COUNT; k++) fprintf(stderr, " %s %u", soak_kind_names[k], n[k]);
  fputc('\n', stderr);
}

/* Tells the upstream process to stop and reaps it (killing it if it does
 * not stop within a few seconds). */
static void stop_upstream(soak_shared *sh, pid_t pid) {
  uint64_t one = 1;
  int i, status;
  atomic_store(&sh->quit, 1);
  if (write(sh->wake_fd, &one, sizeof(one)) != (ssize_t)sizeof(one)) kill(pid, SIGKILL);
  for (i = 0; i < 500; i++) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "soak: the upstream process failed (status %d)\n", status);
      return;
    }
    usleep(10000);
  }
  fprintf(stderr, "soak: the upstream process did not stop; killing it\n");
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
}

int main(int argc, char **argv) {
  soak_params p;
  ports fixed;
  soak_plan *plans = NULL;
  soak_shared *sh = NULL;
  uint32_t up_port, refused_port;
  int lfd = -1, refused_fd = -1, rc = EXIT_SETUP;
  pid_t parent = getpid(), pid;
  uint64_t began;
  const char *aborted;

  if (parse_args(argc, argv, &p, &fixed) != 0) {
    usage();
    return EXIT_SETUP;
  }
  signal(SIGPIPE, SIG_IGN);
  if (check_fd_limit(&p) != 0) return EXIT_SETUP;
  plans = soak_plans_build(&p);
  sh = map_shared(p.relayed + p.silent);
  lfd = bound_socket(fixed.upstream, 1, &up_port);
  /* Bound and never listened on: a connect to it is refused, and nobody
   * else can take the port while we hold it. */
  refused_fd = bound_socket(fixed.refused, 0, &refused_port);
  if (plans == NULL || sh == NULL || lfd < 0 || refused_fd < 0) {
    fprintf(stderr, "soak: cannot set up: %s\n", strerror(errno));
    goto out;
  }
  print_plan(&p, plans);
  pid = fork();
  if (pid < 0) {
    fprintf(stderr, "soak: fork: %s\n", strerror(errno));
    goto out;
  }
  if (pid == 0) {
    /* The upstream dies with the client, whatever ends the client. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(EXIT_SETUP);
    close(refused_fd);
    _exit(soak_upstream_run(&p, plans, sh, lfd));
  }
  close(lfd);
  lfd = -1;
  if (p.driver) {
    printf("ports %u %u\n", up_port, refused_port);
    fflush(stdout);
    if (read_go(&p) != 0) {
      fprintf(stderr, "soak: no `go MAIN FAILOVER SILENT` line from the driver\n");
      stop_upstream(sh, pid);
      goto out;
    }
  }
  /* The last resort if the loop itself hangs: SIGALRM ends the process. */
  alarm(p.time_limit_ms / 1000 + 60);
  began = soak_now_ns();
  aborted = soak_client_run(&p, plans, sh, began);
  stop_upstream(sh, pid);
  rc = soak_report(&p, plans, sh, began, soak_now_ns(), aborted) == 0 ? 0 : 1;
out:
  if (lfd >= 0) close(lfd);
  if (refused_fd >= 0) close(refused_fd);
  if (sh != NULL) close(sh->wake_fd); /* the mapping goes with the process */
  free(plans);
  return rc;
}
