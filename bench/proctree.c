/*
 * proctree: CPU time and memory of a process and all of its descendants.
 *
 *   proctree PID...
 *
 * Prints one line: "CPU_SECONDS RSS_KIB PSS_KIB PROCESSES", summed over
 * each PID and every process below it. CPU is utime + stime of each live
 * process plus cutime + cstime (the CPU of children it has already reaped),
 * so the forked children of a server like socat are counted whether they
 * are still running or not. RSS is VmRSS (what the benchmarks report); PSS
 * (from smaps_rollup) divides shared pages among the processes sharing
 * them, which is the fairer figure for forking servers.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct proc {
  long pid, ppid;
  unsigned long long ticks; /* utime + stime + cutime + cstime */
  int chosen;
} proc;

/* Reads pid, ppid and the four CPU fields of /proc/PID/stat. The command
 * name may contain spaces and parentheses, so parsing starts after the
 * last ')'. */
static int read_stat(long pid, proc *p) {
  char path[64], line[2048], *s;
  unsigned long long ut, st, cut, cst;
  long ppid;
  FILE *f;
  size_t n;

  snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
  f = fopen(path, "r");
  if (f == NULL) return -1;
  n = fread(line, 1, sizeof(line) - 1, f);
  fclose(f);
  line[n] = '\0';
  s = strrchr(line, ')');
  if (s == NULL) return -1;
  /* Fields after the name: 3 state, 4 ppid, ... 14 utime 15 stime 16 cutime
   * 17 cstime. */
  if (sscanf(s + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &ppid, &ut,
             &st, &cut, &cst) != 5)
    return -1;
  p->pid = pid;
  p->ppid = ppid;
  p->ticks = ut + st + cut + cst;
  p->chosen = 0;
  return 0;
}

/* The value of a "Key:   N kB" line in a /proc file, or 0. */
static unsigned long long kib_field(long pid, const char *file, const char *key) {
  char path[64], line[256];
  unsigned long long v = 0;
  size_t klen = strlen(key);
  FILE *f;

  snprintf(path, sizeof(path), "/proc/%ld/%s", pid, file);
  f = fopen(path, "r");
  if (f == NULL) return 0;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      v = strtoull(line + klen + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

int main(int argc, char **argv) {
  proc *procs = NULL;
  size_t count = 0, cap = 0, i;
  unsigned long long ticks = 0, rss = 0, pss = 0;
  long hz = sysconf(_SC_CLK_TCK);
  int changed, nchosen = 0;
  struct dirent *e;
  DIR *d;

  if (argc < 2) {
    fprintf(stderr, "usage: proctree PID...\n");
    return 2;
  }
  d = opendir("/proc");
  if (d == NULL) {
    perror("proctree: /proc");
    return 1;
  }
  while ((e = readdir(d)) != NULL) {
    proc p;
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    if (read_stat(strtol(e->d_name, NULL, 10), &p) != 0) continue;
    if (count == cap) {
      proc *np;
      cap = cap ? cap * 2 : 1024;
      np = realloc(procs, cap * sizeof(*procs));
      if (np == NULL) {
        perror("proctree");
        return 1;
      }
      procs = np;
    }
    procs[count++] = p;
  }
  closedir(d);

  for (i = 0; i < count; i++) {
    int a;
    for (a = 1; a < argc; a++) {
      if (procs[i].pid == strtol(argv[a], NULL, 10)) procs[i].chosen = 1;
    }
  }
  /* Mark descendants until nothing changes (the tree is shallow). */
  do {
    size_t j;
    changed = 0;
    for (i = 0; i < count; i++) {
      if (procs[i].chosen) continue;
      for (j = 0; j < count; j++) {
        if (procs[j].chosen && procs[j].pid == procs[i].ppid) {
          procs[i].chosen = 1;
          changed = 1;
          break;
        }
      }
    }
  } while (changed);

  for (i = 0; i < count; i++) {
    if (!procs[i].chosen) continue;
    nchosen++;
    ticks += procs[i].ticks;
    rss += kib_field(procs[i].pid, "status", "VmRSS");
    pss += kib_field(procs[i].pid, "smaps_rollup", "Pss");
  }
  printf("%.2f %llu %llu %d\n", (double)ticks / (double)(hz > 0 ? hz : 100), rss, pss, nchosen);
  free(procs);
  return nchosen > 0 ? 0 : 1;
}
