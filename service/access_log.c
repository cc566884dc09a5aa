/* The access log: the queue, the writer thread, and the record's fields
 * for its line, which logfmt.c lays out (see access_log.h). */

/* MSVC: strerror is fine here. */
#define _CRT_SECURE_NO_WARNINGS

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access_log.h"
#include "log.h"
#include "iocpd_sys.h"
#include "logfmt.h"
#include "utf8_files.h"

/* The most the queue holds, in bytes of formatted lines (about 16,000
 * lines). The writer swaps the whole queue for an empty buffer and writes
 * it out while workers fill the other, so at most twice this is allocated.
 * A disk that stalls for longer than it takes the workers to fill it loses
 * lines rather than slowing the connections down. */
#define QUEUE_BUDGET ((size_t)4 * 1024 * 1024)
#define QUEUE_INITIAL ((size_t)64 * 1024)
/* The writer wakes up this often even with nothing to do, so that a stop
 * request is never missed for long. */
#define IDLE_WAKE_MS 1000
/* After a failed rotation or a failed open, how long the writer waits
 * before it tries again, and how often it warns about it. */
#define RETRY_MS 10000
/* Rotated files are PATH.1 ... PATH.100: room for the suffix. */
#define SUFFIX_MAX 8

struct access_log {
  char *path;
  char *rotated; /* scratch: PATH.N */
  char *rotated2;
  uint64_t max_size;
  unsigned keep;

  iocpd_mutex *lock;
  iocpd_cond *wake;
  iocpd_thread *thread;

  /* Under lock. */
  char *pending; /* complete lines, waiting for the writer */
  size_t pending_len, pending_cap;
  int writer_waiting; /* the writer sleeps on wake: signal it */
  int stopping;
  uint64_t dropped;

  /* The writer's own (and, before the thread starts or after it ends,
   * access_log_open's and access_log_close's). */
  FILE *file;    /* NULL after a failed open; retried */
  uint64_t size; /* of the file, as far as we wrote it */
  char *spare;   /* the buffer being written out */
  size_t spare_cap;
  uint64_t unflushed; /* lines written since the last successful flush */
  uint64_t retry_at;  /* no rotation or reopen before this (monotonic ms) */
  uint64_t warned_at; /* last warning, to keep them rare */
};

/* ------------------------------------------------------------------------ */
/* Formatting */

size_t access_log_format(const iocpd_access_record *r, char *buf, size_t size) {
  char client[IOCPD_ADDR_STRLEN], upstream[IOCPD_ADDR_STRLEN], proxy[IOCPD_ADDR_STRLEN];
  logfmt_access a;

  assert(size >= ACCESS_LOG_LINE_MAX);
  a.time_ms = r->start_ms + r->duration_ms;
  a.listener = r->listener;
  a.client = iocpd_addr_format(&r->client, client);
  a.upstream = r->has_upstream ? iocpd_addr_format(&r->upstream, upstream) : "-";
  a.bytes_in = r->bytes_in;
  a.bytes_out = r->bytes_out;
  a.bytes_up = r->bytes_up;
  a.bytes_down = r->bytes_down;
  a.duration_ms = r->duration_ms;
  a.end = iocpd_end_reason_name(r->end);
  a.proxy = r->has_proxy ? iocpd_addr_format(&r->proxy, proxy) : "-";
  a.udp = r->udp;
  a.dgrams_in = r->datagrams_in;
  a.dgrams_out = r->datagrams_out;
  a.dgrams_up = r->datagrams_up;
  a.dgrams_down = r->datagrams_down;
  return logfmt_access_line(&a, buf, size);
}

/* ------------------------------------------------------------------------ */
/* The file (writer thread only) */

/* Warns at most once per RETRY_MS. */
static void warn(access_log *log, const char *what, const char *path, int err) {
  uint64_t now = iocpd_now_ms();
  if (log->warned_at != 0 && now - log->warned_at < RETRY_MS) return;
  log->warned_at = now;
  log_event(EV_WARNING, IOCPD_LOG_WARNING, "access log: %s %s: %s", what, path, strerror(err));
}

/* Opens PATH for appending and measures it. Returns 0, or an errno value. */
static int open_file(access_log *log) {
  long end;
  /* PATH is UTF-8: utf8_files.h opens, renames and removes files by that
   * name on Windows too. */
  log->file = iocpd__fopen(log->path, "ab");
  if (log->file == NULL) return errno != 0 ? errno : EIO;
  /* Where an append-mode stream starts is up to the C library: ask for
   * the end. A file too large for a long is rotated at the first line. */
  if (fseek(log->file, 0, SEEK_END) != 0 || (end = ftell(log->file)) < 0)
    log->size = log->max_size;
  else
    log->size = (uint64_t)end;
  return 0;
}

