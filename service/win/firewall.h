/*
 * The Windows Firewall rules of a service (iocpd install --firewall, the
 * MSI's FIREWALL=1): two inbound allow rules, one for TCP and one for UDP
 * (a firewall rule has one protocol), each bound to the service (its
 * program and service name) rather than to ports, so that whatever the
 * config listens on, over either protocol, is reachable and nothing else
 * is. Both always: a reload may add a UDP listener to a service installed
 * with TCP ones only, and no port is opened that the service does not
 * listen on. Through the firewall's COM interface (INetFwPolicy2,
 * hnetcfg.dll).
 */
#ifndef IOCPD_WIN_FIREWALL_H
#define IOCPD_WIN_FIREWALL_H

#include <stddef.h>
#include <wchar.h>

/* The rule's name for service `service` and protocol udp (0: TCP, 1:
 * UDP): "iocpd (NAME)" for TCP, as it has always been, and
 * "iocpd (NAME) UDP". Caller frees. */
wchar_t *firewall_rule_name(const wchar_t *service, int udp);

/* Adds (or replaces) both rules for service, whose program is exe.
 * Returns 0, or the failing HRESULT with its text in why (UTF-8, why_len
 * bytes); the TCP rule may then be there without the UDP one. */
long firewall_add(const wchar_t *service, const wchar_t *exe, char *why, size_t why_len);

/* Removes the rules for service that are there. Returns 1 if it removed
 * one or both, 0 if there was none (or the firewall cannot say: nothing
 * to undo), or the failing HRESULT (negative) with its text in why. */
long firewall_remove(const wchar_t *service, char *why, size_t why_len);

#endif /* IOCPD_WIN_FIREWALL_H */
