/*
 * What a config file must satisfy as a whole, once every section is read:
 * the keys whose meaning depends on others (upstream and connect_timeout
 * on handler, the connection keys on protocol), upstream entries (resolved here, so loading may
 * block on the system resolver) and relay loops, listeners sharing an address, the metrics address
 * against the listeners' and, for a file without problems, the warnings: settings that are valid
 * but probably not what was meant. Warnings never make a file invalid.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

/* ------------------------------------------------------------------------ */
/* Checks across sections, and the result */

static int same_ip(const iocpd_addr *a, const iocpd_addr *b) {
  return a->family == b->family && a->scope_id == b->scope_id &&
         memcmp(a->ip, b->ip, sizeof(a->ip)) == 0;
}

static int is_loopback(const iocpd_addr *a) {
  static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (a->family == IOCPD_AF_INET) return a->ip[0] == 127;
  return memcmp(a->ip, v6_loopback, sizeof(v6_loopback)) == 0;
}

/* The destination a connection to a really goes to: an IPv4-mapped IPv6
 * address is its IPv4 address, and the wildcard (0.0.0.0 or ::), which as
 * a destination means this host, is its loopback address. */
static iocpd_addr destination(const iocpd_addr *a) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  iocpd_addr d = *a;
  if (d.family == IOCPD_AF_INET6 && memcmp(d.ip, mapped, sizeof(mapped)) == 0) {
    memmove(d.ip, d.ip + 12, 4);
    memset(d.ip + 4, 0, 12);
    d.family = IOCPD_AF_INET;
    d.scope_id = 0;
  }
  if (iocpd_addr_is_wildcard(&d)) {
    memset(d.ip, 0, sizeof(d.ip));
    if (d.family == IOCPD_AF_INET) {
      d.ip[0] = 127;
      d.ip[3] = 1;
    } else {
      d.ip[15] = 1;
    }
  }
  return d;
}

/* Whether a connection to upstream would arrive at listener l: its very
 * address, or, when it takes the whole family (0.0.0.0 or [::]), any
 * address of this machine (loopback included); a dual-stack [::]
 * listener (ipv6_only = no) takes the IPv4 ones too. */
static int leads_to(const iocpd_addr *upstream, const iocpd_config_listener *l) {
  const iocpd_addr *listen = &l->listen;
  iocpd_addr to = destination(upstream);
  if (to.port != listen->port) return 0;
  /* A dual-stack [::] listener takes this machine's IPv4 addresses too. */
  if (to.family == IOCPD_AF_INET && listen->family == IOCPD_AF_INET6 && l->dual_stack)
    return iocpd_addr_is_wildcard(listen) && iocpd_addr_is_local(&to);
  if (to.family != listen->family) return 0;
  if (memcmp(to.ip, listen->ip, to.family == IOCPD_AF_INET ? 4 : 16) == 0 &&
      (to.family == IOCPD_AF_INET || to.scope_id == listen->scope_id))
    return 1;
  return iocpd_addr_is_wildcard(listen) && iocpd_addr_is_local(&to);
}

/* A listener's protocol as far as it is known: protocol = is absent (tcp)
 * or valid. A misspelt one was reported; the keys that depend on it are
 * then not judged. */
static int protocol_known(const listener_rec *rec) {
  return rec->keys.line[KEY_PROTOCOL] == 0 || rec->keys.ok[KEY_PROTOCOL];
}

static int is_udp(const listener_rec *rec) {
  return protocol_known(rec) && rec->out.protocol == IOCPD_UDP;
}

/* The listener keys that mean nothing for UDP (include/iocpd.h, IOCPD_UDP):
 * there is no connection to time out or to limit, no connect, active check,
 * PROXY header or read buffer per connection. The limits have their UDP
 * names, which the message gives. */
