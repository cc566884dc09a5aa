/*
 * loadgen's command line, its table of modes, and the run: parse the
 * options, set up the pattern, the connections and the epoll set, run the
 * mode, print the report (the common JSON fields around the mode's own).
 * loadgen.h describes the program.
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>

/* The modes, in the order usage lists them. Adding one is a file with its
 * row (a loadgen_mode) and a line here. */
static const loadgen_mode *const modes[] = {&mode_echo,     &mode_bulk,       &mode_connrate,
                                            &mode_idle,     &mode_stream,     &mode_churn,
                                            &mode_udp_echo, &mode_udp_stream, &mode_udp_idle};
#define MODES (sizeof(modes) / sizeof(modes[0]))

options opt;
volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
  (void)sig;
  interrupted = 1;
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* ------------------------------------------------------------------------ */
/* Command line */

static void usage(void) {
  size_t i;
  fprintf(stderr, "usage: loadgen ");
  for (i = 0; i < MODES; i++) fprintf(stderr, "%s%s", i > 0 ? "|" : "", modes[i]->name);
  fprintf(stderr, " -p PORT [options]\n"
                  "  -H, --host ADDR        target address; only 127.0.0.1 is accepted\n"
                  "  -p, --port PORT        target port (required)\n"
                  "  -c, --connections N    connections (parallel slots for connrate; UDP\n"
                  "                         sessions for the udp- modes)\n"
                  "  -s, --size BYTES       message size (echo, udp-echo 64, bulk and stream\n"
                  "                         write 65536, connrate 1024, udp-stream 1400)\n"
                  "  -W, --window N         stream: most bytes unechoed per connection\n"
                  "                         (default 1048576); udp-stream: most datagrams\n"
                  "                         out per session (default 16)\n"
                  "  -d, --duration SECS    how long to run (idle: how long to hold)\n"
                  "  -n, --count N          stop after N messages / bytes / connections\n"
                  "  -w, --warmup SECS      echo, stream, udp-echo, udp-stream: run this\n"
                  "                         long before measuring\n"
                  "  -t, --connect-timeout SECS  for setting up connections (default 30)\n"
                  "  -l, --label TEXT       copied into the JSON output\n"
                  "  -r, --ready-file PATH  idle, udp-idle: created once every connection\n"
                  "                         or session is up\n");
  fprintf(stderr, "  --long N               churn: long transfers open for the whole run\n"
                  "                         (default 50)\n"
                  "  --long-size BYTES      churn: bytes each long transfer sends per 10 ms\n"
                  "                         (default 16384)\n"
                  "  --reload-cmd CMD       churn: run CMD (/bin/sh -c) during the run\n"
                  "  --reloads N            churn: that many times (default 10)\n"
                  "  --reload-every SECS    churn: this far apart (default: evenly spread)\n"
                  "  --reload-window SECS   churn: seconds after CMD that still count as\n"
                  "                         during it (default 1)\n");
  exit(2);
}

static double parse_num(const char *s, const char *what) {
  char *end;
  double v;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || v < 0) {
    fprintf(stderr, "loadgen: bad %s '%s'\n", what, s);
    exit(2);
  }
  return v;
}

