/* act.c -- element-wise activations. Backward passes read only the saved
 * output, so the network can run every activation in place. */
#include <math.h>
#include <stdint.h>
#include "ops.h"
#include "par.h"

/* over n values, split over threads from 32768 values up */
#define EW_FOR(...) NN_PAR_SIMD(nthreads, n >= 32768, size_t, i, n, __VA_ARGS__)

/* exp(v) = 2^k * e^r with k = round(v / ln 2), r = v - k ln 2 in [-ln2/2, ln2/2],
 * e^r by its degree-7 Taylor polynomial (truncation < 2e-9 relative); within
 * 2 ulp of expf. Plain arithmetic, so the compiler vectorizes it and every
 * lane gives the same bits as the scalar loop. v is clamped to [-87, 88],
 * where 2^k stays a normal float: beyond, sigmoid is 0 or 1 within 1e-38. */
static inline float exp_fast(float v) {
    v = v < -87.f ? -87.f : v;
    v = v > 88.f ? 88.f : v;
    const float shift = 12582912.f; /* 1.5 * 2^23: adding it rounds to an integer */
    float k = (v * 1.44269504088896341f + shift) - shift;
    float r = fmaf(k, -0.693145751953125f, v);     /* ln 2, high bits (exact product) */
    r = fmaf(k, -1.428606765330187e-06f, r);       /* ln 2, low bits */
    float p = 1.f / 5040;
    p = fmaf(p, r, 1.f / 720);
    p = fmaf(p, r, 1.f / 120);
    p = fmaf(p, r, 1.f / 24);
    p = fmaf(p, r, 1.f / 6);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.f);
    p = fmaf(p, r, 1.f);
    union { int32_t i; float f; } s = {.i = ((int32_t)k + 127) << 23};
    return p * s.f;
}

void sigmoid_forward(float *out, const float *inp, size_t n, int nthreads) {
    EW_FOR(out[i] = 1.f / (1.f + exp_fast(-inp[i])););
}
void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_FOR(dinp[i] = dout[i] * out[i] * (1.f - out[i]););
}

void relu_forward(float *out, const float *inp, size_t n, int nthreads) {
    EW_FOR(out[i] = inp[i] > 0.f ? inp[i] : (inp[i] != inp[i] ? inp[i] : 0.f););
}
void relu_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_FOR(dinp[i] = out[i] > 0.f ? dout[i] : 0.f;);
}

void tanh_forward(float *out, const float *inp, size_t n, int nthreads) {
    EW_FOR(out[i] = tanhf(inp[i]););
}
void tanh_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_FOR(dinp[i] = dout[i] * (1.f - out[i] * out[i]););
}

void leaky_relu_forward(float *out, const float *inp, float a, size_t n, int nthreads) {
    EW_FOR(out[i] = inp[i] > 0.f ? inp[i] : a * inp[i];);
}
void leaky_relu_backward(float *dinp, const float *dout, const float *out, float a, size_t n, int nthreads) {
    EW_FOR(dinp[i] = out[i] > 0.f ? dout[i] : a * dout[i];);
}
