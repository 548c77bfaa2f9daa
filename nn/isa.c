/* isa.c -- which path's kernels run: what the CPU and the OS support
 * (CPUID, and XGETBV for the vector state the OS saves on a context
 * switch), the default path (the best one, unless the program asks for
 * another), and the plain functions of ops.h, which call the default
 * path's table. As XNNPACK does, the choice is made once, at the first
 * call, and a table of function pointers carries it; every path computes
 * the same bits, so the choice changes the speed and nothing else. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nn.h"
#include "ops.h"

extern const nn_kernels nn_kernels_table_portable;
#if defined(__x86_64__)
#include <cpuid.h>
extern const nn_kernels nn_kernels_table_avx2;
extern const nn_kernels nn_kernels_table_avx512;
#endif

static const char *const isa_names[NN_ISA_COUNT] = {"portable", "avx2", "avx512"};

const char *nn_isa_name(nn_isa isa) { return isa >= 0 && isa < NN_ISA_COUNT ? isa_names[isa] : "?"; }

int nn_isa_parse(const char *s, nn_isa *out) {
    for (int i = 0; i < NN_ISA_COUNT; i++)
        if (!strcmp(s, isa_names[i])) { *out = (nn_isa)i; return 0; }
    return -1;
}

#if defined(__x86_64__)
static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

/* what this CPU and OS can run, worked out once (CPUID answers the same
 * every time, so two threads racing here write the same values) */
static struct { int done, ok[NN_ISA_COUNT]; char cpu[64]; } cpu;

static void detect(void) {
    if (cpu.done) return;
    cpu.ok[NN_ISA_PORTABLE] = 1;
    snprintf(cpu.cpu, sizeof cpu.cpu, "unknown CPU");
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
        unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
        const int ymm_state = (xcr0 & 0x6) == 0x6;            /* SSE and AVX registers */
        const int zmm_state = ymm_state && (xcr0 & 0xE0) == 0xE0; /* opmask, ZMM0-15 high, ZMM16-31 */
        unsigned b7 = 0, c7 = 0, d7 = 0, a7 = 0;
        if (__get_cpuid_max(0, NULL) >= 7) __cpuid_count(7, 0, a7, b7, c7, d7);
        const int avx2 = (b7 >> 5) & 1;
        const int avx512 = ((b7 >> 16) & 1) && ((b7 >> 17) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1); /* F DQ BW VL */
        cpu.ok[NN_ISA_AVX2] = avx && fma && avx2 && ymm_state;
        cpu.ok[NN_ISA_AVX512] = cpu.ok[NN_ISA_AVX2] && avx512 && zmm_state;
    }
    unsigned brand[12];
    if (__get_cpuid_max(0x80000000, NULL) >= 0x80000004) {
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2], &brand[4 * i + 3]);
        char s[49];
        memcpy(s, brand, 48);
        s[48] = 0;
        const char *p = s;
        while (*p == ' ') p++;
        if (*p) snprintf(cpu.cpu, sizeof cpu.cpu, "%s", p);
        for (char *e = cpu.cpu + strlen(cpu.cpu); e > cpu.cpu && e[-1] == ' ';) *--e = 0;
    }
#endif
    cpu.done = 1;
}

static const nn_kernels *table(nn_isa isa) {
    switch (isa) {
    case NN_ISA_PORTABLE: return &nn_kernels_table_portable;
#if defined(__x86_64__)
    case NN_ISA_AVX2: return &nn_kernels_table_avx2;
    case NN_ISA_AVX512: return &nn_kernels_table_avx512;
#endif
    default: return NULL;
    }
}

int nn_isa_supported(nn_isa isa) {
    detect();
    return isa >= 0 && isa < NN_ISA_COUNT && table(isa) && cpu.ok[isa];
}

nn_isa nn_isa_best(void) {
    for (int i = NN_ISA_COUNT - 1; i > 0; i--)
        if (nn_isa_supported((nn_isa)i)) return (nn_isa)i;
    return NN_ISA_PORTABLE;
}

const char *nn_cpu_name(void) {
    detect();
    return cpu.cpu;
}

static int default_isa = -1; /* set once by the program, else the best */

int nn_isa_set_default(nn_isa isa, char *err, size_t errlen) {
    if (!nn_isa_supported(isa)) {
        if (isa >= 0 && isa < NN_ISA_COUNT && !table(isa))
            snprintf(err, errlen, "this build of nnlab has no %s kernels (it has: portable%s)", nn_isa_name(isa),
                     table(NN_ISA_AVX2) ? ", avx2, avx512" : "");
        else
            snprintf(err, errlen, "this CPU (%s) cannot run the %s kernels; the best it can run is %s",
                     nn_cpu_name(), nn_isa_name(isa), nn_isa_name(nn_isa_best()));
        return -1;
    }
    default_isa = isa;
    return 0;
}

nn_isa nn_isa_default(void) { return default_isa >= 0 ? (nn_isa)default_isa : nn_isa_best(); }

const nn_kernels *nn_kernels_for(nn_isa isa) { return nn_isa_supported(isa) ? table(isa) : NULL; }
const nn_kernels *nn_kernels_default(void) { return table(nn_isa_default()); }

