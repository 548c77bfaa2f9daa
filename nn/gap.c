/* gap.c -- global average pooling, as PyTorch's nn.AdaptiveAvgPool2d(1):
 * each channel's plane becomes its mean, (B, C, H, W) -> (B, C, 1, 1).
 * Plain C, compiled once for every path: each mean is one sum over the
 * plane in row-major order, then one division, so the bits depend on
 * nothing but the values (no path, no thread count). It costs one add per
 * input value, far less than the layers around it. */
#include "ops.h"

void gap_forward(float *out, const float *inp, int B, int C, int HW) {
    for (size_t p = 0; p < (size_t)B * C; p++) {
        const float *x = inp + p * HW;
        float s = 0.f;
        for (int i = 0; i < HW; i++) s += x[i];
        out[p] = s / (float)HW;
    }
}

void gap_backward(float *dinp, const float *dout, int B, int C, int HW) {
    for (size_t p = 0; p < (size_t)B * C; p++) {
        const float d = dout[p] / (float)HW;
        float *dx = dinp + p * HW;
        for (int i = 0; i < HW; i++) dx[i] = d;
    }
}
