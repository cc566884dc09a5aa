/*
 * The Windows Firewall rule of a service (iocpd install --firewall, the
 * MSI's FIREWALL=1): one inbound TCP allow rule, bound to the service
 * (its program and service name) rather than to ports, so that whatever
 * the config listens on is reachable and nothing else is. Through the
 * firewall's COM interface (INetFwPolicy2, hnetcfg.dll).
 */
#ifndef IOCPD_WIN_FIREWALL_H
#define IOCPD_WIN_FIREWALL_H

#include <stddef.h>
#include <wchar.h>

/* The rule's name for service `service`: "iocpd (NAME)". Caller frees. */
wchar_t *firewall_rule_name(const wchar_t *service);

/* Adds (or replaces) the rule for service, whose program is exe. Returns
 * 0, or the failing HRESULT with its text in why (UTF-8, why_len bytes). */
long firewall_add(const wchar_t *service, const wchar_t *exe, char *why, size_t why_len);

/* Removes the rule for service if it is there. Returns 1 if it removed
 * one, 0 if there was none (or the firewall cannot say: nothing to undo),
 * or the failing HRESULT (negative) with its text in why. */
long firewall_remove(const wchar_t *service, char *why, size_t why_len);

#endif /* IOCPD_WIN_FIREWALL_H */
