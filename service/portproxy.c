/*
 * netsh interface portproxy rules -> iocpd config text (see portproxy.h).
 */
#include "portproxy.h"

#include <stdio.h>
#include <string.h>

#include "iocpd.h"

const char *const portproxy_kinds[4] = {"v4tov4", "v4tov6", "v6tov4", "v6tov6"};

/* inih reads lines of up to 200 bytes; the config lines written here must
 * fit, comments included. */
#define LINE_ROOM 190

/* Splits "address/port" at its last '/' into addr and port. Returns 0 or
 * -1 if there is no '/' or either part does not fit. */
static int split(const char *text, char *addr, size_t addr_len, char *port, size_t port_len) {
  const char *slash = strrchr(text, '/');
  size_t n;
  if (slash == NULL) return -1;
  n = (size_t)(slash - text);
  if (n == 0 || n >= addr_len || strlen(slash + 1) >= port_len) return -1;
  memcpy(addr, text, n);
  addr[n] = '\0';
  strcpy(port, slash + 1);
  return 0;
}

/* A port as netsh stores it is a number; a service name ("http") would
 * need the services database, which iocpd does not read. */
static int port_ok(const char *port) {
  unsigned long v = 0;
  const char *p;
  if (port[0] == '\0' || strlen(port) > 5) return 0;
  for (p = port; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') return 0;
    v = v * 10 + (unsigned long)(*p - '0');
  }
  return v >= 1 && v <= 65535;
}

static int host_name_ok(const char *host) {
  const char *p;
  if (host[0] == '\0' || strlen(host) > 253) return 0;
  for (p = host; *p != '\0'; p++) {
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '-' || *p == '.' || *p == '_'))
      return 0;
  }
  return 1;
}

/* "addr:port" with IPv6 in brackets, for a numeric address or a name. */
static void join(char *out, size_t len, const char *addr, const char *port) {
  iocpd_addr a;
  if (iocpd_addr_parse_ip(addr, &a) == 0 && a.family == IOCPD_AF_INET6)
    snprintf(out, len, "[%s]:%s", addr, port);
  else
    snprintf(out, len, "%s:%s", addr, port);
}

/* The listener name: kind, address and port, in the characters a name may
 * have (A-Z a-z 0-9 _ . -), runs of '-' joined. */
