/*
 * soak: judging each connection from both sides' records, and the output.
 *
 * What each kind must show (anything else fails the run):
 *   clean kinds (normal, failover, slow_*, early_*): both sides sent every
 *     planned byte and then FIN, and both received exactly the other's
 *     planned bytes, each one right, then a clean EOF.
 *   client_reset: the client reset after `cut` bytes of upload; the
 *     upstream received a correct prefix of them and then saw the end as a
 *     reset (or another error), within end_bound of the client's reset. A
 *     clean EOF there is a defect: the upstream cannot tell the stream was
 *     cut short.
 *   upstream_reset: the same, mirrored.
 *   With --reset-eof-ok (the Wine run) that clean EOF is counted apart
 *     instead of failing, every other check still applying: Wine 8 itself
 *     reports a peer's reset as a successful 0-byte receive when the reset
 *     arrives while the receiver is still reading data (an overlapped
 *     WSARecv on a plain Winsock socket shows it, no iocpd involved), so
 *     iocpd.exe cannot tell such a reset from a FIN there. Windows reports
 *     it as an error (WSAECONNRESET or ERROR_NETNAME_DELETED).
 *   silent: iocpd closed the client with a clean EOF, no byte sent, after
 *     handshake_timeout (counted from the connect() call; at most end_bound
 *     later); its relay's upstream side ended with a clean EOF before any
 *     header.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "soak.h"

#define MAX_HOWS 8          /* distinct endings tallied per kind */
#define FAILURES_SHOWN 40   /* failures listed one by one ... */
#define FAILURES_PER_KIND 3 /* ... at most this many of one kind */

typedef struct verdict {
  int ok;
  const char *how;  /* how it ended, for the tallies (a static string) */
  double latency_s; /* faults: from the fault to the far end seeing it; else -1 */
  char why[400];    /* when not ok: what went wrong */
} verdict;

typedef struct tally {
  uint32_t count, ok;
  const char *how[MAX_HOWS];
  uint32_t how_n[MAX_HOWS];
  double max_latency_s; /* -1: none */
} tally;

static const char *rx_text(int rx) {
  static const char *const t[] = {"still open",     "clean EOF",    "reset",          "error",
                                  "too many bytes", "a wrong byte", "stopped reading"};
  return rx >= 0 && rx <= RX_STOPPED ? t[rx] : "?";
}

static const char *tx_text(int tx) {
  static const char *const t[] = {"still open", "done (FIN)", "reset",
                                  "error",      "stopped",    "reset by this side"};
  return tx >= 0 && tx <= TX_RESET_BY_US ? t[tx] : "?";
}

static double seconds(uint64_t from, uint64_t to) {
  return to > from ? (double)(to - from) / 1e9 : 0.0;
}

/* Checks one side's receiving direction for exactly `size` right bytes and
 * a clean EOF. Returns 1 if so, else fills why. */
static int rx_exact(const char *who, const char *what, const soak_side *s, uint64_t size, char *why,
                    size_t why_len) {
  if (s->rx == RX_CORRUPT) {
    snprintf(why, why_len, "%s: byte %" PRIu64 " of the %s differs", who, s->bad_at, what);
    return 0;
  }
  if (s->rx != RX_EOF || s->received != size) {
    snprintf(why, why_len, "%s: %s ended by %s after %" PRIu64 " of %" PRIu64 " bytes%s", who, what,
             rx_text(s->rx), s->received, size, s->rx == RX_OPEN ? " (hang)" : "");
    return 0;
  }
  return 1;
}

static int tx_done(const char *who, const char *what, const soak_side *s, uint64_t size, char *why,
                   size_t why_len) {
  if (s->tx != TX_DONE || s->sent != size) {
    snprintf(why, why_len, "%s: sending the %s ended by %s after %" PRIu64 " of %" PRIu64 " bytes",
             who, what, tx_text(s->tx), s->sent, size);
    return 0;
  }
  return 1;
}

