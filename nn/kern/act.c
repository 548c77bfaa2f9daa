/* act.c -- element-wise activations. Backward passes read only the saved
 * output, so the network can run every activation in place. sigmoid and
 * tanh go through v16's own exp and tanh (v16.h), never libm, whose expf
 * and tanhf differ between CPUs; the tail past a multiple of 16 is one
 * masked vector, so every value sees the same operations. */
#include "kern.h"
#include "../par.h"

/* over n values, split over threads from 32768 values up */
#define EW_FOR(...) NN_PAR_SIMD(nthreads, n >= 32768, size_t, i, n, __VA_ARGS__)

/* out[i] = f(inp[i]) in vectors of 16, threads over whole vectors */
#define V16_MAP(f)                                                                     \
    do {                                                                               \
        const size_t nv = (n + 15) / 16;                                               \
        NN_PAR_FOR(nthreads, n >= 32768, size_t, j, nv,                                \
            const size_t i = 16 * j;                                                   \
            if (i + 16 <= n) v_store(out + i, f(v_load(inp + i)));                     \
            else { m16 m = v_mask((int)(n - i)); v_store_m(out + i, m, f(v_load_m(inp + i, m))); } \
        );                                                                             \
    } while (0)

/* y = 1 / (1 + exp(-x)); -x as 0 - x, which no compiler turns into a
 * sign flip (x * -1 it may, and then a NaN comes out with another sign on
 * one path than on another) */
V_INLINE v16 sigmoid16(v16 x) {
    return v_div(v_set1(1.f), v_add(v_set1(1.f), v_exp(v_sub(v_zero(), x))));
}

void NN_K(sigmoid_forward)(float *out, const float *inp, size_t n, int nthreads) { V16_MAP(sigmoid16); }
void NN_K(sigmoid_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_FOR(dinp[i] = dout[i] * out[i] * (1.f - out[i]););
}

void NN_K(relu_forward)(float *out, const float *inp, size_t n, int nthreads) {
    EW_FOR(out[i] = inp[i] > 0.f ? inp[i] : (inp[i] != inp[i] ? inp[i] : 0.f););
}
void NN_K(relu_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_FOR(dinp[i] = out[i] > 0.f ? dout[i] : 0.f;);
}

void NN_K(tanh_forward)(float *out, const float *inp, size_t n, int nthreads) { V16_MAP(v_tanh); }
void NN_K(tanh_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_FOR(dinp[i] = dout[i] * (1.f - out[i] * out[i]););
}

void NN_K(leaky_relu_forward)(float *out, const float *inp, float a, size_t n, int nthreads) {
    EW_FOR(out[i] = inp[i] > 0.f ? inp[i] : a * inp[i];);
}
void NN_K(leaky_relu_backward)(float *dinp, const float *dout, const float *out, float a, size_t n, int nthreads) {
    EW_FOR(dinp[i] = out[i] > 0.f ? dout[i] : a * dout[i];);
}