static const key_id tcp_only[] = {KEY_CONNECT_TIMEOUT,
                                  KEY_HEALTH_CHECK,
                                  KEY_HEALTH_INTERVAL,
                                  KEY_HEALTH_TIMEOUT,
                                  KEY_RISE,
                                  KEY_FALL,
                                  KEY_BUFFER_SIZE,
                                  KEY_MAX_CONNECTIONS,
                                  KEY_MAX_CONNECTIONS_PER_IP,
                                  KEY_HANDSHAKE_TIMEOUT,
                                  KEY_SEND_PROXY,
                                  KEY_ACCEPT_PROXY,
                                  KEY_PROXY_TRUSTED,
                                  KEY_PROXY_TIMEOUT};

/* Whether key k of rec is one check_protocol_keys reports: then no other
 * check reports it (or its value) a second time. */
static int refused_as_udp(const listener_rec *rec, key_id k) {
  size_t i;
  if (!is_udp(rec)) return 0;
  for (i = 0; i < sizeof(tcp_only) / sizeof(tcp_only[0]); i++)
    if (tcp_only[i] == k) return 1;
  return 0;
}

/* Checks one upstream entry and appends its addresses to found (count so
 * far; found has room for MAX_UPSTREAMS + 1). A host name is resolved here,
 * at load time; one that does not resolve is a warning, not a problem: a
 * service that starts at boot may come up before DNS does, and the daemon
 * resolves it again (resolve_interval). It adds no address until then.
 * Returns the number of addresses added, or -1 after reporting a problem. */
static int add_upstream(loader *ld, listener_rec *rec, int line, const char *entry,
                        iocpd_addr *found, size_t count) {
  size_t room = MAX_UPSTREAMS - count, k;
  iocpd_addr addr;
  address_kind kind;
  int n;

  kind = check_address(ld, line, &upstream_rules, entry, &addr);
  if (kind == ADDRESS_BAD) return -1;
  if (kind == ADDRESS_IP) {
    found[count] = addr;
    n = 1;
  } else {
    char reason[256] = "";
    ld->has_names = 1;
    /* One slot more than there is room for, to notice the limit. */
    n = iocpd_resolve(entry, found + count, room + 1, reason, sizeof(reason));
    if (n == IOCPD_ENOMEM) {
      ld->out_of_memory = 1;
      return -1;
    }
    if (n <= 0) {
      /* iocpd_strerror's text for IOCPD_ENOTFOUND is about connections. */
      const char *why = reason;
      if (why[0] == '\0') why = n == IOCPD_ENOTFOUND ? "name not found" : iocpd_strerror(n);
      add_warning(ld, line,
                  "upstream: cannot resolve '%.*s': %s; it gets no connection until it "
                  "resolves (tried again every resolve_interval)",
                  (int)(strrchr(entry, ':') - entry), entry, why);
      return 0;
    }
  }
  if ((size_t)n > room) {
    add_problem(ld, line,
                "upstream: '%s' brings the listener to more than %d "
                "addresses (the limit)",
                entry, MAX_UPSTREAMS);
    return -1;
  }
  for (k = 0; rec->keys.ok[KEY_LISTEN] && k < (size_t)n; k++) {
    char text[IOCPD_ADDR_STRLEN];
    if (!leads_to(&found[count + k], &rec->out)) continue;
    if (kind == ADDRESS_IP)
      add_problem(ld, line, "upstream: %s is this listener's own address (relay loop)", entry);
    else
      add_problem(ld, line,
                  "upstream: %s (%s) is this listener's own address (relay "
                  "loop)",
                  entry, iocpd_addr_format(&found[count + k], text));
    return -1;
  }
  return n;
}

/* Checks one line of a listener's upstream list, text (on line), adding
 * its addresses to found (*count so far). Returns 1, or 0 after reporting
 * a problem; after one (ok = 0) the entries are still checked, each on
 * its own, only to report their problems too. */