/* Flushes the file; lines lost when that fails. */
static uint64_t flush_file(access_log *log) {
  uint64_t lost = 0;
  if (log->file == NULL) return 0;
  if (fflush(log->file) != 0) {
    warn(log, "cannot write", log->path, errno != 0 ? errno : EIO);
    clearerr(log->file);
    lost = log->unflushed;
  }
  log->unflushed = 0;
  return lost;
}

static void rotated_name(access_log *log, char *buf, unsigned n) {
  snprintf(buf, strlen(log->path) + SUFFIX_MAX, "%s.%u", log->path, n);
}

/* Closes PATH, shifts the rotated files up by one and opens a new PATH.
 * Renames of PATH.N that fail are harmless (most often the file is not
 * there yet). Windows' rename fails when the target exists, so the oldest
 * is removed first and each rename goes to a name just vacated. Returns
 * the lines lost in the last flush. */
static uint64_t rotate(access_log *log) {
  uint64_t lost = flush_file(log);
  unsigned n;
  int err = 0;

  if (log->file != NULL) fclose(log->file);
  log->file = NULL;
  if (log->keep == 0) {
    if (iocpd__remove(log->path) != 0) err = errno;
  } else {
    rotated_name(log, log->rotated, log->keep);
    iocpd__remove(log->rotated);
    for (n = log->keep; n > 1; n--) {
      rotated_name(log, log->rotated, n - 1);
      rotated_name(log, log->rotated2, n);
      iocpd__rename(log->rotated, log->rotated2);
    }
    rotated_name(log, log->rotated, 1);
    if (iocpd__rename(log->path, log->rotated) != 0) err = errno;
  }
  if (err != 0) {
    /* Most likely another process holds PATH without sharing deletion
     * (Windows): go on appending to it and try again later. */
    warn(log, "cannot rotate", log->path, err);
    log->retry_at = iocpd_now_ms() + RETRY_MS;
  }
  err = open_file(log);
  if (err != 0) {
    warn(log, "cannot open", log->path, err);
    log->retry_at = iocpd_now_ms() + RETRY_MS;
  }
  return lost;
}

/* Writes one line, rotating first if it would take the file past
 * max_size. Returns the lines lost (this one, or earlier ones whose flush
 * failed). */
static uint64_t write_line(access_log *log, const char *line, size_t len) {
  uint64_t lost = 0;
  int due = log->retry_at == 0 || iocpd_now_ms() >= log->retry_at;

  if (log->file == NULL) {
    int err;
    if (!due) return 1;
    err = open_file(log);
    if (err != 0) {
      warn(log, "cannot open", log->path, err);
      log->retry_at = iocpd_now_ms() + RETRY_MS;
      return 1;
    }
    log->retry_at = 0;
  }
  if (log->size > 0 && log->size + len > log->max_size && due) {
    log->retry_at = 0;
    lost += rotate(log);
    if (log->file == NULL) return lost + 1;
  }
  if (fwrite(line, 1, len, log->file) != len) {
    warn(log, "cannot write", log->path, errno != 0 ? errno : EIO);
    clearerr(log->file);
    return lost + 1;
  }
  log->size += len;
  log->unflushed++;
  return lost;
}

/* Writes a block of complete lines; returns the lines lost. */
static uint64_t write_block(access_log *log, const char *block, size_t len) {
  uint64_t lost = 0;
  size_t pos = 0;
  while (pos < len) {
    const char *nl = memchr(block + pos, '\n', len - pos);
    size_t n = (size_t)(nl - (block + pos)) + 1;
    assert(nl != NULL); /* the queue holds whole lines only */
    lost += write_line(log, block + pos, n);
    pos += n;
  }
  /* The queue is empty or nearly so: make the lines visible to readers
   * of the file now rather than when the C library's buffer fills. */
  return lost + flush_file(log);
}

