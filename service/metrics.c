/* The Prometheus endpoint (see metrics.h): the exposition text, and the
 * HTTP handler that serves it on a small server of its own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "iocpd_sys.h"
#include "log.h"
#include "metrics.h"
#include "process_handles.h"

/* From accepting to the end of the request head. A client that trickles
 * its request (slowloris) is cut off here, not kept forever. */
#define REQUEST_TIMEOUT_MS 5000
/* After the answer: how long the client has to read it and close, and how
 * much of what it still sends to read and throw away meanwhile. A client
 * that reads nothing is reset when the time is up, so it cannot hold one
 * of the MAX_SCRAPES slots for ever. */
#define LINGER_MS 10000
#define LINGER_MAX_BYTES (64 * 1024)
/* Scrapes at once; more wait in the listen backlog. */
#define MAX_SCRAPES 32

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_server {
  iocpd_server *server;
  metrics_source source; /* the handler_arg of the listener */
};

/* ------------------------------------------------------------------------ */
/* The exposition text */

/* A growing text buffer; once an allocation fails it stays failed. */
typedef struct text {
  char *p;
  size_t len, cap;
  int failed;
} text;

static void appendf(text *t, const char *fmt, ...) IOCPD_PRINTF(2, 3);

static void appendf(text *t, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    int n;
    if (t->failed) return;
    if (t->p != NULL) {
      va_start(ap, fmt);
      n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
      va_end(ap);
      if (n < 0) {
        t->failed = 1;
        return;
      }
      if ((size_t)n < t->cap - t->len) {
        t->len += (size_t)n;
        return;
      }
    } else {
      n = 0;
    }
    {
      size_t cap = t->cap != 0 ? t->cap * 2 : 4096;
      char *grown;
      while (cap < t->len + (size_t)n + 1) cap *= 2;
      grown = realloc(t->p, cap);
      if (grown == NULL) {
        t->failed = 1;
        return;
      }
      t->p = grown;
      t->cap = cap;
    }
  }
}

/* A label value, escaped as the format requires (backslash, double quote,
 * newline). Listener names and addresses never need it; the text format
 * still gets no chance to break. */
static void append_label(text *t, const char *value) {
  for (; *value != '\0'; value++) {
    if (*value == '\\' || *value == '"')
      appendf(t, "\\%c", *value);
    else if (*value == '\n')
      appendf(t, "\\n");
    else
      appendf(t, "%c", *value);
  }
}

