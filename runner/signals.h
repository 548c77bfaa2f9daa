/* signals.h -- Ctrl-C and SIGTERM become a flag that training polls after
 * every batch: the run stops cleanly and is recorded as interrupted. A
 * second Ctrl-C ends the process at once; SIGTERM never does. The flag is the one piece of
 * global state a signal handler needs. */
#ifndef NNL_SIGNALS_H
#define NNL_SIGNALS_H

#include <signal.h>

extern volatile sig_atomic_t nnl_stop;
void nnl_signals_install(void);

#endif
