/* dropout.c -- inverted dropout, as PyTorch's nn.Dropout: in training each
 * value is zeroed with probability rate and the others are scaled by
 * 1 / (1 - rate), so evaluation passes values through unchanged. The mask
 * holds the factor of every value (0 or the scale); the network draws it for
 * the whole batch before the slices run, so the random numbers come in one
 * order however many threads there are. Plain C: one multiply per value,
 * the same bits on every path. */
#include <string.h>
#include "ops.h"

void dropout_mask(float *mask, float rate, size_t n, nn_rng *r) {
    const float keep = 1.f / (1.f - rate);
    for (size_t j = 0; j < n; j++) mask[j] = nn_rng_uniform(r) < rate ? 0.f : keep;
}

void dropout_forward(float *out, const float *inp, const float *mask, size_t n) {
    if (!mask) {
        if (out != inp) memcpy(out, inp, sizeof(float) * n);
        return;
    }
    for (size_t j = 0; j < n; j++) out[j] = inp[j] * mask[j];
}

void dropout_backward(float *dinp, const float *dout, const float *mask, size_t n) {
    for (size_t j = 0; j < n; j++) dinp[j] = dout[j] * mask[j];
}