static int check_upstream_line(loader *ld, listener_rec *rec, int line, const char *text,
                               iocpd_addr *found, size_t *count, int ok) {
  const char *p = text;
  unsigned index = 0;

  if (text[0] == '\0') {
    add_problem(ld, line, "upstream: value is empty (expected " UPSTREAM_FORMS ")");
    return 0;
  }
  for (;;) {
    char entry[256];
    size_t len = next_entry(&p, entry, sizeof(entry));

    index++;
    if (len == 0) {
      add_problem(ld, line, "upstream: entry %u of '%s' is empty", index, text);
      ok = 0;
    } else if (ok) {
      int n = add_upstream(ld, rec, line, entry, found, *count);
      if (n < 0)
        ok = 0;
      else
        *count += (size_t)n;
    } else {
      add_upstream(ld, rec, line, entry, found, 0);
    }
    if (p == NULL) break;
  }
  return ok;
}

/* Checks the upstream list of a listener (comma-separated, on one line or
 * several) and, if every entry is valid, stores all their addresses, in
 * order, in rec->out.upstreams. */
static void check_upstreams(loader *ld, listener_rec *rec) {
  iocpd_addr found[MAX_UPSTREAMS + 1];
  const key_line *more;
  size_t count = 0;
  int ok = check_upstream_line(ld, rec, rec->keys.line[KEY_UPSTREAM], rec->keys.text[KEY_UPSTREAM],
                               found, &count, 1);

  for (more = rec->keys.more[KEY_UPSTREAM]; more != NULL; more = more->next)
    ok = check_upstream_line(ld, rec, more->line, more->text, found, &count, ok);
  if (!ok || count == 0) return;
  rec->out.upstreams = malloc(count * sizeof(*rec->out.upstreams));
  if (rec->out.upstreams == NULL) {
    ld->out_of_memory = 1;
    return;
  }
  memcpy(rec->out.upstreams, found, count * sizeof(*rec->out.upstreams));
  rec->out.upstream_count = count;
}

/* The keys that only a forward listener takes, and the one it needs. */
static void check_forward_keys(loader *ld, listener_rec *rec) {
  /* upstream first: it is checked on its own below. A problem while
   * storing a text was counted as out of memory. */
  static const key_id forward_only[] = {
      KEY_UPSTREAM,        KEY_CONNECT_TIMEOUT, KEY_MAX_FAILS, KEY_FAIL_TIMEOUT, KEY_HEALTH_CHECK,
      KEY_HEALTH_INTERVAL, KEY_HEALTH_TIMEOUT,  KEY_RISE,      KEY_FALL,         KEY_SEND_PROXY};
  int have_upstream = rec->keys.line[KEY_UPSTREAM] > 0 && rec->keys.text[KEY_UPSTREAM] != NULL;
  size_t i;

  if (rec->keys.ok[KEY_HANDLER] && rec->out.handler == IOCPD_HANDLER_ECHO) {
    for (i = 0; i < sizeof(forward_only) / sizeof(forward_only[0]); i++) {
      key_id k = forward_only[i];
      if (rec->keys.line[k] > 0 && !refused_as_udp(rec, k))
        add_problem(ld, rec->keys.line[k], "%s: only valid with handler = forward", key_name(k));
    }
    return;
  }
  /* A forward listener, or one whose handler is missing or misspelt (that
   * was reported): check what is there, to report every problem now. */
  if (have_upstream)
    check_upstreams(ld, rec);
  else if (rec->keys.line[KEY_UPSTREAM] == 0 && rec->keys.ok[KEY_HANDLER])
    add_problem(ld, rec->out.line,
                "missing key 'upstream' in [%s%s] (required by handler = "
                "forward)",
                LISTENER_PREFIX, rec->out.name);
  for (i = 1; i < sizeof(forward_only) / sizeof(forward_only[0]); i++) {
    key_id k = forward_only[i];
    if (rec->keys.line[k] > 0 && rec->keys.text[k] != NULL && !refused_as_udp(rec, k))
      keys_apply(ld, &rec->keys, &rec->out, k);
  }
}

/* Relay loops through other listeners: a forward listener whose upstream
 * is the address of another listener of this file that relays, directly
 * or through more of them, back to the first. (A listener's own address
 * among its upstreams was reported by add_upstream; an upstream that is
 * an echo listener of this file is a chain, not a loop.) */

