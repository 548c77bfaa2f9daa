/* input.c -- see input.h. */
#include "input.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

/* What a non-regular file is, for "not a regular file (...)". */
static const char *file_kind(mode_t m) {
    return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" :
           S_ISSOCK(m) ? "a socket" : S_ISLNK(m) ? "a symbolic link" : "not a file";
}

/* The kernel's pseudo file systems: their files call themselves regular,
 * but say size 0 and then block (/proc/kmsg), never end, or consume what
 * they read. */
static const char *pseudo_fs(long type) {
    switch ((unsigned long)type) {
    case PROC_SUPER_MAGIC: return "/proc";
    case SYSFS_MAGIC: return "/sys";
    case DEBUGFS_MAGIC: return "debugfs";
    case TRACEFS_MAGIC: return "tracefs";
    case SECURITYFS_MAGIC: return "securityfs";
    case BPF_FS_MAGIC: return "bpf";
    case EFIVARFS_MAGIC: return "efivarfs";
    case PSTOREFS_MAGIC: return "pstore";
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC: return "cgroup";
    case 0x62656570: return "configfs"; /* CONFIGFS_MAGIC, not in every linux/magic.h */
    default: return NULL;
    }
}

/* 0 if st (and the file system fs) is a regular file nnlab may read */
static int refuse(const struct stat *st, const struct statfs *fs, char *why, size_t whylen) {
    if (S_ISDIR(st->st_mode)) return snprintf(why, whylen, "is a directory"), -1;
    if (!S_ISREG(st->st_mode)) return snprintf(why, whylen, "not a regular file (%s)", file_kind(st->st_mode)), -1;
    const char *pfs = fs ? pseudo_fs((long)fs->f_type) : NULL;
    if (pfs) return snprintf(why, whylen, "a file of the kernel's %s file system, not a regular file", pfs), -1;
    return 0;
}

int nnl_input_open(const char *path, int flags, struct stat *out, char *why, size_t whylen) {
    struct stat st;
    struct statfs fs;
    /* look first: opening a device can act (a tape rewinds, a watchdog arms) */
    int rc = flags & NNL_INPUT_NOFOLLOW ? lstat(path, &st) : stat(path, &st);
    if (rc) return snprintf(why, whylen, "%s", strerror(errno)), -1;
    if (refuse(&st, statfs(path, &fs) ? NULL : &fs, why, whylen)) return -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (flags & NNL_INPUT_NOFOLLOW ? O_NOFOLLOW : 0));
    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "%s", e == ELOOP && (flags & NNL_INPUT_NOFOLLOW) ? "is a symbolic link" : strerror(e));
        return -1;
    }
    /* and check what was opened: the path may have changed in between */
    if (fstat(fd, &st) || fstatfs(fd, &fs)) {
        snprintf(why, whylen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    if (refuse(&st, &fs, why, whylen)) {
        close(fd);
        return -1;
    }
    if (out) *out = st;
    return fd;
}

int nnl_input_check(const char *path, int flags, long long cap, char *why, size_t whylen) {
    struct stat st;
    int fd = nnl_input_open(path, flags, &st, why, whylen);
    if (fd < 0) return -1;
    close(fd);
    if (cap > 0 && (long long)st.st_size > cap) {
        snprintf(why, whylen, "too large: %lld bytes (at most %lld expected)", (long long)st.st_size, cap);
        return -1;
    }
    return 0;
}

int nnl_input_read(int fd, size_t cap, char **out, size_t *len, char *why, size_t whylen) {
    size_t n = 0, have = 0;
    char *buf = NULL;
    *out = NULL;
    *len = 0;
    for (;;) { /* up to one byte past the cap, so "too large" can be told */
        if (n == have) {
            size_t more = have ? 2 * have : 16384;
            if (more > cap + 1) more = cap + 1;
            if (more == have) break;
            char *nb = realloc(buf, more + 1);
            if (!nb) {
                free(buf);
                return snprintf(why, whylen, "out of memory"), -1;
            }
            buf = nb;
            have = more;
        }
        ssize_t r = read(fd, buf + n, have - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            snprintf(why, whylen, "%s", e == EAGAIN ? "it would block (not a regular file?)" :
                                        e == EISDIR ? "is a directory" : strerror(e));
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    if (!buf && !(buf = malloc(1))) return snprintf(why, whylen, "out of memory"), -1;
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}