static void judge_clean(const soak_plan *pl, const soak_side *c, const soak_side *u, verdict *v) {
  char *w = v->why;
  size_t n = sizeof(v->why);
  v->how = "byte-exact, clean EOF both ways";
  if (u->start_ns == 0 && c->tx != TX_OPEN && c->rx != RX_OPEN) {
    snprintf(w, n,
             "the upstream never read this connection's header (client: download %s, "
             "upload %s)",
             rx_text(c->rx), tx_text(c->tx));
    v->how = "never reached the upstream";
    v->ok = 0;
    return;
  }
  /* A wrong byte first: the side that saw it resets the connection, and
   * the other side's end is only the consequence. */
  if (u->rx == RX_CORRUPT || c->rx == RX_CORRUPT) {
    int up = u->rx == RX_CORRUPT;
    snprintf(w, n, "%s: byte %" PRIu64 " of the %s differs", up ? "upstream" : "client",
             up ? u->bad_at : c->bad_at, up ? "upload" : "download");
    v->how = "a wrong byte";
    v->ok = 0;
    return;
  }
  v->ok = rx_exact("client", "download", c, pl->down_size, w, n) &&
          rx_exact("upstream", "upload", u, pl->up_size, w, n) &&
          tx_done("client", "upload", c, pl->up_size, w, n) &&
          tx_done("upstream", "download", u, pl->down_size, w, n);
  if (!v->ok) v->how = "not byte-exact or not clean";
}

/* A reset by side `by` (rec r, which cut its stream after plan->cut bytes)
 * must reach the other side (rec o) as an abortive end. */
static void judge_reset(const soak_params *p, const soak_plan *pl, const char *by,
                        const char *other, const char *kind, const soak_side *r, const soak_side *o,
                        uint64_t planned, verdict *v) {
  char *w = v->why;
  size_t n = sizeof(v->why);
  v->ok = 0;
  if (r->tx != TX_RESET_BY_US) {
    snprintf(w, n,
             "%s: never got to its reset: it sent %" PRIu64 " of %" PRIu64
             " bytes, sending %s, receiving %s",
             by, r->sent, pl->cut, tx_text(r->tx), rx_text(r->rx));
    v->how = "the reset never happened";
    return;
  }
  if (r->rx == RX_CORRUPT || o->rx == RX_CORRUPT) {
    const soak_side *bad = r->rx == RX_CORRUPT ? r : o;
    snprintf(w, n, "%s: byte %" PRIu64 " differs", bad == r ? by : other, bad->bad_at);
    v->how = "a wrong byte";
    return;
  }
  if (o->received > r->sent || o->rx == RX_EXCESS) {
    snprintf(w, n, "%s: received %" PRIu64 " bytes, more than the %" PRIu64 " sent", other,
             o->received, r->sent);
    v->how = "too many bytes";
    return;
  }
  if (o->rx == RX_EOF && !p->reset_eof_ok) {
    snprintf(w, n,
             "%s saw clean EOF after %" PRIu64 " of %" PRIu64 " bytes for %s %s "
             "connection (the %s reset after sending %" PRIu64 ")",
             other, o->received, planned, kind[0] == 'u' ? "an" : "a", kind, by, r->sent);
    v->how =
        other[0] == 'u' ? "upstream saw a clean EOF (defect)" : "client saw a clean EOF (defect)";
    return;
  }
  if (o->end_ns == 0) {
    snprintf(w, n,
             "%s: never saw the end (receiving %s, sending %s, %" PRIu64 " bytes "
             "received) (hang)",
             other, rx_text(o->rx), tx_text(o->tx), o->received);
    v->how = "never ended (hang)";
    return;
  }
  v->latency_s = seconds(r->fault_ns, o->end_ns);
  if (o->rx == RX_EOF)
    v->how = "reached the other end as a clean EOF (tolerated: Wine reports it so)";
  else if (o->rx == RX_RESET || o->tx == TX_RESET)
    v->how = "reached the other end as a reset";
  else
    v->how = "reached the other end as an error";
  if (v->latency_s * 1000 > p->end_bound_ms) {
    snprintf(w, n,
             "%s: saw the reset only %.3f s after it (bound %.3f s), having received "
             "%" PRIu64 " of the %" PRIu64 " bytes sent before it",
             other, v->latency_s, p->end_bound_ms / 1000.0, o->received, r->sent);
    return;
  }
  v->ok = 1;
}

/* The window starts at the connect() call, which iocpd's accept (and so
 * its handshake timer) can only follow, less the rounding of iocpd's
 * millisecond clock. */
#define SILENT_EARLY_NS 20000000u

static void judge_silent(const soak_params *p, const soak_side *c, verdict *v) {
  double lo = (p->handshake_ms * 1e6 - SILENT_EARLY_NS) / 1e9;
  double hi = (p->handshake_ms + p->end_bound_ms) / 1000.0;
  double t = seconds(c->start_ns, c->end_ns);
  v->ok = 0;
  if (c->rx == RX_ERROR && c->tx == TX_ERROR) {
    snprintf(v->why, sizeof(v->why), "could not connect (%s)", strerror(c->err));
    v->how = "never connected";
  } else if (c->rx != RX_EOF) {
    snprintf(v->why, sizeof(v->why), "ended by %s after %.3f s, not by a clean EOF%s",
             rx_text(c->rx), t, c->rx == RX_OPEN ? " (hang)" : "");
    v->how = c->rx == RX_RESET ? "reset" : "not a clean EOF";
  } else if (t < lo || t > hi) {
    snprintf(v->why, sizeof(v->why), "closed after %.3f s, outside %.3f..%.3f s", t, lo, hi);
    v->how = "clean EOF, at the wrong time";
  } else {
    v->ok = 1;
    v->how = "closed by iocpd with a clean EOF";
    v->latency_s = t;
  }
}