/* The listener a connection (or datagram) of protocol to upstream arrives
 * at, or -1. */
static int listener_at(loader *ld, const iocpd_addr *upstream, int protocol) {
  size_t j;
  for (j = 0; j < ld->listener_count; j++) {
    if (ld->listeners[j].keys.ok[KEY_LISTEN] && ld->listeners[j].out.protocol == protocol &&
        leads_to(upstream, &ld->listeners[j].out))
      return (int)j;
  }
  return -1;
}

/* Whether listener `from` relays, through upstream edges next[][], to
 * listener `to`. seen has room for every listener. */
static int relays_to(loader *ld, int **next, size_t from, size_t to, unsigned char *seen) {
  size_t *stack, top = 0, k;
  int found = 0;
  stack = malloc(ld->listener_count * sizeof(*stack));
  if (stack == NULL) {
    ld->out_of_memory = 1;
    return 0;
  }
  memset(seen, 0, ld->listener_count);
  stack[top++] = from;
  seen[from] = 1;
  while (top > 0 && !found) {
    size_t at = stack[--top];
    listener_rec *rec = &ld->listeners[at];
    for (k = 0; next[at] != NULL && k < rec->out.upstream_count; k++) {
      int j = next[at][k];
      if (j < 0 || seen[j]) continue;
      if ((size_t)j == to) {
        found = 1;
        break;
      }
      seen[j] = 1;
      stack[top++] = (size_t)j;
    }
  }
  free(stack);
  return found;
}

static void check_relay_cycles(loader *ld) {
  size_t n = ld->listener_count, i, k;
  int **next = calloc(n != 0 ? n : 1, sizeof(*next));
  unsigned char *seen = malloc(n != 0 ? n : 1);

  if (next == NULL || seen == NULL) goto out_of_memory;
  /* next[i][k]: the listener that upstream k of forward listener i leads
   * to, or -1. */
  for (i = 0; i < n; i++) {
    listener_rec *rec = &ld->listeners[i];
    if (rec->out.handler != IOCPD_HANDLER_FORWARD || rec->out.upstream_count == 0) continue;
    next[i] = malloc(rec->out.upstream_count * sizeof(**next));
    if (next[i] == NULL) goto out_of_memory;
    for (k = 0; k < rec->out.upstream_count; k++)
      next[i][k] = listener_at(ld, &rec->out.upstreams[k], rec->out.protocol);
  }
  for (i = 0; i < n; i++) {
    listener_rec *rec = &ld->listeners[i];
    for (k = 0; next[i] != NULL && k < rec->out.upstream_count; k++) {
      int j = next[i][k];
      char text[IOCPD_ADDR_STRLEN];
      if (j < 0 || (size_t)j == i || !relays_to(ld, next, (size_t)j, i, seen)) continue;
      add_problem(ld, rec->keys.line[KEY_UPSTREAM],
                  "upstream: %s is the address of [%s%s] (line %d), which relays back to "
                  "this listener (relay loop)",
                  iocpd_addr_format(&rec->out.upstreams[k], text), LISTENER_PREFIX,
                  ld->listeners[j].out.name, ld->listeners[j].keys.line[KEY_LISTEN]);
      break;
    }
  }
  goto out;
out_of_memory:
  ld->out_of_memory = 1;
out:
  for (i = 0; next != NULL && i < n; i++) free(next[i]);
  free(next);
  free(seen);
}

/* accept_proxy and the keys that go with it: the trusted balancers are
 * required (a header from anyone would let any client choose its own
 * address), and the others mean nothing without it. */
