/* pool.c -- average and max pooling (PyTorch's AvgPool2d with
 * count_include_pad=True, MaxPool2d), planes spread over threads. The
 * LeNet case (2x2, stride 2) has AVX-512 row kernels: 16 outputs a step
 * forward, and a backward that writes every input gradient once instead of
 * zeroing the plane and scattering into it. */
#include <float.h>
#include <math.h>
#include <string.h>
#include "ops.h"
#include "par.h"

/* over the planes p, (image, channel) pairs: B*C of them, independent;
 * split over threads from 64 planes up */
#define PLANES_FOR(...) NN_PAR_FOR(nthreads, B * g->C >= 64, int, p, B * g->C, __VA_ARGS__)

#ifdef __AVX512F__
#include <immintrin.h>

static __mmask16 lanes(int j, int n) {
    int r = n - j;
    return r >= 16 ? (__mmask16)0xFFFF : r > 0 ? (__mmask16)((1u << r) - 1) : 0;
}

/* the four taps of 16 2x2 windows at stride 2, outputs j..j+15 of the rows
 * r0 (top) and r1 (bottom) of a plane OW outputs wide: v[0] top left, v[1]
 * top right, v[2] bottom left, v[3] bottom right; zero past the row */
static inline void taps2x2(__m512 v[4], const float *r0, const float *r1, int j, int OW) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    __mmask16 m0 = lanes(2 * j, 2 * OW), m1 = lanes(2 * j + 16, 2 * OW);
    __m512 a0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * j), a1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * j + 16);
    __m512 b0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * j), b1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * j + 16);
    v[0] = _mm512_permutex2var_ps(a0, even, a1);
    v[1] = _mm512_permutex2var_ps(a0, odd, a1);
    v[2] = _mm512_permutex2var_ps(b0, even, b1);
    v[3] = _mm512_permutex2var_ps(b0, odd, b1);
}

/* 2x2 windows, stride 2, one plane, 16 outputs (32 inputs) per step:
 * y = ((a + b) + (c + d)) * 0.25, the same sums in the same order as the
 * scalar loop, so the same bits */
static void avgpool2_plane(float *o, const float *x, const nn_conv_geom *g) {
    const __m512 q = _mm512_set1_ps(0.25f);
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int j = 0; j < g->OW; j += 16) {
            __m512 v[4];
            taps2x2(v, r0, r1, j, g->OW);
            __m512 top = _mm512_add_ps(v[0], v[1]), bot = _mm512_add_ps(v[2], v[3]);
            _mm512_mask_storeu_ps(o + oh * g->OW + j, lanes(j, g->OW), _mm512_mul_ps(_mm512_add_ps(top, bot), q));
        }
    }
}

/* dx[2i+a][2j+b] = dy[i][j] * 0.25 for even H and W: every dx is written once */
static void avgpool2_plane_backward(float *dx, const float *dy, const nn_conv_geom *g) {
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512 q = _mm512_set1_ps(0.25f);
    for (int oh = 0; oh < g->OH; oh++) {
        float *r0 = dx + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int j = 0; j < g->OW; j += 8) {
            __m512 d = _mm512_maskz_loadu_ps(lanes(j, g->OW) & 0xFF, dy + oh * g->OW + j);
            __m512 v = _mm512_mul_ps(_mm512_permutexvar_ps(dup, d), q);
            __mmask16 m = lanes(2 * j, g->W);
            _mm512_mask_storeu_ps(r0 + 2 * j, m, v);
            _mm512_mask_storeu_ps(r1 + 2 * j, m, v);
        }
    }
}
#endif

static void avgpool_plane(float *o, const float *x, const nn_conv_geom *g) {
    const float inv = 1.f / (float)(g->K * g->K);
    for (int oh = 0; oh < g->OH; oh++)
        for (int ow = 0; ow < g->OW; ow++) {
            int h0 = oh * g->S - g->P, w0 = ow * g->S - g->P;
            float s = 0.f;
            for (int i = h0 < 0 ? 0 : h0; i < h0 + g->K && i < g->H; i++)
                for (int j = w0 < 0 ? 0 : w0; j < w0 + g->K && j < g->W; j++) s += x[i * g->W + j];
            o[oh * g->OW + ow] = s * inv;
        }
}

/* the LeNet case, 2x2 at stride 2, unrolled: y = ((a + b) + (c + d)) * 0.25 */
static void avgpool2_plane_any(float *o, const float *x, const nn_conv_geom *g) {
#ifdef __AVX512F__
    avgpool2_plane(o, x, g);
#else
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int ow = 0; ow < g->OW; ow++)
            o[oh * g->OW + ow] = ((r0[2 * ow] + r0[2 * ow + 1]) + (r1[2 * ow] + r1[2 * ow + 1])) * 0.25f;
    }
#endif
}

void avgpool_forward(float *out, const float *inp, int B, const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    if (g->K == 2 && g->S == 2 && g->P == 0)
        PLANES_FOR(avgpool2_plane_any(out + (size_t)p * OHW, inp + (size_t)p * HW, g););
    else
        PLANES_FOR(avgpool_plane(out + (size_t)p * OHW, inp + (size_t)p * HW, g););
}