static void judge(const soak_params *p, const soak_plan *pl, const soak_side *c, const soak_side *u,
                  verdict *v) {
  memset(v, 0, sizeof(*v));
  v->latency_s = -1;
  switch ((soak_kind)pl->kind) {
    case KIND_CLIENT_RESET:
      judge_reset(p, pl, "client", "upstream", "client-reset", c, u, pl->up_size, v);
      break;
    case KIND_UPSTREAM_RESET:
      judge_reset(p, pl, "upstream", "client", "upstream-reset", u, c, pl->down_size, v);
      break;
    case KIND_SILENT: judge_silent(p, c, v); break;
    default: judge_clean(pl, c, u, v); break;
  }
}

static void count(tally *t, const verdict *v) {
  int i;
  t->count++;
  t->ok += v->ok != 0;
  if (v->latency_s > t->max_latency_s) t->max_latency_s = v->latency_s;
  for (i = 0; i < MAX_HOWS && t->how[i] != NULL; i++)
    if (t->how[i] == v->how) break;
  if (i == MAX_HOWS) i = MAX_HOWS - 1; /* never reached: fewer endings exist */
  t->how[i] = v->how;
  t->how_n[i]++;
}

/* ------------------------------------------------------------------------ */
/* Output */

static void json_string(const char *s) {
  putchar('"');
  for (; *s != '\0'; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", (unsigned)(unsigned char)*s);
    else
      putchar(*s);
  }
  putchar('"');
}

static void print_tallies(const tally *t) {
  int k, i;
  fprintf(stderr, "soak: %-15s %7s %7s %7s  how they ended\n", "kind", "conns", "ok", "failed");
  for (k = 0; k < KIND_COUNT; k++) {
    fprintf(stderr, "soak:   %-15s %5u %7u %7u ", soak_kind_names[k], t[k].count, t[k].ok,
            t[k].count - t[k].ok);
    for (i = 0; i < MAX_HOWS && t[k].how[i] != NULL; i++)
      fprintf(stderr, "%s%s: %u", i > 0 ? "; " : " ", t[k].how[i], t[k].how_n[i]);
    if (t[k].max_latency_s >= 0)
      fprintf(stderr, " (%s %.3f s)", k == KIND_SILENT ? "latest close" : "slowest",
              t[k].max_latency_s);
    fputc('\n', stderr);
  }
}

/* The failures found, some of each kind in words (the rest counted):
 * one kind failing many times must not hide another. */
typedef struct failures {
  char text[FAILURES_SHOWN][400];
  uint32_t shown, total;
  uint32_t per_kind[KIND_COUNT + 1];
} failures;

/* kind: the connection's soak_kind, or KIND_COUNT for a failure of the
 * whole run. */
static void add_failure(failures *f, int kind, const char *fmt, ...) {
  va_list ap;
  f->total++;
  if (f->shown == FAILURES_SHOWN || (kind < KIND_COUNT && f->per_kind[kind] == FAILURES_PER_KIND))
    return;
  f->per_kind[kind]++;
  va_start(ap, fmt);
  vsnprintf(f->text[f->shown++], sizeof(f->text[0]), fmt, ap);
  va_end(ap);
}