static void check_proxy_keys(loader *ld, listener_rec *rec) {
  static const key_id with_accept[] = {KEY_PROXY_TRUSTED, KEY_PROXY_TIMEOUT};
  size_t i;
  if (rec->keys.line[KEY_ACCEPT_PROXY] > 0 && !rec->keys.ok[KEY_ACCEPT_PROXY]) return;
  if (is_udp(rec)) return; /* every one of them was refused as such */
  if (rec->out.accept_proxy == 0) {
    for (i = 0; i < sizeof(with_accept) / sizeof(with_accept[0]); i++) {
      key_id k = with_accept[i];
      if (rec->keys.line[k] > 0)
        add_problem(ld, rec->keys.line[k], "%s: only valid with accept_proxy = v1, v2 or any",
                    key_name(k));
    }
  } else if (rec->keys.line[KEY_PROXY_TRUSTED] == 0) {
    add_problem(ld, rec->keys.line[KEY_ACCEPT_PROXY],
                "accept_proxy: needs proxy_trusted, the address blocks of the balancers whose "
                "headers are believed");
  }
}

/* How two bound addresses meet: 0 apart, 1 the same address, 2 one
 * takes the other's (a wildcard of the same family, or a dual-stack [::]
 * and any IPv4 address). Either binding would fail or steal the other's
 * clients. */
static int clash(const iocpd_addr *a, int a_dual, const iocpd_addr *b, int b_dual) {
  if (a->port != b->port) return 0;
  if (a->family != b->family) return (a->family == IOCPD_AF_INET6 ? a_dual : b_dual) ? 2 : 0;
  if (same_ip(a, b)) return 1;
  return iocpd_addr_is_wildcard(a) || iocpd_addr_is_wildcard(b) ? 2 : 0;
}

/* The keys that depend on protocol. A UDP listener refuses the keys of
 * connections (tcp_only); its echo keeps no sessions, so it takes no
 * session key either. A UDP forward session ends only when idle, so its
 * idle_timeout cannot be 0 (the engine would take that for its default)
 * and is IOCPD_DEFAULT_UDP_IDLE_TIMEOUT_MS when absent, not the TCP
 * default of the key's row. A TCP listener refuses the session limits,
 * which have their TCP names; max_sessions (its row's default bounds
 * what a flood of new source addresses can cost) stays 0 where it means
 * nothing. */
static void check_protocol_keys(loader *ld, listener_rec *rec) {
  static const key_id session_keys[] = {KEY_IDLE_TIMEOUT, KEY_MAX_SESSIONS,
                                        KEY_MAX_SESSIONS_PER_IP};
  size_t i;

  if (!protocol_known(rec)) return;
  if (rec->out.protocol == IOCPD_TCP) {
    if (rec->keys.line[KEY_MAX_SESSIONS] > 0)
      add_problem(ld, rec->keys.line[KEY_MAX_SESSIONS],
                  "max_sessions: only valid with protocol = udp; use max_connections for a TCP "
                  "listener");
    if (rec->keys.line[KEY_MAX_SESSIONS_PER_IP] > 0)
      add_problem(ld, rec->keys.line[KEY_MAX_SESSIONS_PER_IP],
                  "max_sessions_per_ip: only valid with protocol = udp; use "
                  "max_connections_per_ip for a TCP listener");
    rec->out.max_sessions = 0;
    return;
  }
  for (i = 0; i < sizeof(tcp_only) / sizeof(tcp_only[0]); i++) {
    key_id k = tcp_only[i];
    if (rec->keys.line[k] == 0) continue;
    if (k == KEY_MAX_CONNECTIONS || k == KEY_MAX_CONNECTIONS_PER_IP)
      add_problem(ld, rec->keys.line[k],
                  "%s: means nothing for a UDP listener (protocol = udp); use %s", key_name(k),
                  key_name(k == KEY_MAX_CONNECTIONS ? KEY_MAX_SESSIONS : KEY_MAX_SESSIONS_PER_IP));
    else
      add_problem(ld, rec->keys.line[k], "%s: means nothing for a UDP listener (protocol = udp)",
                  key_name(k));
  }
  if (rec->keys.ok[KEY_HANDLER] && rec->out.handler == IOCPD_HANDLER_ECHO) {
    for (i = 0; i < sizeof(session_keys) / sizeof(session_keys[0]); i++) {
      key_id k = session_keys[i];
      if (rec->keys.line[k] > 0)
        add_problem(ld, rec->keys.line[k],
                    "%s: means nothing for a UDP echo listener (UDP echo keeps no sessions)",
                    key_name(k));
    }
    rec->out.idle_timeout_ms = 0;
    rec->out.max_sessions = 0;
    return;
  }
  if (rec->keys.line[KEY_IDLE_TIMEOUT] == 0)
    rec->out.idle_timeout_ms = IOCPD_DEFAULT_UDP_IDLE_TIMEOUT_MS;
  else if (rec->keys.ok[KEY_IDLE_TIMEOUT] && rec->out.idle_timeout_ms == 0)
    add_problem(ld, rec->keys.line[KEY_IDLE_TIMEOUT],
                "idle_timeout: '%s' must be more than 0 for a UDP listener (its sessions end only "
                "when idle)",
                rec->keys.text[KEY_IDLE_TIMEOUT]);
}

