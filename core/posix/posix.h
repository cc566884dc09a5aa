/* Functions shared between the files of the epoll backend. */
#ifndef IOCPD_POSIX_H
#define IOCPD_POSIX_H

#include <sys/socket.h>

#include "internal.h"

/* errno -> IOCPD_E* */
int iocpd__translate_errno(int e);
/* Puts c on its worker's ready list (once). */
void iocpd__loop_schedule(iocpd_conn *c);
/* Does whatever c is ready for and its handler asked for; may free c. */
void iocpd__conn_process(iocpd_conn *c);
/* Accepts what is waiting on l. */
void iocpd__listener_on_ready(iocpd__listener *l);
/* Wraps an accepted socket, from peer, in a connection (not yet on any
 * loop). */
iocpd_conn *iocpd__conn_new(iocpd__listener *l, int fd, const struct sockaddr *peer);

#endif /* IOCPD_POSIX_H */
