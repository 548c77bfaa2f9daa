/* crossbits.c -- the bits of training on each kernel path, as hashes: the
 * networks of archs.h trained 12 steps on every path this CPU runs (or the
 * paths named), one line per network and path: "NAME PATH HASH", the hash
 * (FNV-1a) of every loss and the final weights. `make test-arm64` builds it
 * for arm64 too, runs that under qemu-user and compares its lines with the
 * portable path's here: the same bits on another architecture. Plain C, no
 * test framework, so it cross-compiles with nothing but nn/. */
#include "archs.h"

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
            float losses[STEPS + 1], *w = NULL;
            size_t n = 0;
            char err[256];
            if (train_on(&a[i], (nn_isa)k, 1, STEPS, losses, &w, &n, err, sizeof err)) {
                fprintf(stderr, "crossbits: %s on %s: %s\n", a[i].name, nn_isa_name((nn_isa)k), err);
                bad = 1;
                continue;
            }
            const uint64_t h = bits_hash(losses, STEPS + 1, w, n);
            printf("%s %s %016llx\n", a[i].name, nn_isa_name((nn_isa)k), (unsigned long long)h);
            free(w);
        }
    return bad;
}
