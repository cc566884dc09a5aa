/* The OS socket headers for core/sockaddr.c, IOCP build. */
#ifndef IOCPD_NET_H
#define IOCPD_NET_H
#include <winsock2.h>
#include <ws2tcpip.h>
typedef int iocpd__socklen;
typedef SOCKET iocpd__socket;
#define IOCPD__SOCKET_BAD INVALID_SOCKET
#define iocpd__socket_close closesocket
#endif
