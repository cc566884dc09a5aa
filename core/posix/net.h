/* The OS socket headers for core/sockaddr.c, epoll build. */
#ifndef IOCPD_NET_H
#define IOCPD_NET_H
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
typedef socklen_t iocpd__socklen;
#include <unistd.h>
typedef int iocpd__socket;
#define IOCPD__SOCKET_BAD (-1)
#define iocpd__socket_close close
#endif
