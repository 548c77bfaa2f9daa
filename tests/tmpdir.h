/* tmpdir.h -- a test binary's scratch folder under /tmp: made in its
 * group setup, removed with everything in it in its teardown. */
#ifndef NNLAB_TEST_TMPDIR_H
#define NNLAB_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/* dir: at least 64 bytes; tag names the test, as /tmp/nnlab-TAG-XXXXXX */
static inline int tmpdir_make(char *dir, const char *tag) {
    snprintf(dir, 64, "/tmp/nnlab-%s-XXXXXX", tag);
    return mkdtemp(dir) ? 0 : -1;
}

static inline int tmpdir_remove(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