void avgpool_backward(float *dinp, const float *dout, int B, const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    const float inv = 1.f / (float)(g->K * g->K);
#ifdef __AVX512F__
    if (g->K == 2 && g->S == 2 && g->P == 0 && g->H % 2 == 0 && g->W % 2 == 0) {
        PLANES_FOR(avgpool2_plane_backward(dinp + (size_t)p * HW, dout + (size_t)p * OHW, g););
        return;
    }
#endif
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

/* the LeNet case, 2x2 at stride 2, unrolled: "v > m || v != v" in scan
 * order, as maxpool_plane (the first of equal maxima, the last NaN) */
#ifdef __AVX512F__
/* 16 outputs a step, the same comparisons in the same order as the scalar
 * loop below, as lane masks instead of branches: after ReLU half the
 * values are 0 and the branches were a coin toss (about 8 ns an output) */
static void maxpool2_plane(float *o, int *am, const float *x, const nn_conv_geom *g) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int j = 0; j < g->OW; j += 16) {
            __m512 v[4];
            taps2x2(v, r0, r1, j, g->OW);
            /* flat input offsets of the four taps of each window */
            __m512i i0 = _mm512_add_epi32(_mm512_set1_epi32(2 * oh * g->W + 2 * j), even);
            __m512i idx[4] = {i0, _mm512_add_epi32(i0, _mm512_set1_epi32(1)),
                              _mm512_add_epi32(i0, _mm512_set1_epi32(g->W)),
                              _mm512_add_epi32(i0, _mm512_set1_epi32(g->W + 1))};
            __m512 m = v[0];
            __m512i best = idx[0];
            for (int k = 1; k < 4; k++) {
                __mmask16 take = _mm512_cmp_ps_mask(v[k], m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v[k], v[k], _CMP_UNORD_Q);
                m = _mm512_mask_blend_ps(take, m, v[k]);
                best = _mm512_mask_blend_epi32(take, best, idx[k]);
            }
            __mmask16 st = lanes(j, g->OW);
            _mm512_mask_storeu_ps(o + oh * g->OW + j, st, m);
            _mm512_mask_storeu_epi32(am + oh * g->OW + j, st, best);
        }
    }
}
#else
static void maxpool2_plane(float *o, int *am, const float *x, const nn_conv_geom *g) {
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int ow = 0; ow < g->OW; ow++) {
            int i = 2 * oh * g->W + 2 * ow;
            float m = r0[2 * ow], v;
            int best = i;
            v = r0[2 * ow + 1]; if (v > m || v != v) { m = v; best = i + 1; }
            v = r1[2 * ow];     if (v > m || v != v) { m = v; best = i + g->W; }
            v = r1[2 * ow + 1]; if (v > m || v != v) { m = v; best = i + g->W + 1; }
            o[oh * g->OW + ow] = m;
            am[oh * g->OW + ow] = best;
        }
    }
}
#endif

/* as PyTorch's kernel: a value wins when it is greater or NaN, in scan
 * order, so the first of equal maxima wins and the last NaN (this used to
 * stop at the first NaN, unlike PyTorch: its argmax differed) */
static void maxpool_plane(float *o, int *am, const float *x, const nn_conv_geom *g) {
    for (int oh = 0; oh < g->OH; oh++)
        for (int ow = 0; ow < g->OW; ow++) {
            int h0 = oh * g->S - g->P, w0 = ow * g->S - g->P, best = -1;
            float m = -INFINITY;
            for (int i = h0 < 0 ? 0 : h0; i < h0 + g->K && i < g->H; i++)
                for (int j = w0 < 0 ? 0 : w0; j < w0 + g->K && j < g->W; j++) {
                    float v = x[i * g->W + j];
                    if (v > m || isnan(v) || best < 0) { m = v; best = i * g->W + j; }
                }
            o[oh * g->OW + ow] = m;
            am[oh * g->OW + ow] = best;
        }
}

void maxpool_forward(float *out, int *argmax, const float *inp, int B, const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    if (g->K == 2 && g->S == 2 && g->P == 0)
        PLANES_FOR(maxpool2_plane(out + (size_t)p * OHW, argmax + (size_t)p * OHW, inp + (size_t)p * HW, g););
    else
        PLANES_FOR(maxpool_plane(out + (size_t)p * OHW, argmax + (size_t)p * OHW, inp + (size_t)p * HW, g););
}

void maxpool_backward(float *dinp, const float *dout, const int *argmax, int B,
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

/* ---- plain loops: the oracle (backward is checked by finite differences) */

void avgpool_forward_ref(float *out, const float *inp, int B, const nn_conv_geom *g) {
    for (int p = 0; p < B * g->C; p++)
        avgpool_plane(out + (size_t)p * g->OH * g->OW, inp + (size_t)p * g->H * g->W, g);
}

void maxpool_forward_ref(float *out, const float *inp, int B, const nn_conv_geom *g) {
    for (int p = 0; p < B * g->C; p++)
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                float m = -INFINITY;
                for (int ki = 0; ki < g->K; ki++)
                    for (int kj = 0; kj < g->K; kj++) {
                        int i = oh * g->S - g->P + ki, j = ow * g->S - g->P + kj;
                        if (i >= 0 && i < g->H && j >= 0 && j < g->W) {
                            float v = inp[(size_t)p * g->H * g->W + i * g->W + j];
                            if (v > m) m = v;
                        }
                    }
                out[(size_t)p * g->OH * g->OW + oh * g->OW + ow] = m;
            }
}
