/* systemd's notification protocol (notify.h), without libsystemd: each
 * state is one datagram on a fresh AF_UNIX socket, sent to the address in
 * $NOTIFY_SOCKET. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

/* Fills *sa from the value of NOTIFY_SOCKET and sets *len to the length
 * that names it. "@name" is in the abstract namespace: the leading '@'
 * stands for a NUL byte, and the length counts exactly the name's bytes
 * (a NUL after them would be part of the name). Returns 0, or -1 if the
 * value is neither an absolute path nor "@name", or too long. */
static int notify_address(const char *value, struct sockaddr_un *sa, socklen_t *len) {
  size_t n = strlen(value);
  if ((value[0] != '/' && value[0] != '@') || n < 2 || n >= sizeof(sa->sun_path)) return -1;
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  memcpy(sa->sun_path, value, n);
  if (value[0] == '@') sa->sun_path[0] = '\0';
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
  return 0;
}

/* Sends message as one datagram; what names it in a warning. */
static void notify_send(const char *what, const char *message) {
  const char *value = getenv("NOTIFY_SOCKET");
  struct sockaddr_un sa;
  socklen_t len;
  size_t size = strlen(message);
  ssize_t sent;
  int fd, err = 0;

  if (value == NULL || value[0] == '\0') return;
  if (notify_address(value, &sa, &len) != 0) {
    log_event(EV_WARNING, IOCPD_LOG_WARNING,
              "systemd notification %s not sent: NOTIFY_SOCKET=%s is not an absolute path or "
              "@name that fits a socket address",
              what, value);
    return;
  }
  fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno;
  } else {
    /* Never wait: a manager that does not read its socket must not hold
     * up this thread, which also takes the stop and reload requests. */
    do {
      sent =
          sendto(fd, message, size, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)&sa, len);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
      err = errno;
    else if ((size_t)sent != size)
      err = EMSGSIZE;
    close(fd);
  }
  if (err != 0)
    log_event(EV_WARNING, IOCPD_LOG_WARNING, "systemd notification %s not sent to %s: %s", what,
              value, strerror(err));
}

void notify_ready(void) { notify_send("READY=1", "READY=1"); }

void notify_reloading(void) {
  struct timespec ts;
  char message[64];
  unsigned long long usec;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  usec = (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL;
  snprintf(message, sizeof(message), "RELOADING=1\nMONOTONIC_USEC=%llu", usec);
  notify_send("RELOADING=1", message);
}

void notify_stopping(void) { notify_send("STOPPING=1", "STOPPING=1"); }
