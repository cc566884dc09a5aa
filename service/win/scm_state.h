/*
 * What the service host tells the service control manager (SCM), kept
 * apart from the calls that tell it so: which control codes stop the
 * service, and the SERVICE_STATUS to report at each step of its life. No
 * function here calls the SCM, so the rules are tested without one
 * (tests/test_service_units.c); service_host.c hands each status to
 * SetServiceStatus.
 *
 * The life is START_PENDING (checkpoint 1, 2, ...) -> RUNNING ->
 * STOP_PENDING (checkpoint 1, 2, ...) -> STOPPED, where a failed start goes
 * straight from START_PENDING to STOPPED. STOPPED is final: it is reported
 * exactly once.
 */
#ifndef IOCPD_SCM_STATE_H
#define IOCPD_SCM_STATE_H

#include <windows.h>

/* The controls a running iocpd accepts. A service that accepts
 * PRESHUTDOWN is sent it instead of SHUTDOWN; SHUTDOWN is accepted too for
 * systems that do not send PRESHUTDOWN. */
#define SCM_ACCEPTED_CONTROLS                                                                      \
  (SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PRESHUTDOWN |                    \
   SERVICE_ACCEPT_PARAMCHANGE)

/* What the control handler does with a control code. */
typedef enum scm_control_action {
  SCM_CONTROL_STOP,        /* STOP, SHUTDOWN, PRESHUTDOWN: drain, then stop */
  SCM_CONTROL_RELOAD,      /* PARAMCHANGE: read the config file again */
  SCM_CONTROL_INTERROGATE, /* nothing to do: the SCM knows the status */
  SCM_CONTROL_UNSUPPORTED  /* any other code */
} scm_control_action;

/* Maps a HandlerEx control code to its action. */
scm_control_action scm_control_action_for(DWORD control);

/* The value HandlerEx returns for an action: NO_ERROR, or
 * ERROR_CALL_NOT_IMPLEMENTED for SCM_CONTROL_UNSUPPORTED. */
DWORD scm_control_result(scm_control_action action);

/* A short name for a control code ("stop", "system shutdown"...), for logs.
 * Never NULL. */
const char *scm_control_name(DWORD control);

typedef struct scm_state {
  SERVICE_STATUS status; /* what to report next; read it after a move */
} scm_state;

/* Starts before the first report: no state yet (dwCurrentState 0). */
void scm_state_init(scm_state *s);

/* Moves to `state` (SERVICE_START_PENDING, _RUNNING, _STOP_PENDING or
 * _STOPPED) and fills s->status for SetServiceStatus:
 *   - a pending state reported again raises dwCheckPoint by one; entering
 *     one sets it to 1; other states have checkpoint 0 and no wait hint;
 *   - wait_hint_ms is used for pending states only;
 *   - exit_code (STOPPED only) is iocpd's exit code: 0 gives NO_ERROR,
 *     any other value gives ERROR_SERVICE_SPECIFIC_ERROR with
 *     dwServiceSpecificExitCode = exit_code (1 = invalid configuration,
 *     3 = runtime failure, as the console exit codes of commands.h);
 *   - controls are accepted while RUNNING only.
 * Returns 0, or -1 (s unchanged) for a move the life above does not
 * allow: anything after STOPPED, RUNNING other than from START_PENDING,
 * START_PENDING after the start, STOP_PENDING before RUNNING. */
int scm_state_move(scm_state *s, DWORD state, DWORD wait_hint_ms, int exit_code);

#endif /* IOCPD_SCM_STATE_H */
