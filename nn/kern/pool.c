/* pool.c -- average and max pooling (PyTorch's AvgPool2d with
 * count_include_pad=True, MaxPool2d) over any window, stride and padding,
 * planes spread over threads. Plain loops that the compiler vectorizes for
 * each path: every output is computed by the same operations in the same
 * order whatever the vector width, so the bits do not depend on the path.
 * The common 2x2 stride-2 window has its own unrolled loops. */
#include <float.h>
#include "kern.h"
#include "../par.h"

/* over the planes p, (image, channel) pairs: B*C of them, independent;
 * split over threads from 64 planes up */
#define PLANES_FOR(...) NN_PAR_FOR(nthreads, B * g->C >= 64, int, p, B * g->C, __VA_ARGS__)

static int is2x2(const nn_conv_geom *g) { return g->K == 2 && g->S == 2 && g->P == 0; }

/* y = sum(window) / (K*K), the window's rows then columns in order */
static void avgpool_plane(float *o, const float *x, const nn_conv_geom *g) {
    const float inv = 1.f / (float)(g->K * g->K);
    for (int oh = 0; oh < g->OH; oh++) {
        const int h0 = oh * g->S - g->P, ilo = h0 < 0 ? 0 : h0, ihi = h0 + g->K < g->H ? h0 + g->K : g->H;
        for (int ow = 0; ow < g->OW; ow++) {
            const int w0 = ow * g->S - g->P, jlo = w0 < 0 ? 0 : w0, jhi = w0 + g->K < g->W ? w0 + g->K : g->W;
            float s = 0.f;
            for (int i = ilo; i < ihi; i++)
                for (int j = jlo; j < jhi; j++) s += x[i * g->W + j];
            o[oh * g->OW + ow] = s * inv;
        }
    }
}

/* 2x2 at stride 2: y = ((a + b) + (c + d)) * 0.25 */
static void avgpool2_plane(float *o, const float *x, const nn_conv_geom *g) {
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        float *y = o + oh * g->OW;
        for (int ow = 0; ow < g->OW; ow++)
            y[ow] = ((r0[2 * ow] + r0[2 * ow + 1]) + (r1[2 * ow] + r1[2 * ow + 1])) * 0.25f;
    }
}

void NN_K(avgpool_forward)(float *out, const float *inp, int B, const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    if (is2x2(g))
        PLANES_FOR(avgpool2_plane(out + (size_t)p * OHW, inp + (size_t)p * HW, g););
    else
        PLANES_FOR(avgpool_plane(out + (size_t)p * OHW, inp + (size_t)p * HW, g););
}

void NN_K(avgpool_backward)(float *dinp, const float *dout, int B, const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    const float inv = 1.f / (float)(g->K * g->K);
    if (is2x2(g) && g->H % 2 == 0 && g->W % 2 == 0) {
        /* dx[2i+a][2j+b] = dy[i][j] * 0.25: every dx written once */
        PLANES_FOR(
            float *dx = dinp + (size_t)p * HW;
            const float *dy = dout + (size_t)p * OHW;
            for (int oh = 0; oh < g->OH; oh++) {
                float *r0 = dx + 2 * oh * g->W, *r1 = r0 + g->W;
                for (int ow = 0; ow < g->OW; ow++) {
                    float d = dy[oh * g->OW + ow] * 0.25f;
                    r0[2 * ow] = d; r0[2 * ow + 1] = d; r1[2 * ow] = d; r1[2 * ow + 1] = d;
                }
            }
        );
        return;
    }
    PLANES_FOR(
        float *dx = dinp + (size_t)p * HW;
        const float *dy = dout + (size_t)p * OHW;
        memset(dx, 0, sizeof(float) * HW);
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                int h0 = oh * g->S - g->P, w0 = ow * g->S - g->P;
                float d = dy[oh * g->OW + ow] * inv;
                for (int i = h0 < 0 ? 0 : h0; i < h0 + g->K && i < g->H; i++)
                    for (int j = w0 < 0 ? 0 : w0; j < w0 + g->K && j < g->W; j++) dx[i * g->W + j] += d;
            }
    );
}

/* As PyTorch's kernel: a value wins when it is greater or NaN, in scan
 * order, so the first of equal maxima wins and the last NaN. Selects, not
 * branches: after ReLU half the values are 0 and a branch is a coin toss. */
#define MAX_TAKE(v, idx)                              \
    do {                                              \
        const int take_ = (v) > m || (v) != (v);      \
        m = take_ ? (v) : m;                          \
        best = take_ ? (idx) : best;                  \
    } while (0)

static void maxpool2_plane(float *o, int *am, const float *x, const nn_conv_geom *g) {
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int ow = 0; ow < g->OW; ow++) {
            const int i = 2 * oh * g->W + 2 * ow;
            float m = r0[2 * ow];
            int best = i;
            MAX_TAKE(r0[2 * ow + 1], i + 1);
            MAX_TAKE(r1[2 * ow], i + g->W);
            MAX_TAKE(r1[2 * ow + 1], i + g->W + 1);
            o[oh * g->OW + ow] = m;
            am[oh * g->OW + ow] = best;
        }
    }
}

/* any window; -1 in argmax when the window saw only padding */
static void maxpool_plane(float *o, int *am, const float *x, const nn_conv_geom *g) {
    for (int oh = 0; oh < g->OH; oh++) {
        const int h0 = oh * g->S - g->P, ilo = h0 < 0 ? 0 : h0, ihi = h0 + g->K < g->H ? h0 + g->K : g->H;
        for (int ow = 0; ow < g->OW; ow++) {
            const int w0 = ow * g->S - g->P, jlo = w0 < 0 ? 0 : w0, jhi = w0 + g->K < g->W ? w0 + g->K : g->W;
            float m = -INFINITY;
            int best = -1;
            for (int i = ilo; i < ihi; i++)
                for (int j = jlo; j < jhi; j++) {
                    const float v = x[i * g->W + j];
                    const int take = v > m || v != v || best < 0;
                    m = take ? v : m;
                    best = take ? i * g->W + j : best;
                }
            o[oh * g->OW + ow] = m;
            am[oh * g->OW + ow] = best;
        }
    }
}

void NN_K(maxpool_forward)(float *out, int *argmax, const float *inp, int B, const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    if (is2x2(g))
        PLANES_FOR(maxpool2_plane(out + (size_t)p * OHW, argmax + (size_t)p * OHW, inp + (size_t)p * HW, g););
    else
        PLANES_FOR(maxpool_plane(out + (size_t)p * OHW, argmax + (size_t)p * OHW, inp + (size_t)p * HW, g););
}

void NN_K(maxpool_backward)(float *dinp, const float *dout, const int *argmax, int B,
                            const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    PLANES_FOR(
        float *dx = dinp + (size_t)p * HW;
        const float *dy = dout + (size_t)p * OHW;
        const int *am = argmax + (size_t)p * OHW;
        memset(dx, 0, sizeof(float) * HW);
        for (int i = 0; i < OHW; i++)
            if (am[i] >= 0) dx[am[i]] += dy[i];
    );
}
