/* fuzz.h -- shared by the libFuzzer targets in fuzz/: a private scratch
 * folder per process, and writing the fuzzer's bytes to a file in it (the
 * experiment and IDX readers take paths, not memory).
 *
 * Each target is LLVMFuzzerTestOneInput(data, size): it must never crash,
 * leak or trip UBSan, whatever the bytes; a reader's refusal is the normal
 * outcome. Properties that must hold for valid input are checked with
 * FUZZ_ASSERT, which aborts so libFuzzer keeps the input. */
#ifndef NNLAB_FUZZ_H
#define NNLAB_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_ASSERT(cond, ...)                                                   \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "fuzz: %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            abort();                                                             \
        }                                                                        \
    } while (0)

static char fuzz_dir[256];

/* Creates /dev/shm/nnlab-fuzz-PID (memory, fast), else in /tmp. */
static inline const char *fuzz_scratch(void) {
    if (!fuzz_dir[0]) {
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/nnlab-fuzz-%d", access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm", (int)getpid());
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", fuzz_dir, fuzz_dir);
        if (system(cmd)) abort();
    }
    return fuzz_dir;
}

/* Writes n bytes to scratch/name; returns the path (static). */
static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t n) {
    static char path[2][512];
    static int which;
    char *p = path[which ^= 1];
    snprintf(p, sizeof path[0], "%s/%s", fuzz_scratch(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) abort();
    return p;
}

#endif
