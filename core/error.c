/* Text for the engine's error codes. */
#include "iocpd.h"

const char *iocpd_strerror(int err) {
  switch (err) {
    case IOCPD_OK: return "success";
    case IOCPD_ENOMEM: return "out of memory";
    case IOCPD_EINVAL: return "invalid argument";
    case IOCPD_EADDRINUSE: return "address already in use";
    case IOCPD_EADDRNOTAVAIL: return "address not available";
    case IOCPD_EACCES: return "permission denied";
    case IOCPD_ECONNRESET: return "connection reset by peer";
    case IOCPD_ECONNREFUSED: return "connection refused";
    case IOCPD_ETIMEDOUT: return "timed out";
    case IOCPD_ENETUNREACH: return "network unreachable";
    case IOCPD_ECANCELED: return "operation canceled";
    case IOCPD_ECLOSED: return "connection is closing";
    case IOCPD_ENOTFOUND: return "no such connection";
    case IOCPD_EBUSY: return "operation already pending";
    case IOCPD_EIO: return "I/O error";
    case IOCPD_ENOTSUP: return "not supported on this platform";
    case IOCPD_EMFILE: return "too many open files";
    default: return "unknown error";
  }
}
