/* proc.c -- folders with their parents, and child processes with their
 * output captured (see proc.h). */
#include "proc.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int nnl_mkdirs(const char *path, mode_t mode, const char *what, char *err, size_t errlen) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c) continue;
        char keep = *c;
        *c = 0;
        if (mkdir(p, mode) && errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create %s: %s", p, what, strerror(errno));
            return -1;
        }
        *c = keep;
        if (!keep) return 0;
    }
}

/* in the child: its descriptors, its folder, then the program */
static void child_exec(char *const argv[], const nnl_child_opts *o, int wfd) {
    int null = open("/dev/null", O_RDWR);
    int cap_fd = o->capture == NNL_CHILD_STDERR ? 2 : 1, other_fd = 3 - cap_fd;
    if (o->null_stdin && null >= 0) dup2(null, 0);
    dup2(wfd, cap_fd);
    if (o->other == NNL_CHILD_TOO) dup2(wfd, other_fd);
    else if (o->other == NNL_CHILD_DROP && null >= 0) dup2(null, other_fd);
    if (wfd > 2) close(wfd);
    if (null > 2) close(null);
    /* why it could not run is said only where someone reads it */
    int say = o->capture == NNL_CHILD_STDERR || o->other == NNL_CHILD_TOO;
    if (o->dir && chdir(o->dir)) {
        if (say) dprintf(2, "cannot enter %s: %s\n", o->dir, strerror(errno));
        _exit(126);
    }
    execvp(argv[0], argv);
    if (say) dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int nnl_child_run(char *const argv[], const nnl_child_opts *o, char *buf, size_t n, int *wstatus) {
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fd[0]);
        close(fd[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        close(fd[0]);
        child_exec(argv, o, fd[1]);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    char sink[4096];
    while ((r = read(fd[0], got + 1 < n ? buf + got : sink, got + 1 < n ? n - 1 - got : sizeof sink)) != 0) {
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (got + 1 < n) got += (size_t)r;
    }
    close(fd[0]);
    if (n) buf[got] = 0;
    while (waitpid(pid, wstatus, 0) < 0)
        if (errno != EINTR) return -1;
    return 0;
}
