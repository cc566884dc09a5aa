/* Conversions between iocpd_addr and the OS's struct sockaddr. */
#ifndef IOCPD_SOCKADDR_H
#define IOCPD_SOCKADDR_H

#include "iocpd.h"
#include "net.h"

/* Fills ss from addr; returns the length to pass to bind/connect. */
iocpd__socklen iocpd__sockaddr_from(const iocpd_addr *addr, struct sockaddr_storage *ss);
/* Fills addr from sa; returns 0, or IOCPD_EINVAL for another family. */
int iocpd__sockaddr_to(const struct sockaddr *sa, iocpd_addr *addr);

#endif /* IOCPD_SOCKADDR_H */