static void writer_main(void *arg) {
  access_log *log = arg;

  iocpd_mutex_lock(log->lock);
  for (;;) {
    char *block;
    size_t len, cap;
    uint64_t lost;

    while (log->pending_len == 0 && !log->stopping) {
      log->writer_waiting = 1;
      iocpd_cond_wait(log->wake, log->lock, IDLE_WAKE_MS);
      log->writer_waiting = 0;
    }
    if (log->pending_len == 0) break; /* stopping, and everything is out */
    /* Take the queue as a whole and leave the empty spare in its place. */
    block = log->pending;
    len = log->pending_len;
    cap = log->pending_cap;
    log->pending = log->spare;
    log->pending_cap = log->spare_cap;
    log->pending_len = 0;
    log->spare = block;
    log->spare_cap = cap;
    iocpd_mutex_unlock(log->lock);

    lost = write_block(log, block, len);

    iocpd_mutex_lock(log->lock);
    log->dropped += lost;
  }
  iocpd_mutex_unlock(log->lock);
}

/* ------------------------------------------------------------------------ */
/* The queue */

void access_log_record(void *arg, const iocpd_access_record *record) {
  access_log *log = arg;
  char line[ACCESS_LOG_LINE_MAX];
  size_t len = access_log_format(record, line, sizeof(line));

  iocpd_mutex_lock(log->lock);
  if (log->pending_cap - log->pending_len < len && log->pending_cap < QUEUE_BUDGET) {
    /* Grow towards the budget. Rare: a buffer keeps its size once grown,
     * and the two buffers take turns. */
    size_t cap = log->pending_cap * 2;
    char *grown;
    if (cap > QUEUE_BUDGET) cap = QUEUE_BUDGET;
    grown = realloc(log->pending, cap);
    if (grown != NULL) {
      log->pending = grown;
      log->pending_cap = cap;
    }
  }
  if (log->pending_cap - log->pending_len < len) {
    log->dropped++;
  } else {
    memcpy(log->pending + log->pending_len, line, len);
    log->pending_len += len;
    if (log->writer_waiting) iocpd_cond_broadcast(log->wake);
  }
  iocpd_mutex_unlock(log->lock);
}

uint64_t access_log_dropped(access_log *log) {
  uint64_t n;
  if (log == NULL) return 0;
  iocpd_mutex_lock(log->lock);
  n = log->dropped;
  iocpd_mutex_unlock(log->lock);
  return n;
}

static void free_log(access_log *log) {
  if (log->file != NULL) fclose(log->file);
  if (log->wake != NULL) iocpd_cond_destroy(log->wake);
  if (log->lock != NULL) iocpd_mutex_destroy(log->lock);
  free(log->pending);
  free(log->spare);
  free(log->rotated);
  free(log->rotated2);
  free(log->path);
  free(log);
}

int access_log_open(const char *path, uint64_t max_size, unsigned keep, access_log **out,
                    char *errbuf, size_t errlen) {
  access_log *log = calloc(1, sizeof(*log));
  size_t len = strlen(path);
  int err;

  assert(max_size > 0);
  if (log == NULL) goto nomem;
  log->max_size = max_size;
  log->keep = keep;
  log->path = malloc(len + 1);
  log->rotated = malloc(len + SUFFIX_MAX);
  log->rotated2 = malloc(len + SUFFIX_MAX);
  log->pending = malloc(QUEUE_INITIAL);
  log->spare = malloc(QUEUE_INITIAL);
  log->lock = iocpd_mutex_create();
  log->wake = iocpd_cond_create();
  if (log->path == NULL || log->rotated == NULL || log->rotated2 == NULL || log->pending == NULL ||
      log->spare == NULL || log->lock == NULL || log->wake == NULL)
    goto nomem;
  memcpy(log->path, path, len + 1);
  log->pending_cap = log->spare_cap = QUEUE_INITIAL;
  /* Opened here, not by the writer, so that a path that cannot be written
   * stops the start with a clear message instead of losing every line. */
  errno = 0;
  err = open_file(log);
  if (err != 0) {
    snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(err));
    free_log(log);
    return -1;
  }
  log->thread = iocpd_thread_start(writer_main, log);
  if (log->thread == NULL) {
    snprintf(errbuf, errlen, "cannot start the access log's writer thread");
    free_log(log);
    return -1;
  }
  *out = log;
  return 0;

nomem:
  snprintf(errbuf, errlen, "out of memory");
  if (log != NULL) free_log(log);
  return -1;
}

uint64_t access_log_close(access_log *log) {
  uint64_t dropped;
  if (log == NULL) return 0;
  iocpd_mutex_lock(log->lock);
  log->stopping = 1;
  iocpd_cond_broadcast(log->wake);
  iocpd_mutex_unlock(log->lock);
  /* The writer empties the queue before it ends. */
  iocpd_thread_join(log->thread);
  dropped = log->dropped + flush_file(log);
  free_log(log);
  return dropped;
}