/* ipv6_only means something on the IPv6 wildcard only: another address
 * cannot receive IPv4 clients. */
static void check_ipv6_only(loader *ld, listener_rec *rec) {
  const iocpd_addr *a = &rec->out.listen;
  if (rec->keys.line[KEY_IPV6_ONLY] == 0 || !rec->keys.ok[KEY_LISTEN]) return;
  if (a->family != IOCPD_AF_INET6 || !iocpd_addr_is_wildcard(a))
    add_problem(ld, rec->keys.line[KEY_IPV6_ONLY],
                "ipv6_only: only valid on a listener on [::] (listen = %s)", rec->out.listen_text);
}

static void check_listeners(loader *ld) {
  size_t i, j;

  for (i = 0; i < ld->listener_count; i++) {
    listener_rec *rec = &ld->listeners[i];
    if (rec->keys.line[KEY_LISTEN] == 0)
      add_problem(ld, rec->out.line, "missing key 'listen' in [%s%s]", LISTENER_PREFIX,
                  rec->out.name);
    if (rec->keys.line[KEY_HANDLER] == 0)
      add_problem(ld, rec->out.line, "missing key 'handler' in [%s%s]", LISTENER_PREFIX,
                  rec->out.name);
    check_forward_keys(ld, rec);
    check_protocol_keys(ld, rec);
    check_proxy_keys(ld, rec);
    check_ipv6_only(ld, rec);
  }
  check_relay_cycles(ld);

  /* Two listeners on one address cannot both bind; neither can a wildcard
   * and a specific address of the same family on the same port (Windows
   * refuses it with SO_EXCLUSIVEADDRUSE, Linux for listening sockets), nor
   * a dual-stack [::] and an IPv4 address on its port. TCP and UDP ports
   * are apart: a TCP and a UDP listener may share any address. */
  for (j = 1; j < ld->listener_count; j++) {
    listener_rec *b = &ld->listeners[j];
    if (!b->keys.ok[KEY_LISTEN]) continue;
    for (i = 0; i < j; i++) {
      listener_rec *a = &ld->listeners[i];
      int how;
      if (!a->keys.ok[KEY_LISTEN] || a->out.protocol != b->out.protocol) continue;
      how = clash(&a->out.listen, a->out.dual_stack, &b->out.listen, b->out.dual_stack);
      if (how == 1) {
        add_problem(ld, b->keys.line[KEY_LISTEN], "listen: %s is already used by [%s%s] (line %d)",
                    b->out.listen_text, LISTENER_PREFIX, a->out.name, a->keys.line[KEY_LISTEN]);
        break;
      }
      if (how == 2) {
        add_problem(ld, b->keys.line[KEY_LISTEN], "listen: %s overlaps %s of [%s%s] (line %d)",
                    b->out.listen_text, a->out.listen_text, LISTENER_PREFIX, a->out.name,
                    a->keys.line[KEY_LISTEN]);
        break;
      }
    }
  }

  if (ld->listener_headers == 0) add_problem(ld, 0, "no [listener:NAME] section; nothing to serve");
}

