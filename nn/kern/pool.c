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

/* 16 outputs into a plane of n at offset at: a whole vector when what runs
 * past this row is the next rows' (written afterwards), a masked one at the
 * end of the plane */
V_INLINE void store_row(float *plane, int at, int n, v16 y) {
    if (at + 16 <= n) v_store(plane + at, y);
    else v_store_m(plane + at, v_mask(n - at), y);
}

/* the four taps of the 16 2x2 windows from output column j of the rows r0
 * (top) and r1 (bottom) of a plane OW outputs wide: t[0] top left, t[1] top
 * right, t[2] bottom left, t[3] bottom right; zero past the row */
V_INLINE void taps2x2(v16 t[4], const float *r0, const float *r1, int j, int OW) {
    const m16 ma = v_mask(2 * (OW - j)), mb = v_mask(2 * (OW - j) - 16);
    v_deinterleave(v_load_m(r0 + 2 * j, ma), v_load_m(r0 + 2 * j + 16, mb), &t[0], &t[1]);
    v_deinterleave(v_load_m(r1 + 2 * j, ma), v_load_m(r1 + 2 * j + 16, mb), &t[2], &t[3]);
}

/* 2x2 at stride 2: y = ((a + b) + (c + d)) * 0.25 */
static void avgpool2_plane(float *o, const float *x, const nn_conv_geom *g) {
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int j = 0; j < g->OW; j += 16) {
            v16 t[4];
            taps2x2(t, r0, r1, j, g->OW);
            v16 y = v_mul(v_add(v_add(t[0], t[1]), v_add(t[2], t[3])), v_set1(0.25f));
            store_row(o, oh * g->OW + j, g->OH * g->OW, y);
        }
    }
}

/* avg at stride 1, any window: a row of outputs at a time, tap by tap, so
 * the loop along the row runs in vector lanes; each output still sums its
 * taps in the scalar loop's order (rows, then columns) */
static void avgpool_rows_s1(float *o, const float *x, const nn_conv_geom *g) {
    const float inv = 1.f / (float)(g->K * g->K);
    for (int oh = 0; oh < g->OH; oh++) {
        float *y = o + oh * g->OW;
        for (int ow = 0; ow < g->OW; ow++) y[ow] = 0.f;
        for (int ki = 0; ki < g->K; ki++) {
            const int i = oh - g->P + ki;
            if (i < 0 || i >= g->H) continue;
            for (int kj = 0; kj < g->K; kj++) {
                const int lo = g->P - kj > 0 ? g->P - kj : 0, hi = g->W + g->P - kj < g->OW ? g->W + g->P - kj : g->OW;
                const float *xr = x + i * g->W - g->P + kj;
                for (int ow = lo; ow < hi; ow++) y[ow] += xr[ow];
            }
        }
        for (int ow = 0; ow < g->OW; ow++) y[ow] *= inv;
    }
}

