/* crossbits.c -- the bits of training on each kernel path, as hashes: the
 * networks of archs.h trained 12 steps on every path this CPU runs (or the
 * paths named), one line per network and path: "NAME PATH HASH", the hash
 * (FNV-1a) of every loss and the final weights. `make test-arm64` builds it
 * for arm64 too, runs that under qemu-user and compares its lines with the
 * portable path's here: the same bits on another architecture. Plain C, no
 * test framework, so it cross-compiles with nothing but nn/. */
#include <stdint.h>
#include "archs.h"

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
    return h;
}

int main(int argc, char **argv) {
    arch a[8];
    const int na = archs(a);
    enum { STEPS = 12 };
    int bad = 0;
    for (int i = 0; i < na; i++)
        for (int k = 0; k < NN_ISA_COUNT; k++) {
            int want = argc < 2;
            for (int j = 1; j < argc; j++) want |= !strcmp(argv[j], nn_isa_name((nn_isa)k));
            if (!want || !nn_isa_supported((nn_isa)k)) continue;
            float losses[STEPS + 1], *w;
            size_t n;
            char err[256];
            if (train_on(&a[i], (nn_isa)k, 1, STEPS, losses, &w, &n, err, sizeof err)) {
                fprintf(stderr, "crossbits: %s on %s: %s\n", a[i].name, nn_isa_name((nn_isa)k), err);
                bad = 1;
                continue;
            }
            uint64_t h = fnv(fnv(0xcbf29ce484222325ULL, losses, sizeof losses), w, 4 * n);
            printf("%s %s %016llx\n", a[i].name, nn_isa_name((nn_isa)k), (unsigned long long)h);
            free(w);
        }
    return bad;
}