double nn_isa_peak_gflops(nn_isa isa) {
    const nn_kernels *k = nn_kernels_for(isa);
    if (!k) return 0;
    volatile float sink = 0;
    struct timespec t0, t1;
    long iters = 1 << 16;
    double best = 0;
    /* grow the run to about 10 ms, then keep the best of a few such runs */
    for (int round = 0; round < 12; round++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        sink += k->fma_probe(iters);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (s < 0.005) { iters *= 4; continue; }
        double g = 384.0 * (double)iters / s / 1e9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}

/* ---- ops.h's plain functions: the default path */

size_t conv2d_scratch_size(const nn_conv_geom *g, int nthreads) {
    return nn_kernels_default()->conv2d_scratch_size(g, nthreads);
}
void conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                    int B, const nn_conv_geom *g, float *scratch, int nthreads) {
    nn_kernels_default()->conv2d_forward(out, inp, w, b, B, g, scratch, nthreads);
}
void conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, int B, const nn_conv_geom *g,
                     float *scratch, int nthreads) {
    nn_kernels_default()->conv2d_backward(dinp, dw, db, dout, inp, w, B, g, scratch, nthreads);
}

void dense_pack(float *wt, const float *w, int nin, int nout, int o0, int o1) {
    for (int o = o0; o < o1; o++)
        for (int k = 0; k < nin; k++) wt[(size_t)k * nout + o] = w[(size_t)o * nin + k];
}
void dense_forward_packed(float *out, const float *inp, const float *wt, const float *b,
                          int B, int nin, int nout) {
    nn_kernels_default()->dense_forward_packed(out, inp, wt, b, B, nin, nout);
}
/* a direct caller's forward: packs W^T on the heap (the network packs once per batch) */
void dense_forward(float *out, const float *inp, const float *w, const float *b,
                   int B, int nin, int nout) {
    float *wt = malloc(sizeof(float) * ((size_t)nin * nout + 1));
    if (!wt) abort();
    dense_pack(wt, w, nin, nout, 0, nout);
    dense_forward_packed(out, inp, wt, b, B, nin, nout);
    free(wt);
}
void dense_backward(float *dinp, float *dw, float *db, const float *dout,
                    const float *inp, const float *w, int B, int nin, int nout) {
    nn_kernels_default()->dense_backward(dinp, dw, db, dout, inp, w, B, nin, nout);
}

void avgpool_forward(float *out, const float *inp, int B, const nn_conv_geom *g, int nthreads) {
    nn_kernels_default()->avgpool_forward(out, inp, B, g, nthreads);
}
void avgpool_backward(float *dinp, const float *dout, int B, const nn_conv_geom *g, int nthreads) {
    nn_kernels_default()->avgpool_backward(dinp, dout, B, g, nthreads);
}
void maxpool_forward(float *out, int *argmax, const float *inp, int B, const nn_conv_geom *g, int nthreads) {
    nn_kernels_default()->maxpool_forward(out, argmax, inp, B, g, nthreads);
}
void maxpool_backward(float *dinp, const float *dout, const int *argmax, int B,
                      const nn_conv_geom *g, int nthreads) {
    nn_kernels_default()->maxpool_backward(dinp, dout, argmax, B, g, nthreads);
}

#define EW_PAIR(name)                                                                            \
    void name##_forward(float *out, const float *inp, size_t n, int nthreads) {                  \
        nn_kernels_default()->name##_forward(out, inp, n, nthreads);                             \
    }                                                                                            \
    void name##_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads) { \
        nn_kernels_default()->name##_backward(dinp, dout, out, n, nthreads);                     \
    }
EW_PAIR(sigmoid)
EW_PAIR(relu)
EW_PAIR(tanh)
#undef EW_PAIR
void leaky_relu_forward(float *out, const float *inp, float a, size_t n, int nthreads) {
    nn_kernels_default()->leaky_relu_forward(out, inp, a, n, nthreads);
}
void leaky_relu_backward(float *dinp, const float *dout, const float *out, float a, size_t n, int nthreads) {
    nn_kernels_default()->leaky_relu_backward(dinp, dout, out, a, n, nthreads);
}

void batchnorm_forward_train(float *out, float *xhat, float *invstd, float *rmean, float *rvar,
                             const float *inp, const float *gamma, const float *beta,
                             int B, int C, int HW, float momentum, float eps, int nthreads) {
    nn_kernels_default()->batchnorm_forward_train(out, xhat, invstd, rmean, rvar, inp, gamma, beta, B, C, HW,
                                                  momentum, eps, nthreads);
}
void batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                            const float *rmean, const float *rvar, int B, int C, int HW,
                            float eps, int nthreads) {
    nn_kernels_default()->batchnorm_forward_eval(out, inp, gamma, beta, rmean, rvar, B, C, HW, eps, nthreads);
}
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *xhat, const float *invstd, const float *gamma,
                        int B, int C, int HW, int nthreads) {
    nn_kernels_default()->batchnorm_backward(dinp, dgamma, dbeta, dout, xhat, invstd, gamma, B, C, HW, nthreads);
}

float softmax_ce_forward(float *probs, const float *logits, const int *labels, int B, int NC) {
    return nn_kernels_default()->softmax_ce_forward(probs, logits, labels, B, NC);
}
void softmax_ce_backward(float *dlogits, const float *probs, const int *labels, int B, int NC) {
    nn_kernels_default()->softmax_ce_backward(dlogits, probs, labels, B, NC);
}
