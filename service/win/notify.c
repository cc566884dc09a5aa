/* Service manager notifications (notify.h): nothing listens for them on
 * Windows. The service host reports its state to the SCM itself
 * (service_host.c), and a console run has no manager to tell. */
#include "notify.h"

void notify_ready(void) {}

void notify_reloading(void) {}

void notify_stopping(void) {}
