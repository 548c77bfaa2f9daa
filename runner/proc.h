/* proc.h -- the two things the runner asks of the operating system in
 * several places: a folder with its parents (`mkdir -p`), and a child
 * program run with its output captured.
 *
 * A child is always started from an argv (execvp), never from a shell
 * command line: no name or value nnlab passes can be read as code.
 *
 *     char out[4096];
 *     int st;
 *     char *argv[] = {"squeue", "-h", "-j", job, NULL};
 *     nnl_child_opts co = {.capture = NNL_CHILD_STDOUT, .err = NNL_CHILD_TOO};
 *     if (nnl_child_run(argv, &co, out, sizeof out, &st) || !WIFEXITED(st)) ...could not run...
 */
#ifndef NNL_PROC_H
#define NNL_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p path (each missing folder with mode, less the umask). Returns 0,
 * or -1 with "FOLDER: cannot create WHAT: REASON" in err, WHAT being what
 * the caller calls it ("directory", "the report folder"). */
int nnl_mkdirs(const char *path, mode_t mode, const char *what, char *err, size_t errlen);

/* which of the child's outputs goes into the buffer */
enum { NNL_CHILD_STDOUT, NNL_CHILD_STDERR };
/* what becomes of its other output */
enum {
    NNL_CHILD_SHOW,   /* to ours */
    NNL_CHILD_TOO,    /* into the buffer as well (stdout captured: stderr joins it) */
    NNL_CHILD_DROP    /* to /dev/null */
};

typedef struct {
    int capture;         /* NNL_CHILD_STDOUT or NNL_CHILD_STDERR */
    int other;           /* NNL_CHILD_SHOW, NNL_CHILD_TOO or NNL_CHILD_DROP */
    int null_stdin;      /* 1: its stdin is /dev/null, not ours */
    const char *dir;     /* it starts in this folder; NULL: ours */
} nnl_child_opts;

/* Runs argv[0] (from PATH unless it holds a '/') with argv, waits for it,
 * and leaves what it wrote to the captured output in buf (at most n - 1
 * bytes and a NUL; the rest is read and dropped, so the child never
 * blocks). *wstatus gets waitpid's status. When it cannot enter dir or
 * cannot be run, the child writes why to its stderr (only where that is
 * captured) and exits 126 or 127. Returns 0, or -1 (errno set) when no
 * child could be started. */
int nnl_child_run(char *const argv[], const nnl_child_opts *o, char *buf, size_t n, int *wstatus);

#endif
