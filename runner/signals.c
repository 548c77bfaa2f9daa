/* signals.c -- see signals.h. */
#include <string.h>
#include "signals.h"

volatile sig_atomic_t nnl_stop;

static void on_signal(int sig) {
    nnl_stop = 1;
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

void nnl_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
