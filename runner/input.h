/* input.h -- opening a file nnlab reads (a config, a base config, an
 * experiment, an IDX file, a checkpoint, a database) so that no file can
 * make it hang or read without end.
 *
 * A path may name a FIFO (open() waits for a writer), a device (/dev/zero
 * never ends), or a kernel file that says it is regular but blocks or never
 * ends (/proc/kmsg). nnl_input_open looks before it opens (stat: a device
 * is never opened at all), opens without blocking (O_NONBLOCK, which stays
 * set: a read that would wait fails instead), and checks again what it
 * opened (fstat, fstatfs). Only regular files of ordinary file systems
 * pass; the caller reads at most its own cap.
 *
 *     char why[160];
 *     struct stat st;
 *     int fd = nnl_input_open(path, 0, &st, why, sizeof why);
 *     if (fd < 0) return fail("%s: cannot read: %s", path, why);
 *     if (st.st_size > CAP) ...too large...
 */
#ifndef NNL_INPUT_H
#define NNL_INPUT_H

#include <stddef.h>
#include <sys/stat.h>

/* flags for nnl_input_open */
#define NNL_INPUT_NOFOLLOW 1   /* refuse a symbolic link as the last component */

/* A read-only descriptor (O_NONBLOCK, O_CLOEXEC) of the regular file at
 * path, its fstat in *st (may be NULL); or -1 with the reason in why:
 * strerror's text, "is a directory", "not a regular file (a FIFO)",
 * "a file of the kernel's /proc file system, not a regular file". */
int nnl_input_open(const char *path, int flags, struct stat *st, char *why, size_t whylen);

/* The same check, closing the file again: for a reader that opens the
 * file itself (SQLite, the checkpoint reader in nn/). 0 or -1 with why;
 * a file larger than cap bytes (cap > 0) is refused too. */
int nnl_input_check(const char *path, int flags, long long cap, char *why, size_t whylen);

/* Reads at most cap bytes of fd into *out (malloc'd, NUL-terminated, *len
 * bytes before the NUL); 1 byte more than cap is read so that *len > cap
 * says the file is larger. 0, or -1 with why. Does not close fd. */
int nnl_input_read(int fd, size_t cap, char **out, size_t *len, char *why, size_t whylen);

#endif
