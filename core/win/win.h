/* Functions shared between the files of the IOCP backend. */
#ifndef IOCPD_WIN_H
#define IOCPD_WIN_H

#include "internal.h"

/* Completion keys: what a dequeued packet is about. */
#define IOCPD__KEY_WAKE 1 /* the inbox has mail; no OVERLAPPED */
#define IOCPD__KEY_IO 2   /* an iocpd__op completed */

/* A new socket of the backend: overlapped, not inherited by child
 * processes; TCP, or UDP if udp. Every socket the backend makes is made
 * here (see skip_port_on_success in conn.c for why that matters). */
static inline SOCKET iocpd__new_socket(int family, int udp) {
  return WSASocketW(family, udp ? SOCK_DGRAM : SOCK_STREAM, udp ? IPPROTO_UDP : IPPROTO_TCP, NULL,
                    0, WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
}

/* Win32 / WSA error code -> IOCPD_E* */
int iocpd__translate_win(DWORD e);
/* Fills err with "listener NAME: WHAT ADDR: <Windows text>". */
int iocpd__listener_fail(iocpd__listener *l, const char *what, DWORD e, iocpd_error_info *err);
/* Completion handlers, called by the loop. `status` is the operation's
 * NTSTATUS from its OVERLAPPED: 0 on success; see iocpd__op_error. */
void iocpd__accept_done(iocpd__accept_op *a, DWORD status);
void iocpd__conn_op_done(iocpd__op *op, DWORD bytes, DWORD status);
/* Hands w's loop a connection op that completed inside the call that
 * started it, on a socket that skips the port on success: no packet will
 * come, so the loop runs it through iocpd__conn_op_done on its next pass,
 * never inside the caller's call. The op stays counted in `pending`. */
void iocpd__op_completed_inline(iocpd__worker *w, iocpd__op *op);
/* The WSA error of an operation on socket s whose status was not 0; 0 if
 * it succeeded after all. */
DWORD iocpd__op_error(SOCKET s, iocpd__op *op);
/* Cancels real-buffer reads that have waited too long (see conn.c). */
void iocpd__sweep_busy_reads(iocpd__worker *w);
/* Milliseconds until the next sweep is due, -1 if none is needed. */
int iocpd__busy_reads_timeout(iocpd__worker *w);
/* UDP (udp.c): a datagram op's completion; frees the sessions that have
 * ended and have nothing pending; frees the idle ops (with the loop). */
void iocpd__udp_op_done(iocpd__udp_op *op, DWORD bytes, DWORD status);
void iocpd__udp_reap(iocpd__worker *w);
void iocpd__udp_free_idle(iocpd__worker *w);
/* Wraps an accepted socket in a connection (not yet on any worker). */
iocpd_conn *iocpd__conn_new(iocpd__listener *l, SOCKET sock, const struct sockaddr *local,
                            const struct sockaddr *peer);

#endif /* IOCPD_WIN_H */
