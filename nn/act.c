/* act.c -- element-wise activations. Backward passes read only the saved
 * output, so the network can run every activation in place. */
#include <math.h>
#include "ops.h"

#define EW_PARALLEL _Pragma("omp parallel for simd schedule(static) num_threads(nthreads) if (n >= 32768)")

void sigmoid_forward(float *out, const float *inp, size_t n, int nthreads) {
    EW_PARALLEL
    for (size_t i = 0; i < n; i++) out[i] = 1.f / (1.f + expf(-inp[i]));
}
void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_PARALLEL
    for (size_t i = 0; i < n; i++) dinp[i] = dout[i] * out[i] * (1.f - out[i]);
}

void relu_forward(float *out, const float *inp, size_t n, int nthreads) {
    EW_PARALLEL
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.f ? inp[i] : (inp[i] != inp[i] ? inp[i] : 0.f);
}
void relu_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_PARALLEL
    for (size_t i = 0; i < n; i++) dinp[i] = out[i] > 0.f ? dout[i] : 0.f;
}

void tanh_forward(float *out, const float *inp, size_t n, int nthreads) {
    EW_PARALLEL
    for (size_t i = 0; i < n; i++) out[i] = tanhf(inp[i]);
}
void tanh_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads) {
    EW_PARALLEL
    for (size_t i = 0; i < n; i++) dinp[i] = dout[i] * (1.f - out[i] * out[i]);
}

void leaky_relu_forward(float *out, const float *inp, float a, size_t n, int nthreads) {
    EW_PARALLEL
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.f ? inp[i] : a * inp[i];
}
void leaky_relu_backward(float *dinp, const float *dout, const float *out, float a, size_t n, int nthreads) {
    EW_PARALLEL
    for (size_t i = 0; i < n; i++) dinp[i] = out[i] > 0.f ? dout[i] : a * dout[i];
}
