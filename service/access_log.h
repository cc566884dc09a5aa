/*
 * The access log: one line per finished connection, in logfmt
 * (key=value pairs separated by spaces), for example
 *
 *   time=2026-11-24T23:10:57.123Z listener=web client=192.0.2.7:50123
 *   upstream=10.0.0.5:80 bytes_in=120 bytes_out=5120 bytes_up=120
 *   bytes_down=5120 duration_ms=35 end=client_fin
 *
 * (one line in the file). time is when the connection ended (UTC, ms);
 * upstream is "-" without one; end is iocpd_end_reason_name. A UDP
 * session's line (record->udp) goes on with proto=udp and its datagram
 * counts, dgrams_in= dgrams_out= dgrams_up= dgrams_down= (logfmt.h).
 *
 * The engine calls access_log_record on its worker threads, which must
 * never wait for a disk: the line is formatted there and appended to a
 * bounded in-memory queue, and a writer thread of the log's own writes the
 * queue to the file, rotates it and flushes it. When the queue is full the
 * line is dropped and counted (access_log_dropped), never waited for.
 *
 * Rotation is by size: before a line would take the file past max_size,
 * the writer closes it, renames PATH.N-1 to PATH.N ... PATH to PATH.1
 * (dropping PATH.keep) and opens a new PATH. The writer closes the file
 * before renaming it, as Windows cannot rename a file its C runtime has
 * open. A rename that fails (on Windows, another process holding the file
 * without FILE_SHARE_DELETE) is logged as a warning and retried later; the
 * lines go on to the current file meanwhile.
 */
#ifndef IOCPD_ACCESS_LOG_H
#define IOCPD_ACCESS_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "iocpd.h"
#include "logfmt.h"

typedef struct access_log access_log;

/* Opens path for appending (creating it if needed) and starts the writer
 * thread. keep is the number of rotated files kept (0: the file is started
 * afresh at max_size). Returns 0 and sets *out, or -1 with a one-line
 * reason in errbuf (errlen bytes) and nothing left behind. */
int access_log_open(const char *path, uint64_t max_size, unsigned keep, access_log **out,
                    char *errbuf, size_t errlen);

/* iocpd_server_options.on_access, with arg the access_log: formats the
 * record and queues the line. Any thread; never blocks on I/O. */
void access_log_record(void *arg, const iocpd_access_record *record);

/* Lines lost so far: the queue was full, or writing them failed. Any
 * thread. */
uint64_t access_log_dropped(access_log *log);

/* Writes every line still queued, closes the file, joins the writer and
 * frees log. Returns the number of lines lost over the log's life. Call it
 * once nothing can call access_log_record any more (after the server is
 * destroyed). NULL is fine (returns 0). */
uint64_t access_log_close(access_log *log);

/* Formats record as one logfmt line ending in "\n" into buf (size bytes,
 * at least ACCESS_LOG_LINE_MAX) and returns its length (logfmt.h has the
 * layout and the escaping). */
#define ACCESS_LOG_LINE_MAX LOGFMT_LINE_MAX
size_t access_log_format(const iocpd_access_record *record, char *buf, size_t size);

#endif /* IOCPD_ACCESS_LOG_H */
