/* nnlab_bin.h -- the nnlab binary under test: $NNLAB_BIN when set (make
 * test-asan points it at build-asan/nnlab-bin), else ./nnlab, the one
 * `make test` builds. Test binaries run from the repository root. */
#ifndef NNLAB_TEST_BIN_H
#define NNLAB_TEST_BIN_H

#include <stdlib.h>

static inline const char *nnlab_bin(void) {
    const char *b = getenv("NNLAB_BIN");
    return b && *b ? b : "./nnlab";
}

#endif
