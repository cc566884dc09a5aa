/* The service's status rules, without the SCM (see scm_state.h). */
#include <assert.h>
#include <string.h>

#include "scm_state.h"

scm_control_action scm_control_action_for(DWORD control) {
  switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
    case SERVICE_CONTROL_PRESHUTDOWN: return SCM_CONTROL_STOP;
    case SERVICE_CONTROL_PARAMCHANGE: return SCM_CONTROL_RELOAD;
    case SERVICE_CONTROL_INTERROGATE: return SCM_CONTROL_INTERROGATE;
    default: return SCM_CONTROL_UNSUPPORTED;
  }
}

DWORD scm_control_result(scm_control_action action) {
  return action == SCM_CONTROL_UNSUPPORTED ? ERROR_CALL_NOT_IMPLEMENTED : NO_ERROR;
}

const char *scm_control_name(DWORD control) {
  switch (control) {
    case SERVICE_CONTROL_STOP: return "stop";
    case SERVICE_CONTROL_SHUTDOWN: return "system shutdown";
    case SERVICE_CONTROL_PRESHUTDOWN: return "system preshutdown";
    case SERVICE_CONTROL_INTERROGATE: return "interrogate";
    case SERVICE_CONTROL_PARAMCHANGE: return "parameter change (reload)";
    default: return "other";
  }
}

void scm_state_init(scm_state *s) {
  memset(s, 0, sizeof(*s));
  s->status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
}

static int is_pending(DWORD state) {
  return state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING;
}

/* Whether the life of scm_state.h allows going from `from` (0 before the
 * first report) to `to`. */
static int allowed(DWORD from, DWORD to) {
  switch (to) {
    case SERVICE_START_PENDING: return from == 0 || from == SERVICE_START_PENDING;
    case SERVICE_RUNNING: return from == SERVICE_START_PENDING;
    case SERVICE_STOP_PENDING: return from == SERVICE_RUNNING || from == SERVICE_STOP_PENDING;
    case SERVICE_STOPPED: return from != SERVICE_STOPPED;
    default: return 0;
  }
}

int scm_state_move(scm_state *s, DWORD state, DWORD wait_hint_ms, int exit_code) {
  SERVICE_STATUS *st = &s->status;

  assert(exit_code >= 0);
  if (!allowed(st->dwCurrentState, state)) return -1;
  if (is_pending(state)) {
    st->dwCheckPoint = st->dwCurrentState == state ? st->dwCheckPoint + 1 : 1;
    st->dwWaitHint = wait_hint_ms;
  } else {
    st->dwCheckPoint = 0;
    st->dwWaitHint = 0;
  }
  st->dwCurrentState = state;
  st->dwControlsAccepted = state == SERVICE_RUNNING ? SCM_ACCEPTED_CONTROLS : 0;
  st->dwWin32ExitCode = NO_ERROR;
  st->dwServiceSpecificExitCode = 0;
  if (state == SERVICE_STOPPED && exit_code != 0) {
    st->dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
    st->dwServiceSpecificExitCode = (DWORD)exit_code;
  }
  return 0;
}
