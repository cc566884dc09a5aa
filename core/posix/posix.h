/* Functions shared between the files of the epoll backend. */
#ifndef IOCPD_POSIX_H
#define IOCPD_POSIX_H

#include <sys/socket.h>
#include <sys/types.h>

#include "internal.h"

/* UDP (udp.c): an epoll event on a UDP listener or session socket; the
 * ended sessions freed once the pass is over; the batch room freed with
 * the loop. */
void iocpd__udp_on_event(iocpd__source_kind *kind, uint32_t events);
void iocpd__udp_reap(iocpd__worker *w);
void iocpd__udp_free_batch(iocpd__worker *w);
/* Fills err with "listener NAME: WHAT ADDR: <strerror>", closes l's
 * socket and returns the IOCPD_E* code of errno value e. */
int iocpd__listener_fail(iocpd__listener *l, const char *what, int e, iocpd_error_info *err);
/* errno -> IOCPD_E* */
int iocpd__translate_errno(int e);
/* Puts c on its worker's ready list (once). */
void iocpd__loop_schedule(iocpd_conn *c);
/* Does whatever c is ready for and conn.c asked for; may free c. */
void iocpd__conn_process(iocpd_conn *c);
/* Accepts what is waiting on l. */
void iocpd__listener_on_ready(iocpd__listener *l);
/* Wraps an accepted socket, from peer, in a connection (not yet on any
 * loop). */
iocpd_conn *iocpd__conn_new(iocpd__listener *l, int fd, const struct sockaddr *peer);

/* splice.c: reads c's input straight into a write on c->splice_to.
 * Returns 1 if it handled the read (delivered, or failed c), 0 if the
 * caller should recv as usual. */
int iocpd__splice_read(iocpd_conn *c);
/* Sends what a piped write request holds; like send(): bytes or -1/errno. */
ssize_t iocpd__splice_write(iocpd_conn *c, iocpd__write_req *r);
/* Tracks whether c's reads come in bulk (n of a size-byte read). */
void iocpd__splice_note_chunk(iocpd_conn *c, size_t n, size_t size);
/* Returns an emptied pipe of r to the worker's pool. */
void iocpd__splice_done(iocpd_conn *c, iocpd__write_req *r);
/* Closes the pipes still in c's write queue and unlinks c from its splice
 * partner (the connection is going away). */
void iocpd__splice_forget(iocpd_conn *c);
/* Closes the worker's idle pipes: all of them (free), or once unused for
 * a while (trim); timeout bounds the loop's wait so that trim runs. */
void iocpd__splice_free_pipes(iocpd__worker *w);
void iocpd__splice_trim(iocpd__worker *w);
int iocpd__splice_timeout(iocpd__worker *w, int timeout);

#endif /* IOCPD_POSIX_H */
