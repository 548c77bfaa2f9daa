/* faultinject.c -- an LD_PRELOAD shim that kills the process (SIGKILL, as
 * kill -9 or a power loss would) at an exact point of a checkpoint write,
 * so test_faults can cut every step of the write-fsync-rename sequence
 * instead of hoping a random kill lands in it. It changes no nnlab code.
 *
 *   NNLAB_FI=fsync:N         at the Nth fsync of a *.ckpt.tmp file: cut the
 *                            file to half its size (a torn write that
 *                            reached the disk), then die
 *   NNLAB_FI=rename:N        at the Nth rename onto a *.ckpt: die before it
 *   NNLAB_FI=after-rename:N  the same, just after it
 *
 * Counts are per process (each sweep worker counts its own). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* the Nth call of the point named what, if NNLAB_FI asks for it */
static int armed(const char *what) {
    static int count[3];
    const char *fi = getenv("NNLAB_FI");
    size_t n = strlen(what);
    if (!fi || strncmp(fi, what, n) || fi[n] != ':') return 0;
    int k = !strcmp(what, "fsync") ? 0 : !strcmp(what, "rename") ? 1 : 2;
    return ++count[k] == atoi(fi + n + 1);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n > 0) {
        path[n] = 0;
        struct stat st;
        if (ends_with(path, ".ckpt.tmp") && armed("fsync") && !fstat(fd, &st)) {
            if (ftruncate(fd, st.st_size / 2)) {}
            kill(getpid(), SIGKILL);
        }
    }
    return real(fd);
}

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    int ck = ends_with(to, ".ckpt");
    if (ck && armed("rename")) kill(getpid(), SIGKILL);
    int rc = real(from, to);
    if (ck && armed("after-rename")) kill(getpid(), SIGKILL);
    return rc;
}