/* metrics_listen: an address like a listener's, which no TCP listener may
 * take (the metrics endpoint is a server of its own and binds it too; a UDP
 * listener's port is another one). */
static void check_metrics(loader *ld) {
  int line = ld->service_keys.line[KEY_METRICS_LISTEN];
  const char *text = ld->service_keys.text[KEY_METRICS_LISTEN];
  const iocpd_addr *m = &ld->service.metrics_listen;
  size_t i;

  if (line == 0 || text == NULL) return;
  if (!keys_apply(ld, &ld->service_keys, &ld->service, KEY_METRICS_LISTEN)) return;
  for (i = 0; i < ld->listener_count; i++) {
    const listener_rec *rec = &ld->listeners[i];
    const iocpd_addr *a = &rec->out.listen;
    int how;
    if (!rec->keys.ok[KEY_LISTEN] || rec->out.protocol != IOCPD_TCP) continue;
    how = clash(a, rec->out.dual_stack, m, 0);
    if (how == 1) {
      add_problem(ld, line, "metrics_listen: %s is already used by [%s%s] (line %d)", text,
                  LISTENER_PREFIX, rec->out.name, rec->keys.line[KEY_LISTEN]);
      return;
    }
    if (how == 2) {
      add_problem(ld, line, "metrics_listen: %s overlaps %s of [%s%s] (line %d)", text,
                  rec->out.listen_text, LISTENER_PREFIX, rec->out.name, rec->keys.line[KEY_LISTEN]);
      return;
    }
  }
  ld->service.metrics_enabled = 1;
}

void check_whole_file(loader *ld) {
  check_listeners(ld);
  check_metrics(ld);
}

/* ------------------------------------------------------------------------ */
/* Warnings */

static const char *family_name(int family) { return family == IOCPD_AF_INET ? "IPv4" : "IPv6"; }

/* 1 if every address of inner lies in outer. */
static int block_covers(const iocpd_cidr *outer, const iocpd_cidr *inner) {
  return outer->addr.family == inner->addr.family && outer->prefix <= inner->prefix &&
         iocpd_cidr_match(outer, &inner->addr);
}

/* The allow and deny lists of one listener: a list that lets nobody in is
 * valid (it may be a deliberate way to close a listener for a while), but
 * far more often a mistake. Listeners are bound IPv6-only, so a listener
 * only ever sees clients of its own family, and only entries of that family
 * count. Only overlaps that are certain are reported: an IPv4-mapped IPv6
 * block is never compared with IPv4 blocks. */
static void warn_about_lists(loader *ld, const listener_rec *rec) {
  int family = rec->out.listen.family;
  size_t i, j, relevant = 0, covered = 0;

  if (rec->out.allow_count == 0) {
    if (!is_loopback(&rec->out.listen))
      add_warning(ld, rec->keys.line[KEY_LISTEN],
                  "[%s%s] listens on %s without an allow list: every "
                  "address%s can connect",
                  LISTENER_PREFIX, rec->out.name, rec->out.listen_text,
                  rec->out.deny_count > 0 ? " not in deny" : "");
    for (i = 0; i < rec->out.deny_count; i++) {
      if (rec->out.deny[i].addr.family == family && rec->out.deny[i].prefix == 0) {
        add_warning(ld, rec->keys.line[KEY_DENY],
                    "deny = %s covers every %s address; nothing can connect "
                    "to [%s%s]",
                    rec->keys.text[KEY_DENY], family_name(family), LISTENER_PREFIX, rec->out.name);
        break;
      }
    }
    return;
  }
  for (i = 0; i < rec->out.allow_count; i++) {
    const iocpd_cidr *a = &rec->out.allow[i];
    if (a->addr.family != family) continue;
    relevant++;
    for (j = 0; j < rec->out.deny_count; j++) {
      if (block_covers(&rec->out.deny[j], a)) {
        covered++;
        break;
      }
    }
  }
  if (relevant == 0)
    add_warning(ld, rec->keys.line[KEY_ALLOW],
                "allow = %s has no %s entry, and [%s%s] listens on %s: "
                "nothing can connect",
                rec->keys.text[KEY_ALLOW], family_name(family), LISTENER_PREFIX, rec->out.name,
                rec->out.listen_text);
  else if (covered == relevant)
    add_warning(ld, rec->keys.line[KEY_DENY],
                "deny = %s covers every address in allow; nothing can "
                "connect to [%s%s]",
                rec->keys.text[KEY_DENY], LISTENER_PREFIX, rec->out.name);
}

