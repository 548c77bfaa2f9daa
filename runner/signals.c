/* signals.c -- see signals.h. */
#include <string.h>
#include "signals.h"

volatile sig_atomic_t nnl_stop;

/* A second Ctrl-C ends the process at once: someone at the terminal wants
 * out. SIGTERM always stops gracefully: scancel, systemd and timeout send it
 * to every process of a job at once, and a sweep also passes it on to its
 * workers, so a worker can get two in a row; taking the second as "die now"
 * turned a clean interrupt into a failed run (seen in CI with scancel). The
 * senders follow up with SIGKILL when they stop waiting. */
static void on_signal(int sig) {
    nnl_stop = 1;
    if (sig == SIGINT) signal(sig, SIG_DFL);
}

void nnl_signals_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
