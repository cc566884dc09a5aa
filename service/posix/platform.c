/* Platform pieces for Linux and other POSIX systems. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "platform.h"

static sigset_t stop_signals;

int platform_utf8_init(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

const char *platform_default_config(void) { return "/etc/iocpd/iocpd.ini"; }

void platform_format_utc_now(char *buf, size_t size) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

int platform_stop_signals_install(void) {
  /* Block the stop signals in this thread before the engine starts its
   * workers, which inherit the mask; then only sigwait() below sees them,
   * and no handler runs in the middle of engine code. */
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  /* SIGHUP reloads the config: systemd's ExecReload=kill -HUP $MAINPID. */
  sigaddset(&stop_signals, SIGHUP);
  return pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) == 0 ? 0 : -1;
}

platform_request platform_stop_signals_wait(void) {
  int sig;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  return sig == SIGHUP ? PLATFORM_RELOAD : PLATFORM_STOP;
}

void platform_stop_signals_done(void) {}