/* A per-address limit at or above the listener's own limit (or, without
 * one, the service's, which counts TCP connections only) can never be
 * reached. Equal is fine: "one client may take every slot" is a clear
 * statement. */
static void warn_about_limits(loader *ld, const listener_rec *rec) {
  uint64_t per_ip = rec->out.max_connections_per_ip;

  if (rec->out.protocol == IOCPD_UDP) {
    if (rec->out.max_sessions_per_ip > 0 && rec->out.max_sessions > 0 &&
        rec->out.max_sessions_per_ip > rec->out.max_sessions)
      add_warning(ld, rec->keys.line[KEY_MAX_SESSIONS_PER_IP],
                  "max_sessions_per_ip = %llu is more than max_sessions = %llu of [%s%s]; it "
                  "never applies",
                  (unsigned long long)rec->out.max_sessions_per_ip,
                  (unsigned long long)rec->out.max_sessions, LISTENER_PREFIX, rec->out.name);
    return;
  }
  if (per_ip == 0) return;
  if (rec->out.max_connections > 0 && per_ip > rec->out.max_connections)
    add_warning(ld, rec->keys.line[KEY_MAX_CONNECTIONS_PER_IP],
                "max_connections_per_ip = %llu is more than max_connections "
                "= %llu of [%s%s]; it never applies",
                (unsigned long long)per_ip, (unsigned long long)rec->out.max_connections,
                LISTENER_PREFIX, rec->out.name);
  else if (rec->out.max_connections == 0 && ld->service.max_connections > 0 &&
           per_ip > ld->service.max_connections)
    add_warning(ld, rec->keys.line[KEY_MAX_CONNECTIONS_PER_IP],
                "max_connections_per_ip = %llu is more than [service] "
                "max_connections = %llu; it never applies",
                (unsigned long long)per_ip, (unsigned long long)ld->service.max_connections);
}

/* [service] settings that cannot do what they seem to. */
static void warn_about_service(loader *ld) {
  if (ld->service_keys.line[KEY_ACCESS_LOG] == 0) {
    if (ld->service_keys.line[KEY_ACCESS_LOG_MAX_SIZE] > 0)
      add_warning(ld, ld->service_keys.line[KEY_ACCESS_LOG_MAX_SIZE],
                  "access_log_max_size has no effect without access_log");
    if (ld->service_keys.line[KEY_ACCESS_LOG_KEEP] > 0)
      add_warning(ld, ld->service_keys.line[KEY_ACCESS_LOG_KEEP],
                  "access_log_keep has no effect without access_log");
  }
  /* The metrics name every listener and upstream and show the traffic;
   * the endpoint has no access control of its own. */
  if (ld->service.metrics_enabled && !is_loopback(&ld->service.metrics_listen))
    add_warning(ld, ld->service_keys.line[KEY_METRICS_LISTEN],
                "metrics_listen = %s is not a loopback address: every host "
                "that can reach it can read the metrics",
                ld->service_keys.text[KEY_METRICS_LISTEN]);
}

/* Only for a file without problems, so every listener has a valid listen
 * address. */
void find_warnings(loader *ld) {
  size_t i;
  warn_about_service(ld);
  for (i = 0; i < ld->listener_count; i++) {
    const listener_rec *rec = &ld->listeners[i];
    assert(rec->keys.ok[KEY_LISTEN]);
    warn_about_lists(ld, rec);
    warn_about_limits(ld, rec);
  }
}
