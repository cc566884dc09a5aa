/*
 * Re-resolving the upstream host names of a running daemon (resolver.c):
 * every resolve_interval, and sooner after connect failures.
 */
#ifndef IOCPD_RESOLVER_H
#define IOCPD_RESOLVER_H

typedef struct resolver resolver;
struct daemon_state;

/* Starts the resolver's thread for d (it idles while the config has no
 * host names or resolve_interval is 0). NULL when out of resources. */
resolver *resolver_start(struct daemon_state *d);

/* Stops and joins it; NULL is fine. */
void resolver_stop(resolver *r);

#endif /* IOCPD_RESOLVER_H */
