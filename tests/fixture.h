/* fixture.h -- reads the PyTorch reference tensors that make_fixtures.py
 * writes (format in its header: "NNFX", version, count, then named float32
 * tensors) and compares tensors with a relative and absolute tolerance.
 * Header-only: each test binary includes it once. */
#ifndef NNLAB_TEST_FIXTURE_H
#define NNLAB_TEST_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char name[64]; int ndim; int dims[8]; size_t n; float *data; } fx_tensor;
typedef struct { int count; fx_tensor *t; } fx_file;

static int fx_u32(FILE *f, uint32_t *v) { return fread(v, 4, 1, f) == 1 ? 0 : -1; }

/* Loads a fixture file; NULL (with a message on stderr) if it cannot. */
static fx_file *fx_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "%s: cannot open fixture (run from the repository root)\n", path); return NULL; }
    char magic[4];
    uint32_t version, count;
    fx_file *fx = NULL;
    if (fread(magic, 1, 4, f) != 4 || memcmp(magic, "NNFX", 4) || fx_u32(f, &version) || version != 1 ||
        fx_u32(f, &count) || count > 10000)
        goto bad;
    fx = calloc(1, sizeof *fx);
    fx->t = calloc(count, sizeof *fx->t);
    for (uint32_t i = 0; i < count; i++) {
        fx_tensor *t = &fx->t[i];
        uint32_t len, nd;
        if (fx_u32(f, &len) || len >= sizeof t->name || fread(t->name, 1, len, f) != len) goto bad;
        if (fx_u32(f, &nd) || nd > 8) goto bad;
        t->ndim = (int)nd;
        t->n = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint32_t v;
            if (fx_u32(f, &v)) goto bad;
            t->dims[d] = (int)v;
            t->n *= v;
        }
        t->data = malloc(4 * (t->n ? t->n : 1));
        if (fread(t->data, 4, t->n, f) != t->n) goto bad;
        fx->count++;
    }
    fclose(f);
    return fx;
bad:
    fprintf(stderr, "%s: malformed fixture file\n", path);
    fclose(f);
    if (fx) { for (int i = 0; i < fx->count; i++) free(fx->t[i].data); free(fx->t); free(fx); }
    return NULL;
}

static void fx_free(fx_file *fx) {
    if (!fx) return;
    for (int i = 0; i < fx->count; i++) free(fx->t[i].data);
    free(fx->t);
    free(fx);
}

/* The named tensor; aborts the test binary if absent (a fixture/test mismatch). */
static fx_tensor *fx_get(fx_file *fx, const char *name) {
    for (int i = 0; i < fx->count; i++)
        if (!strcmp(fx->t[i].name, name)) return &fx->t[i];
    fprintf(stderr, "fixture has no tensor '%s'\n", name);
    abort();
}

/* Number of elements where |got - want| > atol + rtol * |want|; prints the
 * first few with the tensor's name. NaN never matches. */
static size_t fx_mismatches(const char *what, const float *got, const float *want, size_t n,
                            float rtol, float atol) {
    size_t bad = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= atol + rtol * fabs((double)want[i]))) {
            if (bad < 3) fprintf(stderr, "  %s[%zu]: got %.9g, want %.9g\n", what, i, got[i], want[i]);
            bad++;
        }
        if (d > worst) worst = d;
    }
    if (bad) fprintf(stderr, "  %s: %zu of %zu mismatch (worst abs diff %.3g)\n", what, bad, n, worst);
    return bad;
}

#endif
