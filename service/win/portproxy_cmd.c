/*
 * iocpd import-portproxy [-o FILE]: reads the netsh interface portproxy
 * rules from the registry and writes an iocpd config that relays the same
 * way (service/portproxy.c makes the text). It never changes the netsh
 * rules: it prints the commands that would remove them.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "portproxy.h"
#include "utf8_files.h"

#define PORTPROXY_KEY L"SYSTEM\\CurrentControlSet\\Services\\PortProxy\\"
#define MAX_RULES 4096

static void import_usage(FILE *out) {
  fprintf(out, "usage: iocpd import-portproxy [-o FILE]\n"
               "Writes an iocpd config with one forward listener for each netsh interface\n"
               "portproxy rule (v4tov4, v4tov6, v6tov4, v6tov6) to FILE, or to standard\n"
               "output. The netsh rules are left as they are; the commands that would\n"
               "remove them are printed (and kept at the end of the config).\n"
               "exit codes: 0 written, 2 usage error, 3 nothing to import or a failure\n");
}

/* Appends the rules of one kind to rules (*n so far). Returns 0, or -1
 * when the registry cannot be read (absent is fine: no rules). */
static int read_kind(const char *kind, portproxy_rule *rules, size_t *n, size_t *skipped) {
  wchar_t path[128], name[256], data[512];
  HKEY key;
  DWORD i, type, name_len, data_len;
  LONG rc;

  swprintf(path, sizeof(path) / sizeof(path[0]), L"%ls%hs\\tcp", PORTPROXY_KEY, kind);
  rc = RegOpenKeyExW(HKEY_LOCAL_MACHINE, path, 0, KEY_READ | KEY_WOW64_64KEY, &key);
  if (rc == ERROR_FILE_NOT_FOUND) return 0;
  if (rc != ERROR_SUCCESS) {
    fprintf(stderr, "iocpd: cannot read HKLM\\%ls (error %ld)\n", path, (long)rc);
    return -1;
  }
  for (i = 0;; i++) {
    char *name8, *data8, why[200];
    name_len = sizeof(name) / sizeof(name[0]);
    data_len = sizeof(data) - sizeof(wchar_t);
    rc = RegEnumValueW(key, i, name, &name_len, NULL, &type, (BYTE *)data, &data_len);
    if (rc == ERROR_NO_MORE_ITEMS) break;
    if (rc != ERROR_SUCCESS || type != REG_SZ) {
      fprintf(stderr, "iocpd: %s rule %lu: not a readable text value; skipped\n", kind,
              (unsigned long)i);
      (*skipped)++;
      continue;
    }
    data[data_len / sizeof(wchar_t)] = L'\0';
    name8 = iocpd__utf16_to_utf8(name);
    data8 = iocpd__utf16_to_utf8(data);
    if (name8 == NULL || data8 == NULL) {
      free(name8);
      free(data8);
      RegCloseKey(key);
      fprintf(stderr, "iocpd: out of memory\n");
      return -1;
    }
    if (*n >= MAX_RULES) {
      fprintf(stderr, "iocpd: more than %d rules; the rest are skipped\n", MAX_RULES);
      (*skipped)++;
    } else if (portproxy_convert(kind, name8, data8, &rules[*n], why, sizeof(why)) == 0) {
      (*n)++;
    } else {
      fprintf(stderr, "iocpd: %s rule %s -> %s: %s; skipped\n", kind, name8, data8, why);
      (*skipped)++;
    }
    free(name8);
    free(data8);
  }
  RegCloseKey(key);
  return 0;
}

int cmd_import_portproxy(int argc, char **argv) {
  const char *out_path = NULL;
  portproxy_rule *rules;
  size_t n = 0, skipped = 0, k;
  FILE *out = stdout;
  int i, rc = EXIT_RUNTIME;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      import_usage(stdout);
      return EXIT_OK;
    }
    if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
      out_path = argv[++i];
      continue;
    }
    fprintf(stderr, "iocpd: unknown option '%s' for 'import-portproxy'\n", argv[i]);
    import_usage(stderr);
    return EXIT_USAGE;
  }
  rules = calloc(MAX_RULES, sizeof(*rules));
  if (rules == NULL) {
    fprintf(stderr, "iocpd: out of memory\n");
    return EXIT_RUNTIME;
  }
  for (k = 0; k < 4; k++) {
    if (read_kind(portproxy_kinds[k], rules, &n, &skipped) != 0) goto out;
  }
  if (n == 0) {
    fprintf(stderr, "iocpd: no netsh portproxy rule to import%s\n",
            skipped > 0 ? " (every one was skipped)" : "");
    goto out;
  }
  if (out_path != NULL && (out = iocpd__fopen(out_path, "wb")) == NULL) {
    fprintf(stderr, "iocpd: cannot write %s\n", out_path);
    goto out;
  }
  portproxy_write_config(out, rules, n);
  if (out != stdout && fclose(out) != 0) {
    fprintf(stderr, "iocpd: cannot write %s\n", out_path);
    goto out;
  }
  fprintf(stderr,
          "iocpd: %u rule(s) imported%s%s; %u skipped. Check the file with "
          "'iocpd check-config -c FILE'. The netsh rules are unchanged; to remove "
          "them (elevated):\n",
          (unsigned)n, out_path != NULL ? " into " : "", out_path != NULL ? out_path : "",
          (unsigned)skipped);
  portproxy_write_removal(stderr, rules, n);
  rc = EXIT_OK;
out:
  free(rules);
  return rc;
}