static void print_json(const soak_params *p, const soak_shared *sh, const tally *t,
                       uint64_t verified, uint64_t clean, double duration, double held_s,
                       const char *aborted, const failures *f) {
  int k, i;
  uint32_t n;
  printf("result {\"seed\": %" PRIu64 ", \"relayed\": %u, \"silent\": %u, \"held\": %u, "
         "\"held_s\": %.3f, \"duration_s\": %.3f, \"bytes_verified\": %" PRIu64
         ", \"bytes_clean\": %" PRIu64 ", \"max_size\": %" PRIu64 ", \"kinds\": {",
         p->seed, p->relayed, p->silent, sh->held, held_s, duration, verified, clean, p->max_size);
  for (k = 0; k < KIND_COUNT; k++) {
    printf("%s\"%s\": {\"count\": %u, \"ok\": %u, \"max_latency_s\": %.3f, \"ends\": {",
           k > 0 ? ", " : "", soak_kind_names[k], t[k].count, t[k].ok, t[k].max_latency_s);
    for (i = 0; i < MAX_HOWS && t[k].how[i] != NULL; i++) {
      printf("%s", i > 0 ? ", " : "");
      json_string(t[k].how[i]);
      printf(": %u", t[k].how_n[i]);
    }
    printf("}}");
  }
  printf("}, \"upstream_before_header\": {\"eof\": %u, \"reset\": %u, \"other\": %u}, "
         "\"bad_headers\": %u, \"aborted\": ",
         atomic_load(&sh->anon_eof), atomic_load(&sh->anon_reset), atomic_load(&sh->anon_other),
         atomic_load(&sh->bad_headers));
  if (aborted != NULL)
    json_string(aborted);
  else
    printf("null");
  printf(", \"failed\": %u, \"failures\": [", f->total);
  for (n = 0; n < f->shown; n++) {
    printf("%s", n > 0 ? ", " : "");
    json_string(f->text[n]);
  }
  printf("]}\n");
  fflush(stdout);
}

/* The upstream's view of the silent relays: each must have ended with a
 * clean EOF before any header; anything else there is a failure. */
static void check_anonymous(const soak_params *p, const soak_shared *sh, failures *f) {
  unsigned eof = atomic_load(&sh->anon_eof), reset = atomic_load(&sh->anon_reset);
  unsigned other = atomic_load(&sh->anon_other), bad = atomic_load(&sh->bad_headers);
  fprintf(stderr,
          "soak: upstream: %u connections ended before a header (%u by clean EOF, %u "
          "by reset, %u otherwise), %u bad headers\n",
          eof + reset + other, eof, reset, other, bad);
  if (eof == p->silent && reset == 0 && other == 0 && bad == 0) return;
  add_failure(f, KIND_COUNT,
              "upstream: expected %u connections (the silent ones) to end with a clean EOF "
              "before any header, got %u EOF, %u resets, %u other ends, %u bad headers",
              p->silent, eof, reset, other, bad);
}

int soak_report(const soak_params *p, const soak_plan *plans, const soak_shared *sh,
                uint64_t began_ns, uint64_t ended_ns, const char *aborted) {
  static failures f;
  tally t[KIND_COUNT];
  uint64_t verified = 0, clean = 0;
  uint32_t i, total = p->relayed + p->silent;
  double duration = seconds(began_ns, ended_ns);
  double held_s = sh->held_ns ? seconds(began_ns, sh->held_ns) : -1;
  int k;

  memset(t, 0, sizeof(t));
  for (k = 0; k < KIND_COUNT; k++) t[k].max_latency_s = -1;
  for (i = 0; i < total; i++) {
    const soak_plan *pl = &plans[i];
    verdict v;
    judge(p, pl, &sh->client[i], &sh->upstream[i], &v);
    count(&t[pl->kind], &v);
    verified += sh->client[i].received + sh->upstream[i].received;
    if (v.ok && soak_kind_is_clean((soak_kind)pl->kind)) clean += pl->up_size + pl->down_size;
    if (!v.ok)
      add_failure(&f, pl->kind, "conn %u (%s, seed %016" PRIx64 "): %s", i,
                  soak_kind_names[pl->kind], pl->seed, v.why);
  }
  fprintf(stderr, "soak: seed %" PRIu64 ": %u relayed connections (%s), %u silent\n", p->seed,
          p->relayed, sh->held ? "all open at once, then released" : "NOT all open at once",
          p->silent);
  print_tallies(t);
  check_anonymous(p, sh, &f);
  if (clean < p->min_bytes)
    add_failure(&f, KIND_COUNT, "only %" PRIu64 " bytes in byte-exact transfers, %" PRIu64 " asked",
                clean, p->min_bytes);
  if (aborted != NULL) add_failure(&f, KIND_COUNT, "the run stopped early: %s", aborted);
  fprintf(stderr,
          "soak: %.1f MiB verified (%.1f MiB in byte-exact transfers), %.2f s in all, "
          "every relayed connection open at once after %.2f s\n",
          (double)verified / (1 << 20), (double)clean / (1 << 20), duration, held_s);
  for (i = 0; i < f.shown; i++) fprintf(stderr, "soak: FAIL: %s\n", f.text[i]);
  if (f.total > f.shown)
    fprintf(stderr, "soak: ... and %u more failures (at most %d of a kind are listed)\n",
            f.total - f.shown, FAILURES_PER_KIND);
  fprintf(stderr, "soak: %s\n", f.total == 0 ? "PASS" : "FAIL");
  print_json(p, sh, t, verified, clean, duration, held_s, aborted, &f);
  return (int)f.total;
}
