/*
 * netsh interface portproxy rules -> iocpd config text. The rules live in
 * the registry (read by service/win/portproxy_cmd.c): under
 * HKLM\SYSTEM\CurrentControlSet\Services\PortProxy\KIND\tcp, KIND one of
 * v4tov4, v4tov6, v6tov4 and v6tov6, one REG_SZ value per rule, named
 * "listenaddress/listenport" with the data "connectaddress/connectport"
 * ("*" as the listen address: every address). This part is plain C, so
 * that the conversion is tested on every platform.
 */
#ifndef IOCPD_PORTPROXY_H
#define IOCPD_PORTPROXY_H

#include <stddef.h>
#include <stdio.h>

/* The registry subkeys, in the order they are read. */
extern const char *const portproxy_kinds[4];

typedef struct portproxy_rule {
  char kind[8];          /* v4tov4, v4tov6, v6tov4 or v6tov6 */
  char listen_raw[80];   /* the value name, as netsh stored it */
  char connect_raw[300]; /* the value data, as netsh stored it */
  char name[64];         /* the iocpd listener name */
  char listen[64];       /* listen = a.b.c.d:port or [ipv6]:port */
  char upstream[280];    /* upstream = host:port, a.b.c.d:port or [ipv6]:port */
} portproxy_rule;

/* Converts one rule of kind (value name and data, UTF-8) into *out.
 * Returns 0, or -1 with a one-line reason in why (why_len bytes): a rule
 * iocpd cannot take as it is (a listen address given as a host name, a
 * port given as a service name, a malformed value). */
int portproxy_convert(const char *kind, const char *value_name, const char *value_data,
                      portproxy_rule *out, char *why, size_t why_len);

/* Writes the config for n rules to out: a [service] section, then one
 * forward listener per rule, each after a comment naming its netsh rule;
 * rules[i].name is made unique first. */
void portproxy_write_config(FILE *out, portproxy_rule *rules, size_t n);

/* Writes the netsh commands that would remove the n rules, one per line. */
void portproxy_write_removal(FILE *out, const portproxy_rule *rules, size_t n);

#endif /* IOCPD_PORTPROXY_H */
