/*
 * netsh portproxy rules -> iocpd config (service/portproxy.c), on every
 * platform: each kind of rule, the forms netsh stores ("*", localhost,
 * host names, IPv6), the rules iocpd cannot take and why, and a written
 * config that the loader accepts with the listeners and upstreams the
 * rules describe (names made unique), and the removal commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "portproxy.h"
#include "testengine.h"

static void no_report(void *arg, const char *message) {
  (void)arg;
  fprintf(stderr, "  config: %s\n", message);
}

static int converts(const char *kind, const char *name, const char *data, portproxy_rule *r) {
  char why[200];
  if (portproxy_convert(kind, name, data, r, why, sizeof(why)) == 0) return 1;
  fprintf(stderr, "  %s %s -> %s: %s\n", kind, name, data, why);
  return 0;
}

static int refused_because(const char *kind, const char *name, const char *data,
                           const char *reason) {
  portproxy_rule r;
  char why[200] = "";
  return portproxy_convert(kind, name, data, &r, why, sizeof(why)) == -1 &&
         strstr(why, reason) != NULL;
}

static void test_convert(void) {
  portproxy_rule r;
  CHECK(converts("v4tov4", "0.0.0.0/8080", "192.168.1.10/80", &r));
  CHECK(strcmp(r.listen, "0.0.0.0:8080") == 0 && strcmp(r.upstream, "192.168.1.10:80") == 0 &&
        strcmp(r.name, "v4tov4-0.0.0.0-8080") == 0);
  CHECK(converts("v4tov4", "*/443", "backend.example.com/8443", &r));
  CHECK(strcmp(r.listen, "0.0.0.0:443") == 0 &&
        strcmp(r.upstream, "backend.example.com:8443") == 0 &&
        strcmp(r.name, "v4tov4-all-443") == 0);
  CHECK(converts("v4tov6", "127.0.0.1/3389", "fd00::5/3389", &r));
  CHECK(strcmp(r.upstream, "[fd00::5]:3389") == 0);
  CHECK(converts("v6tov4", "*/80", "10.0.0.2/8080", &r));
  CHECK(strcmp(r.listen, "[::]:80") == 0 && strcmp(r.name, "v6tov4-all-80") == 0);
  CHECK(converts("v6tov6", "fe80::1:2/22", "2001:db8::9/22", &r));
  CHECK(strcmp(r.listen, "[fe80::1:2]:22") == 0 && strcmp(r.name, "v6tov6-fe80-1-2-22") == 0);
  CHECK(converts("v4tov4", "localhost/9000", "localhost/9001", &r));
  CHECK(strcmp(r.listen, "127.0.0.1:9000") == 0 && strcmp(r.upstream, "localhost:9001") == 0);
  CHECK(converts("v6tov6", "localhost/9000", "::1/9001", &r));
  CHECK(strcmp(r.listen, "[::1]:9000") == 0);

  CHECK(refused_because("v4tov4", "gw.example/80", "10.0.0.1/80",
                        "the listen address 'gw.example' is not a numeric IPv4 address"));
  CHECK(refused_because("v4tov4", "::1/80", "10.0.0.1/80", "not a numeric IPv4 address"));
  CHECK(refused_because("v6tov4", "10.0.0.1/80", "10.0.0.1/80", "not a numeric IPv6 address"));
  CHECK(refused_because("v4tov4", "0.0.0.0/http", "10.0.0.1/80", "not a number from 1 to 65535"));
  CHECK(refused_because("v4tov4", "0.0.0.0/0", "10.0.0.1/80", "not a number from 1 to 65535"));
  CHECK(refused_because("v4tov4", "0.0.0.0/80", "10.0.0.1/65536", "not a number"));
  CHECK(refused_because("v4tov4", "0.0.0.0:80", "10.0.0.1/80", "not of the form address/port"));
  CHECK(refused_because("v4tov4", "0.0.0.0/80", "bad host!/80", "not an address or host name"));
}

static void test_config(void) {
  static const char *const rules[][3] = {
      {"v4tov4", "127.0.0.1/8080", "10.0.0.5/80"},
      {"v4tov4", "127.0.0.2/8080", "localhost/80"},
      {"v4tov6", "127.0.0.1/8081", "2001:db8::1/81"},
      {"v6tov6", "::1/8082", "::1/9082"},
  };
  portproxy_rule r[5];
  iocpd_config *c = NULL;
  char *text = NULL;
  size_t len = 0, i;
  FILE *f;
  int problems;

  for (i = 0; i < 4; i++) CHECK(converts(rules[i][0], rules[i][1], rules[i][2], &r[i]));
  /* The same name twice (two rules on one listen address, say) is made
   * unique: check-config would refuse the second section otherwise. */
  r[4] = r[0];
  f = tmpfile();
  if (f == NULL) {
    CHECK(0);
    return;
  }
  portproxy_write_config(f, r, 5);
  len = (size_t)ftell(f);
  text = malloc(len + 1);
  rewind(f);
  CHECK(text != NULL && fread(text, 1, len, f) == len);
  fclose(f);
  if (text == NULL) return;
  text[len] = '\0';
  CHECK(strstr(text, "[listener:v4tov4-127.0.0.1-8080-2]") != NULL);
  CHECK(strstr(text, ";   netsh interface portproxy delete v6tov6 listenport=8082 "
                     "listenaddress=::1\n") != NULL);
  /* Loaded as it is: r[4] repeats r[0]'s address, which check-config
   * rightly refuses; without it the file is valid. */
  problems = iocpd_config_load_buffer("imported.ini", text, len, &c, no_report, NULL);
  CHECK(problems == 1 && c == NULL);
  free(text);

  f = tmpfile();
  if (f == NULL) return;
  portproxy_write_config(f, r, 4);
  len = (size_t)ftell(f);
  text = malloc(len + 1);
  rewind(f);
  if (text == NULL || fread(text, 1, len, f) != len) {
    CHECK(0);
    fclose(f);
    free(text);
    return;
  }
  fclose(f);
  text[len] = '\0';
  problems = iocpd_config_load_buffer("imported.ini", text, len, &c, no_report, NULL);
  CHECK(problems == 0 && c != NULL);
  if (c != NULL) {
    char a[IOCPD_ADDR_STRLEN];
    CHECK(c->listener_count == 4);
    CHECK(strcmp(c->listeners[0].name, "v4tov4-127.0.0.1-8080") == 0);
    CHECK(c->listeners[0].handler == IOCPD_HANDLER_FORWARD && c->listeners[0].upstream_count == 1 &&
          strcmp(iocpd_addr_format(&c->listeners[0].upstreams[0], a), "10.0.0.5:80") == 0);
    CHECK(strcmp(iocpd_addr_format(&c->listeners[2].upstreams[0], a), "[2001:db8::1]:81") == 0);
    CHECK(strcmp(iocpd_addr_format(&c->listeners[3].listen, a), "[::1]:8082") == 0);
    /* netsh portproxy relays TCP only: so does every imported listener. */
    for (i = 0; i < c->listener_count; i++) CHECK(c->listeners[i].protocol == IOCPD_TCP);
    iocpd_config_free(c);
  }
  free(text);
}

int main(void) {
  test_convert();
  test_config();
  return check_summary();
}
