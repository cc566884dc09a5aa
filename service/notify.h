/*
 * Telling a service manager what the daemon is doing, with systemd's
 * notification protocol (sd_notify(3), for Type=notify units): one
 * datagram per change of state, sent to the AF_UNIX socket that
 * $NOTIFY_SOCKET names (a path, or "@name" in the abstract namespace).
 * One file per platform: service/posix/notify.c sends them;
 * service/win/notify.c does nothing, since Windows has no such manager
 * (the SCM learns the service's state from service/win/service_host.c).
 *
 * Without NOTIFY_SOCKET nothing is sent. A notification that cannot be
 * sent is logged as a warning and is otherwise ignored: it never stops
 * or delays the daemon. Call from one thread at a time.
 */
#ifndef IOCPD_NOTIFY_H
#define IOCPD_NOTIFY_H

/* READY=1: every listener is bound and accepting, at start (after
 * daemon_start succeeded) and again once a reload is over, whether the
 * new config was applied or refused. */
void notify_ready(void);

/* RELOADING=1 with MONOTONIC_USEC= (the time of the request, which
 * systemd 253 and later match against its own reload request): a reload
 * starts; notify_ready() must follow when it is over. */
void notify_reloading(void);

/* STOPPING=1: a stop was requested and the drain starts. */
void notify_stopping(void);

#endif /* IOCPD_NOTIFY_H */
