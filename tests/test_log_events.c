/*
 * The engine's kinds of events reach the service's log with their own
 * Event Log ids (service/log.c): upstream health and PROXY refusals are
 * not lumped into the generic warning and information ids, so that an
 * admin can alert on them. Every other message keeps the id of its level.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "testengine.h"

static log_event_id last_id;
static char last_message[256];

static void capture(log_event_id id, iocpd_log_level level, const char *message) {
  (void)level;
  last_id = id;
  snprintf(last_message, sizeof(last_message), "%s", message);
}

static log_event_id id_of(iocpd_log_level level, iocpd_log_event event) {
  last_id = (log_event_id)0;
  log_event_from_engine(NULL, level, event, "listener x: something happened");
  return last_id;
}

int main(void) {
  log_set_level(IOCPD_LOG_DEBUG);
  log_set_sink(capture);
  CHECK(id_of(IOCPD_LOG_WARNING, IOCPD_EVENT_UPSTREAM_DOWN) == EV_UPSTREAM_DOWN);
  CHECK(id_of(IOCPD_LOG_INFO, IOCPD_EVENT_UPSTREAM_UP) == EV_UPSTREAM_UP);
  CHECK(id_of(IOCPD_LOG_WARNING, IOCPD_EVENT_PROXY_REFUSED) == EV_PROXY_REFUSED);
  CHECK(id_of(IOCPD_LOG_WARNING, IOCPD_EVENT_GENERIC) == EV_WARNING);
  CHECK(id_of(IOCPD_LOG_INFO, IOCPD_EVENT_GENERIC) == EV_INFO);
  CHECK(id_of(IOCPD_LOG_DEBUG, IOCPD_EVENT_GENERIC) == EV_INFO);
  CHECK(id_of(IOCPD_LOG_ERROR, IOCPD_EVENT_GENERIC) == EV_ERROR);
  CHECK(strcmp(last_message, "listener x: something happened") == 0);
  /* The older callback, without a kind: by level. */
  log_from_engine(NULL, IOCPD_LOG_WARNING, "plain");
  CHECK(last_id == EV_WARNING && strcmp(last_message, "plain") == 0);
  return check_summary();
}