static void parse_args(int argc, char **argv) {
  int i;
  size_t m;
  const char *host = "127.0.0.1";
  int long_given = 0, reloads_given = 0;
  if (argc < 2) usage();
  for (m = 0; m < MODES; m++) {
    if (strcmp(argv[1], modes[m]->name) == 0) break;
  }
  if (m == MODES) usage();
  opt.mode = modes[m];
  opt.conns = 1;
  opt.size = 0;
  opt.duration = 5;
  opt.connect_timeout = 30;
  opt.label = "";
  opt.long_size = 16384;
  opt.reload_window = 1;
  /* Every option takes a value: they come in pairs. */
  for (i = 2; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define IS(s, l) (strcmp(a, s) == 0 || strcmp(a, l) == 0)
    if (v == NULL) usage();
    if (IS("-H", "--host")) {
      host = v;
    } else if (IS("-p", "--port")) {
      opt.port = (int)parse_num(v, "port");
    } else if (IS("-c", "--connections")) {
      opt.conns = (unsigned)parse_num(v, "connection count");
    } else if (IS("-s", "--size")) {
      opt.size = (size_t)parse_num(v, "size");
    } else if (IS("-d", "--duration")) {
      opt.duration = parse_num(v, "duration");
    } else if (IS("-n", "--count")) {
      opt.count = (uint64_t)parse_num(v, "count");
    } else if (IS("-w", "--warmup")) {
      opt.warmup = parse_num(v, "warmup");
    } else if (IS("-t", "--connect-timeout")) {
      opt.connect_timeout = parse_num(v, "connect timeout");
    } else if (IS("-l", "--label")) {
      opt.label = v;
    } else if (IS("-r", "--ready-file")) {
      opt.ready_file = v;
    } else if (IS("-W", "--window")) {
      opt.window = (size_t)parse_num(v, "window");
    } else if (strcmp(a, "--long") == 0) {
      opt.long_conns = (unsigned)parse_num(v, "long transfer count");
      long_given = 1;
    } else if (strcmp(a, "--long-size") == 0) {
      opt.long_size = (size_t)parse_num(v, "long transfer size");
    } else if (strcmp(a, "--reload-cmd") == 0) {
      opt.reload_cmd = v;
    } else if (strcmp(a, "--reloads") == 0) {
      opt.reloads = (unsigned)parse_num(v, "reload count");
      reloads_given = 1;
    } else if (strcmp(a, "--reload-every") == 0) {
      opt.reload_every = parse_num(v, "reload interval");
    } else if (strcmp(a, "--reload-window") == 0) {
      opt.reload_window = parse_num(v, "reload window");
    } else {
      usage();
    }
#undef IS
  }
  /* Loopback only, and only the one address: a benchmark tool that can
   * flood any host is a tool for flooding hosts. */
  if (strcmp(host, "127.0.0.1") != 0) {
    fprintf(stderr, "loadgen: refusing target '%s': only 127.0.0.1 is allowed\n", host);
    exit(2);
  }
  if (opt.port <= 0 || opt.port > 65535) usage();
  if (opt.conns == 0 || opt.conns > 100000) {
    fprintf(stderr, "loadgen: connections must be 1..100000\n");
    exit(2);
  }
  if (opt.duration <= 0 || opt.duration > 3600) {
    fprintf(stderr, "loadgen: duration must be in (0, 3600] seconds\n");
    exit(2);
  }
  /* Long transfers and reloads are churn's (the modes whose row has a
   * default_long). */
  if (!long_given) opt.long_conns = opt.mode->default_long;
  if (opt.mode->default_long == 0 && (long_given || opt.reload_cmd != NULL || reloads_given)) {
    fprintf(stderr, "loadgen: --long and --reload-* are for churn only\n");
    exit(2);
  }
  if (opt.reload_cmd != NULL && !reloads_given) opt.reloads = 10;
  if ((opt.reloads > 0 && opt.reload_cmd == NULL) || opt.reloads > 1000 || opt.long_conns > 10000 ||
      opt.long_size == 0 || opt.long_size > PATTERN_LEN) {
    fprintf(stderr,
            "loadgen: --reloads (1..1000) needs --reload-cmd; --long is 0..10000, "
            "--long-size 1..%u\n",
            PATTERN_LEN);
    exit(2);
  }
  if (opt.size == 0) opt.size = opt.mode->default_size;
  if (opt.window == 0) opt.window = opt.mode == &mode_udp_stream ? UDP_WINDOW : PATTERN_LEN;
  if (opt.size > PATTERN_LEN) {
    fprintf(stderr, "loadgen: size must be at most %u bytes\n", PATTERN_LEN);
    exit(2);
  }
}

/* ------------------------------------------------------------------------ */
/* Report */

/* Prints the JSON line (the fields every mode has around the mode's own)
 * and, through the mode, the line for humans. Returns the exit status. */
static int report(void) {
  double secs = (double)(t_end - t_measure) / 1e9;
  int ok;

  printf("{\"mode\":\"%s\",\"label\":", opt.mode->name);
  json_string(opt.label);
  printf(",\"port\":%d,\"connections\":%u,\"size\":%zu,\"seconds\":%.3f", opt.port, opt.conns,
         opt.size, secs);
  /* The mode reports whatever happened: after a corrupted echo too, its
   * figures and its line say how far the run got. */
  ok = opt.mode->report(secs) && mismatches == 0;
  printf(",\"errors\":%llu,\"corrupt\":%llu,\"ok\":%s}\n", (unsigned long long)errors,
         (unsigned long long)mismatches, ok ? "true" : "false");
  fflush(stdout);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  unsigned i;
  struct sigaction sa;

  parse_args(argc, argv);
  raise_fd_limit();
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  make_pattern();
  scratch_len = opt.mode->scratch_len;
  if (scratch_len < opt.size) scratch_len = opt.size;
  scratch = malloc(scratch_len);
  conns = calloc(opt.long_conns + opt.conns, sizeof(*conns));
  if (scratch == NULL || conns == NULL) die("malloc");
  for (i = 0; i < opt.long_conns + opt.conns; i++) {
    conns[i].fd = -1;
    conns[i].id = i;
  }
  memset(&target, 0, sizeof(target));
  target.sin_family = AF_INET;
  target.sin_port = htons((uint16_t)opt.port);
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) die("epoll_create1");

  opt.mode->run();
  if (t_end == 0) t_end = now_ns();
  if (t_measure == 0) t_measure = t_end;
  return report();
}
