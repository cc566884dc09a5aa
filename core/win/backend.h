/*
 * IOCP backend: the per-worker, per-listener and per-connection state.
 * Included by core/internal.h through the include path (core/win).
 *
 * Every overlapped operation is an iocpd__op that embeds its OVERLAPPED
 * (with no event handle); the completion's OVERLAPPED pointer leads back to
 * the op with container_of, and the op to its connection or listener. No
 * table is consulted on the data path. An op and the buffer it names stay
 * allocated until its completion has been handled (dequeued from the port,
 * or run from the worker's list of ops that completed inline: see loop.c),
 * however the connection ends: `pending` counts them and the connection is
 * freed only at zero.
 */
#ifndef IOCPD_BACKEND_H
#define IOCPD_BACKEND_H

#include <winsock2.h>
#include <ws2tcpip.h>
#include <mswsock.h>
#include <windows.h>

/* A posted AcceptEx may wait for a client indefinitely, so its admission
 * slot holds only its listener's room; the server-wide limit is checked
 * when it completes, and a connection beyond it is parked (see
 * admission.c). Holding server slots would let one listener's idle
 * accepts starve the others. */
#define IOCPD__SLOT_HOLDS_SERVER 0

typedef enum iocpd__op_type {
  IOCPD__OP_ACCEPT,  /* AcceptEx on a listener */
  IOCPD__OP_READ,    /* zero-byte WSARecv: "data (or FIN) is waiting" */
  IOCPD__OP_WRITE,   /* WSASend of one queued write */
  IOCPD__OP_CONNECT, /* ConnectEx of an outbound connection */
  IOCPD__OP_FINISH,  /* queued by ourselves to tear down outside callbacks */
  IOCPD__OP_UDP      /* a datagram received or sent (an iocpd__udp_op, udp.c) */
} iocpd__op_type;

typedef struct iocpd__op {
  OVERLAPPED ov;
  iocpd__op_type type;
  /* The WSA error of a call that failed at once (neither success nor
   * WSA_IO_PENDING): the op is then run from the inline list like a
   * completion carrying that error, so callers see one error path. */
  DWORD failed;
  struct iocpd__op *inline_next; /* in the worker's completed-inline list */
} iocpd__op;

typedef struct iocpd__worker_os {
  HANDLE port; /* this worker's completion port */
  /* Connections with a real-buffer read pending (see conn.c), for the
   * sweep that returns idle ones to zero-byte reads. */
  iocpd_conn *busy_reads;
  unsigned busy_read_count;
  uint64_t next_sweep_ms;
  LPFN_CONNECTEX connect_ex[2]; /* per family (IPv4, IPv6), loaded on first use */
  /* Whether the TCP provider of each family (IPv4, IPv6) hands out IFS
   * handles: 0 not known yet, 1 yes, 2 no (see skip_port_on_success). */
  unsigned char ifs[2];
  /* Ops that completed inside the call that started them, on sockets
   * that skip the port on success: no packet will come for them, so the
   * loop runs them from here, in order (see loop.c). */
  iocpd__op *inline_head;
  iocpd__op *inline_tail;
  /* Connection ops whose packet is still to come through the port (not
   * counting accepts and wake-ups), so that the loop looks at the port
   * between inline passes only when something can be there. */
  unsigned port_ops;
  /* UDP (udp.c): ops posted and not yet completed (the loop runs until
   * none is left), idle ops kept for reuse, sessions ended but with ops
   * still out. */
  unsigned udp_pending;
  unsigned udp_sends; /* of those, sends (each holds a buffer) */
  struct iocpd__udp_op *udp_idle;
  unsigned udp_idle_count;
  struct iocpd__udp_session *udp_ended;
} iocpd__worker_os;

/* Room AcceptEx needs for one address: the largest sockaddr plus 16. */
#define IOCPD__ACCEPT_ADDR_LEN (sizeof(struct sockaddr_storage) + 16)

/* One posted AcceptEx (see listener.c). */
typedef struct iocpd__accept_op {
  iocpd__op op;
  iocpd__listener *listener;
  SOCKET sock; /* the socket AcceptEx connects */
  int posted;  /* AcceptEx under way (it then holds an admission slot) */
  char addrs[2 * IOCPD__ACCEPT_ADDR_LEN];
} iocpd__accept_op;

typedef struct iocpd__listener_os {
  SOCKET sock;
  LPFN_ACCEPTEX accept_ex;
  LPFN_GETACCEPTEXSOCKADDRS get_addrs;
  iocpd__accept_op *accepts; /* the AcceptEx calls kept posted */
  iocpd_conn *parked_head;   /* accepted while the server was full, FIFO */
  iocpd_conn *parked_tail;
  unsigned accept_count;
  unsigned pending; /* AcceptEx calls not yet completed */
  /* UDP: receives posted, and echo replies in flight (at most a bound). */
  unsigned udp_recvs;
  unsigned udp_echo_sends;
} iocpd__listener_os;

struct iocpd__udp_session;

/* One datagram operation with its own buffer (udp.c): a receive that
 * becomes the send of what it received, so a datagram is never copied. */
typedef struct iocpd__udp_op {
  iocpd__op op;
  unsigned char kind; /* what it is doing now (see udp.c) */
  iocpd__listener *listener;
  struct iocpd__udp_session *session; /* NULL: the listener's own (echo) */
  struct iocpd__udp_op *next_idle;
  SOCKET sock; /* the socket it was posted on */
  WSABUF buf;
  DWORD flags;
  INT addr_len;
  SOCKADDR_IN6 addr; /* a receive's source; a send's destination */
  char *data;        /* a buffer of the worker's cache, while the op is out */
} iocpd__udp_op;

/* The backend's part of a UDP session. */
typedef struct iocpd__udp_session_os {
  SOCKET sock;         /* connected to its upstream; INVALID_SOCKET once closed */
  unsigned pending;    /* its ops not yet completed */
  unsigned sends_up;   /* datagrams in flight to the upstream */
  unsigned sends_down; /* replies in flight to the client */
  struct iocpd__udp_session *ended_next;
  SOCKADDR_IN6 client_raw; /* the client as the listener's socket names it */
  INT client_raw_len;
} iocpd__udp_session_os;

/* The backend's part of a queued write: the WSASend it is posted with. */
typedef struct iocpd__write_os {
  iocpd__op op;
  iocpd_conn *conn; /* the op's connection, for its completion */
  WSABUF buf;
} iocpd__write_os;

/* The backend's part of a connection. */
typedef struct iocpd__conn_os {
  SOCKET sock;      /* INVALID_SOCKET once closed */
  unsigned pending; /* ops posted whose completion is not yet processed */
  unsigned char read_posted;
  unsigned char write_posted;
  unsigned char finish_posted;
  unsigned char skip_port;      /* FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is on */
  unsigned char nonblocking;    /* FIONBIO is set (for the recv after a zero-byte read) */
  unsigned char busy;           /* the last read delivered data */
  unsigned char read_real;      /* the posted read has a real buffer */
  unsigned char read_cancelled; /* ...and the idle sweep cancelled it */
  char *read_buf;               /* that buffer */
  uint64_t read_posted_ms;      /* when it was posted (worker clock) */
  iocpd_conn *busy_prev;        /* in the worker's busy_reads list */
  iocpd_conn *busy_next;
  iocpd__op read_op;
  iocpd__op connect_op;
  iocpd__op finish_op;
  iocpd_conn *parked_next; /* in the listener's parked FIFO */
} iocpd__conn_os;

#endif /* IOCPD_BACKEND_H */