void NN_K(avgpool_forward)(float *out, const float *inp, int B, const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    if (is2x2(g))
        PLANES_FOR(avgpool2_plane(out + (size_t)p * OHW, inp + (size_t)p * HW, g););
    else if (g->S == 1)
        PLANES_FOR(avgpool_rows_s1(out + (size_t)p * OHW, inp + (size_t)p * HW, g););
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
                for (int j = 0; j < g->OW; j += 16) {
                    v16 lo, hi;
                    v_dup_pairs(v_mul(v_load_m(dy + oh * g->OW + j, v_mask(g->OW - j)), v_set1(0.25f)), &lo, &hi);
                    const int a0 = 2 * oh * g->W + 2 * j;
                    store_row(dx, a0, HW, lo); store_row(dx, a0 + 16, HW, hi);
                    store_row(dx, a0 + g->W, HW, lo); store_row(dx, a0 + g->W + 16, HW, hi);
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

/* Max as PyTorch's kernel has it: a value wins when it is greater or NaN,
 * in scan order, so the first of equal maxima wins and the last NaN.
 * Selects, not branches: after ReLU half the values are 0 and a branch is a
 * coin toss. */

/* 2x2 at stride 2, 16 windows a step; flat input offsets ride along as
 * floats (exact below 2^24) */
static void maxpool2_plane(float *o, int *am, const float *x, const nn_conv_geom *g) {
    const v16 even = v_add(v_iota(), v_iota());
    for (int oh = 0; oh < g->OH; oh++) {
        const float *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        for (int j = 0; j < g->OW; j += 16) {
            v16 t[4];
            taps2x2(t, r0, r1, j, g->OW);
            const v16 i0 = v_add(v_set1((float)(2 * oh * g->W + 2 * j)), even);
            const v16 idx[4] = {i0, v_add(i0, v_set1(1.f)), v_add(i0, v_set1((float)g->W)),
                                v_add(i0, v_set1((float)g->W + 1.f))};
            v16 m = t[0], best = idx[0];
            for (int k = 1; k < 4; k++) {
                const vm16 take = v_or(v_gt(t[k], m), v_isnan(t[k]));
                m = v_blend(take, t[k], m);
                best = v_blend(take, idx[k], best);
            }
            const int at = oh * g->OW + j;
            store_row(o, at, g->OH * g->OW, m);
            if (at + 16 <= g->OH * g->OW) v_store_int(am + at, best);
            else v_store_int_m(am + at, v_mask(g->OH * g->OW - at), best);
        }
    }
}

/* max at stride 1, any window: row by row and tap by tap as avgpool_rows_s1 */
static void maxpool_rows_s1(float *o, int *am, const float *x, const nn_conv_geom *g) {
    for (int oh = 0; oh < g->OH; oh++) {
        float *m = o + oh * g->OW;
        int *best = am + oh * g->OW;
        for (int ow = 0; ow < g->OW; ow++) { m[ow] = -INFINITY; best[ow] = -1; }
        for (int ki = 0; ki < g->K; ki++) {
            const int i = oh - g->P + ki;
            if (i < 0 || i >= g->H) continue;
            for (int kj = 0; kj < g->K; kj++) {
                const int lo = g->P - kj > 0 ? g->P - kj : 0, hi = g->W + g->P - kj < g->OW ? g->W + g->P - kj : g->OW;
                const int off = i * g->W - g->P + kj;
                for (int ow = lo; ow < hi; ow++) {
                    const float v = x[off + ow];
                    const int take = v > m[ow] || v != v || best[ow] < 0;
                    m[ow] = take ? v : m[ow];
                    best[ow] = take ? off + ow : best[ow];
                }
            }
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
    else if (g->S == 1)
        PLANES_FOR(maxpool_rows_s1(out + (size_t)p * OHW, argmax + (size_t)p * OHW, inp + (size_t)p * HW, g););
    else
        PLANES_FOR(maxpool_plane(out + (size_t)p * OHW, argmax + (size_t)p * OHW, inp + (size_t)p * HW, g););
}

void NN_K(maxpool_backward)(float *dinp, const float *dout, const int *argmax, int B,
                            const nn_conv_geom *g, int nthreads) {
    const int HW = g->H * g->W, OHW = g->OH * g->OW;
    if (is2x2(g) && g->H % 2 == 0 && g->W % 2 == 0) {
        /* every dx in one window: 0 + dy where the window's argmax is this
         * input (as the scatter below adds it to a 0), else 0; each
         * window's dy and argmax doubled along the two input rows */
        PLANES_FOR(
            float *dx = dinp + (size_t)p * HW;
            const float *dy = dout + (size_t)p * OHW;
            const int *am = argmax + (size_t)p * OHW;
            const v16 zero = v_zero(), half = v_set1(0.25f);
            for (int oh = 0; oh < g->OH; oh++) {
                for (int j = 0; j < g->OW; j += 16) {
                    const m16 m = v_mask(g->OW - j);
                    v16 d[2], a[2];
                    v_dup_pairs(v_add(zero, v_load_m(dy + oh * g->OW + j, m)), &d[0], &d[1]);
                    v_dup_pairs(v_load_int_m(am + oh * g->OW + j, m), &a[0], &a[1]);
                    const int a0 = 2 * oh * g->W + 2 * j;
                    for (int r = 0; r < 2; r++)
                        for (int h = 0; h < 2; h++) {
                            const int at = a0 + r * g->W + 16 * h;
                            /* argmax == at + lane, as floats of whole numbers */
                            const v16 diff = v_sub(a[h], v_add(v_set1((float)at), v_iota()));
                            store_row(dx, at, HW, v_lt_select(v_mul(diff, diff), half, d[h], zero));
                        }
                }
            }
        );
        return;
    }
    PLANES_FOR(
        float *dx = dinp + (size_t)p * HW;
        const float *dy = dout + (size_t)p * OHW;
        const int *am = argmax + (size_t)p * OHW;
        memset(dx, 0, sizeof(float) * HW);
        for (int i = 0; i < OHW; i++)
            if (am[i] >= 0) dx[am[i]] += dy[i];
    );
}
