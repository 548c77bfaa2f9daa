/* conv.c -- 2-D convolution (cross-correlation, PyTorch's Conv2d) as
 * im2col + sgemm per image, images spread over threads. One image's column
 * matrix (C*K*K x OH*OW) stays in cache, and each thread's sgemm runs
 * single-threaded (OpenBLAS's OpenMP build sees it is inside a parallel
 * region), so two cores do two images at once instead of splitting one
 * small product. The plain loops at the end are the test oracle. */
#include <string.h>
#include <cblas.h>
#include <omp.h>
#include "ops.h"

/* col: (C*K*K, OH*OW)  img: (C, H, W); zeros where the window hits padding */
static void im2col(float *col, const float *img, const nn_conv_geom *g) {
    const int K = g->K, S = g->S, P = g->P, OH = g->OH, OW = g->OW, H = g->H, W = g->W;
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                const float *plane = img + (size_t)c * H * W;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * S - P + ki;
                    float *r = row + oh * OW;
                    if (ih < 0 || ih >= H) { memset(r, 0, sizeof(float) * OW); continue; }
                    const float *src = plane + (size_t)ih * W;
                    if (S == 1) {
                        /* contiguous run: ow in [lo, hi) maps to iw = ow - P + kj */
                        int lo = P - kj > 0 ? P - kj : 0;
                        int hi = W + P - kj < OW ? W + P - kj : OW;
                        if (hi < lo) hi = lo;
                        for (int ow = 0; ow < lo; ow++) r[ow] = 0.f;
                        if (hi > lo) memcpy(r + lo, src + lo - P + kj, sizeof(float) * (hi - lo));
                        for (int ow = hi; ow < OW; ow++) r[ow] = 0.f;
                    } else {
                        for (int ow = 0; ow < OW; ow++) {
                            int iw = ow * S - P + kj;
                            r[ow] = (iw >= 0 && iw < W) ? src[iw] : 0.f;
                        }
                    }
                }
            }
}

/* img: (C, H, W) += col2im(col), the adjoint of im2col */
static void col2im_add(float *img, const float *col, const nn_conv_geom *g) {
    const int K = g->K, S = g->S, P = g->P, OH = g->OH, OW = g->OW, H = g->H, W = g->W;
    for (int c = 0; c < g->C; c++)
        for (int ki = 0; ki < K; ki++)
            for (int kj = 0; kj < K; kj++) {
                const float *row = col + ((size_t)(c * K + ki) * K + kj) * OH * OW;
                float *plane = img + (size_t)c * H * W;
                for (int oh = 0; oh < OH; oh++) {
                    int ih = oh * S - P + ki;
                    if (ih < 0 || ih >= H) continue;
                    const float *r = row + oh * OW;
                    float *dst = plane + (size_t)ih * W;
                    for (int ow = 0; ow < OW; ow++) {
                        int iw = ow * S - P + kj;
                        if (iw >= 0 && iw < W) dst[iw] += r[ow];
                    }
                }
            }
}

static int is_pointwise(const nn_conv_geom *g) { return g->K == 1 && g->S == 1 && g->P == 0; }

void conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                    int B, const nn_conv_geom *g, float *scratch, int nthreads) {
    const int CKK = g->C * g->K * g->K, OHW = g->OH * g->OW;
    const size_t colsz = (size_t)CKK * OHW;
#pragma omp parallel num_threads(nthreads)
    {
        float *col = scratch + (size_t)omp_get_thread_num() * colsz;
#pragma omp for schedule(static)
        for (int n = 0; n < B; n++) {
            const float *img = inp + (size_t)n * g->C * g->H * g->W;
            float *o = out + (size_t)n * g->OC * OHW;
            const float *cm = img;
            if (!is_pointwise(g)) { im2col(col, img, g); cm = col; }
            for (int oc = 0; oc < g->OC; oc++)
                for (int i = 0; i < OHW; i++) o[(size_t)oc * OHW + i] = b[oc];
            /* o (OC, OHW) += w (OC, CKK) . col (CKK, OHW) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->OC, OHW, CKK,
                        1.f, w, CKK, cm, OHW, 1.f, o, OHW);
        }
    }
}

void conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, int B, const nn_conv_geom *g,
                     float *scratch, float *part, int nthreads) {
    const int CKK = g->C * g->K * g->K, OHW = g->OH * g->OW, OC = g->OC;
    const size_t colsz = (size_t)CKK * OHW, nw = (size_t)OC * CKK, partsz = nw + OC;
    const size_t isz = (size_t)g->C * g->H * g->W;
    int nt = nthreads < B ? nthreads : B;
    if (nt < 1) nt = 1;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        float *col = scratch + (size_t)t * 2 * colsz, *dcol = col + colsz;
        float *pdw = part + (size_t)t * partsz, *pdb = pdw + nw;
        memset(pdw, 0, sizeof(float) * partsz);
#pragma omp for schedule(static)
        for (int n = 0; n < B; n++) {
            const float *img = inp + (size_t)n * isz;
            const float *d = dout + (size_t)n * OC * OHW;
            const float *cm = img;
            if (!is_pointwise(g)) { im2col(col, img, g); cm = col; }
            /* pdw (OC, CKK) += d (OC, OHW) . col^T (OHW, CKK) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, CKK, OHW,
                        1.f, d, OHW, cm, OHW, 1.f, pdw, CKK);
            for (int oc = 0; oc < OC; oc++) {
                float s = 0.f;
                for (int i = 0; i < OHW; i++) s += d[(size_t)oc * OHW + i];
                pdb[oc] += s;
            }
            if (dinp) {
                float *di = dinp + (size_t)n * isz;
                if (is_pointwise(g)) {
                    /* di (C, HW) = w^T (C, OC) . d (OC, HW) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, OHW, OC,
                                1.f, w, CKK, d, OHW, 0.f, di, OHW);
                } else {
                    /* dcol (CKK, OHW) = w^T (CKK, OC) . d (OC, OHW) */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, OHW, OC,
                                1.f, w, CKK, d, OHW, 0.f, dcol, OHW);
                    memset(di, 0, sizeof(float) * isz);
                    col2im_add(di, dcol, g);
                }
            }
        }
    }
    /* sum the partials in thread order: same thread count, same bits */
    for (int t = 0; t < nt; t++) {
        const float *pdw = part + (size_t)t * partsz;
        for (size_t i = 0; i < nw; i++) dw[i] += pdw[i];
        for (int oc = 0; oc < OC; oc++) db[oc] += pdw[nw + oc];
    }
}

/* ---- plain loops: the oracle */

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