static void family(text *t, const char *name, const char *type, const char *help) {
  appendf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{listener="L"[,EXTRA_KEY="EXTRA"]} VALUE */
static void sample(text *t, const char *name, const char *listener, const char *extra_key,
                   const char *extra, uint64_t value) {
  appendf(t, "%s{listener=\"", name);
  append_label(t, listener);
  if (extra_key != NULL) {
    appendf(t, "\",%s=\"", extra_key);
    append_label(t, extra);
  }
  appendf(t, "\"} %llu\n", (unsigned long long)value);
}

/* Which listeners a family has samples of: a UDP listener has no
 * connections, so only the families that mean something for it. */
#define FOR_TCP 1
#define FOR_UDP 2
#define FOR_BOTH (FOR_TCP | FOR_UDP)

/* A counter or gauge with samples per listener, read from each listener's
 * iocpd_listener_stats: one sample per listener, or, with a label key,
 * one per label value, each from its own field. */
typedef struct listener_metric {
  const char *name, *type, *help;
  int protocols;         /* FOR_TCP, FOR_UDP or FOR_BOTH */
  const char *key;       /* the second label, NULL for none */
  const char *values[8]; /* its values, NULL-terminated if fewer */
  size_t fields[8];      /* the offset of each value's field */
  /* Instead of values: count values named value_name(v) (the names the
   * engine gives, e.g. iocpd_udp_drop_name), read from an array of
   * counters at fields[0]. */
  const char *(*value_name)(int v);
  int count;
} listener_metric;

#define FIELD(f) offsetof(iocpd_listener_stats, f)

static const listener_metric listener_families[] = {
    {"iocpd_connections_active",
     "gauge",
     "Accepted connections open now.",
     FOR_TCP,
     NULL,
     {NULL},
     {FIELD(active)},
     NULL,
     0},
    {"iocpd_connections_total",
     "counter",
     "Connections accepted and handed to the handler.",
     FOR_TCP,
     NULL,
     {NULL},
     {FIELD(accepted)},
     NULL,
     0},
    {"iocpd_connections_rejected_total",
     "counter",
     "Connections reset at accept: denied by allow/deny, or per_ip (max_connections_per_ip "
     "reached).",
     FOR_TCP,
     "reason",
     {"denied", "per_ip"},
     {FIELD(rejected_denied), FIELD(rejected_per_ip)},
     NULL,
     0},
    {"iocpd_accept_paused_total",
     "counter",
     "Times accepting paused because max_connections were open (new clients wait in the "
     "backlog meanwhile; none is rejected).",
     FOR_TCP,
     NULL,
     {NULL},
     {FIELD(paused)},
     NULL,
     0},
    {"iocpd_descriptors_exhausted_total",
     "counter",
     "Operations refused for lack of file descriptors (handles): accept (accepting pauses and "
     "retries) and, on Linux, pipe (a relay copies instead of splicing).",
     FOR_TCP,
     "operation",
     {"accept", "pipe"},
     {FIELD(fd_exhausted_accept), FIELD(fd_exhausted_pipe)},
     NULL,
     0},
    {"iocpd_bytes_total",
     "counter",
     "Bytes moved: in (client to iocpd), out (iocpd to client), up (iocpd to upstream), down "
     "(upstream to iocpd).",
     FOR_BOTH,
     "direction",
     {"in", "out", "up", "down"},
     {FIELD(bytes_in), FIELD(bytes_out), FIELD(bytes_up), FIELD(bytes_down)},
     NULL,
     0},
    {"iocpd_proxy_header_errors_total",
     "counter",
     "accept_proxy: connections closed for their PROXY header: untrusted (not from proxy_trusted), "
     "unknown (no header), version, malformed, oversize, truncated (ended inside it), timeout.",
     FOR_TCP,
     "reason",
     {"untrusted", "unknown", "version", "malformed", "oversize", "truncated", "timeout"},
     {FIELD(proxy_errors[IOCPD_PROXY_UNTRUSTED]), FIELD(proxy_errors[IOCPD_PROXY_UNKNOWN]),
      FIELD(proxy_errors[IOCPD_PROXY_VERSION]), FIELD(proxy_errors[IOCPD_PROXY_MALFORMED]),
      FIELD(proxy_errors[IOCPD_PROXY_OVERSIZE]), FIELD(proxy_errors[IOCPD_PROXY_TRUNCATED]),
      FIELD(proxy_errors[IOCPD_PROXY_TIMEOUT])},
     NULL,
     0},
    {"iocpd_udp_datagrams_total",
     "counter",
     "UDP datagrams moved: in (client to iocpd), out (iocpd to client), up (iocpd to upstream), "
     "down (upstream to iocpd).",
     FOR_UDP,
     "direction",
     {"in", "out", "up", "down"},
     {FIELD(datagrams_in), FIELD(datagrams_out), FIELD(datagrams_up), FIELD(datagrams_down)},
     NULL,
     0},
    {"iocpd_udp_dropped_total",
     "counter",
     "UDP datagrams dropped: denied (allow/deny), sessions (max_sessions open), per_ip "
     "(max_sessions_per_ip open), queue_full, upstream (no upstream socket, or the send was "
     "refused), no_memory.",
     FOR_UDP,
     "reason",
     {NULL},
     {FIELD(udp_dropped)},
     iocpd_udp_drop_name,
     IOCPD_UDP_DROP_KINDS},
    {"iocpd_udp_sessions_open",
     "gauge",
     "UDP forward sessions open now.",
     FOR_UDP,
     NULL,
     {NULL},
     {FIELD(sessions_open)},
     NULL,
     0},
    {"iocpd_udp_sessions_total",
     "counter",
     "UDP forward sessions made (a client's first datagram, or one after its session ended).",
     FOR_UDP,
     NULL,
     {NULL},
     {FIELD(sessions)},
     NULL,
     0},
};

/* What a listener's stats say it is. */
static int protocol_of(const iocpd_listener_stats *st) {
  return st->protocol == IOCPD_UDP ? FOR_UDP : FOR_TCP;
}

static void listener_family(text *t, const listener_metric *m, const iocpd_listener_stats *st,
                            size_t n) {
  size_t i, v;
  family(t, m->name, m->type, m->help);
  for (i = 0; i < n; i++) {
    const char *row = (const char *)&st[i];
    if ((m->protocols & protocol_of(&st[i])) == 0) continue;
    if (m->value_name != NULL) {
      const uint64_t *values = (const uint64_t *)(const void *)(row + m->fields[0]);
      for (v = 0; v < (size_t)m->count; v++)
        sample(t, m->name, st[i].name, m->key, m->value_name((int)v), values[v]);
      continue;
    }
    for (v = 0; v < 8 && (v == 0 || m->values[v] != NULL); v++) {
      const uint64_t *value = (const uint64_t *)(const void *)(row + m->fields[v]);
      sample(t, m->name, st[i].name, m->key, m->values[v], *value);
    }
  }
}

/* Config reloads, and every upstream address of every forward listener
 * of the current config, up (1) or marked down by passive health (0). */
static void config_families(text *t, const metrics_source *src) {
  static const char name[] = "iocpd_upstream_up";
  const iocpd_config *config;
  size_t i, u;

  if (src->lock != NULL) iocpd_mutex_lock(src->lock);
  if (src->live != NULL) {
    const reload_counters *r = &src->live->reloads;
    family(t, "iocpd_config_reloads_total", "counter",
           "Config reloads: ok (applied) or error (the file was refused; nothing changed).");
    appendf(t, "iocpd_config_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)r->ok);
    appendf(t, "iocpd_config_reloads_total{result=\"error\"} %llu\n", (unsigned long long)r->error);
    family(t, "iocpd_config_last_reload_success_timestamp_seconds", "gauge",
           "When the config was last reloaded and applied (0: never).");
    appendf(t, "iocpd_config_last_reload_success_timestamp_seconds %llu.%03u\n",
            (unsigned long long)(r->last_ok_ms / 1000), (unsigned)(r->last_ok_ms % 1000));
    family(t, "iocpd_access_log_dropped_total", "counter",
           "Access log lines lost: the queue was full, or writing failed.");
    appendf(t, "iocpd_access_log_dropped_total %llu\n",
            (unsigned long long)(src->live->dropped_before +
                                 access_log_dropped(src->live->access_log)));
  }
  family(t, name, "gauge",
         "1 if the upstream is in service, 0 while it is marked down (max_fails failed connects in "
         "a row, until a connect succeeds).");
  config = src->live != NULL ? src->live->config : NULL;
  for (i = 0; config != NULL && i < config->listener_count; i++) {
    const iocpd_config_listener *l = &config->listeners[i];
    for (u = 0; u < l->upstream_count; u++) {
      char addr[IOCPD_ADDR_STRLEN];
      sample(t, name, l->name, "upstream", iocpd_addr_format(&l->upstreams[u], addr),
             (uint64_t)iocpd_server_upstream_up(src->server, l->name, &l->upstreams[u]));
    }
  }
  if (src->lock != NULL) iocpd_mutex_unlock(src->lock);
}

static void histogram(text *t, const iocpd_listener_stats *st, size_t n) {
  static const char name[] = "iocpd_connection_duration_seconds";
  size_t i, b;

  family(t, name, "histogram", "How long accepted connections lasted, by listener.");
  for (i = 0; i < n; i++) {
    uint64_t count = 0;
    if (protocol_of(&st[i]) != FOR_TCP) continue;
    /* The engine counts per bucket; Prometheus buckets count everything
     * up to their bound. */
    for (b = 0; b <= IOCPD_DURATION_BUCKETS; b++) {
      count += st[i].duration_buckets[b];
      appendf(t, "%s_bucket{listener=\"", name);
      append_label(t, st[i].name);
      if (b < IOCPD_DURATION_BUCKETS)
        appendf(t, "\",le=\"%g\"} %llu\n", iocpd_duration_bounds[b], (unsigned long long)count);
      else
        appendf(t, "\",le=\"+Inf\"} %llu\n", (unsigned long long)count);
    }
    appendf(t, "%s_sum{listener=\"", name);
    append_label(t, st[i].name);
    appendf(t, "\"} %llu.%03u\n", (unsigned long long)(st[i].duration_sum_ms / 1000),
            (unsigned)(st[i].duration_sum_ms % 1000));
    appendf(t, "%s_count{listener=\"", name);
    append_label(t, st[i].name);
    appendf(t, "\"} %llu\n", (unsigned long long)count);
  }
}

char *metrics_render(const metrics_source *src, size_t *len) {
  iocpd_listener_stats *st;
  iocpd_connect_failures *fail;
  size_t n, nf, room, i;
  char *body = NULL;

  /* Listeners (a reload) and failure counters may appear between the
   * two calls, so ask for some more room and take what fits. */
  n = iocpd_server_listener_stats(src->server, NULL, 0) + 16;
  nf = iocpd_server_connect_failures(src->server, NULL, 0);
  room = nf + 16;
  st = calloc(n, sizeof(*st));
  fail = calloc(room, sizeof(*fail));
  if (st == NULL || fail == NULL) goto out;
  i = iocpd_server_listener_stats(src->server, st, n);
  if (i < n) n = i;
  /* Asked only when there are some: the engine copies from its table
   * with memcpy, and before the first failure that table is NULL, which
   * memcpy may not be given even for 0 bytes. Once there, it stays. */
  if (nf > 0) nf = iocpd_server_connect_failures(src->server, fail, room);
  if (nf > room) nf = room;
  body = metrics_format(src, st, n, fail, nf, len);
out:
  free(st);
  free(fail);
  return body;
}

char *metrics_format(const metrics_source *src, const iocpd_listener_stats *st, size_t n,
                     const iocpd_connect_failures *fail, size_t nf, size_t *len) {
  text t = {NULL, 0, 0, 0};
  size_t i;

  family(&t, "iocpd_build_info", "gauge", "Always 1; the version of iocpd as a label.");
  appendf(&t, "iocpd_build_info{version=\"%s\"} 1\n", IOCPD_VERSION);
  family(&t, "iocpd_start_time_seconds", "gauge",
         "When iocpd started, in seconds since 1970 (UTC).");
  appendf(&t, "iocpd_start_time_seconds %llu.%03u\n", (unsigned long long)(src->start_ms / 1000),
          (unsigned)(src->start_ms % 1000));

  for (i = 0; i < sizeof(listener_families) / sizeof(listener_families[0]); i++)
    listener_family(&t, &listener_families[i], st, n);
  family(&t, "iocpd_upstream_connect_failures_total", "counter",
         "Failed connection attempts to an upstream (refused, unreachable, timed out).");
  for (i = 0; i < nf; i++) {
    char addr[IOCPD_ADDR_STRLEN];
    sample(&t, "iocpd_upstream_connect_failures_total", fail[i].listener, "upstream",
           iocpd_addr_format(&fail[i].upstream, addr), fail[i].count);
  }
  config_families(&t, src);
  histogram(&t, st, n);
  {
    /* Without a count (no /proc, say) the family is there with no sample. */
    uint64_t handles;
    family(&t, "iocpd_process_open_handles", "gauge",
           "Open file descriptors (Linux) or handles (Windows) of the iocpd process.");
    if (process_open_handles(&handles) == 0)
      appendf(&t, "iocpd_process_open_handles %llu\n", (unsigned long long)handles);
  }
  if (t.failed) {
    free(t.p);
    return NULL;
  }
  *len = t.len;
  return t.p;
}

/* ------------------------------------------------------------------------ */
/* HTTP */

typedef struct http_conn {
  char request[HTTP_REQUEST_MAX]; /* the request head, judged by http_request.c */
  size_t request_len;
  char *response; /* kept until on_closed: iocpd_write does not copy */
  size_t response_len;
  int answered;     /* the answer is queued; what follows is thrown away */
  int peer_closed;  /* the client's FIN arrived: no more reads */
  size_t discarded; /* bytes read after the answer */
} http_conn;

/* Queues the whole answer, then FIN; from now on input is read only to be
 * thrown away, until the client closes or LINGER_MS pass. */
static void answer(iocpd_conn *conn, http_conn *h, int status, const char *reason,
                   const char *extra_headers, const char *body, size_t body_len, int head_only) {
  static const char format[] = "HTTP/1.1 %d %s\r\n"
                               "Content-Type: %s\r\n"
                               "Content-Length: %llu\r\n"
                               "%s"
                               "Connection: close\r\n"
                               "\r\n";
  const char *type = status == 200 ? CONTENT_TYPE : "text/plain; charset=utf-8";
  size_t size = sizeof(format) + strlen(reason) + strlen(type) + strlen(extra_headers) + 64 +
                (head_only ? 0 : body_len);
  int n;

  h->answered = 1;
  h->response = malloc(size);
  if (h->response == NULL) {
    iocpd_abort(conn);
    return;
  }
  n = snprintf(h->response, size, format, status, reason, type, (unsigned long long)body_len,
               extra_headers);
  if (n < 0 || (size_t)n >= size) {
    iocpd_abort(conn);
    return;
  }
  h->response_len = (size_t)n;
  if (!head_only) {
    memcpy(h->response + h->response_len, body, body_len);
    h->response_len += body_len;
  }
  if (iocpd_write(conn, h->response, h->response_len, NULL) != 0 || iocpd_shutdown(conn) != 0) {
    iocpd_abort(conn);
    return;
  }
  if (h->peer_closed) {
    iocpd_close(conn);
    return;
  }
  if (iocpd_conn_set_timer(conn, LINGER_MS) != 0 || iocpd_read(conn) != 0) iocpd_close(conn);
}

static void answer_error(iocpd_conn *conn, http_conn *h, int status, const char *reason,
                         const char *extra_headers) {
  char body[96];
  int n = snprintf(body, sizeof(body), "%d %s\n", status, reason);
  answer(conn, h, status, reason, extra_headers, body, n > 0 ? (size_t)n : 0, 0);
}

static void serve(iocpd_conn *conn, http_conn *h, http_verdict verdict) {
  const metrics_source *src = iocpd_conn_handler_arg(conn);
  char *body;
  size_t len = 0;

  switch (verdict) {
    case HTTP_METRICS:
    case HTTP_METRICS_HEAD:
      body = metrics_render(src, &len);
      if (body == NULL) {
        answer_error(conn, h, 500, "Internal Server Error", "");
        return;
      }
      answer(conn, h, 200, "OK", "", body, len, verdict == HTTP_METRICS_HEAD);
      free(body);
      return;
    case HTTP_NOT_FOUND: answer_error(conn, h, 404, "Not Found", ""); return;
    case HTTP_METHOD:
      answer_error(conn, h, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
      return;
    case HTTP_TOO_LARGE: answer_error(conn, h, 431, "Request Header Fields Too Large", ""); return;
    case HTTP_BAD:
    case HTTP_NEED_MORE: answer_error(conn, h, 400, "Bad Request", ""); return;
  }
}

static int http_accept(iocpd_conn *conn) {
  http_conn *h = calloc(1, sizeof(*h));
  int rc;
  if (h == NULL) return IOCPD_ENOMEM;
  iocpd_conn_set_data(conn, h);
  rc = iocpd_conn_set_timer(conn, REQUEST_TIMEOUT_MS);
  return rc != 0 ? rc : iocpd_read(conn);
}

static void http_data(iocpd_conn *conn, const char *data, size_t len) {
  http_conn *h = iocpd_conn_get_data(conn);
  size_t room = HTTP_REQUEST_MAX - h->request_len;
  http_verdict verdict;

  if (h->answered) {
    h->discarded += len;
    if (h->discarded > LINGER_MAX_BYTES || iocpd_read(conn) != 0) iocpd_close(conn);
    return;
  }
  /* What does not fit is dropped: at HTTP_REQUEST_MAX bytes the verdict
   * is final (431 if the head has not ended). */
  memcpy(h->request + h->request_len, data, len < room ? len : room);
  h->request_len += len < room ? len : room;
  verdict = http_request_check(h->request, h->request_len);
  if (verdict != HTTP_NEED_MORE) {
    serve(conn, h, verdict);
  } else if (iocpd_read(conn) != 0) {
    iocpd_abort(conn);
  }
}

static void http_peer_closed(iocpd_conn *conn) {
  http_conn *h = iocpd_conn_get_data(conn);
  h->peer_closed = 1;
  if (h->answered || h->request_len == 0) {
    iocpd_close(conn);
  } else {
    /* The client stopped sending in the middle of a request head. */
    answer_error(conn, h, 400, "Bad Request", "");
  }
}

static void http_timer(iocpd_conn *conn) {
  http_conn *h = iocpd_conn_get_data(conn);
  if (h->answered) {
    /* The linger time is over: close, or reset if the answer is stuck
     * behind a client that does not read (a graceful close would wait
     * for it). */
    if (iocpd_conn_pending_writes(conn) > 0)
      iocpd_abort(conn);
    else
      iocpd_close(conn);
  } else {
    answer_error(conn, h, 408, "Request Timeout", "");
  }
}

static void http_closed(iocpd_conn *conn) {
  http_conn *h = iocpd_conn_get_data(conn);
  if (h == NULL) return;
  free(h->response);
  free(h);
}

/* Slots not named are NULL: on_sent (the FIN is queued behind the answer
 * already), on_error (the engine aborts; on_closed frees), on_alloc (the
 * engine's buffer), on_connect (no outbound connections). */
static const iocpd_handler http_handler = {
    .name = "metrics",
    .on_accept = http_accept,
    .on_data = http_data,
    .on_peer_closed = http_peer_closed,
    .on_timer = http_timer,
    .on_closed = http_closed,
};

/* ------------------------------------------------------------------------ */
/* The server */

int metrics_start(const iocpd_addr *addr, const metrics_source *source, iocpd_log_level log_level,
                  metrics_server **out, iocpd_error_info *err) {
  iocpd_listener_options listener;
  iocpd_server_options options;
  metrics_server *m = calloc(1, sizeof(*m));
  int rc;

  if (m == NULL) {
    if (err != NULL) {
      memset(err, 0, sizeof(*err));
      err->code = IOCPD_ENOMEM;
      snprintf(err->message, sizeof(err->message), "metrics: out of memory");
    }
    return IOCPD_ENOMEM;
  }
  m->source = *source;
  memset(&listener, 0, sizeof(listener));
  /* The engine's messages name the listener: "listener metrics_listen:
   * cannot bind ...", pointing at the config key. */
  listener.name = "metrics_listen";
  listener.addr = *addr;
  listener.handler = &http_handler;
  listener.handler_arg = &m->source;
  listener.buffer_size = 4096;
  listener.max_connections = MAX_SCRAPES;
  memset(&options, 0, sizeof(options));
  /* One worker: scrapes are rare and short, and one thread keeps them
   * from competing with the main server's workers. */
  options.workers = 1;
  options.listeners = &listener;
  options.listener_count = 1;
  options.log = log_from_engine;
  options.log_level = log_level;
  /* The same patience after a close: an answer stuck behind a client that
   * reads nothing is reset then, so that no client keeps a slot. */
  options.close_linger_ms = LINGER_MS;
  /* No on_access: scrapes are not traffic and stay out of the access
   * log. */
  rc = iocpd_server_create(&options, &m->server, err);
  if (rc != 0) {
    free(m);
    return rc;
  }
  *out = m;
  return 0;
}

void metrics_stop(metrics_server *m) {
  if (m == NULL) return;
  iocpd_server_destroy(m->server);
  free(m);
}
