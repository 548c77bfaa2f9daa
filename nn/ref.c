/* ref.c -- the plain-loop oracles of the kernels in nn/kern/: the most
 * direct reading of each formula, sums in double, kept for the tests to
 * hold every path's fast kernels against (ops.h's *_ref functions).
 * Backward pooling is checked by finite differences instead. */
#include <math.h>
#include <string.h>
#include "ops.h"

void conv2d_forward_ref(float *out, const float *inp, const float *w, const float *b,
                        int B, const nn_conv_geom *g) {
    for (int n = 0; n < B; n++)
        for (int oc = 0; oc < g->OC; oc++)
            for (int oh = 0; oh < g->OH; oh++)
                for (int ow = 0; ow < g->OW; ow++) {
                    double s = b[oc];
                    for (int c = 0; c < g->C; c++)
                        for (int ki = 0; ki < g->K; ki++)
                            for (int kj = 0; kj < g->K; kj++) {
                                int ih = oh * g->S - g->P + ki, iw = ow * g->S - g->P + kj;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                s += (double)inp[((size_t)(n * g->C + c) * g->H + ih) * g->W + iw] *
                                     w[((size_t)(oc * g->C + c) * g->K + ki) * g->K + kj];
                            }
                    out[((size_t)(n * g->OC + oc) * g->OH + oh) * g->OW + ow] = (float)s;
                }
}

void conv2d_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, int B, const nn_conv_geom *g) {
    if (dinp) memset(dinp, 0, sizeof(float) * (size_t)B * g->C * g->H * g->W);
    for (int n = 0; n < B; n++)
        for (int oc = 0; oc < g->OC; oc++)
            for (int oh = 0; oh < g->OH; oh++)
                for (int ow = 0; ow < g->OW; ow++) {
                    float d = dout[((size_t)(n * g->OC + oc) * g->OH + oh) * g->OW + ow];
                    db[oc] += d;
                    for (int c = 0; c < g->C; c++)
                        for (int ki = 0; ki < g->K; ki++)
                            for (int kj = 0; kj < g->K; kj++) {
                                int ih = oh * g->S - g->P + ki, iw = ow * g->S - g->P + kj;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                size_t ii = ((size_t)(n * g->C + c) * g->H + ih) * g->W + iw;
                                size_t wi = ((size_t)(oc * g->C + c) * g->K + ki) * g->K + kj;
                                dw[wi] += d * inp[ii];
                                if (dinp) dinp[ii] += d * w[wi];
                            }
                }
}

void dense_forward_ref(float *out, const float *inp, const float *w, const float *b,
                       int B, int nin, int nout) {
    for (int n = 0; n < B; n++)
        for (int o = 0; o < nout; o++) {
            double s = b[o];
            for (int i = 0; i < nin; i++) s += (double)inp[(size_t)n * nin + i] * w[(size_t)o * nin + i];
            out[(size_t)n * nout + o] = (float)s;
        }
}

void dense_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int B, int nin, int nout) {
    if (dinp) memset(dinp, 0, sizeof(float) * (size_t)B * nin);
    for (int n = 0; n < B; n++)
        for (int o = 0; o < nout; o++) {
            float d = dout[(size_t)n * nout + o];
            db[o] += d;
            for (int i = 0; i < nin; i++) {
                dw[(size_t)o * nin + i] += d * inp[(size_t)n * nin + i];
                if (dinp) dinp[(size_t)n * nin + i] += d * w[(size_t)o * nin + i];
            }
        }
}

void avgpool_forward_ref(float *out, const float *inp, int B, const nn_conv_geom *g) {
    const double inv = 1.0 / (g->K * g->K);
    for (int p = 0; p < B * g->C; p++)
        for (int oh = 0; oh < g->OH; oh++)
            for (int ow = 0; ow < g->OW; ow++) {
                double s = 0;
                for (int ki = 0; ki < g->K; ki++)
                    for (int kj = 0; kj < g->K; kj++) {
                        int i = oh * g->S - g->P + ki, j = ow * g->S - g->P + kj;
                        if (i >= 0 && i < g->H && j >= 0 && j < g->W) s += inp[(size_t)p * g->H * g->W + i * g->W + j];
                    }
                out[(size_t)p * g->OH * g->OW + oh * g->OW + ow] = (float)(s * inv);
            }
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
