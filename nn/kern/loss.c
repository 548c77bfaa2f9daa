/* loss.c -- softmax cross-entropy fused with the softmax, mean over the
 * batch. Subtracting the row maximum before exp keeps it finite for any
 * logits (log-sum-exp). exp and log are nn's own (nmath.h): the same bits
 * on every CPU. Compiled per path like the other kernels only for speed:
 * where the path has FMA, fmaf is one instruction instead of a call. */
#include "../nmath.h"
#include "kern.h"

float NN_K(softmax_ce_forward)(float *probs, const float *logits, const int *labels, int B, int NC) {
    double total = 0;
    for (int n = 0; n < B; n++) {
        const float *z = logits + (size_t)n * NC;
        float *p = probs + (size_t)n * NC;
        float m = z[0];
        for (int k = 1; k < NC; k++) if (z[k] > m) m = z[k];
        double s = 0;
        for (int k = 0; k < NC; k++) { p[k] = nn_expf(z[k] - m); s += p[k]; }
        for (int k = 0; k < NC; k++) p[k] = (float)(p[k] / s);
        if (labels) total += nn_log(s) - (double)(z[labels[n]] - m);
    }
    return labels ? (float)(total / B) : 0.f;
}

void NN_K(softmax_ce_backward)(float *dlogits, const float *probs, const int *labels, int B, int NC) {
    const float inv = 1.f / (float)B;
    for (int n = 0; n < B; n++) {
        for (int k = 0; k < NC; k++) dlogits[(size_t)n * NC + k] = probs[(size_t)n * NC + k] * inv;
        dlogits[(size_t)n * NC + labels[n]] -= inv;
    }
}