static void make_name(char *out, size_t len, const char *kind, const char *addr, const char *port) {
  char raw[160];
  size_t i, n = 0;
  snprintf(raw, sizeof(raw), "%s-%s-%s", kind, strcmp(addr, "*") == 0 ? "all" : addr, port);
  for (i = 0; raw[i] != '\0' && n + 1 < len; i++) {
    char c = raw[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.';
    if (!ok) c = '-';
    if (c == '-' && n > 0 && out[n - 1] == '-') continue;
    out[n++] = c;
  }
  out[n] = '\0';
}

int portproxy_convert(const char *kind, const char *value_name, const char *value_data,
                      portproxy_rule *out, char *why, size_t why_len) {
  char laddr[80], given[80], lport[16], caddr[300], cport[16];
  int listen_v6 = kind[1] == '6';
  iocpd_addr a;

  memset(out, 0, sizeof(*out));
  snprintf(out->kind, sizeof(out->kind), "%s", kind);
  snprintf(out->listen_raw, sizeof(out->listen_raw), "%s", value_name);
  snprintf(out->connect_raw, sizeof(out->connect_raw), "%s", value_data);
  if (split(value_name, laddr, sizeof(laddr), lport, sizeof(lport)) != 0 ||
      split(value_data, caddr, sizeof(caddr), cport, sizeof(cport)) != 0) {
    snprintf(why, why_len, "not of the form address/port");
    return -1;
  }
  if (!port_ok(lport) || !port_ok(cport)) {
    snprintf(why, why_len, "a port that is not a number from 1 to 65535");
    return -1;
  }
  /* The listen address: "*" is every address of the family; a listener
   * needs a numeric address, so of host names only localhost is taken. */
  strcpy(given, laddr);
  if (strcmp(laddr, "*") == 0) {
    strcpy(laddr, listen_v6 ? "::" : "0.0.0.0");
  } else if (strcmp(laddr, "localhost") == 0) {
    strcpy(laddr, listen_v6 ? "::1" : "127.0.0.1");
  } else if (iocpd_addr_parse_ip(laddr, &a) != 0 || a.scope_id != 0 ||
             a.family != (listen_v6 ? IOCPD_AF_INET6 : IOCPD_AF_INET)) {
    snprintf(why, why_len, "the listen address '%s' is not a numeric IPv%c address", laddr,
             listen_v6 ? '6' : '4');
    return -1;
  }
  /* A numeric connect address of either family is relayed to as it is
   * (v4tov6 names the family netsh connects with; iocpd needs no hint). */
  if (iocpd_addr_parse_ip(caddr, &a) == 0) {
    if (a.scope_id != 0) {
      snprintf(why, why_len, "the connect address '%s' has a zone index", caddr);
      return -1;
    }
  } else if (!host_name_ok(caddr)) {
    snprintf(why, why_len, "the connect address '%s' is not an address or host name", caddr);
    return -1;
  }
  join(out->listen, sizeof(out->listen), laddr, lport);
  join(out->upstream, sizeof(out->upstream), caddr, cport);
  if (strlen("upstream = ") + strlen(out->upstream) > LINE_ROOM) {
    snprintf(why, why_len, "the connect address is too long for one config line");
    return -1;
  }
  make_name(out->name, sizeof(out->name), kind, given, lport);
  return 0;
}

/* Makes rules[i].name differ from every earlier rule's ("-2", "-3"...). */
static void unique_names(portproxy_rule *rules, size_t n) {
  size_t i, j;
  for (i = 1; i < n; i++) {
    int k = 2;
    char base[64];
    snprintf(base, sizeof(base), "%s", rules[i].name);
    for (j = 0; j < i; j++) {
      if (strcmp(rules[i].name, rules[j].name) != 0) continue;
      snprintf(rules[i].name, sizeof(rules[i].name), "%.50s-%d", base, k++);
      j = (size_t)-1; /* compare again from the first */
    }
  }
}

void portproxy_write_config(FILE *out, portproxy_rule *rules, size_t n) {
  size_t i;
  unique_names(rules, n);
  fprintf(out,
          "; Imported from netsh interface portproxy by iocpd import-portproxy (iocpd %s).\n"
          "; Each [listener:...] relays like the netsh rule named in the comment above\n"
          "; it. The netsh rules are still in place: remove them (the commands are at\n"
          "; the end of this file) before iocpd starts, or both would want the ports.\n"
          "\n"
          "[service]\n"
          "drain_timeout = 30s\n",
          IOCPD_VERSION);
  for (i = 0; i < n; i++) {
    const portproxy_rule *r = &rules[i];
    /* The rule as netsh shows it, cut to fit one config line. netsh
     * portproxy relays TCP only: no protocol key, so TCP, the default. */
    fprintf(out, "\n; netsh portproxy %s: %.60s -> %.100s\n", r->kind, r->listen_raw,
            r->connect_raw);
    fprintf(out,
            "[listener:%s]\n"
            "listen = %s\n"
            "handler = forward\n"
            "upstream = %s\n",
            r->name, r->listen, r->upstream);
  }
  fprintf(out, "\n; To remove the netsh rules once iocpd serves them (elevated):\n");
  for (i = 0; i < n; i++) {
    fprintf(out, ";   ");
    portproxy_write_removal(out, &rules[i], 1);
  }
}

void portproxy_write_removal(FILE *out, const portproxy_rule *rules, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    char addr[80], port[16];
    if (split(rules[i].listen_raw, addr, sizeof(addr), port, sizeof(port)) != 0) continue;
    if (strcmp(addr, "*") == 0) {
      fprintf(out, "netsh interface portproxy delete %s listenport=%s\n", rules[i].kind, port);
    } else {
      fprintf(out, "netsh interface portproxy delete %s listenport=%s listenaddress=%s\n",
              rules[i].kind, port, addr);
    }
  }
}
