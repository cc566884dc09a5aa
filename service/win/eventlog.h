/*
 * The Windows Event Log as a destination for log.h events: the service
 * host opens a source once, installs eventlog_sink with log_set_sink, and
 * closes the source when it is done. Each event becomes one Event Log
 * entry whose id and text come from the message table (messages.mc), with
 * the event's formatted message as its only insertion string.
 *
 * Writing never stops the service: when the source cannot be opened or an
 * entry cannot be written, the message goes to OutputDebugString instead.
 */
#ifndef IOCPD_EVENTLOG_H
#define IOCPD_EVENTLOG_H

#include <windows.h>

#include "log.h"

/* The longest insertion string written, in UTF-16 units; longer messages
 * are cut (the Event Log allows 31,839 per string). */
#define EVENTLOG_MAX_CHARS 2000

/* Opens the Event Log source `name` (registered by `iocpd install` under
 * the Application log). Call once, before installing the sink. Returns 0,
 * or -1 if the source could not be opened (the sink then falls back to
 * OutputDebugString). */
int eventlog_open(const wchar_t *name);

/* Closes what eventlog_open opened. Uninstall the sink first. */
void eventlog_close(void);

/* A log_sink_fn: writes one event. Thread-safe. */
void eventlog_sink(log_event_id id, iocpd_log_level level, const char *message);

/* The message-table id (with its severity bits) that reports event id,
 * e.g. 0x400003E8 for EV_STARTING. An id missing from the table is
 * reported as the generic one of its range (EV_INFO, EV_WARNING,
 * EV_ERROR). */
DWORD eventlog_message_id(log_event_id id);

/* EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE or EVENTLOG_ERROR_TYPE,
 * from the severity of the event's message. */
WORD eventlog_type(log_event_id id);

#endif /* IOCPD_EVENTLOG_H */
